// Model files read once into memory, checked against the sha256 the manifest lists (OpenSSL's libcrypto), and handed
// to OpenVINO from those same bytes: what was verified is what runs (no second read of the file by OpenVINO).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <openvino/openvino.hpp>

#include "manifest.hpp"

namespace edge_sdk {

// Lowercase hex sha256 of `size` bytes at `data`.
std::string sha256_hex(const void* data, size_t size);

// The model of `entry` (OpenVINO IR: the .xml and its .bin, the one extra file; ONNX: the file alone), every file
// verified first. Throws std::runtime_error when a file is missing or unreadable, when the manifest lists no sha256
// for it, or on a mismatch ("checksum mismatch for NAME: manifest says ..., file is ...").
std::shared_ptr<ov::Model> read_verified_model(ov::Core& core, const std::string& model_dir, const ModelEntry& entry);

}  // namespace edge_sdk
