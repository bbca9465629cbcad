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
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
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
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "detect", "samples/astronaut.png", "--backend", "tensorrtx"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "unknown backend" in result.stderr
