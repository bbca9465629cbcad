#include "verified_model.hpp"

#include <fstream>
#include <stdexcept>

#include <openssl/evp.h>

namespace edge_sdk {

namespace {

// The whole file, read into an OpenVINO u8 tensor (which OpenVINO can keep as the weights' storage).
ov::Tensor read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw std::runtime_error("cannot open " + path);
    const auto size = static_cast<size_t>(in.tellg());
    ov::Tensor bytes(ov::element::u8, ov::Shape{size});
    in.seekg(0);
    if (!in.read(static_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw std::runtime_error("cannot read " + path);
    return bytes;
}

void verify(const std::string& name, const ov::Tensor& bytes, const std::string& expected) {
    if (expected.empty()) throw std::runtime_error("the manifest lists no sha256 for " + name);
    const std::string actual = sha256_hex(bytes.data(), bytes.get_byte_size());
    if (actual != expected)
        throw std::runtime_error("checksum mismatch for " + name + ": manifest says " + expected.substr(0, 12) +
                                 "..., file is " + actual.substr(0, 12) + "...; the file is corrupt or was replaced");
}

ov::Tensor read_verified(const std::string& model_dir, const std::string& name, const std::string& expected) {
    ov::Tensor bytes = read_file(model_dir + "/" + name);
    verify(name, bytes, expected);
    return bytes;
}

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL could not compute a sha256");
    static const char hex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 0x0f];
    }
    return text;
}

std::shared_ptr<ov::Model> read_verified_model(ov::Core& core, const std::string& model_dir, const ModelEntry& entry) {
    const bool ir = entry.format == "openvino";
    if (entry.extra_files.size() != (ir ? 1u : 0u))
        throw std::runtime_error(entry.path + ": expected " + (ir ? "one extra file (its .bin weights)"
                                                                  : "no extra files (ONNX external data is not read)"));
    const ov::Tensor model = read_verified(model_dir, entry.path, entry.sha256);
    const std::string text(static_cast<const char*>(model.data()), model.get_byte_size());
    const ov::Tensor weights = ir ? read_verified(model_dir, entry.extra_files[0].path, entry.extra_files[0].sha256)
                                  : ov::Tensor();
    return core.read_model(text, weights);
}

}  // namespace edge_sdk
