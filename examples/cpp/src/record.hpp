// A detected face and the SDK's version-1 detection record (edge_sdk/schemas/detection_record.schema.json, the
// record `edge-sdk detect --json` prints): keys in the Python SDK's order (edge_sdk.records), numbers rounded as it
// rounds them, one line of JSON. Invalid UTF-8 in an image name or message is replaced (U+FFFD) rather than rejected.
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "manifest.hpp"

namespace edge_sdk {

constexpr int kSchemaVersion = 1;
constexpr const char* kBackend = "openvino-cpp";

struct Face {
    std::array<float, 4> box;  // x1, y1, x2, y2 in original pixels
    float score;
    std::vector<std::array<float, 2>> landmarks;
};

// Where an image came from and when: a still image (no frame index, no media time).
struct FrameInfo {
    std::string image;                                // the path as given
    std::chrono::system_clock::time_point timestamp;  // wall clock when the image was read
};

// "2026-12-04T15:19:14.123Z": UTC, milliseconds (truncated, as Python's edge_sdk.records.utc_iso).
std::string utc_iso(std::chrono::system_clock::time_point moment);

// schema_version, image, frame, timestamp, media_time_ms, width, height, model, model_file, model_sha256, precision,
// input_size, backend, latency_ms, faces (box, score, landmarks, track_id).
std::string detection_record(const FrameInfo& info, int width, int height, const Manifest& manifest,
                             const ModelEntry& model_file, const std::vector<Face>& faces, double latency_ms);

// schema_version, image, frame, timestamp, media_time_ms, error {type, message}.
std::string error_record(const FrameInfo& info, const std::string& type, const std::string& message);

}  // namespace edge_sdk
