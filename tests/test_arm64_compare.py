"""The arm64 check's verdict (scripts/arm64_compare.py) on real detections: identical runs pass, and a moved box, a
lost face or an emulated CPU with SME fail. The emulated run itself is `make arm64-check` (root, ~7 min)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def x86(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Real detections (onnxruntime fp32 and int8 on the sample), written by the same script the check runs."""
    out = tmp_path_factory.mktemp("arm64") / "x86.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "arm64_detect.py"),
            "--images",
            "samples/astronaut.png",
            "--plan",
            "onnxruntime:fp32,int8:all",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # this checkout's edge_sdk
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["cpu_features"] is None and len(report["results"]) == 2
    assert all(len(r["boxes"]) == 1 for r in report["results"])
    return report


def _as_arm(report: dict) -> dict:
    arm = copy.deepcopy(report)
    arm["machine"] = "aarch64"
    arm["cpu_features"] = {"asimddp": True, "sve": False, "i8mm": False, "sme": False}
    return arm


def _run(tmp_path: Path, x86: dict, arm: dict) -> tuple[int, str]:
    paths = {}
    for name, content in (
        ("x86.json", json.dumps(x86)),
        ("arm.json", json.dumps(arm)),
        ("pk.txt", "numpy==2\n"),
        ("log.txt", "[0s] run\n"),
    ):
        paths[name] = tmp_path / name
        paths[name].write_text(content)
    doc = tmp_path / "ARM64_CHECK.md"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "arm64_compare.py"),
            "--x86",
            str(paths["x86.json"]),
            "--arm64",
            str(paths["arm.json"]),
            "--packages",
            str(paths["pk.txt"]),
            "--log",
            str(paths["log.txt"]),
            "--doc",
            str(doc),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (doc.read_text() if doc.exists() else "") + done.stdout + done.stderr


def test_identical_detections_pass(tmp_path: Path, x86: dict) -> None:
    code, text = _run(tmp_path, x86, _as_arm(x86))
    assert code == 0, text
    assert text.count("same faces") == 2 and "numpy==2" in text and "sme=False" in text


@pytest.mark.parametrize(
    "precision, shift, fails", [("fp32", 0.5, False), ("fp32", 2.0, True), ("int8", 3.0, False), ("int8", 12.0, True)]
)
def test_a_moved_box_fails_beyond_the_limits(
    tmp_path: Path, x86: dict, precision: str, shift: float, fails: bool
) -> None:
    """fp32 must agree within 1 % of the face's height, int8 within 5 % (the face is ~120 px tall)."""
    arm = _as_arm(x86)
    result = next(r for r in arm["results"] if r["precision"] == precision)
    result["boxes"][0][0] += shift
    code, text = _run(tmp_path, x86, arm)
    assert (code == 1) == fails, text
    assert ("DIFFERENT" in text) == fails


def test_a_lost_face_and_sme_fail(tmp_path: Path, x86: dict) -> None:
    arm = _as_arm(x86)
    lost = next(r for r in arm["results"] if r["precision"] == "int8")
    lost["boxes"], lost["scores"], lost["landmarks"] = [], [], []
    code, text = _run(tmp_path, x86, arm)
    assert code == 1 and "a face only on x86" in text, text

    sme = _as_arm(x86)
    sme["cpu_features"]["sme"] = True
    code, text = _run(tmp_path, x86, sme)
    assert code == 1 and "QEMU_CPU" in text, text
