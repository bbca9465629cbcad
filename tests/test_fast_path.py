"""The fast path into the model (edge_sdk.model_input): the inputs it writes, and the faces they give, against the
float path the SDK used before (normalize in numpy into a fresh NCHW float32 tensor, quantize after).

- TFLite (NHWC files; int8 through a per-channel lookup table) and ONNX Runtime: the tensor written is bit-identical
  to the float path's (transposed / quantized the old way) on every one of the 626 shared val images.
- OpenVINO takes the uint8 canvas and normalizes inside the compiled model: same faces (IoU >= 0.999, scores within
  1e-4) and the same WIDER FACE AP (to 1e-4) as the float input on all 626 images, fp32 and int8.
- Buffers are reused (no allocation per call at steady state), per thread, and re-padded when the letterbox changes.
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.backends.base import QuantParams, quantize
from edge_sdk.model_input import InputSpec, InputWriter
from edge_sdk.preprocess import Letterbox, Normalization, make_input

from .conftest import require


@pytest.fixture(scope="module")
def val_images(shared_data: Path) -> dict[str, np.ndarray]:
    """All WIDER FACE val images on disk (626), keyed like the ground truth."""
    folder = shared_data / "widerface" / "WIDER_val" / "images"
    paths = sorted(folder.glob("*/*.jpg"))
    assert len(paths) >= 600, f"expected the 626 shared val images, found {len(paths)}"
    return {f"{p.parent.name}/{p.stem}": cv2.imread(str(p)) for p in paths}


def _float_path(detector: FaceDetector, image: np.ndarray) -> np.ndarray:
    """What the SDK fed the backend before the fast path: make_input, then the file's layout, then quantized."""
    box = detector.letterbox_for(image.shape[1], image.shape[0])
    tensor = make_input(image, box, detector.manifest.normalization)
    spec = detector.backend.input_spec
    if spec.layout == "NHWC":
        tensor = np.ascontiguousarray(tensor.transpose(0, 2, 3, 1))
    if spec.kind == "quantized":
        tensor = quantize(tensor, QuantParams(spec.scale, spec.zero_point, np.dtype(spec.dtype)))
    return tensor


@pytest.mark.parametrize(
    "backend,precision,kind,layout",
    [
        ("tflite", "fp32", "float", "NHWC"),
        ("tflite", "int8", "quantized", "NHWC"),
        ("onnxruntime", "fp32", "float", "NCHW"),
    ],
)
def test_written_input_is_the_float_paths_bit_for_bit(val_images, backend, precision, kind, layout):
    require({"tflite": "ai_edge_litert", "onnxruntime": "onnxruntime"}[backend], f"the {backend} backend")
    detector = FaceDetector(backend=backend, precision=precision, threads=1)
    assert (detector.backend.input_spec.kind, detector.backend.input_spec.layout) == (kind, layout)
    for key, image in val_images.items():
        written, _ = detector.preprocess(image, reuse=True)
        expected = _float_path(detector, image)
        assert written.dtype == expected.dtype and written.shape == expected.shape, key
        assert np.array_equal(written, expected), f"{key}: the written input differs from the float path's"


def _faces_by_path(image_items, precision: str, input_size) -> tuple[dict, dict, FaceDetector]:
    from edge_sdk.backends.openvino_backend import OpenVinoBackend

    pixels = FaceDetector(backend="openvino", precision=precision, input_size=input_size, score_threshold=0.02)
    assert pixels.backend.input_spec.kind == "pixels"
    floats = FaceDetector(backend="openvino", precision=precision, input_size=input_size, score_threshold=0.02)
    floats.backend = OpenVinoBackend(floats.model_file, floats.manifest, pixel_input=False)
    floats._input = InputWriter(floats.backend.input_spec, floats.manifest.normalization)
    assert floats.backend.input_spec.kind == "float"
    return (
        {key: pixels.detect(image) for key, image in image_items},
        {key: floats.detect(image) for key, image in image_items},
        pixels,
    )


def _assert_same_faces(got: dict, want: dict) -> tuple[float, float]:
    """Every face matched one to one (IoU >= 0.999, score within 1e-4); returns the worst IoU and score gap."""
    from edge_sdk.nms import pairwise_iou

    worst_iou, worst_score = 1.0, 0.0
    for key in want:
        a, b = got[key], want[key]
        assert len(a) == len(b), f"{key}: {len(a)} faces vs {len(b)}"
        if len(a) == 0:
            continue
        iou = pairwise_iou(a.boxes, b.boxes)
        match = iou.argmax(axis=1)
        assert len(set(match.tolist())) == len(a), f"{key}: faces do not match one to one"
        best = iou[np.arange(len(a)), match]
        gap = np.abs(a.scores - b.scores[match])
        worst_iou, worst_score = min(worst_iou, float(best.min())), max(worst_score, float(gap.max()))
    assert worst_iou >= 0.999 and worst_score <= 1e-4, (worst_iou, worst_score)
    return worst_iou, worst_score


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_openvino_pixel_input_keeps_faces_and_ap(val_images, shared_data, precision):
    require("openvino", "the [openvino] extra")
    from evaluation.widerface import evaluate_widerface, load_widerface_gt

    got, want, detector = _faces_by_path(list(val_images.items()), precision, 640)
    worst_iou, worst_score = _assert_same_faces(got, want)
    gt = load_widerface_gt(shared_data / "widerface")

    def ap(faces: dict) -> np.ndarray:
        predictions = {k: np.column_stack([d.boxes, d.scores]) for k, d in faces.items()}
        result = evaluate_widerface(predictions, gt)
        return np.array([result.ap[s] for s in ("easy", "medium", "hard")])

    ap_pixels, ap_float = ap(got), ap(want)
    print(
        f"\nopenvino {precision} 640, {len(got)} images: worst IoU {worst_iou:.6f}, score gap {worst_score:.1e}; "
        f"AP pixels {np.round(ap_pixels, 4)} vs float {np.round(ap_float, 4)}"
    )
    assert np.abs(ap_pixels - ap_float).max() <= 1e-4


def test_openvino_pixel_input_at_original_size(val_images):
    """Dynamic shapes: the canvas is padded to the shape bucket with the mean pixel (0 after normalization)."""
    require("openvino", "the [openvino] extra")
    items = list(val_images.items())[::8]
    got, want, detector = _faces_by_path(items, "fp32", None)
    assert detector.backend.buckets is not None
    _assert_same_faces(got, want)


def test_steady_state_preprocess_allocates_nothing(astronaut):
    detector = FaceDetector(backend="onnxruntime", threads=1)
    first, _ = detector.preprocess(astronaut, reuse=True)
    tracemalloc.start()
    try:
        for _ in range(5):
            again, _ = detector.preprocess(astronaut, reuse=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert again is first  # the same buffer, refilled
    print(f"\npeak traced allocation over 5 steady-state preprocess calls: {peak} bytes (tensor {first.nbytes})")
    assert peak < 64 * 1024
    owned, _ = detector.preprocess(astronaut)
    assert owned is not first and np.array_equal(owned, first)  # without reuse: a copy the caller keeps


def test_changing_letterbox_repads_the_reused_canvas(astronaut):
    """A wide image after a tall one (and back) leaves no stale pixels in the padding: each call's input equals a
    fresh detector's."""
    wide = cv2.resize(astronaut, (900, 300))
    tall = cv2.resize(astronaut, (300, 900))
    for backend in ("onnxruntime", "tflite", "openvino"):
        require({"tflite": "ai_edge_litert", "onnxruntime": "onnxruntime", "openvino": "openvino"}[backend], backend)
        reused = FaceDetector(backend=backend, threads=1)
        for image in (tall, wide, tall, astronaut, wide):
            fresh = FaceDetector(backend=backend, threads=1)
            assert np.array_equal(reused.preprocess(image, reuse=True)[0], fresh.preprocess(image)[0]), backend


def test_buffers_are_per_thread(astronaut):
    detector = FaceDetector(backend="onnxruntime", threads=1)
    images = [astronaut, cv2.flip(astronaut, 1), cv2.resize(astronaut, (512, 300)), astronaut[:, :400]]
    want = [detector.detect(image) for image in images]
    results: dict[int, list] = {}

    def work(index: int) -> None:
        results[index] = [detector.detect(images[(index + i) % 4]) for i in range(40)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index, got in results.items():
        for i, faces in enumerate(got):
            expected = want[(index + i) % 4]
            assert np.array_equal(faces.boxes, expected.boxes) and np.array_equal(faces.scores, expected.scores)


def test_rgb_model_orders_and_pads_its_channels():
    """A model that wants RGB: the lookup/normalization reads the canvas channels in its order, padding is its
    normalized mean, for every kind and layout."""
    norm = Normalization("RGB", (10.0, 20.0, 30.0), (2.0, 2.0, 2.0))
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    box = Letterbox.fit(50, 40, 64, 64)
    reference = make_input(image, box, norm)  # (1, 3, 64, 64) float, RGB order
    for spec in (
        InputSpec("float", "NCHW"),
        InputSpec("float", "NHWC"),
        InputSpec("quantized", "NCHW", 0.7, -5, "int8"),
        InputSpec("quantized", "NHWC", 0.7, 3, "uint8"),
    ):
        written = InputWriter(spec, norm).prepare([(image, box)], 64, 64)
        expected = reference if spec.layout == "NCHW" else reference.transpose(0, 2, 3, 1)
        if spec.kind == "quantized":
            expected = quantize(expected, QuantParams(spec.scale, spec.zero_point, np.dtype(spec.dtype)))
        assert np.array_equal(written, expected), spec
    with pytest.raises(ValueError, match="integer mean"):
        InputWriter(InputSpec("pixels", "NHWC", dtype="uint8"), Normalization("BGR", (0.5, 1, 2)))
