// Image files -> HxWx3 uint8 BGR, the SDK's pixel layout (what cv2.imread returns), decoded by stb_image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct ImageBGR {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> pixels;  // row-major, 3 bytes per pixel, B G R
};

// JPEG (baseline and progressive), PNG, BMP, PPM/PGM, TGA, GIF (first frame), PSD, HDR; gray and alpha are
// converted to 3 channels (alpha dropped), 16-bit to 8-bit. EXIF orientation is NOT applied (cv2.imread does).
// Throws std::runtime_error with stb_image's reason for a missing, corrupt or unsupported file,
// or one larger than max_pixels (checked from the header, before decoding).
ImageBGR read_image(const std::string& path, long long max_pixels = 100000000LL);
