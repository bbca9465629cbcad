// Binary PPM (P6, maxval 255) reader -> HxWx3 uint8 BGR, the SDK's pixel layout.
//
// Why PPM: the OpenVINO wheel ships no image decoder and OpenCV's C++ headers are not in the pip wheel. Firmware
// usually gets raw frames from a camera driver anyway; PPM is that (a 3-line header + raw RGB) and any tool writes
// it: `python -c "import cv2; cv2.imwrite('frame.ppm', cv2.imread('frame.jpg'))"` or `convert in.jpg out.ppm`.
#pragma once

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

struct ImageBGR {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> pixels;  // row-major, 3 bytes per pixel, B G R
};

namespace ppm_detail {
inline int read_header_int(std::istream& in, const std::string& path) {
    int c = in.peek();
    while (c != EOF) {  // whitespace and '#' comments between header fields
        if (c == '#') {
            std::string comment;
            std::getline(in, comment);
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            in.get();
        } else {
            break;
        }
        c = in.peek();
    }
    long value = -1;
    if (!(in >> value) || value < 0 || value > 1 << 20) throw std::runtime_error(path + ": bad PPM header");
    return static_cast<int>(value);
}
}  // namespace ppm_detail

inline ImageBGR read_ppm(const std::string& path, long max_pixels = 100000000L) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    char magic[2] = {0, 0};
    in.read(magic, 2);
    if (magic[0] != 'P' || magic[1] != '6') throw std::runtime_error(path + ": not a binary PPM (P6) file");
    ImageBGR image;
    image.width = ppm_detail::read_header_int(in, path);
    image.height = ppm_detail::read_header_int(in, path);
    int maxval = ppm_detail::read_header_int(in, path);
    if (maxval != 255) throw std::runtime_error(path + ": only 8-bit PPM (maxval 255) is supported");
    if (image.width == 0 || image.height == 0) throw std::runtime_error(path + ": empty image");
    if (static_cast<long>(image.width) * image.height > max_pixels) throw std::runtime_error(path + ": image too large");
    in.get();  // the single whitespace byte before the raster
    const size_t bytes = static_cast<size_t>(image.width) * image.height * 3;
    image.pixels.resize(bytes);
    in.read(reinterpret_cast<char*>(image.pixels.data()), static_cast<std::streamsize>(bytes));
    if (static_cast<size_t>(in.gcount()) != bytes) throw std::runtime_error(path + ": truncated PPM raster");
    for (size_t i = 0; i < bytes; i += 3) std::swap(image.pixels[i], image.pixels[i + 2]);  // RGB -> BGR
    return image;
}
