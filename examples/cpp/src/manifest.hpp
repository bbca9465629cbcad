// The model directory's manifest.json (docs/MODEL_CONTRACT.md): preprocessing, anchors, output names, files.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace edge_sdk {

// A file the model needs besides the main one (OpenVINO's .bin weights) and its sha256 ("" if the manifest has none).
struct ExtraFile {
    std::string path;
    std::string sha256;
};

struct ModelEntry {
    std::string path;       // relative to the model directory
    std::string format;     // "onnx", "openvino", "tflite"
    std::string precision;  // "fp32", "int8", ...
    int width = 0, height = 0;  // 0 x 0: dynamic input shape
    std::string sha256;     // of the file at `path` (lowercase hex)
    std::vector<ExtraFile> extra_files;
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

}  // namespace edge_sdk
