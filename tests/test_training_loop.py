"""The training loop end to end on CPU: exact resume, DDP (torchrun, gloo) = single process, the three recipes through
the CLI with evaluation, the hand-off to export, the evaluation detector vs the runtime, BatchNorm re-estimation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import REPO_ROOT, require

torch = require("torch", "the [train] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_resume_is_bit_identical(shared_data, tmp_path):
    from training.evidence import resume

    f = resume(shared_data, tmp_path, steps=6, stop=3)
    assert f["steps"] == (3, 6, 6)
    assert f["moved"] > 1e-3  # the comparison is not vacuous
    assert f["model_diff"] == 0.0 and f["ema_diff"] == 0.0 and f["momentum_diff"] == 0.0
    assert f["lr"][0] == f["lr"][1]


def test_ddp_two_gloo_processes_match_one_process(shared_data, tmp_path):
    from training.evidence import ddp

    f = ddp(shared_data, tmp_path, steps=5, nproc=2, timeout=300)
    assert f["world_size"] == 2
    assert f["moved"] > 5e-4
    assert f["model_diff"] < 1e-5 and f["ema_diff"] < 1e-5


@pytest.mark.parametrize("recipe", ["widerface_mnet025", "widerface_finetune", "fddb_finetune"])
def test_recipes_train_evaluate_and_hand_off_to_export(shared_data, tmp_path, recipe):
    from training import train
    from training.checkpoint import load_checkpoint
    from training.export_checkpoint import export_weights

    out = tmp_path / recipe
    result = train.main(
        [
            "--config",
            recipe,
            "--data-root",
            str(shared_data),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--max-steps",
            "2",
            "--no-progress",
            "--set",
            "train.batch_size=2",
            "--set",
            "train.sizes=[128]",
            "--set",
            "data.num_workers=0",
            "--set",
            "data.max_images=4",
            "--set",
            "eval.max_images=2",
            "--set",
            "eval.input_size=320",
            "--set",
            "train.threads=1",
            "--set",
            "log.interval=1",
        ]
    )
    assert result["step"] == 2 and len(result["history"]) == 2
    assert all(np.isfinite(row["loss"]) for row in result["history"])
    metric = "ap_hard" if recipe != "fddb_finetune" else "tpr@100fp"
    assert metric in result["evals"][-1]
    assert (out / "metrics.csv").read_text().startswith("step,epoch,lr,loss")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recipe"] == recipe and summary["step"] == 2

    model, meta = load_checkpoint(out / "final.pt")  # what `python -m export --checkpoint` reads
    assert meta["provenance"]["recipe"] == recipe and meta["normalization"]["mean"] == [104.0, 117.0, 127.0]
    export_weights(out / "checkpoints" / "last.pt", out / "handoff.pt")
    model2, meta2 = load_checkpoint(out / "handoff.pt")
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), k  # final.pt and the hand-off carry the same (EMA or plain) weights
    assert meta2["provenance"]["weights"] == ("ema" if recipe != "widerface_mnet025" else "model")


def test_torch_detector_matches_the_runtime(astronaut):
    """The evaluation detector used during training gives the runtime's faces for the same weights."""
    from edge_sdk import FaceDetector
    from edge_sdk.preprocess import Normalization
    from training.checkpoint import load_checkpoint
    from training.evaluate import TorchDetector

    require("onnxruntime", "the [onnx] extra: the runtime side of the comparison")
    model, meta = load_checkpoint()
    n = meta["normalization"]
    ours = TorchDetector(
        model,
        Normalization(n["channel_order"], tuple(n["mean"]), tuple(n["std"])),
        model.config.anchors,
        torch.device("cpu"),
        input_size=640,
        score_threshold=0.5,
    )
    sdk = FaceDetector(backend="onnxruntime", input_size=640, score_threshold=0.5)
    boxes, scores = ours(astronaut)
    faces = sdk.detect(astronaut)
    assert len(boxes) == len(faces.boxes) >= 1
    np.testing.assert_allclose(boxes, faces.boxes, atol=0.05)
    np.testing.assert_allclose(scores, faces.scores, atol=1e-4)


def test_batchnorm_recalibration_keeps_the_function():
    from training.batchnorm import recalibrate_batchnorm
    from training.checkpoint import load_checkpoint

    model, _ = load_checkpoint()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 96, 96, generator=g) * 60
    with torch.no_grad():
        before = model(x)
    recalibrate_batchnorm(model, [torch.randn(2, 3, 96, 96, generator=g) * 60 for _ in range(2)], torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        after = model(x)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert float(model.body.stage1[0].bn.running_var.min()) < 0.99  # statistics are real now, not the folded 1s


def test_cli_help_lists_the_contract():
    import subprocess
    import sys

    text = subprocess.run(
        [sys.executable, "-m", "training.train", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    ).stdout
    for flag in ("--config", "--data-root", "--out", "--max-steps", "--device", "--resume"):
        assert flag in text
