// A detected face and the SDK's JSON record (the schema of `edge-sdk detect`).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "image.hpp"
#include "manifest.hpp"

namespace edge_sdk {

struct Face {
    std::array<float, 4> box;  // x1, y1, x2, y2 in original pixels
    float score;
    std::vector<std::array<float, 2>> landmarks;
};

// One line: image, width, height, model_file, model, backend, latency_ms, faces (in that order). Numbers are rounded
// as the Python SDK rounds them; invalid UTF-8 in the image name is replaced (U+FFFD) rather than rejected.
std::string to_json(const std::string& image_name, const ImageBGR& image, const std::string& model_file,
                    const Manifest& manifest, const std::vector<Face>& faces, double latency_ms);

}  // namespace edge_sdk
