"""Self-checks of the training pipeline on CPU, printing the figures they measure (tests run small versions).

    python -m training.evidence overfit  --data-root ../shared/data --out out/evidence/overfit
    python -m training.evidence finetune --data-root ../shared/data --out out/evidence/finetune [--steps 72]
    python -m training.evidence ddp      --data-root ../shared/data --out out/evidence/ddp
    python -m training.evidence resume   --data-root ../shared/data --out out/evidence/resume

* overfit: 8 WIDER train images (the first, by key, with >= 2 faces >= 16 px tall at the training size), from
  scratch, no augmentation; the loss must fall >= 5x and the recall (IoU >= 0.5, score >= 0.5) of the faces at least
  16 px tall *at the network input* (the smallest anchor) must reach 0.8.
* finetune: the ``widerface_finetune`` recipe from the pretrained weights on the 581 shared train images; WIDER val
  AP (official protocol, original image size, all val images present) before and after.
* ddp: ``torchrun --nproc_per_node 2`` (gloo) vs one process, same global batch: max weight difference.
* resume: a run stopped at step k and resumed vs an uninterrupted run: max weight difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from edge_sdk.nms import pairwise_iou

log = logging.getLogger(__name__)

OVERFIT_MIN_FACE = 16


def pick_overfit_keys(
    data_root: Path, n: int = 8, size: int = 256, min_faces: int = 2, max_faces: int = 40
) -> list[str]:
    """The first ``n`` train images (sorted by key) with >= ``min_faces`` faces >= 16 px tall once letterboxed to
    ``size`` and at most ``max_faces`` faces in all."""
    from .data import load_samples
    from .recipe import load_recipe

    keys = []
    for s in load_samples(load_recipe("widerface_mnet025").data, data_root):
        h, w = cv2.imread(str(s.path)).shape[:2]
        heights = (s.boxes[:, 3] - s.boxes[:, 1]) * size / max(h, w)
        if (heights >= OVERFIT_MIN_FACE).sum() >= min_faces and len(s.boxes) <= max_faces:
            keys.append(s.key)
        if len(keys) == n:
            break
    return keys


def overfit_recall(
    checkpoint: Path, data_root: Path, keys: list[str], size: int, score_threshold: float = 0.5
) -> tuple[float, int]:
    """Recall (IoU >= 0.5) of the faces >= 16 px tall at the network input, detecting at ``size`` (letterbox)."""
    from edge_sdk.preprocess import Normalization

    from .checkpoint import load_checkpoint
    from .data import load_samples
    from .evaluate import TorchDetector
    from .recipe import load_recipe

    model, meta = load_checkpoint(checkpoint)
    n = meta["normalization"]
    detector = TorchDetector(
        model,
        Normalization(n["channel_order"], tuple(n["mean"]), tuple(n["std"])),
        model.config.anchors,
        torch.device("cpu"),
        input_size=size,
        score_threshold=score_threshold,
    )
    samples = load_samples(load_recipe("widerface_mnet025", [f"data.keys={json.dumps(keys)}"]).data, data_root)
    hits = total = 0
    for s in samples:
        image = cv2.imread(str(s.path))
        scale = size / max(image.shape[:2])
        gt = s.boxes[(s.boxes[:, 3] - s.boxes[:, 1]) * scale >= OVERFIT_MIN_FACE]
        boxes, _ = detector(image)
        total += len(gt)
        if len(gt) and len(boxes):
            hits += int((pairwise_iou(gt, boxes).max(axis=1) >= 0.5).sum())
    return hits / max(total, 1), total


def overfit(
    data_root: Path, out: Path, steps: int = 200, size: int = 256, lr: float = 0.01, threads: int = 1
) -> dict[str, Any]:
    from . import train

    keys = pick_overfit_keys(data_root, 8, size)
    result = train.main(
        [
            "--config",
            "widerface_mnet025",
            "--data-root",
            str(data_root),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--max-steps",
            str(steps),
            "--no-progress",
            "--set",
            f"data.keys={json.dumps(keys)}",
            "--set",
            "train.batch_size=8",
            "--set",
            f"train.sizes=[{size}]",
            "--set",
            "data.num_workers=0",
            "--set",
            "data.cache_images=true",
            "--set",
            "augment.enabled=false",
            "--set",
            "eval.enabled=false",
            "--set",
            "log.interval=1",
            "--set",
            f"train.threads={threads}",
            "--set",
            f"optim.lr={lr}",
            "--set",
            "optim.weight_decay=0",
            "--set",
            "schedule.kind=cosine",
            "--set",
            "schedule.warmup_fraction=0.05",
            "--set",
            "checkpoint.interval=0",
        ]
    )
    losses = [row["loss"] for row in result["history"]]
    first, last = losses[0], float(np.mean(losses[-10:]))
    recall, faces = overfit_recall(out / "final.pt", data_root, keys, size)
    figures = {
        "images": keys,
        "steps": steps,
        "size": size,
        "loss_first": first,
        "loss_last10": last,
        "loss_ratio": first / last,
        "recall": recall,
        "faces_ge16px": faces,
    }
    print(
        f"overfit: 8 images at {size}px, {steps} steps from scratch: loss {first:.4f} -> {last:.4f} "
        f"({first / last:.1f}x lower); recall@IoU0.5 (score>=0.5) of {faces} faces >= {OVERFIT_MIN_FACE}px tall "
        f"at the input: {recall:.3f}"
    )
    return figures


def finetune(
    data_root: Path,
    out: Path,
    steps: int = 72,
    batch: int = 8,
    size: int = 640,
    lr: float | None = None,
    eval_images: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    from . import train

    args = [
        "--config",
        "widerface_finetune",
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--max-steps",
        str(steps),
        "--no-progress",
        "--set",
        f"train.batch_size={batch}",
        "--set",
        f"train.sizes=[{size}]",
        "--set",
        "data.num_workers=1",
        "--set",
        "log.interval=8",
        "--set",
        "eval.interval=0",
        "--set",
        "checkpoint.interval=0",
    ]
    if lr is not None:
        args += ["--set", f"optim.lr={lr}"]
    if eval_images is not None:
        args += ["--set", f"eval.max_images={eval_images}"]
    if threads is not None:
        args += ["--set", f"train.threads={threads}"]
    result = train.main(args)
    start, end = result["evals"][0], result["evals"][-1]
    hist = result["history"]
    print(
        f"finetune: {steps} steps x batch {batch} at {size}px from the pretrained weights; loss "
        f"{hist[0]['loss']:.4f} (first {hist[0]['step']} steps) -> {hist[-1]['loss']:.4f} (last window)"
    )
    for name in ("ap_easy", "ap_medium", "ap_hard"):
        print(
            f"  WIDER val {name}: start {start[name]:.4f} -> end {end[name]:.4f} "
            f"({100 * (end[name] - start[name]):+.2f} points)"
        )
    return {"start": start, "end": end, "history": hist}


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _params(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Learned tensors only (no BatchNorm running statistics)."""
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


def _common(data_root: Path, steps: int) -> list[str]:
    return [
        "--data-root",
        str(data_root),
        "--device",
        "cpu",
        "--max-steps",
        str(steps),
        "--no-progress",
        "--set",
        "data.num_workers=0",
        "--set",
        "eval.enabled=false",
        "--set",
        "log.interval=1",
        "--set",
        "train.threads=1",
        "--set",
        "checkpoint.interval=0",
        "--set",
        "data.max_images=16",
    ]


def ddp(data_root: Path, out: Path, steps: int = 5, nproc: int = 2, timeout: float = 600) -> dict[str, Any]:
    """Pretrained weights with frozen BatchNorm (per-sample computation, so the split of the batch over processes
    does not change the maths), augmentation and two training sizes on; global batch 4."""
    args = [
        "--config",
        "widerface_finetune",
        *_common(data_root, steps),
        "--set",
        "train.batch_size=4",
        "--set",
        "train.sizes=[160,192]",
        "--set",
        "optim.lr=0.001",
        "--set",
        "train.clip_grad_norm=5.0",
    ]
    single, multi = out / "single", out / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-m", "training.train", *args, "--out", str(single)], check=True, env=env, timeout=timeout
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "training.train",
            *args,
            "--out",
            str(multi),
        ],
        check=True,
        env=env,
        timeout=timeout,
    )
    from .checkpoint import DEFAULT_CHECKPOINT

    init = _state(DEFAULT_CHECKPOINT)
    figures = {
        "model_diff": max_abs_diff(
            _state(single / "checkpoints" / "last.pt"), _state(multi / "checkpoints" / "last.pt")
        ),
        "ema_diff": max_abs_diff(_state(single / "final.pt"), _state(multi / "final.pt")),
        "moved": max_abs_diff(_params(_state(single / "checkpoints" / "last.pt")), _params(init)),
        "world_size": json.loads((multi / "summary.json").read_text())["world_size"],
    }
    print(
        f"ddp: {figures['world_size']} gloo processes vs 1 process, global batch 4, {steps} steps: max |diff| "
        f"weights {figures['model_diff']:.3g}, EMA weights {figures['ema_diff']:.3g} (weights moved by up to "
        f"{figures['moved']:.3g} from the start)"
    )
    return figures


def resume(data_root: Path, out: Path, steps: int = 6, stop: int = 3) -> dict[str, Any]:
    """From scratch (BatchNorm in train mode), augmentation, two sizes, EMA, gradient clipping, step schedule."""
    from . import train

    args = [
        "--config",
        "widerface_mnet025",
        *_common(data_root, steps),
        "--set",
        "data.max_images=8",
        "--set",
        "train.batch_size=2",
        "--set",
        "train.sizes=[128,160]",
        "--set",
        "optim.lr=0.01",
        "--set",
        "train.clip_grad_norm=10.0",
        "--set",
        "train.ema.enabled=true",
        "--set",
        "train.ema.tau=2",
        "--set",
        "schedule.milestones=[0.5]",
        "--set",
        "schedule.warmup_fraction=0.34",
    ]
    full, part = out / "full", out / "interrupted"
    train.main([*args, "--out", str(full)])
    train.main([*args, "--out", str(part), "--stop-after", str(stop)])
    stopped = torch.load(part / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    train.main([*args, "--out", str(part), "--resume", str(part / "checkpoints" / "last.pt")])
    a = torch.load(full / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    figures = {
        "model_diff": max_abs_diff(a["model"], b["model"]),
        "ema_diff": max_abs_diff(a["train_state"]["ema"]["module"], b["train_state"]["ema"]["module"]),
        "momentum_diff": max(
            float((x["momentum_buffer"] - y["momentum_buffer"]).abs().max())
            for x, y in zip(
                a["train_state"]["optimizer"]["state"].values(), b["train_state"]["optimizer"]["state"].values()
            )
        ),
        "moved": max_abs_diff(_params(a["model"]), _params(stopped["model"])),
        "steps": (int(stopped["train_state"]["step"]), int(a["train_state"]["step"]), int(b["train_state"]["step"])),
        "lr": (a["train_state"]["scheduler"]["_last_lr"], b["train_state"]["scheduler"]["_last_lr"]),
    }
    print(
        f"resume: stopped at step {stop} and resumed to {steps} vs uninterrupted: max |diff| weights "
        f"{figures['model_diff']:.3g}, EMA {figures['ema_diff']:.3g}, momentum {figures['momentum_diff']:.3g} "
        f"(weights moved by up to {figures['moved']:.3g} between step {stop} and {steps})"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.evidence", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("check", choices=("overfit", "finetune", "ddp", "resume"))
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("EDGE_SDK_DATA", "../shared/data")))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="finetune: override the recipe's lr")
    p.add_argument("--batch", type=int, default=8, help="finetune: global batch")
    p.add_argument("--eval-images", type=int, default=None, help="finetune: evaluate a spread subset")
    p.add_argument("--threads", type=int, default=None, help="finetune: torch CPU threads")
    args = p.parse_args(argv)
    kwargs: dict[str, Any] = {} if args.steps is None else {"steps": args.steps}
    if args.check == "overfit":
        figures = overfit(args.data_root, args.out, **kwargs)
    elif args.check == "finetune":
        figures = finetune(
            args.data_root,
            args.out,
            batch=args.batch,
            lr=args.lr,
            eval_images=args.eval_images,
            threads=args.threads,
            **kwargs,
        )
    elif args.check == "ddp":
        figures = ddp(args.data_root, args.out, **kwargs)
    else:
        figures = resume(args.data_root, args.out, **kwargs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
