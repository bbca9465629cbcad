// The edge-sdk model contract in C++ (see docs/MODEL_CONTRACT.md): letterbox, normalization, anchors, box/landmark
// decoding, greedy NMS, run through OpenVINO. manifest.cpp reads the manifest, record.cpp writes the JSON record.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <openvino/openvino.hpp>

#include "image.hpp"
#include "manifest.hpp"
#include "record.hpp"

namespace edge_sdk {

// Geometry of one letterbox (image top-left, pad right/bottom with the mean).
struct Letterbox {
    int src_width, src_height, resized_width, resized_height, canvas_width, canvas_height;
    float scale_x() const { return static_cast<float>(static_cast<double>(resized_width) / src_width); }
    float scale_y() const { return static_cast<float>(static_cast<double>(resized_height) / src_height); }
    static Letterbox fit(int src_w, int src_h, int canvas_w, int canvas_h);
    static Letterbox pad_to_multiple(int src_w, int src_h, int multiple);
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

// OpenCV-compatible resizes of HxWx3 uint8, pixel for pixel: INTER_AREA's exact halving and INTER_LINEAR.
std::vector<uint8_t> halve_area(const ImageBGR& src);
std::vector<uint8_t> resize_linear(const ImageBGR& src, int dst_w, int dst_h);

// The SDK's letterbox resize rule (edge_sdk/preprocess.py, `resize_steps`): 1 → enlarging, one INTER_LINEAR;
// k → INTER_LINEAR to k times the resized size (k the largest power of two <= the shrink factor, at least 2; skipped
// when the image is that size), then log2(k) exact INTER_AREA halvings.
int supersampling(const Letterbox& box);
std::vector<uint8_t> resize_for_letterbox(const ImageBGR& image, const Letterbox& box);

// Greedy NMS: indices kept, highest score first; a box is dropped when IoU with a kept one is > threshold.
std::vector<size_t> nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores,
                        float threshold);

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

}  // namespace edge_sdk
