#include "image.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

// The implementation comes from Debian's libstb (linked in CMakeLists.txt); with a vendored stb_image.h instead,
// compile it in one file: #define STB_IMAGE_IMPLEMENTATION before this include.
#include <stb_image.h>

namespace {
std::string stb_reason() {
    const char* reason = stbi_failure_reason();
    return reason != nullptr && *reason != '\0' ? reason : "truncated or corrupt data";
}
}  // namespace

ImageBGR read_image(const std::string& path, long long max_pixels) {
    const std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw std::runtime_error(std::string("cannot open: ") + std::strerror(errno));
    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_file(file.get(), &width, &height, &channels))  // header only; rewinds the file
        throw std::runtime_error("not an image stb_image can read (" + stb_reason() + ")");
    if (static_cast<long long>(width) * height > max_pixels)
        throw std::runtime_error("image too large (" + std::to_string(width) + "x" + std::to_string(height) + ")");
    const std::unique_ptr<stbi_uc, void (*)(void*)> rgb(stbi_load_from_file(file.get(), &width, &height, &channels, 3),
                                                        &stbi_image_free);
    if (!rgb) throw std::runtime_error("corrupt image (" + stb_reason() + ")");
    ImageBGR image;
    image.width = width;
    image.height = height;
    const size_t bytes = static_cast<size_t>(width) * height * 3;
    image.pixels.resize(bytes);
    for (size_t i = 0; i < bytes; i += 3) {  // RGB -> BGR
        image.pixels[i] = rgb.get()[i + 2];
        image.pixels[i + 1] = rgb.get()[i + 1];
        image.pixels[i + 2] = rgb.get()[i];
    }
    return image;
}
