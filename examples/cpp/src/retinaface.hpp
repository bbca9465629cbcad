// The edge-sdk model contract in C++ (see docs/MODEL_CONTRACT.md): manifest, letterbox, normalization, anchors,
// box/landmark decoding, greedy NMS, and the detection JSON record.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <openvino/openvino.hpp>

#include "ppm.hpp"

namespace edge_sdk {

struct ModelEntry {
    std::string path;       // relative to the model directory
    std::string format;     // "onnx", "openvino", "tflite"
    std::string precision;  // "fp32", "int8", ...
    int width = 0, height = 0;  // 0 x 0: dynamic input shape
};

struct Manifest {
    std::string name;
    std::string directory;
    std::string channel_order;  // "BGR" or "RGB"
    std::array<float, 3> mean{}, std{};
    std::vector<int> strides;
    std::vector<std::vector<int>> min_sizes;
    float variance_center = 0.1f, variance_size = 0.2f;
    int num_landmarks = 5;
    std::array<std::string, 3> output_names;  // boxes, scores, landmarks
    std::vector<std::string> landmark_order;
    std::vector<ModelEntry> files;

    static Manifest load(const std::string& directory);
    // A fixed-size file of exactly (width, height), else a dynamic one; OpenVINO IR preferred over ONNX.
    const ModelEntry& select(int width, int height, const std::string& precision) const;
};

// Geometry of one letterbox (image top-left, pad right/bottom with the mean).
struct Letterbox {
    int src_width, src_height, resized_width, resized_height, canvas_width, canvas_height;
    float scale_x() const { return static_cast<float>(static_cast<double>(resized_width) / src_width); }
    float scale_y() const { return static_cast<float>(static_cast<double>(resized_height) / src_height); }
    static Letterbox fit(int src_w, int src_h, int canvas_w, int canvas_h);
    static Letterbox pad_to_multiple(int src_w, int src_h, int multiple);
};

struct Face {
    std::array<float, 4> box;  // x1, y1, x2, y2 in original pixels
    float score;
    std::vector<std::array<float, 2>> landmarks;
};

struct Options {
    int input_width = 640, input_height = 640;  // 0 x 0: the image's own size on the dynamic model
    float score_threshold = 0.5f;
    float nms_threshold = 0.4f;
    std::string precision = "fp32";
    std::string file;  // explicit model file name (optional)
    std::string device = "CPU";
    int threads = 0;  // 0: OpenVINO's default
};

// OpenCV-compatible resizes of HxWx3 uint8 (INTER_AREA when shrinking, INTER_LINEAR when enlarging).
std::vector<uint8_t> resize_area(const ImageBGR& src, int dst_w, int dst_h);
std::vector<uint8_t> resize_linear(const ImageBGR& src, int dst_w, int dst_h);

// Greedy NMS: indices kept, highest score first; a box is dropped when IoU with a kept one is > threshold.
std::vector<size_t> nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores, float threshold);

class Detector {
public:
    Detector(const std::string& model_dir, const Options& options);
    std::vector<Face> detect(const ImageBGR& image);
    const Manifest& manifest() const { return manifest_; }
    const ModelEntry& model_file() const { return *entry_; }

private:
    Manifest manifest_;
    Options options_;
    const ModelEntry* entry_ = nullptr;
    ov::Core core_;
    ov::CompiledModel compiled_;
    ov::InferRequest request_;
    std::array<ov::Output<const ov::Node>, 3> outputs_;
    std::vector<float> input_;
    // priors for the last canvas size: centers and sizes, (cx, cy) / (w, h) per anchor
    int prior_w_ = -1, prior_h_ = -1;
    std::vector<std::array<float, 2>> prior_centers_, prior_sizes_;

    void make_priors(int canvas_w, int canvas_h);
    void make_input(const ImageBGR& image, const Letterbox& box);
};

// The SDK's JSON record: image, width, height, model_file, model, backend, latency_ms, faces.
std::string to_json(const std::string& image_name, const ImageBGR& image, const Detector& detector,
                    const std::vector<Face>& faces, double latency_ms);

}  // namespace edge_sdk
