#include "record.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace edge_sdk {

namespace {
// A number as Python's round(v, digits) gives it; nlohmann/json then prints the shortest form that reads back the same.
double rounded(double v, int digits) {
    const double scale = std::pow(10.0, digits);
    const double r = std::round(v * scale) / scale;
    return r == 0.0 ? 0.0 : r;  // no "-0.0"
}
}  // namespace

std::string to_json(const std::string& image_name, const ImageBGR& image, const std::string& model_file,
                    const Manifest& manifest, const std::vector<Face>& faces, double latency_ms) {
    const auto& names = manifest.landmark_order;
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    for (const Face& f : faces) {
        nlohmann::ordered_json landmarks = nlohmann::ordered_json::object();
        for (size_t p = 0; p < f.landmarks.size(); ++p) {
            const std::string name = p < names.size() ? names[p] : "point" + std::to_string(p);
            landmarks[name] = {rounded(f.landmarks[p][0], 2), rounded(f.landmarks[p][1], 2)};
        }
        records.push_back({{"box", {rounded(f.box[0], 2), rounded(f.box[1], 2), rounded(f.box[2], 2),
                                    rounded(f.box[3], 2)}},
                           {"score", rounded(f.score, 5)},
                           {"landmarks", landmarks}});
    }
    const nlohmann::ordered_json record = {{"image", image_name},
                                           {"width", image.width},
                                           {"height", image.height},
                                           {"model_file", model_file},
                                           {"model", manifest.name},
                                           {"backend", "openvino-cpp"},
                                           {"latency_ms", rounded(latency_ms, 2)},
                                           {"faces", records}};
    return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace edge_sdk
