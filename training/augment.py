"""RetinaFace-style training augmentation in numpy/OpenCV, driven by an explicit ``np.random.Generator``.

Order (as the RetinaFace reference ``preproc``): random square crop → photometric distortion → pad to square (only
when no crop was found) → horizontal mirror (landmarks swap left/right) → resize to the training size with a random
interpolation. With ``enabled=False`` the image is only letterboxed like the runtime does (aspect kept, top-left,
mean padding), which is what overfitting and evaluation-like training want.

Every random draw comes from the generator passed in, so a sample is a pure function of (image, annotations, seed):
the data pipeline seeds it from ``(seed, epoch, index)`` and results do not depend on worker or process layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_sdk.preprocess import Letterbox, resize_for_letterbox

# Mirror: image-left ↔ image-right points (left eye, right eye, nose, left mouth, right mouth).
MIRROR_LANDMARKS = np.array([1, 0, 2, 4, 3])
INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
    "lanczos4": cv2.INTER_LANCZOS4,
}


@dataclass
class Annotations:
    """Faces of one image: boxes (N,4) xyxy, landmarks (N,5,2), has_landmarks (N,). Arrays are float32/bool."""

    boxes: np.ndarray
    landmarks: np.ndarray
    has_landmarks: np.ndarray

    def select(self, keep: np.ndarray) -> Annotations:
        return Annotations(self.boxes[keep], self.landmarks[keep], self.has_landmarks[keep])

    def copy(self) -> Annotations:
        return Annotations(self.boxes.copy(), self.landmarks.copy(), self.has_landmarks.copy())


def random_square_crop(
    image: np.ndarray, ann: Annotations, rng: np.random.Generator, scales: list[float], attempts: int = 250
) -> tuple[np.ndarray, Annotations, bool]:
    """RetinaFace ``_crop``: a square of side ``scale x short side`` at a random position that fully contains at least
    one face; faces whose centre lies strictly inside are kept (boxes clipped to the crop). Returns (crop, faces,
    cropped?); after ``attempts`` failures the image is returned unchanged (to be padded to a square)."""
    height, width = image.shape[:2]
    short = min(height, width)
    if len(ann.boxes) == 0:
        return image, ann, False
    centers = (ann.boxes[:, :2] + ann.boxes[:, 2:]) / 2
    for _ in range(attempts):
        side = int(scales[rng.integers(len(scales))] * short)
        if side < 1:
            continue
        left = 0 if width == side else int(rng.integers(width - side))
        top = 0 if height == side else int(rng.integers(height - side))
        roi = np.array([left, top, left + side, top + side], np.float32)
        inside = ((ann.boxes[:, :2] >= roi[:2]) & (ann.boxes[:, 2:] <= roi[2:])).all(axis=1)
        if not inside.any():
            continue
        keep = ((centers > roi[:2]) & (centers < roi[2:])).all(axis=1)
        out = ann.select(keep).copy()
        out.boxes[:, :2] = np.maximum(out.boxes[:, :2], roi[:2]) - roi[:2]
        out.boxes[:, 2:] = np.minimum(out.boxes[:, 2:], roi[2:]) - roi[:2]
        out.landmarks[out.has_landmarks] -= roi[:2]
        return image[top : top + side, left : left + side], out, True
    return image, ann, False


def photometric_distort(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 32.0,
    contrast: tuple[float, float] = (0.5, 1.5),
    saturation: tuple[float, float] = (0.5, 1.5),
    hue: int = 18,
) -> np.ndarray:
    """RetinaFace ``_distort``: each of brightness, contrast, saturation, hue applied with probability 1/2; contrast
    either first or last. Vectorized: brightness/contrast with one saturating ``convertScaleAbs``-style op, hue and
    saturation through lookup tables on the HSV image."""
    image = image.copy()
    contrast_first = rng.random() < 0.5
    do_b, do_c, do_s, do_h = rng.random(4) < 0.5
    b_delta = rng.uniform(-brightness, brightness)
    c_alpha = rng.uniform(*contrast)
    s_alpha = rng.uniform(*saturation)
    h_delta = int(rng.integers(-hue, hue + 1))

    def linear(img: np.ndarray, alpha: float, beta: float) -> np.ndarray:
        return cv2.convertScaleAbs(img, alpha=alpha, beta=beta) if alpha >= 0 else img

    if do_b:
        image = np.clip(image.astype(np.float32) + b_delta, 0, 255).astype(np.uint8)
    if do_c and contrast_first:
        image = linear(image, c_alpha, 0.0)
    if do_s or do_h:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        if do_s:
            lut = np.clip(np.arange(256, dtype=np.float32) * s_alpha, 0, 255).astype(np.uint8)
            hsv[:, :, 1] = cv2.LUT(hsv[:, :, 1], lut)
        if do_h:
            lut = ((np.arange(256) + h_delta) % 180).astype(np.uint8)  # OpenCV 8-bit hue is 0..179
            hsv[:, :, 0] = cv2.LUT(hsv[:, :, 0], lut)
        image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if do_c and not contrast_first:
        image = linear(image, c_alpha, 0.0)
    return image


def pad_to_square(image: np.ndarray, fill: tuple[float, float, float]) -> np.ndarray:
    """Pad right/bottom to a square with ``fill`` (the normalization mean → 0 after normalization)."""
    height, width = image.shape[:2]
    side = max(height, width)
    if height == width:
        return image
    canvas = np.empty((side, side, 3), image.dtype)
    canvas[:] = np.asarray(fill, dtype=np.float32).round().astype(image.dtype)
    canvas[:height, :width] = image
    return canvas


def mirror(image: np.ndarray, ann: Annotations) -> tuple[np.ndarray, Annotations]:
    """Horizontal flip; boxes ``x → W - x``; landmarks flipped and re-ordered so "left eye" stays image-left."""
    width = image.shape[1]
    out = ann.copy()
    out.boxes[:, [0, 2]] = width - ann.boxes[:, [2, 0]]
    lm = out.landmarks[:, MIRROR_LANDMARKS].copy()
    lm[:, :, 0] = width - lm[:, :, 0]
    lm[~out.has_landmarks] = 0.0
    out.landmarks = lm
    return np.ascontiguousarray(image[:, ::-1]), out


def scale_annotations(ann: Annotations, sx: float, sy: float) -> Annotations:
    out = ann.copy()
    out.boxes *= np.array([sx, sy, sx, sy], np.float32)
    out.landmarks[out.has_landmarks] *= np.array([sx, sy], np.float32)
    return out


def clip_and_filter(ann: Annotations, width: int, height: int, min_size: float) -> Annotations:
    """Clip boxes to the image; drop faces that end up narrower/shorter than ``max(min_size, 1e-3)`` pixels."""
    out = ann.copy()
    out.boxes[:, 0::2] = np.clip(out.boxes[:, 0::2], 0, width)
    out.boxes[:, 1::2] = np.clip(out.boxes[:, 1::2], 0, height)
    wh = out.boxes[:, 2:] - out.boxes[:, :2]
    return out.select((wh >= max(min_size, 1e-3)).all(axis=1))


def augment(
    image: np.ndarray, ann: Annotations, size: int, cfg, rng: np.random.Generator, mean: tuple[float, float, float]
) -> tuple[np.ndarray, Annotations]:
    """Image (HxWx3 uint8 BGR) + faces → ``size x size`` uint8 image + faces in its pixels (``cfg``: AugmentConfig)."""
    ann = clip_and_filter(ann, image.shape[1], image.shape[0], 0.0)
    if not cfg.enabled:
        box = Letterbox.fit(image.shape[1], image.shape[0], size, size)
        resized = resize_for_letterbox(image, box)
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = np.asarray(mean, dtype=np.float32).round().astype(np.uint8)
        canvas[: box.resized_height, : box.resized_width] = resized
        ann = scale_annotations(ann, box.scale_x, box.scale_y)
        return canvas, clip_and_filter(ann, size, size, cfg.min_face_size)

    image, ann, cropped = random_square_crop(image, ann, rng, cfg.crop_scales, cfg.crop_attempts)
    if cfg.photometric:
        image = photometric_distort(
            image, rng, cfg.brightness_delta, tuple(cfg.contrast_range), tuple(cfg.saturation_range), cfg.hue_delta
        )
    if not cropped:
        image = pad_to_square(image, mean)
    if rng.random() < cfg.mirror_prob:
        image, ann = mirror(image, ann)
    interpolation = INTERPOLATIONS[cfg.interpolations[rng.integers(len(cfg.interpolations))]]
    height, width = image.shape[:2]
    image = cv2.resize(image, (size, size), interpolation=interpolation)
    ann = scale_annotations(ann, size / width, size / height)
    return image, clip_and_filter(ann, size, size, cfg.min_face_size)
