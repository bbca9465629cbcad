"""The README's main job, run as a user would: python -m edge_sdk detect IMAGE --out DIR."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2

from .conftest import REPO_ROOT


def test_demo_command_writes_annotated_image_and_json(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "detect", "samples/astronaut.png", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "astronaut_faces.json").read_text())
    assert len(record["faces"]) == 1 and record["backend"] in ("onnxruntime", "openvino", "tflite")
    assert set(record["faces"][0]["landmarks"]) == {"left_eye", "right_eye", "nose", "left_mouth", "right_mouth"}
    annotated = cv2.imread(str(tmp_path / "astronaut_faces.png"))
    original = cv2.imread(str(REPO_ROOT / "samples" / "astronaut.png"))
    assert annotated.shape == original.shape and (annotated != original).any()


def test_cli_errors_go_to_stderr_with_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "detect", str(tmp_path / "missing.png"), "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "detect", "samples/astronaut.png", "--backend", "tensorrtx"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown backend" in result.stderr


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


def test_cli_device_reaches_the_backend(tmp_path):
    ok = _cli("detect", "samples/astronaut.png", "--out", str(tmp_path), "--backend", "openvino", "--device", "CPU")
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "astronaut_faces.json").read_text())["backend"] == "openvino"
    missing = _cli(
        "detect", "samples/astronaut.png", "--out", str(tmp_path), "--backend", "openvino", "--device", "NPU"
    )
    assert missing.returncode == 2 and "'NPU' is not available here" in missing.stderr


def test_cli_bench_times_int8_and_skips_backends_without_the_size():
    result = _cli("bench", "--runs", "2", "--input-size", "320")
    assert result.returncode == 0, result.stderr
    assert "tflite       skipped: no fp32 file at input size 320" in result.stdout
    assert "retinaface_mnet025_dynamic" in result.stdout  # ONNX Runtime / OpenVINO ran their dynamic-shape files
    int8 = _cli("bench", "--runs", "2", "--precision", "int8")
    assert int8.returncode == 0 and int8.stdout.count("_int8.") == 3, int8.stdout + int8.stderr
    small = _cli("bench", "--runs", "2", "--precision", "int8", "--input-size", "320")
    assert small.returncode == 0, small.stderr
    assert "tflite       skipped: no int8 file at input size 320" in small.stdout
    assert small.stdout.count("retinaface_mnet025_dynamic_int8") == 2  # ONNX Runtime and OpenVINO int8 at any size
    nothing = _cli("bench", "--runs", "2", "--precision", "fp16")
    assert nothing.returncode == 2 and "no installed backend has a fp16 file" in nothing.stderr
