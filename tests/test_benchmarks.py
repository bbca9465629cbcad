"""The benchmark harness: a CLI smoke run on real images (2 images, 2 timed runs, one backend, one peer) validated
against the JSON schema, plus the pieces that need no data. No test asserts anything about timings."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.latency import ours_plan, stats_ms
from benchmarks.report import compute_ratios
from benchmarks.schema import SCHEMA
from benchmarks.subjects import SubjectSpec
from evaluation.runs import spread

from .conftest import REPO_ROOT, require


@pytest.fixture(scope="module")
def smoke(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """``python -m benchmarks all`` at the smallest useful scale; returns the report and the output folder."""
    require("onnxruntime", "the smoke run times the onnxruntime backend")
    require("scipy", "the accuracy part reads the WIDER FACE .mat ground truth")
    require("matplotlib", "the report draws PNG plots")
    require("tqdm", "evaluation.run_detector")
    base = tmp_path_factory.mktemp("bench")
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "all",
        "--backends",
        "onnxruntime",
        "--peers",
        "haar",
        "--sizes",
        "320",
        "--accuracy-sizes",
        "320",
        "--threads",
        "1",
        "--images",
        "2",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--limit",
        "2",
        "--fddb-limit",
        "2",
        "--devices",
        "cpu,cuda",
        "--data-root",
        str(shared_data),
        "--out",
        str(base / "out"),
        "--doc",
        str(base / "docs" / "BENCHMARKS.md"),
        "--no-progress",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((base / "out" / "benchmark.json").read_text()), base


def test_cli_smoke_report_matches_schema(smoke):
    jsonschema = require("jsonschema", "validates the benchmark report")
    report, base = smoke
    jsonschema.validate(report, SCHEMA)
    for name in ("benchmark.json", "benchmark.md", "latency_breakdown.png", "latency_vs_hard_ap.png"):
        assert (base / "out" / name).is_file(), name
    doc = (base / "docs" / "BENCHMARKS.md").read_text()
    assert "## Headline" in doc and "Raspberry Pi" in doc and "Jetson" in doc
    assert (base / "docs" / "benchmarks" / "latency_breakdown.png").is_file()


def test_cli_smoke_measures_what_the_issue_asks(smoke):
    report, _ = smoke
    latency = report["latency"]
    assert len(latency["images"]) == 2 and latency["runs"] == 2
    mine = {r["precision"]: r for r in latency["results"] if r["detector"] == "ours"}
    assert sorted(mine) == ["fp32", "int8"]  # ONNX Runtime has both at 320 (dynamic-shape fp32 and int8 files)
    ours = mine["fp32"]
    assert (ours["backend"], ours["input_size"], ours["threads"], ours["device"]) == ("onnxruntime", "320", 1, "cpu")
    assert ours["detect_ms"]["n"] == 4  # 2 images x 2 timed runs; warm-up not recorded
    assert set(ours["stages_ms"]) == {"preprocess", "inference", "postprocess"}
    assert ours["bare_backend_ms"] == ours["stages_ms"]["inference"]
    assert ours["overhead_ratio"] > 0
    assert ours["memory"]["process_peak_mb"] is None or ours["memory"]["process_peak_mb"] > 0
    assert report["machine"]["usable_cores"] >= 1 and report["versions"]["numpy"]
    # An absent accelerator is reported, not failed.
    cuda = [s for s in latency["skipped"] if s.get("device") == "cuda" and s.get("detector") == "ours"]
    assert cuda and "not present" in cuda[0]["reason"]
    # The one peer either ran or says why not (OpenCV 5 has no cascades).
    (haar,) = [p for p in report["peers"] if p["name"] == "haar"]
    assert haar["status"] == "ok" or (haar["status"] == "skipped" and haar["reason"])
    assert {p["status"] for p in report["peers"] if p["name"] != "haar"} == {"not requested"}
    # Accuracy: same images for every detector, scored by the evaluation module.
    acc = [r for r in report["accuracy"]["results"] if r["detector"] == "ours"]
    assert acc and acc[0]["widerface"]["images"] == 2 and set(acc[0]["widerface"]["ap"]) == {"easy", "medium", "hard"}
    assert acc[0]["fddb"]["images"] == 2
    if "int8" not in {f["precision"] for f in report["model"]["files"]}:
        assert "int8" in report["ratios"]["int8_note"]


def test_schema_rejects_a_report_without_figures(smoke):
    jsonschema = require("jsonschema", "validates the benchmark report")
    broken = copy.deepcopy(smoke[0])
    del broken["latency"]["results"][0]["detect_ms"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


# ------------------------------------------------------------------------------------------- no data needed


def test_stats_and_spread():
    s = stats_ms([0.001, 0.002, 0.003, 0.004])
    assert s["n"] == 4 and s["median"] == pytest.approx(2.5) and s["min"] == pytest.approx(1.0)
    assert stats_ms([]) is None
    keys = [f"k{i}" for i in range(10)]
    assert spread(keys, 3) == ["k0", "k4", "k9"] and spread(keys, None) == keys and spread(keys, 99) == keys


def test_int8_files_are_picked_up_when_the_manifest_lists_them(tmp_path):
    """The harness times every precision the manifest lists: add an int8 entry and it appears in the plan."""
    from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

    model = tmp_path / "model"
    shutil.copytree(BUNDLED_DIR / DEFAULT_MODEL, model)
    manifest = json.loads((model / "manifest.json").read_text())
    entry = dict(next(f for f in manifest["files"] if f["format"] == "onnx"))
    entry["precision"] = "int8"
    manifest["files"].append(entry)
    (model / "manifest.json").write_text(json.dumps(manifest))
    devices = [{"runtime": "onnxruntime", "device": "cpu", "present": True, "detail": "test"}]
    specs, _ = ours_plan(str(model), ["onnxruntime"], None, [640], [1], ["cpu"], devices)
    assert {s.precision for s in specs} == {"fp32", "int8"}


def _row(detector, ms, backend=None, precision=None, size="640", threads=2):
    return {
        "detector": detector,
        "backend": backend,
        "precision": precision,
        "device": "cpu",
        "input_size": size,
        "threads": threads,
        "detect_ms": {"median": ms},
        "bare_backend_ms": None,
    }


def test_ratios_pair_same_size_threads_and_device():
    rows = [
        _row("ours", 10.0, "onnxruntime", "fp32"),
        _row("ours", 5.0, "onnxruntime", "int8"),
        _row("yunet", 20.0),
        _row("reference", 12.0),
        _row("yunet", 99.0, size="320"),
    ]
    ratios = compute_ratios(rows, ["fp32", "int8"])
    assert ratios["precision_vs_fp32"][0]["speedup"] == pytest.approx(2.0)
    assert [r["speedup"] for r in ratios["ours_vs_yunet"]] == [pytest.approx(2.0)]
    assert [r["speedup"] for r in ratios["ours_vs_reference"]] == [pytest.approx(1.2)]
    assert ratios["int8_note"] is None
    assert compute_ratios(rows[:1], ["fp32"])["int8_note"]


def test_subject_spec_round_trips_through_json():
    spec = SubjectSpec("ours", None, 2, "openvino", "fp32", "gpu", "some/dir", "accuracy")
    assert SubjectSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.key == "ours/openvino/fp32/gpu/original/t2"


def test_torchvision_shim_nms_matches_greedy_nms():
    torch = require("torch", "the MTCNN peer's torchvision shim")
    from benchmarks.shims import _batched_nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    idxs = torch.tensor([0, 0, 0, 1])  # the last box is in another group: never suppressed by the first
    keep = _batched_nms(boxes, scores, idxs, 0.5).tolist()
    assert keep == [3, 0, 2]
    assert np.array_equal(_batched_nms(boxes[:0], scores[:0], idxs[:0], 0.5).numpy(), np.zeros(0, np.int64))


def test_quantization_page_plans_original_size_rows_from_the_dynamic_files():
    """The quantization benchmark scores every precision that has a dynamic-shape file at original size (ONNX
    Runtime and OpenVINO; LiteRT files are fixed-size), and its page shows them with their AP changes."""
    from benchmarks.quantization import _configs, render
    from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

    model = BUNDLED_DIR / DEFAULT_MODEL
    fixed = {(b, p) for b, p, _ in _configs(model)}
    original = {(b, p): f for b, p, f in _configs(model, None)}
    assert {("onnxruntime", "int8"), ("openvino", "int8"), ("tflite", "int8")} <= fixed
    assert {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")} <= set(
        original
    )
    assert all(f.dynamic for f in original.values()) and not any(b == "tflite" for b, _ in original)

    def ap(e, m, h):
        return {"easy": e, "medium": m, "hard": h, "images": 626}

    rows = [
        {
            "backend": "openvino",
            "precision": p,
            "file": f"{p}.xml",
            "how": "",
            "bytes": 1e6,
            "ap_640": ap(*a),
            "latency_ms": {"1": ms, "2": ms / 2},
        }
        for p, a, ms in (("fp32", (0.9, 0.8, 0.5), 10.0), ("int8", (0.89, 0.79, 0.49), 5.0))
    ]
    original_rows = [
        {"backend": "openvino", "precision": p, "file": f"{p}_dynamic.xml", "ap": ap(*a)}
        for p, a in (("fp32", (0.9, 0.88, 0.75)), ("int8-ptq", (0.88, 0.86, 0.70)), ("int8", (0.895, 0.87, 0.74)))
    ]
    page = render(rows, original_rows)
    assert "2.00x (1 thr)" in page and "-1.00 / -1.00 / -1.00" in page
    assert "| openvino | int8 QAT | 0.8950 | 0.8700 | 0.7400 | `int8_dynamic.xml` |" in page
    assert "-0.50 / -1.00 / -1.00; QAT - PTQ on Hard +4.00 points" in page


def test_int8_sensitivity_removes_each_parts_activation_rounding_and_scores_it(shared_data, tmp_path):
    """The bundled int8 QDQ file: every activation Q/DQ pair belongs to exactly one part, removing a part's pairs
    leaves a graph that ONNX Runtime runs (float activations there, int8 weights kept), and the CLI scores the file,
    fp32 and each variant on real val images."""
    require("onnx", "the tool edits the ONNX graph")
    ort = require("onnxruntime", "the variants run in onnxruntime")
    require("scipy", "the WIDER FACE .mat ground truth")
    require("tqdm", "evaluation.run_detector")
    import onnx

    from benchmarks import int8_sensitivity as tool

    model_dir = REPO_ROOT / "edge_sdk" / "models" / "retinaface_mnet025"
    model = onnx.load(str(model_dir / "retinaface_mnet025_640x640_int8.onnx"))
    total = len(tool.activation_pairs(model))
    per_part = {label: tool.without_activation_rounding(model, scope)[1] for label, scope in tool.PARTS.items()}
    assert total > 80 and per_part["all activations"] == total
    assert all(n > 0 for n in per_part.values()), per_part
    assert sum(n for label, n in per_part.items() if label != "all activations") == total
    floated, _ = tool.without_activation_rounding(model, "model.body.stage1")
    left = tool.activation_pairs(floated)
    assert len(left) == total - per_part["backbone stage 1 (strides 2-8)"]
    assert not any(s.startswith("model.body.stage1") for _, _, scopes in left for s in scopes)
    session = ort.InferenceSession(floated.SerializeToString(), providers=["CPUExecutionProvider"])
    boxes, scores, landmarks = session.run(None, {"input": np.zeros((1, 3, 640, 640), np.float32)})
    assert scores.shape == (1, 16800, 2) and np.isfinite(scores).all()

    out = tmp_path / "INT8_SENSITIVITY.md"
    argv = ["--model", str(model_dir), "--data-root", str(shared_data), "--limit", "3", "--out", str(out)]
    assert tool.main(argv) == 0
    table = [line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0] for line in table] == [
        "| fp32 file",
        "| int8 file as shipped",
        *[f"| {label} in float" for label in tool.PARTS],
    ]
    hard = [float(line.split(" | ")[4]) for line in table]
    assert all(0 < h <= 1 for h in hard)

    with pytest.raises(ValueError, match="name_scopes"):
        bare = onnx.ModelProto()
        bare.CopyFrom(model)
        for node in bare.graph.node:
            del node.metadata_props[:]
        tool.without_activation_rounding(bare, "")


def test_letterbox_resize_benchmark_changes_only_the_resize(shared_data, tmp_path):
    """The SDK row is exactly what ``detect()`` does (the image resized outside, then padded only, gives the same
    faces as detect() on the original), and the CLI times and scores all three methods on real val images."""
    require("openvino", "the benchmark scores with the OpenVINO backend")
    require("scipy", "the WIDER FACE .mat ground truth")
    import cv2

    from benchmarks import letterbox_resize as tool
    from edge_sdk import FaceDetector

    paths = tool.wider_images(shared_data, 4)
    detector = FaceDetector(backend="openvino", input_size=640, score_threshold=0.1)
    faces = 0
    for path in paths.values():
        image = cv2.imread(str(path))
        box = detector.letterbox_for(image.shape[1], image.shape[0])
        assert tool.supersampling(box) > 1  # the path this benchmark is about (k >= 2)
        direct = detector.detect(image)
        via_resized = detector.detect(tool.METHODS["sdk"](image, box))
        assert len(direct) == len(via_resized)
        np.testing.assert_allclose(box.boxes_to_original(via_resized.boxes), direct.boxes, atol=1e-3)
        np.testing.assert_array_equal(via_resized.scores, direct.scores)
        faces += len(direct)
    assert faces > 0

    out, doc = tmp_path / "out", tmp_path / "BENCHMARKS.md"
    doc.write_text("before\n<!-- letterbox-resize:start -->\nold\n<!-- letterbox-resize:end -->\nafter\n")
    argv = ["--data-root", str(shared_data), "--out", str(out), "--sizes", "320", "--limit", "3"]
    assert tool.main([*argv, "--timing-images", "2", "--rounds", "1", "--doc", str(doc)]) == 0
    result = json.loads((out / "letterbox_resize.json").read_text())
    (row,) = result["rows"]
    assert set(row["ap"]) == set(row["ms_1_thread"]) == set(tool.METHODS)
    assert all(0 < ap[s] <= 1 for ap in row["ap"].values() for s in ("easy", "medium", "hard"))
    assert all(ms > 0 for ms in row["ms_2_threads"].values())
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert text.count("| 320 |") == 3


def test_frame_overhead_benchmark_times_each_camera_size(shared_data, tmp_path):
    """Real WIDER content cropped to each camera aspect, and one row per (configuration, frame size) with detect()
    and its three calls measured."""
    require("openvino", "the benchmark runs the OpenVINO backend here")
    require("scipy", "the WIDER FACE .mat ground truth")
    from benchmarks import frame_overhead as tool

    source = np.arange(600 * 800 * 3, dtype=np.uint32).reshape(600, 800, 3).astype(np.uint8)
    frame = tool.camera_frame(source, 1280, 720)
    assert frame.shape == (720, 1280, 3)
    out, doc = tmp_path / "out", tmp_path / "BENCHMARKS.md"
    doc.write_text("<!-- frame-overhead:start -->\n<!-- frame-overhead:end -->\n")
    argv = ["--data-root", str(shared_data), "--out", str(out), "--backends", "openvino", "--precisions", "fp32"]
    assert tool.main([*argv, "--threads", "1", "--images", "1", "--runs", "1", "--doc", str(doc)]) == 0
    result = json.loads((out / "frame_overhead.json").read_text())
    assert [r["frame"] for r in result["rows"]] == ["640x480", "1280x720", "1920x1080"]
    for row in result["rows"]:
        assert (
            row["bare_ms"] > 0 and row["detect_ms"] > 0 and row["ratio"] == round(row["detect_ms"] / row["bare_ms"], 3)
        )
    assert "| openvino | fp32 | 1 |" in doc.read_text()


def test_openvino_graph_benchmark_compares_the_compiled_variants(shared_data, tmp_path):
    """The SDK's variant is the backend FaceDetector builds, gives the graph-as-written outputs bit for bit, and the CLI
    writes one row per variant it could build (bf16 only on a bf16 CPU)."""
    require("openvino", "the benchmark runs the OpenVINO backend")
    from benchmarks import openvino_graph as tool

    built = tool.build_variants("int8", 1)
    assert built["variants"]["sdk"] is built["detector"].backend
    assert built["variants"]["sdk"].softmaxes_moved == 1 and built["variants"]["as_written"].softmaxes_moved == 0
    out, doc = tmp_path / "out", tmp_path / "BENCHMARKS.md"
    doc.write_text("<!-- openvino-graph:start -->\n<!-- openvino-graph:end -->\n")
    argv = ["--data-root", str(shared_data), "--out", str(out), "--precisions", "int8", "--threads", "1"]
    assert tool.main([*argv, "--images", "2", "--rounds", "1", "--doc", str(doc)]) == 0
    result = json.loads((out / "openvino_graph.json").read_text())
    (row,) = result["rows"]
    expected = set(tool.VARIANTS) if result["bf16_cpu"] else {"as_written", "sdk"}
    assert set(row["ms"]) == set(row["max_difference"]) == expected
    assert all(ms > 0 for ms in row["ms"].values())
    assert set(row["max_difference"]["sdk"].values()) == {0.0}
    assert doc.read_text().count("| int8 | 1 |") == len(expected)
