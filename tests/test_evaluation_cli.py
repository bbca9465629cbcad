"""``python -m evaluation``: outputs, prediction-file scoring, detector adapters, and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from evaluation import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD, letterbox, reference_detector, sdk_detector
from evaluation.__main__ import build_parser, main, run_options
from evaluation.report import Run, fddb_run, previous_summary, widerface_run
from evaluation.runs import DetectorOptions, FddbRun, WiderFaceRun, spread

from .conftest import REPO_ROOT
from .conftest import data_root as _data_root


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def test_importing_evaluation_pulls_in_no_torch_sdk_or_matplotlib():
    code = (
        "import sys, evaluation, evaluation.__main__; "
        "bad = [m for m in ('torch', 'edge_sdk', 'matplotlib', 'retinaface') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_torch_in_the_sources():
    for path in (REPO_ROOT / "evaluation").glob("*.py"):
        text = path.read_text()
        assert "import torch" not in text and "from torch" not in text, path


def test_scale_and_limit_parsing():
    p = build_parser()
    assert p.parse_args(["widerface", "--root", "r", "--out", "o"]).scale is None
    assert p.parse_args(["widerface", "--root", "r", "--out", "o", "--scale", "original"]).scale is None
    assert p.parse_args(["fddb", "--root", "r", "--out", "o", "--scale", "640"]).scale == 640
    with pytest.raises(SystemExit):
        p.parse_args(["widerface", "--root", "r", "--out", "o", "--scale", "big"])
    keys = [f"k{i}" for i in range(626)]
    sub = spread(keys, 20)
    assert len(sub) == 20 and sub[0] == "k0" and sub[-1] == "k625" and sub == spread(keys, 20)
    assert spread(keys, None) == keys and spread(keys, 1000) == keys


def test_the_command_line_becomes_typed_run_options():
    p = build_parser()
    w = run_options(
        p.parse_args(
            [
                "widerface",
                "--root",
                "r",
                "--out",
                "o",
                "--scale",
                "640",
                "--tiles",
                "160",
                "--backend",
                "tflite",
                "--limit",
                "5",
                "--iou-mode",
                "float",
                "--no-progress",
            ]
        )
    )
    assert w == WiderFaceRun(
        root=Path("r"),
        out=Path("o"),
        limit=5,
        progress=False,
        iou_mode="float",
        detector=DetectorOptions(backend="tflite", scale=640, tiles=160),
    )
    f = run_options(
        p.parse_args(
            [
                "fddb",
                "--root",
                "r",
                "--out",
                "o",
                "--detector",
                "reference",
                "--predictions",
                "p",
                "--annotation",
                "rect",
                "--fp-points",
                "10,50",
            ]
        )
    )
    assert f == FddbRun(
        root=Path("r"),
        out=Path("o"),
        predictions=Path("p"),
        annotation="rect",
        fp_points=(10, 50),
        detector=DetectorOptions(detector="reference"),
    )
    assert w.results_file == Path("o/widerface_results.json") and f.results_file == Path("o/fddb_results.json")


def test_report_rows_run_with_the_same_options_as_the_command_line():
    """evaluation.report builds its runs directly; they equal what the CLI parses for the same detector."""
    p = build_parser()
    run = Run("x", backend="openvino", scale=640, precision="int8", tiles=160)
    cli = [
        "--root",
        "d/widerface",
        "--out",
        "w/widerface_sdk_openvino_int8_640_tiles160",
        "--backend",
        "openvino",
        "--scale",
        "640",
        "--precision",
        "int8",
        "--tiles",
        "160",
        "--no-progress",
    ]
    assert widerface_run(run, Path("d"), Path("w")) == run_options(p.parse_args(["widerface", *cli]))
    ref = Run("y", detector="reference")
    cli = ["--root", "d/fddb", "--out", "w/fddb_reference_original", "--detector", "reference", "--no-progress"]
    assert fddb_run(ref, Path("d"), Path("w")) == run_options(p.parse_args(["fddb", *cli]))


def test_one_definition_of_the_evaluation_thresholds():
    """Every consumer of the evaluation operating point takes it from evaluation.defaults (not a copied literal)."""
    import inspect

    from benchmarks.subject_base import RETINAFACE_THRESHOLDS
    from evaluation.detectors import ReferenceDetector, SdkDetector
    from training.recipe import EvalConfig

    expected = (EVAL_SCORE_THRESHOLD, EVAL_NMS_THRESHOLD)
    assert build_parser().parse_args(["fddb", "--root", "r", "--out", "o"]).score_threshold == EVAL_SCORE_THRESHOLD
    assert (DetectorOptions().score_threshold, DetectorOptions().nms_threshold) == expected
    for function in (reference_detector, sdk_detector, ReferenceDetector, SdkDetector):
        parameters = inspect.signature(function).parameters
        assert (parameters["score_threshold"].default, parameters["nms_threshold"].default) == expected, function
    assert (EvalConfig().score_threshold, EvalConfig().nms_threshold) == expected
    assert tuple(RETINAFACE_THRESHOLDS["accuracy"]) == expected


def test_a_missing_dataset_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["widerface", "--root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert str(stop.value).startswith("error: no wider_face_val.mat under ")
    with pytest.raises(SystemExit) as stop:
        main(["fddb", "--root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert "FDDB-fold-01-ellipseList.txt" in str(stop.value)


def test_report_reuses_only_a_summary_of_the_same_detector(tmp_path):
    saved = tmp_path / "widerface_results.json"
    assert previous_summary(Run("r", detector="reference"), saved) is None  # nothing saved yet
    saved.write_text(
        json.dumps({"ap": {"easy": 0.9}, "settings": {"detector": {"detector": "reference", "input_size": 640}}})
    )
    assert previous_summary(Run("r", detector="reference", scale=640), saved)["ap"] == {"easy": 0.9}
    assert previous_summary(Run("r", detector="reference"), saved) is None  # original size: another run


def test_letterbox_geometry():
    image = np.full((300, 600, 3), 255, np.uint8)
    canvas, scale = letterbox(image, 640)
    assert canvas.shape == (640, 640, 3) and scale == pytest.approx(640 / 600)
    assert canvas[:320].min() == 255 and canvas[320:].max() == 0  # content top-left, zero padding below


class _FakeDetections:
    def __init__(self) -> None:
        self.boxes = np.array([[10, 20, 50, 80]], np.float32)
        self.scores = np.array([0.9], np.float32)


class _FakeFaceDetector:
    calls: list[dict] = []

    def __init__(self, **kwargs) -> None:
        type(self).calls.append(kwargs)

    def detect(self, image):
        assert image.ndim == 3 and image.dtype == np.uint8
        return _FakeDetections()


@pytest.fixture
def fake_sdk(monkeypatch):
    _FakeFaceDetector.calls = []
    monkeypatch.setitem(sys.modules, "edge_sdk", types.SimpleNamespace(FaceDetector=_FakeFaceDetector))
    return _FakeFaceDetector


def test_sdk_adapter_passes_precision_only_when_given(fake_sdk):
    det = sdk_detector(model="m", backend="onnxruntime", precision=None, input_size=None, score_threshold=0.02)
    assert fake_sdk.calls[-1] == {
        "model": "m",
        "backend": "onnxruntime",
        "input_size": None,
        "score_threshold": 0.02,
        "nms_threshold": EVAL_NMS_THRESHOLD,
    }
    sdk_detector(precision="int8", input_size=640)
    assert fake_sdk.calls[-1]["precision"] == "int8" and fake_sdk.calls[-1]["input_size"] == 640
    boxes, scores = det(np.zeros((100, 100, 3), np.uint8))
    assert boxes.shape == (1, 4) and scores.tolist() == pytest.approx([0.9])


def test_cli_sdk_detector_wiring(fake_sdk, tmp_path, capsys):
    root = _data_root()
    out = tmp_path / "sdk"
    main(
        [
            "widerface",
            "--root",
            str(root / "widerface"),
            "--out",
            str(out),
            "--limit",
            "3",
            "--scale",
            "640",
            "--precision",
            "fp16",
            "--backend",
            "onnxruntime",
            "--no-progress",
        ]
    )
    assert fake_sdk.calls[-1] == {
        "model": None,
        "backend": "onnxruntime",
        "input_size": 640,
        "score_threshold": EVAL_SCORE_THRESHOLD,
        "nms_threshold": EVAL_NMS_THRESHOLD,
        "precision": "fp16",
    }
    data = json.loads((out / "widerface_results.json").read_text())
    assert data["settings"]["detector"]["detector"] == "sdk" and data["settings"]["scale"] == 640
    assert data["num_images"] == 3 and "AP easy" in capsys.readouterr().out


def test_widerface_cli_end_to_end(tmp_path):
    root = _data_root() / "widerface"
    out = tmp_path / "w"
    done = _cli(
        "widerface", "--root", str(root), "--detector", "reference", "--limit", "6", "--out", str(out), "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    assert "AP easy" in done.stdout
    data = json.loads((out / "widerface_results.json").read_text())
    assert set(data["ap"]) == {"easy", "medium", "hard"} and all(0 < v <= 1 for v in data["ap"].values())
    assert set(data["ap_float_iou"]) == {"easy", "medium", "hard"}
    assert data["num_images"] == 6 and len(data["images"]) == 6 and "6 of 3226" in data["images_used"]
    assert data["settings"]["detector"]["detector"] == "reference" and data["settings"]["scale"] == "original"
    assert data["elapsed_seconds"]["total"] > 0 and data["iou_mode"] == "matlab"
    assert len(data["pr_curves"]["hard"]["precision"]) == 1000
    assert (out / "widerface_pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = sorted((out / "widerface_predictions").glob("*/*.txt"))
    assert sorted(f"{p.parent.name}/{p.stem}" for p in files) == sorted(data["images"])
    # The written files, scored by --predictions, give the same numbers.
    again = tmp_path / "again"
    done = _cli(
        "widerface",
        "--root",
        str(root),
        "--predictions",
        str(out / "widerface_predictions"),
        "--limit",
        "6",
        "--out",
        str(again),
    )
    assert done.returncode == 0, done.stderr
    data2 = json.loads((again / "widerface_results.json").read_text())
    assert data2["images"] == data["images"]
    for s in ("easy", "medium", "hard"):
        assert data2["ap"][s] == pytest.approx(data["ap"][s], abs=1e-12)


def test_fddb_cli_end_to_end(tmp_path):
    root = _data_root() / "fddb"
    out = tmp_path / "f"
    done = _cli(
        "fddb",
        "--root",
        str(root),
        "--detector",
        "reference",
        "--scale",
        "640",
        "--limit",
        "5",
        "--out",
        str(out),
        "--no-progress",
        "--fp-points",
        "5,50",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "fddb_results.json").read_text())
    assert set(data["tpr_at_fp_discrete"]) == {"5", "50"} and data["tpr_at_fp_discrete"]["50"] > 0.5
    assert "tpr_at_fp_discrete_rect" in data and data["annotation"] == "ellipse"
    assert data["num_images"] == 5 and "5 of 2845" in data["images_used"] and "fold 01" in data["images_used"]
    assert data["settings"]["detector"]["input_size"] == 640
    assert (out / "fddb_roc.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "fddb_predictions").glob("fold-*-out.txt"))


def test_reference_letterbox_maps_boxes_back_to_the_original_image():
    import cv2

    path = _data_root() / "samples" / "astronaut.png"
    image = cv2.imread(str(path))
    assert image is not None
    b0, s0 = reference_detector(0.5, input_size=None)(image)
    b1, s1 = reference_detector(0.5, input_size=640)(image)
    assert len(b0) == 1 and len(b1) == 1 and s0[0] > 0.9 and s1[0] > 0.9
    x1, y1 = np.maximum(b0[0, :2], b1[0, :2])
    x2, y2 = np.minimum(b0[0, 2:], b1[0, 2:])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert inter / (area(b0[0]) + area(b1[0]) - inter) > 0.8
