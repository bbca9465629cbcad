#include "manifest.hpp"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace edge_sdk {

Manifest Manifest::load(const std::string& directory) {
    const std::string path = directory + "/manifest.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    Manifest m;
    try {
        const nlohmann::json root = nlohmann::json::parse(in);
        if (root.at("schema_version").get<int>() != 1) throw std::runtime_error("unsupported schema_version");
        m.name = root.at("name").get<std::string>();
        m.directory = directory;
        const auto& input = root.at("input");
        m.channel_order = input.at("channel_order").get<std::string>();
        m.mean = input.at("mean").get<std::array<float, 3>>();
        m.std = input.at("std").get<std::array<float, 3>>();
        const auto& anchors = root.at("anchors");
        m.strides = anchors.at("strides").get<std::vector<int>>();
        m.min_sizes = anchors.at("min_sizes").get<std::vector<std::vector<int>>>();
        if (m.min_sizes.size() != m.strides.size()) throw std::runtime_error("one min_sizes list per stride expected");
        m.variance_center = anchors.at("variances").at(0).get<float>();
        m.variance_size = anchors.at("variances").at(1).get<float>();
        m.num_landmarks = anchors.value("num_landmarks", 5);
        const auto& names = root.at("outputs").at("names");
        m.output_names = {names.at("boxes").get<std::string>(), names.at("scores").get<std::string>(),
                          names.at("landmarks").get<std::string>()};
        m.landmark_order = root.at("landmark_order").get<std::vector<std::string>>();
        for (const auto& f : root.at("files")) {
            ModelEntry e;
            e.path = f.at("path").get<std::string>();
            e.format = f.at("format").get<std::string>();
            e.precision = f.at("precision").get<std::string>();
            if (!f.at("input_size").is_null()) {
                e.width = f.at("input_size").at(0).get<int>();
                e.height = f.at("input_size").at(1).get<int>();
            }
            e.sha256 = f.at("sha256").get<std::string>();
            const nlohmann::json extra_sha256 = f.value("extra_sha256", nlohmann::json::object());
            for (const auto& extra : f.value("extra_files", nlohmann::json::array())) {
                const auto extra_path = extra.get<std::string>();
                e.extra_files.push_back({extra_path, extra_sha256.value(extra_path, "")});
            }
            m.files.push_back(e);
        }
    } catch (const std::exception& e) {  // nlohmann's messages name the key or the byte offset
        throw std::runtime_error(path + ": " + e.what());
    }
    return m;
}

const ModelEntry& Manifest::select(int width, int height, const std::string& precision) const {
    for (const bool dynamic : {false, true}) {
        for (const char* format : {"openvino", "onnx"}) {  // the formats OpenVINO reads natively, IR first
            for (const auto& f : files) {
                const bool shape_ok = dynamic ? (f.width == 0) : (f.width == width && f.height == height && width > 0);
                if (f.format == format && f.precision == precision && shape_ok) return f;
            }
        }
    }
    throw std::runtime_error("no " + precision + " OpenVINO/ONNX file for that input size in " + directory);
}

}  // namespace edge_sdk
