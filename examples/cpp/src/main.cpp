// edge_sdk_detect: faces in image files (JPEG, PNG, ... via stb_image) with the bundled RetinaFace model through
// OpenVINO; one version-1 detection record per image per line on stdout (the record `edge-sdk detect --json` prints;
// an error record for an image that cannot be read or run), and each error also as one line on stderr.
// Exit codes: 0 ok, 1 an image failed (the others are still processed), 2 usage or model errors (including a model
// file whose sha256 differs from the manifest's).
#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "retinaface.hpp"

namespace {
void usage() {
    std::cerr << "usage: edge_sdk_detect MODEL_DIR IMAGE [IMAGE ...]   (JPEG, PNG, BMP, PPM, ...)\n"
                 "  [--input-size 640|WxH|original] [--score-threshold 0.5] [--nms-threshold 0.4]\n"
                 "  [--file MODEL_FILE] [--precision fp32] [--device CPU] [--threads N]\n";
}

// One image: its record on stdout, and on failure its error line on stderr too. False when the image failed.
bool process(edge_sdk::Detector& detector, const std::string& path) {
    const edge_sdk::FrameInfo info{path, std::chrono::system_clock::now()};
    std::string error_type = "InvalidImageError";  // the Python SDK's names for the two ways an image fails
    try {
        const ImageBGR image = read_image(path);
        error_type = "BackendError";
        const auto start = std::chrono::steady_clock::now();
        const auto faces = detector.detect(image);
        const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
        std::cout << edge_sdk::detection_record(info, image.width, image.height, detector.manifest(),
                                                detector.model_file(), faces, elapsed.count())
                  << std::endl;
        return true;
    } catch (const std::exception& e) {
        std::cout << edge_sdk::error_record(info, error_type, e.what()) << std::endl;
        std::cerr << "error: " << path << ": " << e.what() << "\n";
        return false;
    }
}
}  // namespace

int main(int argc, char** argv) {
    edge_sdk::Options options;
    std::vector<std::string> positional;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
                return argv[++i];
            };
            if (arg == "-h" || arg == "--help") { usage(); return 0; }
            if (arg == "--input-size") {
                const std::string v = next();
                if (v == "original") {
                    options.input_width = options.input_height = 0;
                } else {
                    const auto x = v.find('x');
                    options.input_width = std::stoi(v.substr(0, x));
                    options.input_height = x == std::string::npos ? options.input_width : std::stoi(v.substr(x + 1));
                }
            } else if (arg == "--score-threshold") { options.score_threshold = std::stof(next());
            } else if (arg == "--nms-threshold") { options.nms_threshold = std::stof(next());
            } else if (arg == "--file") { options.file = next();
            } else if (arg == "--precision") { options.precision = next();
            } else if (arg == "--device") { options.device = next();
            } else if (arg == "--threads") { options.threads = std::stoi(next());
            } else if (!arg.empty() && arg[0] == '-') { throw std::invalid_argument("unknown option " + arg);
            } else { positional.push_back(arg); }
        }
        if (positional.size() < 2) { usage(); return 2; }
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        usage();
        return 2;
    }

    std::unique_ptr<edge_sdk::Detector> detector;
    try {
        detector = std::make_unique<edge_sdk::Detector>(positional[0], options);
    } catch (const std::exception& e) {
        std::cerr << "error: cannot load the model: " << e.what() << "\n";
        return 2;
    }
    int status = 0;
    for (size_t i = 1; i < positional.size(); ++i)
        if (!process(*detector, positional[i])) status = 1;
    return status;
}
