"""examples/cpp: built with cmake + g++ against the OpenVINO wheel's C++ API, stb_image, nlohmann/json and OpenSSL's
libcrypto; fed JPEG and PNG files directly, it returns the faces the Python SDK (OpenVINO backend) returns on the same
file, in the SDK's version-1 detection record: every line it prints is validated against the shipped JSON Schema and
compared key by key with the record Python builds (edge_sdk.records), and it refuses model files whose sha256 differs
from the manifest's.

Fair comparison: the C++ program decodes with stb_image, the SDK with OpenCV. PNG is lossless, so both decoders give
the same pixels and the two programs are compared on the file itself. JPEG decoders differ in their IDCT and colour
rounding (stb vs libjpeg-turbo: up to 3 levels on ~5% of the pixels), so the tight comparison runs Python on the
pixels decoded from the same bytes by the same libstb the binary links (through ctypes); a second, looser check
compares with Python's own decoding of the file and bounds what the decoder difference costs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import LANDMARK_NAMES, Detections, FaceDetector
from edge_sdk.manifest import load_manifest, sha256_of
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL
from edge_sdk.nms import pairwise_iou
from edge_sdk.records import FrameInfo, detection_record, schema

from .conftest import IN_CI, REPO_ROOT, require
from .integration_support import RECORD_KEYS, real_images, require_binary

PNG = REPO_ROOT / "samples" / "astronaut.png"
MODEL_DIR = BUNDLED_DIR / DEFAULT_MODEL
#: one unit of the last digit the JSON record prints (boxes and landmarks: 2 decimals, scores: 5)
PIXEL_TOL, SCORE_TOL = 0.01, 1e-5
APT_PACKAGES = "cmake g++ libstb-dev nlohmann-json3-dev libssl-dev"
MISSING_DEPENDENCY_HINTS = ("stb_image not found", "nlohmann_json", "OpenSSL")
#: the binary runs in a local time zone 5 h 30 min ahead of UTC (POSIX form, needs no tzdata): a timestamp written in
#: local time instead of UTC falls outside the run's time window
LOCAL_TIME_ZONE = "IST-5:30"
#: the record keys the C++ program fills exactly as Python does (not the timestamp, latency, backend or faces)
SHARED_KEYS = tuple(sorted(RECORD_KEYS - {"timestamp", "latency_ms", "backend", "faces"}))


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    """Built once per test session (this module is its only user)."""
    openvino = require("openvino", "the C++ example links the OpenVINO runtime shipped in the openvino wheel")
    cmake = require_binary("cmake", f"builds examples/cpp (.ci/run installs {APT_PACKAGES} with apt-get)")
    require_binary("g++", "compiles examples/cpp (.ci/run installs it with apt-get)")
    build = tmp_path_factory.mktemp("cpp_build")
    openvino_dir = Path(openvino.__file__).parent / "cmake"
    configure = subprocess.run(
        [
            cmake,
            "-S",
            str(REPO_ROOT / "examples" / "cpp"),
            "-B",
            str(build),
            f"-DOpenVINO_DIR={openvino_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_CXX_COMPILER=g++",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = configure.stdout + configure.stderr
    if configure.returncode != 0 and not IN_CI and any(hint in log for hint in MISSING_DEPENDENCY_HINTS):
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
    stb.stbi_load_from_memory.argtypes = [
        ctypes.c_char_p,
        ctypes.c_int,
        *[ctypes.POINTER(ctypes.c_int)] * 3,
        ctypes.c_int,
    ]
    stb.stbi_image_free.argtypes = [ctypes.c_void_p]

    def decode(path: Path) -> np.ndarray:
        data = path.read_bytes()
        width, height, channels = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        pixels = stb.stbi_load_from_memory(
            data, len(data), ctypes.byref(width), ctypes.byref(height), ctypes.byref(channels), 3
        )
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


@lru_cache(maxsize=1)
def _record_validator():
    """Draft 2020-12 validator of the schema shipped in the package (itself checked against the metaschema)."""
    jsonschema = require("jsonschema", "validates the binary's records against the shipped schema")
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


@dataclass(frozen=True)
class BinaryRun:
    returncode: int
    stderr: str
    records: list[dict]  # every stdout line, parsed, valid against the schema


def _run(binary: Path, *args: str, model_dir: Path = MODEL_DIR) -> BinaryRun:
    """Run the binary; every line it prints on stdout must be a valid record stamped (UTC) during the run."""
    started = time.time()
    result = subprocess.run(
        [str(binary), str(model_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": LOCAL_TIME_ZONE},
    )
    finished = time.time()
    records = [json.loads(line) for line in result.stdout.splitlines()]
    for record in records:
        _record_validator().validate(record)
        stamped = dt.datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
        assert started - 0.001 <= stamped.timestamp() <= finished, (record["timestamp"], started, finished)
    return BinaryRun(result.returncode, result.stderr, records)


def _records(binary: Path, paths: list[Path], *args: str) -> list[dict]:
    run = _run(binary, *(str(p) for p in paths), *args)
    assert run.returncode == 0, run.stderr
    assert [r["image"] for r in run.records] == [str(p) for p in paths]
    return run.records


def _manifest_sha256(file_name: str) -> str:
    """The sha256 the bundled manifest lists for a model file or one of its extra files (OpenVINO's .bin)."""
    digests = {}
    for entry in load_manifest(MODEL_DIR).files:
        digests[entry.path.name] = entry.sha256
        digests.update((path.name, digest) for path, digest in zip(entry.extra_files, entry.extra_sha256))
    return digests[file_name]


def assert_record_like_python(record: dict, detector: FaceDetector, reference: Detections, path: Path) -> None:
    """The C++ record has Python's keys in Python's order (record and faces) and the same values for everything
    but the timestamp, latency, backend and faces (compared numerically elsewhere); its sha256 is the manifest's,
    which is the file's."""
    assert reference, "no face to compare the face keys with"
    python = detection_record(
        detector,
        reference,
        FrameInfo(image=str(path), timestamp=time.time()),
        record["width"],
        record["height"],
        latency_ms=0.0,
    )
    assert list(record) == list(python)
    assert {k: record[k] for k in SHARED_KEYS} == {k: python[k] for k in SHARED_KEYS}
    assert record["backend"] == "openvino-cpp" and record["latency_ms"] > 0
    model_file = record["model_file"]
    assert record["model_sha256"] == _manifest_sha256(model_file) == sha256_of(MODEL_DIR / model_file)
    assert all(list(face) == list(python["faces"][0]) and face["track_id"] is None for face in record["faces"])


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
        assert record["model_file"] == "retinaface_mnet025_640x640.xml" and record["input_size"] == [640, 640]
        pixels = stb_decode(path)
        assert (record["width"], record["height"]) == (pixels.shape[1], pixels.shape[0])
        reference = openvino_detector.detect(path if path.suffix == ".png" else pixels)
        assert_record_like_python(record, openvino_detector, reference, path)
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
    assert record["model_file"] == "retinaface_mnet025_dynamic.xml" and record["input_size"] is None
    detector = FaceDetector(backend="openvino", input_size=None, score_threshold=0.6)
    reference = detector.detect(stb_decode(path))
    assert_record_like_python(record, detector, reference, path)
    assert_faces_close(reference, record["faces"], PIXEL_TOL, SCORE_TOL)


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
    run = _run(binary, *args)
    assert run.returncode == 1, (run.returncode, run.stderr)  # not a signal: no crash
    assert [r["image"] for r in run.records] == args  # one record per file, in order
    failed = [r for r in run.records if "error" in r]
    assert [r["image"] for r in failed] == args[: len(bad)] + args[-1:]
    assert "faces" in run.records[len(bad)] and all(r["error"]["type"] == "InvalidImageError" for r in failed)
    errors = run.stderr.splitlines()  # the same failures, one line each
    assert errors == [f"error: {r['image']}: {r['error']['message']}" for r in failed]
    for line, (name, (_, reason)) in zip(errors, bad.items()):
        assert line.startswith(f"error: {tmp_path / name}: ") and reason in line, line
    assert errors[-1] == f"error: {tmp_path / 'missing.jpg'}: cannot open: No such file or directory"


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        ('{"schema_version": 1, "name": ', "parse error"),
        ('{"schema_version": 1, "name": "m"}', "key 'input' not found"),
    ],
)
def test_cpp_broken_manifest_is_a_model_error(binary, tmp_path: Path, manifest: str, reason: str) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    run = _run(binary, str(PNG), model_dir=tmp_path)
    assert run.returncode == 2 and run.records == []
    assert run.stderr.startswith(f"error: cannot load the model: {tmp_path / 'manifest.json'}: ")
    assert reason in run.stderr, run.stderr


@pytest.mark.parametrize("tampered", ["retinaface_mnet025_640x640.bin", "retinaface_mnet025_640x640.xml"])
def test_cpp_refuses_a_model_file_whose_sha256_differs_from_the_manifest(binary, tmp_path: Path, tampered: str) -> None:
    """One flipped bit in the weights (checked against extra_sha256) or the graph (sha256): exit 2, one line."""
    model_dir = tmp_path / DEFAULT_MODEL
    shutil.copytree(MODEL_DIR, model_dir)
    data = bytearray((model_dir / tampered).read_bytes())
    data[len(data) // 2] ^= 0x01
    (model_dir / tampered).write_bytes(bytes(data))
    run = _run(binary, str(PNG), model_dir=model_dir)
    assert run.returncode == 2 and run.records == [], run.stderr
    expected, actual = _manifest_sha256(tampered), sha256_of(model_dir / tampered)
    assert run.stderr.splitlines() == [
        f"error: cannot load the model: checksum mismatch for {tampered}: manifest says {expected[:12]}..., "
        f"file is {actual[:12]}...; the file is corrupt or was replaced"
    ]
