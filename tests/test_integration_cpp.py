"""examples/cpp: built with cmake + g++ against the OpenVINO wheel's C++ API, stb_image and nlohmann/json; fed JPEG
and PNG files directly, it returns the faces the Python SDK (OpenVINO backend) returns on the same file.

Fair comparison: the C++ program decodes with stb_image, the SDK with OpenCV. PNG is lossless, so both decoders give
the same pixels and the two programs are compared on the file itself. JPEG decoders differ in their IDCT and colour
rounding (stb vs libjpeg-turbo: up to 3 levels on ~5% of the pixels), so the tight comparison runs Python on the
pixels decoded from the same bytes by the same libstb the binary links (through ctypes); a second, looser check
compares with Python's own decoding of the file and bounds what the decoder difference costs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import LANDMARK_NAMES, Detections, FaceDetector
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL
from edge_sdk.nms import pairwise_iou

from .conftest import IN_CI, REPO_ROOT, require
from .integration_support import RECORD_KEYS, real_images, require_binary

PNG = REPO_ROOT / "samples" / "astronaut.png"
#: one unit of the last digit the JSON record prints (boxes and landmarks: 2 decimals, scores: 5)
PIXEL_TOL, SCORE_TOL = 0.01, 1e-5
APT_PACKAGES = "cmake g++ libstb-dev nlohmann-json3-dev"


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    """Built once per test session (this module is its only user)."""
    openvino = require("openvino", "the C++ example links the OpenVINO runtime shipped in the openvino wheel")
    cmake = require_binary("cmake", f"builds examples/cpp (.ci/run installs {APT_PACKAGES} with apt-get)")
    require_binary("g++", "compiles examples/cpp (.ci/run installs it with apt-get)")
    build = tmp_path_factory.mktemp("cpp_build")
    openvino_dir = Path(openvino.__file__).parent / "cmake"
    configure = subprocess.run([cmake, "-S", str(REPO_ROOT / "examples" / "cpp"), "-B", str(build),
                                f"-DOpenVINO_DIR={openvino_dir}", "-DCMAKE_BUILD_TYPE=Release",
                                "-DCMAKE_CXX_COMPILER=g++"], capture_output=True, text=True, timeout=120)
    log = configure.stdout + configure.stderr
    if configure.returncode != 0 and not IN_CI and ("stb_image not found" in log or "nlohmann_json" in log):
        pytest.skip(f"C++ example dependencies missing (apt-get install {APT_PACKAGES})")
    assert configure.returncode == 0, log
    compiled = subprocess.run([cmake, "--build", str(build), "-j", "2"], capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return build / "edge_sdk_detect"


@pytest.fixture(scope="module")
def stb_decode():
    """BGR pixels of an image file as the C++ program sees them: the same bytes through the same libstb."""
    name = ctypes.util.find_library("stb")
    if name is None:
        if IN_CI:
            raise RuntimeError("libstb is required in CI (apt-get install libstb-dev)")
        pytest.skip("libstb not installed (apt-get install libstb-dev)")
    stb = ctypes.CDLL(name)
    stb.stbi_load_from_memory.restype = ctypes.POINTER(ctypes.c_ubyte)
    stb.stbi_load_from_memory.argtypes = [ctypes.c_char_p, ctypes.c_int, *[ctypes.POINTER(ctypes.c_int)] * 3,
                                          ctypes.c_int]
    stb.stbi_image_free.argtypes = [ctypes.c_void_p]

    def decode(path: Path) -> np.ndarray:
        data = path.read_bytes()
        width, height, channels = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        pixels = stb.stbi_load_from_memory(data, len(data), ctypes.byref(width), ctypes.byref(height),
                                           ctypes.byref(channels), 3)
        assert pixels, f"stb_image cannot decode {path}"
        try:
            rgb = np.ctypeslib.as_array(pixels, shape=(height.value, width.value, 3))
            return np.ascontiguousarray(rgb[..., ::-1])  # copied before the buffer is freed
        finally:
            stb.stbi_image_free(pixels)

    return decode


@pytest.fixture(scope="module")
def openvino_detector() -> FaceDetector:
    require("openvino", "the reference is the SDK's OpenVINO backend")
    return FaceDetector(backend="openvino")


def _run(binary: Path, *args: str, model_dir: Path = BUNDLED_DIR / DEFAULT_MODEL) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), str(model_dir), *args], capture_output=True, text=True, timeout=120)


def _records(binary: Path, paths: list[Path], *args: str) -> list[dict]:
    result = _run(binary, *(str(p) for p in paths), *args)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in paths]
    return records


def assert_faces_close(expected: Detections, faces: list[dict], pixels: float, score: float) -> None:
    """Same faces (matched one-to-one by IoU, since near-equal scores may swap places) with box corners and
    landmarks within ``pixels`` and scores within ``score``."""
    assert len(faces) == len(expected) > 0, (len(faces), len(expected))
    boxes = np.array([f["box"] for f in faces], np.float32)
    match = pairwise_iou(expected.boxes, boxes).argmax(axis=1)
    assert sorted(match.tolist()) == list(range(len(faces))), "two expected faces matched the same returned face"
    landmarks = np.array([[f["landmarks"][name] for name in LANDMARK_NAMES] for f in faces], np.float32)
    scores = np.array([f["score"] for f in faces], np.float32)
    np.testing.assert_allclose(boxes[match], expected.boxes, rtol=0, atol=pixels)
    np.testing.assert_allclose(landmarks[match], expected.landmarks, rtol=0, atol=pixels)
    np.testing.assert_allclose(scores[match], expected.scores, rtol=0, atol=score)


def test_cpp_png_and_jpeg_match_the_python_sdk_on_the_same_pixels(binary, stb_decode, openvino_detector) -> None:
    """640x640 model: the PNG is enlarged (INTER_LINEAR path), the WIDER JPEGs shrunk (INTER_AREA path)."""
    paths = [PNG, *real_images()]
    records = _records(binary, paths)
    np.testing.assert_array_equal(stb_decode(PNG), cv2.imread(str(PNG)))  # lossless: one image for both sides
    for path, record in zip(paths, records):
        assert RECORD_KEYS <= set(record) and record["model_file"] == "retinaface_mnet025_640x640.xml"
        pixels = stb_decode(path)
        assert (record["width"], record["height"]) == (pixels.shape[1], pixels.shape[0])
        reference = openvino_detector.detect(path if path.suffix == ".png" else pixels)
        assert_faces_close(reference, record["faces"], PIXEL_TOL, SCORE_TOL)


def test_cpp_jpeg_against_python_decoding_the_file_itself(binary, stb_decode, openvino_detector) -> None:
    """What a user sees comparing the two programs on a JPEG: only the decoders differ, and that costs little."""
    paths = real_images()
    for path, record in zip(paths, _records(binary, paths)):
        ours, opencv = stb_decode(path).astype(int), cv2.imread(str(path)).astype(int)
        difference = np.abs(ours - opencv)
        assert 0 < difference.max() <= 4 and difference.mean() < 0.2, (difference.max(), difference.mean())
        assert_faces_close(openvino_detector.detect(path), record["faces"], pixels=0.25, score=0.02)


def test_cpp_original_size_on_the_dynamic_model(binary, stb_decode) -> None:
    path = real_images()[0]
    (record,) = _records(binary, [path], "--input-size", "original", "--score-threshold", "0.6")
    assert record["model_file"] == "retinaface_mnet025_dynamic.xml"
    reference = FaceDetector(backend="openvino", input_size=None, score_threshold=0.6)
    assert_faces_close(reference.detect(stb_decode(path)), record["faces"], PIXEL_TOL, SCORE_TOL)


def test_cpp_corrupt_and_unsupported_images_are_reported_and_the_rest_processed(binary, tmp_path: Path) -> None:
    jpeg = real_images()[2]
    bad = {
        "text.jpg": (b"this is a text file, not a JPEG\n", "not an image stb_image can read (unknown image type)"),
        "truncated.jpg": (jpeg.read_bytes()[:20000], "corrupt image"),
        "truncated.png": (PNG.read_bytes()[:100000], "corrupt image"),
        "empty.png": (b"", "not an image stb_image can read"),
        "huge.ppm": (b"P6\n100000 100000\n255\n" + bytes(64), "image too large (100000x100000)"),
        "picture.tiff": (cv2.imencode(".tiff", cv2.imread(str(PNG)))[1].tobytes(), "unknown image type"),
    }
    for name, (data, _) in bad.items():
        (tmp_path / name).write_bytes(data)
    args = [str(tmp_path / name) for name in bad] + [str(jpeg), str(tmp_path / "missing.jpg")]
    result = _run(binary, *args)
    assert result.returncode == 1, (result.returncode, result.stderr)  # not a signal: no crash
    assert [json.loads(line)["image"] for line in result.stdout.splitlines()] == [str(jpeg)]
    errors = result.stderr.splitlines()
    assert len(errors) == len(bad) + 1, errors
    for line, (name, (_, reason)) in zip(errors, bad.items()):
        assert line.startswith(f"error: {tmp_path / name}: ") and reason in line, line
    assert errors[-1] == f"error: {tmp_path / 'missing.jpg'}: cannot open: No such file or directory"


@pytest.mark.parametrize(("manifest", "reason"), [
    ('{"schema_version": 1, "name": ', "parse error"),
    ('{"schema_version": 1, "name": "m"}', "key 'input' not found"),
])
def test_cpp_broken_manifest_is_a_model_error(binary, tmp_path: Path, manifest: str, reason: str) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    result = _run(binary, str(PNG), model_dir=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot load the model: {tmp_path / 'manifest.json'}: ")
    assert reason in result.stderr, result.stderr
