"""examples/cpp: built with cmake + g++ against the OpenVINO wheel's C++ API; same faces as the Python SDK."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import pytest

from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

from .conftest import REPO_ROOT, require
from .integration_support import RECORD_KEYS, assert_same_faces, real_images, require_binary


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    openvino = require("openvino", "the C++ example links the OpenVINO runtime shipped in the openvino wheel")
    cmake = require_binary("cmake", "builds examples/cpp (.ci/run installs it with apt-get)")
    require_binary("g++", "compiles examples/cpp (.ci/run installs it with apt-get)")
    build = tmp_path_factory.mktemp("cpp_build")
    openvino_dir = Path(openvino.__file__).parent / "cmake"
    configure = subprocess.run([cmake, "-S", str(REPO_ROOT / "examples" / "cpp"), "-B", str(build),
                                f"-DOpenVINO_DIR={openvino_dir}", "-DCMAKE_BUILD_TYPE=Release",
                                "-DCMAKE_CXX_COMPILER=g++"], capture_output=True, text=True, timeout=120)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compiled = subprocess.run([cmake, "--build", str(build), "-j", "2"], capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return build / "edge_sdk_detect"


@pytest.fixture(scope="module")
def ppm_images(tmp_path_factory) -> list[tuple[Path, Path]]:
    """(original, PPM) pairs: the C++ side gets decoded pixels, so both sides see exactly the same image."""
    folder = tmp_path_factory.mktemp("ppm")
    pairs = []
    for path in real_images():
        target = folder / f"{path.stem}.ppm"
        assert cv2.imwrite(str(target), cv2.imread(str(path)))
        pairs.append((path, target))
    return pairs


def _run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), str(BUNDLED_DIR / DEFAULT_MODEL), *args], capture_output=True, text=True,
                          timeout=120)


def test_cpp_detections_match_the_python_sdk(binary: Path, ppm_images, detector) -> None:
    result = _run(binary, *(str(ppm) for _, ppm in ppm_images))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(ppm_images)
    for (original, ppm), record in zip(ppm_images, records):
        assert RECORD_KEYS <= set(record) and record["image"] == str(ppm)
        assert record["model_file"] == "retinaface_mnet025_640x640.xml" or record["model_file"].endswith(".onnx")
        expected = detector.detect(cv2.imread(str(original)))
        assert len(expected) > 0
        assert_same_faces(expected, record["faces"], min_iou=0.99)
        assert list(record["faces"][0]["landmarks"]) == list(expected[0].to_dict()["landmarks"])


def test_cpp_original_size_on_the_dynamic_model(binary: Path, ppm_images) -> None:
    from edge_sdk import FaceDetector

    original, ppm = ppm_images[0]
    result = _run(binary, str(ppm), "--input-size", "original", "--score-threshold", "0.6")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    reference = FaceDetector(backend="onnxruntime", input_size=None, score_threshold=0.6)
    expected = reference.detect(cv2.imread(str(original)))
    assert_same_faces(expected, record["faces"], min_iou=0.99)


def test_cpp_bad_image_is_reported_and_the_rest_still_processed(binary: Path, ppm_images, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ppm"
    bad.write_bytes(b"P6\n10 10\n255\n" + bytes(20))  # truncated raster
    result = _run(binary, str(bad), str(ppm_images[2][1]))
    assert result.returncode == 1
    assert "truncated" in result.stderr
    assert len(result.stdout.splitlines()) == 1
