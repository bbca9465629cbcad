#include "retinaface.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "verified_model.hpp"

namespace edge_sdk {

namespace {
constexpr size_t kPreNmsTopK = 5000;  // candidates kept (by score) before NMS
}  // namespace

Letterbox Letterbox::fit(int src_w, int src_h, int canvas_w, int canvas_h) {
    const double scale = std::min(static_cast<double>(canvas_w) / src_w, static_cast<double>(canvas_h) / src_h);
    // Python's round(): half to even, which nearbyint does in the default rounding mode
    const int rw = std::min(canvas_w, std::max(1, static_cast<int>(std::nearbyint(src_w * scale))));
    const int rh = std::min(canvas_h, std::max(1, static_cast<int>(std::nearbyint(src_h * scale))));
    return {src_w, src_h, rw, rh, canvas_w, canvas_h};
}

Letterbox Letterbox::pad_to_multiple(int src_w, int src_h, int multiple) {
    const int cw = (src_w + multiple - 1) / multiple * multiple;
    const int ch = (src_h + multiple - 1) / multiple * multiple;
    return {src_w, src_h, src_w, src_h, cw, ch};
}

// --- resizing, as OpenCV does it --------------------------------------------------------------------------------
// OpenCV's 8-bit INTER_LINEAR, integer for integer: half-pixel centres clamped at the borders, weights in 11-bit
// fixed point, a horizontal pass into int rows, then the vertical blend as OpenCV's SIMD path rounds it
// ((row >> 4) * weight >> 16 per row, a rounding shift by 2). A float blend differs by 1 on ~11% of the pixels.
std::vector<uint8_t> resize_linear(const ImageBGR& src, int dst_w, int dst_h) {
    constexpr float kOne = 2048.f;  // 1 << 11
    struct Tap {
        int index;
        int weight0, weight1;  // of source pixels index and index + 1, summing to 2048
    };
    auto axis = [kOne](int ssize, int dsize) {
        std::vector<Tap> tab(dsize);
        const double scale = 1.0 / (static_cast<double>(dsize) / ssize);
        for (int d = 0; d < dsize; ++d) {
            float f = static_cast<float>((d + 0.5) * scale - 0.5);
            int s0 = static_cast<int>(std::floor(f));
            f -= static_cast<float>(s0);
            if (s0 < 0) { s0 = 0; f = 0.f; }
            if (s0 >= ssize - 1) { s0 = ssize - 1; f = 0.f; }
            tab[d] = {s0, static_cast<int>(std::lrint((1.f - f) * kOne)), static_cast<int>(std::lrint(f * kOne))};
        }
        return tab;
    };
    const auto xt = axis(src.width, dst_w), yt = axis(src.height, dst_h);
    const size_t row = static_cast<size_t>(dst_w) * 3;
    std::vector<int32_t> rows(static_cast<size_t>(src.height) * row);  // horizontally resized source rows
    for (int y = 0; y < src.height; ++y) {
        const uint8_t* in = &src.pixels[static_cast<size_t>(y) * src.width * 3];
        int32_t* out = &rows[y * row];
        for (int x = 0; x < dst_w; ++x) {
            const Tap& t = xt[x];
            const int x1 = std::min(t.index + 1, src.width - 1);
            for (int c = 0; c < 3; ++c) out[x * 3 + c] = in[t.index * 3 + c] * t.weight0 + in[x1 * 3 + c] * t.weight1;
        }
    }
    std::vector<uint8_t> dst(static_cast<size_t>(dst_h) * row);
    for (int y = 0; y < dst_h; ++y) {
        const Tap& t = yt[y];
        const int32_t* r0 = &rows[t.index * row];
        const int32_t* r1 = &rows[std::min(t.index + 1, src.height - 1) * row];
        for (size_t i = 0; i < row; ++i) {
            const int32_t v = (((r0[i] >> 4) * t.weight0) >> 16) + (((r1[i] >> 4) * t.weight1) >> 16);
            dst[y * row + i] = static_cast<uint8_t>(std::clamp((v + 2) >> 2, 0, 255));
        }
    }
    return dst;
}

// OpenCV's INTER_AREA by exactly 2 (its vectorized integer path): the 2x2 sum, rounded half up.
std::vector<uint8_t> halve_area(const ImageBGR& src) {
    const int w = src.width / 2, h = src.height / 2;
    const size_t in_row = static_cast<size_t>(src.width) * 3, out_row = static_cast<size_t>(w) * 3;
    std::vector<uint8_t> dst(static_cast<size_t>(h) * out_row);
    for (int y = 0; y < h; ++y) {
        const uint8_t* r0 = &src.pixels[2 * y * in_row];
        const uint8_t* r1 = r0 + in_row;
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
                const size_t i = static_cast<size_t>(2 * x) * 3 + c;
                dst[y * out_row + x * 3 + c] = static_cast<uint8_t>((r0[i] + r0[i + 3] + r1[i] + r1[i + 3] + 2) >> 2);
            }
    }
    return dst;
}

int supersampling(const Letterbox& box) {
    if (box.scale_x() >= 1 && box.scale_y() >= 1) return 1;
    const double factor = std::max(static_cast<double>(box.src_width) / box.resized_width,
                                   static_cast<double>(box.src_height) / box.resized_height);
    int k = 2;
    while (2.0 * k <= factor) k *= 2;
    return k;
}

std::vector<uint8_t> resize_for_letterbox(const ImageBGR& image, const Letterbox& box) {
    const int k = supersampling(box);
    if (k == 1) return resize_linear(image, box.resized_width, box.resized_height);
    const int w = box.resized_width * k, h = box.resized_height * k;
    ImageBGR current = (w == image.width && h == image.height) ? image : ImageBGR{w, h, resize_linear(image, w, h)};
    while (current.width > box.resized_width) current = {current.width / 2, current.height / 2, halve_area(current)};
    return std::move(current.pixels);
}

// --- NMS ----------------------------------------------------------------------------------------------------------
std::vector<size_t> nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores,
                        float threshold) {
    std::vector<size_t> order(boxes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    auto area = [](const std::array<float, 4>& b) { return std::max(0.f, b[2] - b[0]) * std::max(0.f, b[3] - b[1]); };
    std::vector<size_t> kept;
    std::vector<bool> removed(boxes.size(), false);
    for (size_t i = 0; i < order.size(); ++i) {
        const size_t a = order[i];
        if (removed[a]) continue;
        kept.push_back(a);
        for (size_t j = i + 1; j < order.size(); ++j) {
            const size_t b = order[j];
            if (removed[b]) continue;
            const float iw = std::min(boxes[a][2], boxes[b][2]) - std::max(boxes[a][0], boxes[b][0]);
            const float ih = std::min(boxes[a][3], boxes[b][3]) - std::max(boxes[a][1], boxes[b][1]);
            const float inter = std::max(iw, 0.f) * std::max(ih, 0.f);
            const float uni = std::max(area(boxes[a]) + area(boxes[b]) - inter, 1e-12f);
            if (inter / uni > threshold) removed[b] = true;
        }
    }
    return kept;
}

// --- detector -------------------------------------------------------------------------------------------------------
Detector::Detector(const std::string& model_dir, const Options& options)
    : manifest_(Manifest::load(model_dir)), options_(options) {
    if (!options.file.empty()) {
        for (const auto& f : manifest_.files)
            if (f.path == options.file) entry_ = &f;
        if (entry_ == nullptr) throw std::runtime_error(options.file + " is not listed in the manifest");
    } else {
        entry_ = &manifest_.select(options.input_width, options.input_height, options.precision);
    }
    if (entry_->width > 0 && (entry_->width != options.input_width || entry_->height != options.input_height))
        throw std::runtime_error(entry_->path + " has a fixed input size that differs from the one asked for");
    auto model = read_verified_model(core_, model_dir, *entry_);
    ov::AnyMap config{ov::hint::inference_precision(ov::element::f32)};  // the CPU plugin defaults to bf16 where it can
    if (options.threads > 0) config.emplace(ov::inference_num_threads(options.threads));
    compiled_ = core_.compile_model(model, options.device, config);
    request_ = compiled_.create_infer_request();
    // outputs by the manifest's names, else by their last dimension (4 boxes, 2 scores, 2K landmarks)
    const std::array<size_t, 3> last_dims{4, 2, static_cast<size_t>(2 * manifest_.num_landmarks)};
    for (int role = 0; role < 3; ++role) {
        bool found = false;
        for (const auto& out : compiled_.outputs()) {
            if (out.get_names().count(manifest_.output_names[role])) { outputs_[role] = out; found = true; }
        }
        for (const auto& out : compiled_.outputs()) {
            if (!found && out.get_partial_shape().rank().get_length() == 3 && out.get_partial_shape()[2].is_static() &&
                static_cast<size_t>(out.get_partial_shape()[2].get_length()) == last_dims[role]) {
                outputs_[role] = out;
                found = true;
            }
        }
        if (!found) throw std::runtime_error("model output '" + manifest_.output_names[role] + "' not found");
    }
}

void Detector::make_priors(int canvas_w, int canvas_h) {
    if (canvas_w == prior_w_ && canvas_h == prior_h_) return;
    prior_centers_.clear();
    prior_sizes_.clear();
    // for each level, each feature-map cell (row-major: y, then x), each min size of the level
    for (size_t level = 0; level < manifest_.strides.size(); ++level) {
        const int stride = manifest_.strides[level];
        const int rows = (canvas_h + stride - 1) / stride, cols = (canvas_w + stride - 1) / stride;
        for (int y = 0; y < rows; ++y)
            for (int x = 0; x < cols; ++x)
                for (int size : manifest_.min_sizes[level]) {
                    prior_centers_.push_back({(x + 0.5f) * stride, (y + 0.5f) * stride});
                    prior_sizes_.push_back({static_cast<float>(size), static_cast<float>(size)});
                }
    }
    prior_w_ = canvas_w;
    prior_h_ = canvas_h;
}

void Detector::make_input(const ImageBGR& image, const Letterbox& box) {
    std::vector<uint8_t> resized;
    const uint8_t* pixels = image.pixels.data();
    if (box.resized_width != box.src_width || box.resized_height != box.src_height) {
        resized = resize_for_letterbox(image, box);
        pixels = resized.data();
    }
    const size_t plane = static_cast<size_t>(box.canvas_width) * box.canvas_height;
    input_.assign(3 * plane, 0.f);  // padding is the mean, i.e. exactly 0 after normalization
    const bool rgb = manifest_.channel_order == "RGB";
    for (int c = 0; c < 3; ++c) {
        const int source_channel = rgb ? 2 - c : c;  // pixels are BGR
        const float mean = manifest_.mean[c], inv_std = 1.f / manifest_.std[c];
        float* out = &input_[c * plane];
        for (int y = 0; y < box.resized_height; ++y)
            for (int x = 0; x < box.resized_width; ++x)
                out[static_cast<size_t>(y) * box.canvas_width + x] =
                    (pixels[(static_cast<size_t>(y) * box.resized_width + x) * 3 + source_channel] - mean) * inv_std;
    }
}

std::vector<Face> Detector::detect(const ImageBGR& image) {
    const int max_stride = *std::max_element(manifest_.strides.begin(), manifest_.strides.end());
    const Letterbox box = options_.input_width > 0
                              ? Letterbox::fit(image.width, image.height, options_.input_width, options_.input_height)
                              : Letterbox::pad_to_multiple(image.width, image.height, max_stride);
    make_input(image, box);
    const ov::Shape shape{1, 3, static_cast<size_t>(box.canvas_height), static_cast<size_t>(box.canvas_width)};
    ov::Tensor tensor(ov::element::f32, shape, input_.data());  // wraps input_, no copy
    request_.set_input_tensor(tensor);
    request_.infer();
    const ov::Tensor deltas = request_.get_tensor(outputs_[0]);
    const ov::Tensor scores = request_.get_tensor(outputs_[1]);
    const ov::Tensor marks = request_.get_tensor(outputs_[2]);
    make_priors(box.canvas_width, box.canvas_height);
    const size_t count = prior_centers_.size();
    const size_t k = static_cast<size_t>(manifest_.num_landmarks);
    if (scores.get_shape()[1] != count) throw std::runtime_error("model and manifest disagree on the anchor count");
    const float* d = deltas.data<const float>();
    const float* s = scores.data<const float>();
    const float* l = marks.data<const float>();

    std::vector<size_t> candidates;
    for (size_t i = 0; i < count; ++i)
        if (s[i * 2 + 1] >= options_.score_threshold) candidates.push_back(i);  // column 1 = face probability
    if (candidates.size() > kPreNmsTopK) {
        std::nth_element(candidates.begin(), candidates.begin() + kPreNmsTopK, candidates.end(),
                         [&](size_t a, size_t b) { return s[a * 2 + 1] > s[b * 2 + 1]; });
        candidates.resize(kPreNmsTopK);
        std::sort(candidates.begin(), candidates.end());
    }
    const float vc = manifest_.variance_center, vs = manifest_.variance_size;
    std::vector<std::array<float, 4>> boxes;
    std::vector<float> cand_scores;
    for (size_t i : candidates) {
        const auto& c = prior_centers_[i];
        const auto& z = prior_sizes_[i];
        const float cx = c[0] + d[i * 4 + 0] * vc * z[0], cy = c[1] + d[i * 4 + 1] * vc * z[1];
        const float w = z[0] * std::exp(d[i * 4 + 2] * vs), h = z[1] * std::exp(d[i * 4 + 3] * vs);
        boxes.push_back({cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2});
        cand_scores.push_back(s[i * 2 + 1]);
    }
    const float sx = box.scale_x(), sy = box.scale_y();
    std::vector<Face> faces;
    for (size_t j : nms(boxes, cand_scores, options_.nms_threshold)) {
        const size_t i = candidates[j];
        Face face;
        face.box = {std::clamp(boxes[j][0] / sx, 0.f, static_cast<float>(image.width)),
                    std::clamp(boxes[j][1] / sy, 0.f, static_cast<float>(image.height)),
                    std::clamp(boxes[j][2] / sx, 0.f, static_cast<float>(image.width)),
                    std::clamp(boxes[j][3] / sy, 0.f, static_cast<float>(image.height))};
        if (face.box[2] <= face.box[0] || face.box[3] <= face.box[1]) continue;
        face.score = cand_scores[j];
        for (size_t p = 0; p < k; ++p) {
            const auto& c = prior_centers_[i];
            const auto& z = prior_sizes_[i];
            face.landmarks.push_back({(c[0] + l[i * 2 * k + 2 * p] * vc * z[0]) / sx,
                                      (c[1] + l[i * 2 * k + 2 * p + 1] * vc * z[1]) / sy});
        }
        faces.push_back(face);
    }
    return faces;
}

}  // namespace edge_sdk
