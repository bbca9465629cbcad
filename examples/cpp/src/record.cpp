#include "record.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace edge_sdk {

namespace {
using Json = nlohmann::ordered_json;

// A number as Python's round(v, digits) gives it; nlohmann/json then prints the shortest form that reads back the same.
double rounded(double v, int digits) {
    const double scale = std::pow(10.0, digits);
    const double r = std::round(v * scale) / scale;
    return r == 0.0 ? 0.0 : r;  // no "-0.0"
}

Json point(const std::array<float, 2>& p) { return Json::array({rounded(p[0], 2), rounded(p[1], 2)}); }

Json face_json(const Face& face, const std::vector<std::string>& names) {
    Json landmarks = Json::object();
    for (size_t p = 0; p < face.landmarks.size(); ++p)
        landmarks[p < names.size() ? names[p] : "point" + std::to_string(p)] = point(face.landmarks[p]);
    Json box = Json::array();
    for (float v : face.box) box.push_back(rounded(v, 2));
    return {{"box", box}, {"score", rounded(face.score, 5)}, {"landmarks", landmarks}, {"track_id", nullptr}};
}

// The keys every record starts with (still images: no frame index, no media time).
Json common(const FrameInfo& info) {
    return {{"schema_version", kSchemaVersion},
            {"image", info.image},
            {"frame", nullptr},
            {"timestamp", utc_iso(info.timestamp)},
            {"media_time_ms", nullptr}};
}

std::string one_line(const Json& record) {
    return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::string utc_iso(std::chrono::system_clock::time_point moment) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(moment);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(moment - seconds).count();
    const std::time_t epoch = std::chrono::system_clock::to_time_t(seconds);
    std::tm utc{};
    gmtime_r(&epoch, &utc);
    char text[32];
    const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(millis));
    return text;
}

std::string detection_record(const FrameInfo& info, int width, int height, const Manifest& manifest,
                             const ModelEntry& model_file, const std::vector<Face>& faces, double latency_ms) {
    Json face_list = Json::array();
    for (const Face& face : faces) face_list.push_back(face_json(face, manifest.landmark_order));
    const Json input_size = model_file.width > 0 ? Json::array({model_file.width, model_file.height}) : Json(nullptr);
    Json record = common(info);
    record["width"] = width;
    record["height"] = height;
    record["model"] = manifest.name;
    record["model_file"] = std::filesystem::path(model_file.path).filename().string();
    record["model_sha256"] = model_file.sha256;  // verified at load (verified_model.cpp)
    record["precision"] = model_file.precision;
    record["input_size"] = input_size;
    record["backend"] = kBackend;
    record["latency_ms"] = rounded(latency_ms, 3);
    record["faces"] = face_list;
    return one_line(record);
}

std::string error_record(const FrameInfo& info, const std::string& type, const std::string& message) {
    Json record = common(info);
    record["error"] = {{"type", type}, {"message", message}};
    return one_line(record);
}

}  // namespace edge_sdk
