"""edge_sdk.pixel_maps: the OpenCV maps from resized pixels to a float or quantized model input are kept only where
they give exactly what the definition gives (normalize in float32 numpy, then quantize), and fall back otherwise.

The definition here is the SDK's float path (``make_input``, then the file's layout, then ``quantize_values``),
computed independently of pixel_maps; every comparison is bitwise.
"""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.input_spec import InputSpec
from edge_sdk.model_input import InputWriter, quantize_values
from edge_sdk.pixel_maps import _OpenCVQuantizedMap
from edge_sdk.preprocess import Letterbox, Normalization, make_input

from .conftest import require

RETINAFACE = Normalization()  # the bundled model's: BGR, integer means, std 1
IMAGENET_RGB = Normalization("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
HALF_MEAN = Normalization("BGR", (104.5, 117.0, 127.0))
SCALED_BGR = Normalization("BGR", (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))

BUNDLED_INT8 = InputSpec("quantized", "NHWC", 1.2058, -3, "int8")  # the bundled int8 TFLite's input quantization
INEXACT_INT8 = InputSpec("quantized", "NHWC", 1.2, 0, "int8")  # addWeighted rounds differently at some pixel here

# (normalization, input, the map chosen on x86-64 with the pinned OpenCV)
CASES = [
    (RETINAFACE, InputSpec("float", "NCHW"), "opencv"),
    (RETINAFACE, InputSpec("float", "NHWC"), "opencv"),
    (RETINAFACE, BUNDLED_INT8, "opencv"),
    (RETINAFACE, InputSpec("quantized", "NHWC", 1 / 128, 0, "uint8"), "opencv"),
    (RETINAFACE, INEXACT_INT8, "reference"),
    (RETINAFACE, InputSpec("quantized", "NCHW", 1.0, 0, "int8"), "reference"),  # no OpenCV map for NCHW integers
    (IMAGENET_RGB, InputSpec("float", "NCHW"), "opencv"),
    (IMAGENET_RGB, InputSpec("float", "NHWC"), "opencv"),
    (IMAGENET_RGB, InputSpec("quantized", "NHWC", 0.0186, 1, "int8"), "reference"),  # RGB, per-channel std
    (HALF_MEAN, InputSpec("float", "NHWC"), "opencv"),
    (HALF_MEAN, BUNDLED_INT8, "reference"),  # a non-integer mean is no constant uint8 image
    (SCALED_BGR, InputSpec("quantized", "NHWC", 1 / 128, 0, "int8"), "opencv"),
]


def _definition(image: np.ndarray, box: Letterbox, spec: InputSpec, norm: Normalization) -> np.ndarray:
    tensor = make_input(image, box, norm)
    if spec.layout == "NHWC":
        tensor = np.ascontiguousarray(tensor.transpose(0, 2, 3, 1))
    if spec.kind == "quantized":
        tensor = quantize_values(tensor, spec.scale, spec.zero_point, spec.dtype)
    return tensor


def _all_values(width: int) -> np.ndarray:
    """256 rows x ``width``: every uint8 value in every column of every channel (channels offset differently)."""
    rows, columns = np.arange(256)[:, None, None], np.arange(width)[None, :, None]
    return ((rows * 7 + columns + np.array([0, 85, 170])) % 256).astype(np.uint8)


def _images(astronaut: np.ndarray) -> list[tuple[str, np.ndarray, Letterbox]]:
    """Real and synthetic images, resized into a canvas and written at their own size into a wider one (so the
    image's rows are strided in the slot), at widths that end SIMD loops at every offset."""
    noise = np.random.default_rng(7).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    items = [
        ("astronaut into 640", astronaut, Letterbox.fit(astronaut.shape[1], astronaut.shape[0], 640, 640)),
        ("astronaut, no resize", astronaut, Letterbox.pad_to_multiple(astronaut.shape[1], astronaut.shape[0], 32)),
        ("noise, no resize", noise, Letterbox.pad_to_multiple(131, 97, 32)),
    ]
    for width in (1, 15, 16, 17, 33, 63, 64, 65, 129, 333):
        image = _all_values(width)
        items.append((f"all values x {width}", image, Letterbox.pad_to_multiple(width, 256, 32)))
    return items


@pytest.mark.parametrize("norm,spec,chosen_on_x86", CASES)
def test_written_input_is_the_definition_bit_for_bit(astronaut, norm, spec, chosen_on_x86):
    writer = InputWriter(spec, norm)
    assert writer.pixel_map_name in ("opencv", "reference")
    if platform.machine() in ("x86_64", "AMD64"):
        assert writer.pixel_map_name == chosen_on_x86
    for name, image, box in _images(astronaut):
        written = writer.prepare([(image, box)], box.canvas_height, box.canvas_width)
        expected = _definition(image, box, spec, norm)
        assert written.dtype == expected.dtype and written.shape == expected.shape, name
        assert np.array_equal(written.view(np.uint8), expected.view(np.uint8)), f"{writer.pixel_map_name}: {name}"


def test_an_inexact_opencv_map_is_refused():
    """The load-time check is what keeps the output exact: for this quantization the one-pass addWeighted map
    rounds some pixel differently from the definition, and the writer runs the lookup table instead."""
    candidate = _OpenCVQuantizedMap.if_affine(INEXACT_INT8, RETINAFACE)
    assert candidate is not None  # the map applies in form ...
    image = _all_values(67)
    got = np.zeros(INEXACT_INT8.shape(1, 256, 67)[1:], np.int8)
    candidate(image, got)
    box = Letterbox.pad_to_multiple(67, 256, 1)
    expected = _definition(image, box, INEXACT_INT8, RETINAFACE)[0]
    mismatches = int(np.count_nonzero(got != expected))
    print(f"\naddWeighted at scale {INEXACT_INT8.scale}: {mismatches} of {got.size} values differ from the definition")
    assert mismatches > 0  # ... but is not exact, so it must not be used
    assert InputWriter(INEXACT_INT8, RETINAFACE).pixel_map_name == "reference"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="which map wins is checked per CPU at load")
@pytest.mark.parametrize(
    "backend,precision,module",
    [
        ("tflite", "fp32", "ai_edge_litert"),
        ("tflite", "int8", "ai_edge_litert"),
        ("onnxruntime", "fp32", "onnxruntime"),
    ],
)
def test_bundled_float_and_quantized_inputs_take_the_opencv_maps(backend, precision, module):
    require(module, f"the {backend} backend")
    detector = FaceDetector(backend=backend, precision=precision, threads=1)
    assert detector.pixel_map == "opencv"


def test_a_map_failing_in_opencv_falls_back(monkeypatch):
    """An OpenCV error while checking (e.g. a build without a SIMD path for a depth) means the reference map."""

    def broken(*args, **kwargs):
        raise cv2.error("no such kernel")

    monkeypatch.setattr(cv2, "addWeighted", broken)
    assert InputWriter(BUNDLED_INT8, RETINAFACE).pixel_map_name == "reference"
