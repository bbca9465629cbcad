"""The GPU check's CPU dry run (`--device cpu --tiny`): every phase of the script that runs on a lent GPU machine —
training, the train-step ceiling, torchrun + resume, fine-tune + evaluation + ONNX export, latency — runs here for
real at toy sizes, so the script cannot rot between the sessions that are lent a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require

require("torch", "the [train] extra")
require("scipy", "the [eval] extra")

from benchmarks import gpu_check  # noqa: E402
from benchmarks.doc_sections import markers, splice  # noqa: E402


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    out = tmp_path_factory.mktemp("gpu_data")
    counts = gpu_check.make_subset(shared_data, out, train_images=12, val_images=3)
    assert counts == {"train_images": 12, "val_images": 3}
    return out


def test_subset_keeps_official_annotation_blocks(subset: Path) -> None:
    from training.data import load_samples
    from training.recipe import load_recipe

    recipe = load_recipe("widerface_mnet025", [f'data.annotations=["{gpu_check.TRAIN_ANNOTATIONS}"]'])
    samples = load_samples(recipe.data, subset)
    assert len(samples) == 12
    assert sum(len(s.boxes) for s in samples) > 12  # crowd images: the boxes came along with their images
    assert len(list((subset / "widerface" / "ground_truth").glob("*.mat"))) == 4


def test_cpu_dry_run_of_every_phase(subset: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu_check"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu_check",
            "run",
            "--device",
            "cpu",
            "--tiny",
            "--data-root",
            str(subset),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((out / "gpu_check.json").read_text())
    phases = {p["name"]: p for p in report["phases"]}
    failed = {n: (p["error"], p["log_tail"][-5:]) for n, p in phases.items() if p["status"] != "ok"}
    assert not failed, failed
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(phases) == [
        "train_scratch_amp",
        "train_step_ceiling",
        "torchrun_resume",
        "finetune_export_onnx",
        "latency",
    ]

    scratch = phases["train_scratch_amp"]["figures"]
    assert scratch["steps"] == 6 and scratch["loss_decreased"] and scratch["images_per_s"] > 0
    assert scratch["runtime"]["device"] == "cpu" and scratch["runtime"]["amp"] is None  # AMP is CUDA only

    ddp = phases["torchrun_resume"]["figures"]
    assert (ddp["stopped_at_step"], ddp["resumed_to_step"]) == (2, 4) and ddp["final_pt_written"]
    assert ddp["runtime"]["process_group"] == "gloo"  # torchrun with one process still forms a group

    finetune = phases["finetune_export_onnx"]["figures"]
    assert finetune["exported_files"] == ["retinaface_mnet025_128x128.onnx"]
    assert any("max |diff|" in line for line in finetune["export_parity"])
    assert [e["step"] for e in finetune["evals"]] == [0, 2]

    latency = phases["latency"]["figures"]
    eager = [r for r in latency["torch"] if r["mode"] == "eager"]
    assert [r["batch"] for r in eager] == [1, 2] and all(r["ms_per_call"] > 0 for r in eager)
    assert all(r["skipped"] == "needs CUDA" for r in latency["torch"] if r["mode"] == "cuda_graph")
    assert {r["provider"] for r in latency["onnxruntime"]} == {"cuda", "tensorrt"}

    md = (out / "gpu_check.md").read_text()
    assert "| train_scratch_amp | ok |" in md and "needs CUDA" in md
    assert (out / "logs" / "torchrun_resume.log").is_file()


def test_render_splices_between_markers(tmp_path: Path) -> None:
    saved = REPO_ROOT / "docs" / "benchmarks" / "gpu_check.json"
    doc = tmp_path / "page.md"
    start, end = markers("gpu-check")
    doc.write_text(f"# Page\n\n{start}\nold\n{end}\n\nafter\n")
    splice(doc, "gpu-check", gpu_check.render_markdown(json.loads(saved.read_text())))
    text = doc.read_text()
    assert "old" not in text and text.endswith("after\n") and "NVIDIA H200" in text
    plain = tmp_path / "plain.md"
    plain.write_text("no markers")
    with pytest.raises(ValueError, match="gpu-check"):
        splice(plain, "gpu-check", "x")
