"""Training loop and CLI.

Single process (CPU or one GPU)::

    python -m training.train --config widerface_finetune --data-root ../shared/data --out out/ft [--max-steps N]
        [--device cpu|cuda] [--resume out/ft/checkpoints/last.pt] [--set train.batch_size=16 ...]

Several GPUs / nodes (DistributedDataParallel, one process per GPU, NCCL; gloo on CPU)::

    torchrun --nproc_per_node 8 -m training.train --config widerface_mnet025 --data-root /data --out out/mnet

Outputs in ``--out``: ``recipe.json`` (resolved), ``metrics.csv`` / ``eval.csv`` (+ TensorBoard when installed),
``checkpoints/last.pt`` and ``checkpoints/step_*.pt`` (full training state, resumable), ``final.pt`` (weights only,
EMA weights when EMA is on; what ``python -m export --checkpoint out/.../final.pt`` takes) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from edge_sdk.preprocess import Normalization

from . import distributed as D
from .batchnorm import recalibrate_batchnorm, set_train_mode
from .checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, save_checkpoint
from .config import ModelConfig
from .data import load_samples
from .dataset import FaceDataset, build_loader
from .ema import ModelEMA
from .evaluate import Evaluator
from .loss import count_positives, multibox_loss
from .model import RetinaFace
from .recipe import Recipe, apply_overrides, load_recipe, recipe_from_dict
from .schedule import build_optimizer, build_scheduler

log = logging.getLogger("training")

TRAIN_STATE_FORMAT = "edge_sdk.training_state/1"
_METRIC_FIELDS = [
    "step",
    "epoch",
    "lr",
    "loss",
    "box",
    "cls",
    "landmark",
    "positives_per_image",
    "images_per_s",
    "elapsed_s",
]


# ------------------------------------------------------------------------------------------------ model set-up


def build_model(recipe: Recipe) -> tuple[RetinaFace, Normalization, dict[str, Any]]:
    """The initial model, its input normalization and a description of where its weights come from."""
    if recipe.init.mode == "pretrained":
        path = Path(recipe.init.checkpoint) if recipe.init.checkpoint else DEFAULT_CHECKPOINT
        model, meta = load_checkpoint(path)
        norm = meta["normalization"]
        init = {"mode": "pretrained", "checkpoint": str(path), "provenance": meta.get("provenance", {})}
    else:
        torch.manual_seed(recipe.train.seed)
        m = recipe.model
        model = RetinaFace(
            ModelConfig(
                width_mult=m.width_mult, activation=m.activation, leaky_slope=m.leaky_slope, fpn_channels=m.fpn_channels
            )
        )
        norm = dataclasses.asdict(Normalization())
        init = {"mode": "scratch", "seed": recipe.train.seed}
        if recipe.loss.classification == "focal":
            _focal_bias_init(model)
    normalization = Normalization(norm["channel_order"], tuple(norm["mean"]), tuple(norm["std"]))
    return model.train(), normalization, init


def _focal_bias_init(model: RetinaFace, prior: float = 0.01) -> None:
    """RetinaNet's classification bias: start every anchor at p(face) = ``prior`` (logits [0, log(p/(1-p))])."""
    with torch.no_grad():
        for head in model.class_head:
            bias = head.bias.view(-1, model.config.num_classes)
            bias.zero_()
            bias[:, 1] = math.log(prior / (1 - prior))


def freeze_parameters(model: nn.Module, prefixes: list[str]) -> list[str]:
    """``requires_grad=False`` for parameters whose name starts with one of ``prefixes``; returns their names."""
    names = []
    for name, param in model.named_parameters():
        if any(name.startswith(p) for p in prefixes):
            param.requires_grad_(False)
            names.append(name)
    unknown = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if unknown:
        raise ValueError(f"train.freeze: no parameter starts with {unknown}")
    return names


def _normalization_dict(n: Normalization) -> dict[str, Any]:
    return {"channel_order": n.channel_order, "mean": [float(v) for v in n.mean], "std": [float(v) for v in n.std]}


# ------------------------------------------------------------------------------------------------ logging


class MetricLog:
    """``metrics.csv`` and ``eval.csv`` (always), TensorBoard scalars (when available and wanted). Rank 0 only."""

    def __init__(self, out: Path, tensorboard: str, enabled: bool) -> None:
        self.out = out
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard != "off":
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                if tensorboard == "on":
                    raise
                log.info("tensorboard not installed: metrics go to metrics.csv only")

    def _append(self, name: str, row: dict[str, Any], fields: list[str]) -> None:
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerow(row)

    def train(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._append("metrics.csv", row, _METRIC_FIELDS)
        if self.writer is not None:
            for k in ("lr", "loss", "box", "cls", "landmark", "positives_per_image", "images_per_s"):
                self.writer.add_scalar(f"train/{k}", row[k], row["step"])

    def eval(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._append("eval.csv", {"step": step, **metrics}, ["step", *metrics])
        if self.writer is not None:
            for k, v in metrics.items():
                self.writer.add_scalar(f"eval/{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ------------------------------------------------------------------------------------------------ trainer


class Trainer:
    """Owns model, optimizer, scheduler, scaler, EMA, data and the step counter; ``fit()`` runs to the end."""

    def __init__(
        self,
        recipe: Recipe,
        ctx: D.DistContext,
        data_root: Path,
        out: Path,
        resume: Path | None = None,
        stop_after: int | None = None,
    ) -> None:
        self.recipe, self.ctx, self.data_root, self.out = recipe, ctx, Path(data_root), Path(out)
        self.stop_after = stop_after
        t = recipe.train
        if t.threads:
            torch.set_num_threads(int(t.threads))
        if t.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        if ctx.device.type == "cuda":
            torch.backends.cudnn.benchmark = not t.deterministic

        model, self.normalization, self.init_info = build_model(recipe)
        set_train_mode(model, t.bn)
        frozen = freeze_parameters(model, t.freeze)
        if frozen:
            log.info("frozen parameters (%d): %s", len(frozen), ", ".join(frozen))
        self.sync_bn_layers = 0
        if t.sync_bn and ctx.distributed:
            if ctx.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
                self.sync_bn_layers = sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
                log.info("SyncBatchNorm: %d BatchNorm layers converted", self.sync_bn_layers)
            else:
                log.warning(
                    "train.sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel): ignored on %s", ctx.device
                )
        self.model = model.to(ctx.device)
        self.anchors = self.model.config.anchors

        self.samples = load_samples(recipe.data, self.data_root)
        self.dataset = FaceDataset(
            self.samples,
            recipe.augment,
            recipe.matching,
            self.anchors,
            self.normalization,
            seed=t.seed,
            cache_images=recipe.data.cache_images,
        )
        self.loader, self.batches = build_loader(
            self.dataset,
            t.batch_size,
            t.sizes,
            t.seed,
            ctx.rank,
            ctx.world_size,
            recipe.data.num_workers,
            pin_memory=ctx.device.type == "cuda",
        )
        self.steps_per_epoch = len(self.batches)
        self.total_steps = int(t.max_steps) if t.max_steps else max(1, math.ceil(t.epochs * self.steps_per_epoch))

        if t.bn_recalibrate_batches and resume is None:
            self.recalibrate(int(t.bn_recalibrate_batches))
        self.ema = ModelEMA(self.model, t.ema.decay, t.ema.tau) if t.ema.enabled else None
        self.optimizer = build_optimizer(self.model, recipe.optim)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, recipe.schedule)
        self.use_amp = bool(t.amp and ctx.device.type == "cuda")
        self.amp_dtype = torch.float16 if t.amp_dtype == "float16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.step = 0
        self.evals: list[dict[str, Any]] = []
        if resume is not None:
            self.load_state(resume)

        if ctx.distributed:
            self.ddp: nn.Module = DistributedDataParallel(
                self.model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None
            )
        else:
            self.ddp = self.model
        self.metrics = MetricLog(self.out, recipe.log.tensorboard, ctx.is_main)
        self.evaluator = Evaluator(recipe.eval, self.data_root) if recipe.eval.enabled else None
        log.info(
            "%d images, %d steps/epoch (global batch %d = %d x %d processes), %d steps, sizes %s, device %s%s",
            len(self.dataset),
            self.steps_per_epoch,
            t.batch_size,
            t.batch_size // ctx.world_size,
            ctx.world_size,
            self.total_steps,
            t.sizes,
            ctx.device,
            ", AMP " + t.amp_dtype if self.use_amp else "",
        )

    def recalibrate(self, n_batches: int) -> None:
        """Re-estimate BatchNorm statistics on the first ``n_batches`` training batches (statistics summed over
        processes); the eval-mode function is unchanged (see :mod:`training.batchnorm`)."""
        self.batches.set_epoch(0)

        def images():
            for i, batch in enumerate(self.loader):
                if i >= n_batches:
                    break
                yield batch["image"]

        recalibrate_batchnorm(self.model, images(), self.ctx.device, reduce=lambda t: D.all_reduce_sum(t, self.ctx))
        set_train_mode(self.model, self.recipe.train.bn)

    # -------------------------------------------------------------------------------------------- state

    def train_state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": TRAIN_STATE_FORMAT,
            "step": self.step,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.ctx.world_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng,
            "evals": self.evals,
        }

    def load_state(self, path: Path) -> None:
        data = torch.load(path, map_location="cpu", weights_only=True)
        state = data.get("train_state")
        if not state or state.get("format") != TRAIN_STATE_FORMAT:
            raise ValueError(
                f"{path} is not a training checkpoint of this trainer (no train_state); "
                "to start from its weights use init.mode=pretrained, init.checkpoint=..."
            )
        self.model.load_state_dict(data["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state["ema"] is None:
                raise ValueError(f"{path} has no EMA state but the recipe enables EMA")
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"]["torch"])
        if (
            "cuda" in state["rng"]
            and torch.cuda.is_available()
            and len(state["rng"]["cuda"]) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])
        self.evals = list(state.get("evals", []))
        for key, mine in (("total_steps", self.total_steps), ("steps_per_epoch", self.steps_per_epoch)):
            if int(state[key]) != mine:
                log.warning(
                    "resume: checkpoint has %s=%s, this run %s: the continuation will differ", key, state[key], mine
                )
        log.info("resumed from %s at step %d", path, self.step)

    def provenance(self) -> dict[str, Any]:
        r = self.recipe
        terms = "FDDB: research use" if r.data.format == "fddb" else "WIDER FACE: research use"
        return {
            "source": "python -m training.train",
            "recipe": r.name,
            "init": self.init_info,
            "step": self.step,
            "total_steps": self.total_steps,
            "training_data": {"format": r.data.format, "images": len(self.samples), "data_root": str(self.data_root)},
            "training_data_terms": terms,
            "torch": str(torch.__version__),
        }

    def save(self, path: Path, with_state: bool = True, weights: str = "model") -> None:
        """Rank 0 writes ``path`` atomically with :func:`training.checkpoint.save_checkpoint`."""
        if not self.ctx.is_main:
            return
        model = self.ema.module if weights == "ema" and self.ema is not None else self.model
        tmp = path.with_name(path.name + ".tmp")
        extra: dict[str, Any] = {"recipe": self.recipe.to_dict(), "weights": weights}
        if with_state:
            extra["train_state"] = self.train_state()
        save_checkpoint(tmp, model, _normalization_dict(self.normalization), self.provenance(), **extra)
        os.replace(tmp, path)

    def save_periodic(self) -> None:
        if not self.ctx.is_main:
            return
        ckpt_dir = self.out / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.save(ckpt_dir / f"step_{self.step:07d}.pt")
        old = sorted(ckpt_dir.glob("step_*.pt"))[: -self.recipe.checkpoint.keep or None]
        for p in old:
            p.unlink()

    # -------------------------------------------------------------------------------------------- loop

    def evaluate(self) -> dict[str, float]:
        if self.evaluator is None:
            return {}
        model = self.ema.module if self.ema is not None else self.model
        start = time.perf_counter()
        metrics = self.evaluator.run(model, self.normalization, self.anchors, self.ctx, self.recipe.log.progress)
        set_train_mode(self.model, self.recipe.train.bn)
        if self.ctx.is_main:
            self.evals.append({"step": self.step, **metrics})
            self.metrics.eval(self.step, metrics)
            log.info(
                "eval at step %d (%.0f s): %s",
                self.step,
                time.perf_counter() - start,
                ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
            )
        return metrics

    def train_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimizer step on this process's share of the global batch; returns detached loss terms (4,)."""
        dev = self.ctx.device
        images = batch["image"].to(dev, non_blocking=True)
        labels = batch["labels"].to(dev, non_blocking=True)
        box_t = batch["boxes"].to(dev, non_blocking=True)
        lm_t = batch["landmarks"].to(dev, non_blocking=True)
        lm_mask = batch["landmark_mask"].to(dev, non_blocking=True)
        counts = D.all_reduce_sum(count_positives(labels, lm_mask), self.ctx)  # global normalisers
        with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.use_amp):
            boxes, logits, landmarks = self.ddp(images)
        out = multibox_loss(
            boxes, logits, landmarks, labels, box_t, lm_t, lm_mask, self.recipe.loss, counts[0], counts[1]
        )
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages gradients over processes; the loss is normalised by global counts, so scale back to a sum.
        self.scaler.scale(out.total * self.ctx.world_size).backward()
        if self.recipe.train.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.train.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return torch.stack([out.total.detach(), out.box, out.cls, out.landmark, counts[0]])

    def fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        r, ctx = self.recipe, self.ctx
        if ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "recipe.json").write_text(json.dumps(r.to_dict(), indent=2) + "\n")
        if r.eval.at_start and self.step == 0:
            self.evaluate()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not (ctx.is_main and r.log.progress),
        )
        window = torch.zeros(5, dtype=torch.float64, device=ctx.device)
        window_steps, window_start, run_start = 0, time.perf_counter(), time.perf_counter()
        history: list[dict[str, Any]] = []
        per_rank = r.train.batch_size // ctx.world_size
        stopped = False
        while self.step < self.total_steps and not stopped:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            self.batches.set_epoch(epoch, offset)
            for batch in self.loader:
                window += self.train_step(batch).double()
                window_steps += 1
                self.step += 1
                bar.update(1)
                if self.step % r.log.interval == 0 or self.step == self.total_steps:
                    row = self._log_row(window, window_steps, window_start, run_start, per_rank)
                    history.append(row)
                    bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}")
                    window.zero_()
                    window_steps, window_start = 0, time.perf_counter()
                if r.eval.interval and self.step % r.eval.interval == 0 and self.step < self.total_steps:
                    self.evaluate()
                if r.checkpoint.interval and self.step % r.checkpoint.interval == 0:
                    self.save_periodic()
                if self.stop_after is not None and self.step >= self.stop_after:
                    stopped = True
                if self.step >= self.total_steps or stopped:
                    break
        bar.close()
        if self.step >= self.total_steps and r.eval.at_end:
            self.evaluate()
        self.finish(history, stopped)
        return {"history": history, "evals": self.evals, "step": self.step}

    def _log_row(
        self, window: torch.Tensor, n: int, window_start: float, run_start: float, per_rank: int
    ) -> dict[str, Any]:
        values = D.all_reduce_sum(window.clone(), self.ctx)  # per-process terms use global normalisers: sum them
        values /= n
        now = time.perf_counter()
        loss, box, cls, lm, pos = (float(v) for v in values)
        row = {
            "step": self.step,
            "epoch": round(self.step / self.steps_per_epoch, 3),
            "lr": self.optimizer.param_groups[0]["lr"],
            "loss": loss,
            "box": box,
            "cls": cls,
            "landmark": lm,
            "positives_per_image": pos / self.ctx.world_size / self.recipe.train.batch_size,
            "images_per_s": n * per_rank * self.ctx.world_size / max(now - window_start, 1e-9),
            "elapsed_s": round(now - run_start, 2),
        }
        self.metrics.train(row)
        log.debug("step %d: %s", self.step, row)
        return row

    def runtime_facts(self) -> dict[str, Any]:
        """How this run actually ran (device, process group, AMP, SyncBatchNorm, peak GPU memory): the evidence a
        GPU check reads back from ``summary.json``."""
        facts: dict[str, Any] = {
            "device": str(self.ctx.device),
            "process_group": self.ctx.backend,
            "amp": self.recipe.train.amp_dtype if self.use_amp else None,
            "grad_scaler": bool(self.scaler.is_enabled()),
            "sync_bn_layers": self.sync_bn_layers,
            "pin_memory": bool(self.loader.pin_memory),
            "num_workers": int(self.loader.num_workers),
        }
        if self.ctx.device.type == "cuda":
            facts["gpu_name"] = torch.cuda.get_device_name(self.ctx.device)
            facts["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated(self.ctx.device) / 2**20, 1)
            facts["max_memory_reserved_mb"] = round(torch.cuda.max_memory_reserved(self.ctx.device) / 2**20, 1)
        return facts

    def finish(self, history: list[dict[str, Any]], stopped: bool) -> None:
        if self.ctx.is_main:
            ckpt_dir = self.out / "checkpoints"
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            self.save(ckpt_dir / "last.pt")
            if not stopped:
                weights = "ema" if self.ema is not None else "model"
                self.save(self.out / "final.pt", with_state=False, weights=weights)
            summary = {
                "recipe": self.recipe.name,
                "step": self.step,
                "total_steps": self.total_steps,
                "stopped_early": stopped,
                "world_size": self.ctx.world_size,
                "first": history[0] if history else None,
                "last": history[-1] if history else None,
                "evals": self.evals,
                "runtime": self.runtime_facts(),
            }
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            log.info(
                "done at step %d: %s", self.step, self.out / ("final.pt" if not stopped else "checkpoints/last.pt")
            )
        self.metrics.close()
        D.barrier(self.ctx)


# ------------------------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--config",
        help="recipe name (widerface_mnet025, widerface_finetune, fddb_finetune) or file; "
        "optional with --resume (the checkpoint's recipe is used)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path(os.environ.get("EDGE_SDK_DATA", "../shared/data")),
        help="folder holding widerface/ and fddb/ (default: $EDGE_SDK_DATA or ../shared/data)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--max-steps", type=int, default=None, help="training length in steps (overrides epochs)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="overrides train.device")
    p.add_argument("--resume", type=Path, default=None, help="continue a run from its training checkpoint")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop (and save checkpoints/last.pt) after this step without changing the schedule",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one recipe value (JSON-parsed), repeatable",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--log-level", default="INFO")
    return p


def resolve_recipe(args: argparse.Namespace) -> Recipe:
    overrides = list(args.set)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    if args.no_progress:
        overrides.append("log.progress=false")
    if args.config:
        return load_recipe(args.config, overrides)
    if args.resume is None:
        raise SystemExit("--config is required unless --resume is given")
    data = torch.load(args.resume, map_location="cpu", weights_only=True)
    if "recipe" not in data:
        raise SystemExit(f"{args.resume} holds no recipe: pass --config")
    return recipe_from_dict(apply_overrides(data["recipe"], overrides))


def _setup_logging(level: str, ctx: D.DistContext, out: Path) -> None:
    fmt = f"%(asctime)s [rank {ctx.rank}] %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    root.setLevel(level.upper() if ctx.is_main else logging.WARNING)
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "_training", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._training = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(out / "train.log")
        file_handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(file_handler)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    recipe = resolve_recipe(args)
    ctx = D.setup(recipe.train.device)
    _setup_logging(args.log_level, ctx, args.out)
    try:
        trainer = Trainer(recipe, ctx, args.data_root, args.out, resume=args.resume, stop_after=args.stop_after)
        return trainer.fit()
    finally:
        for h in list(logging.getLogger().handlers):
            if isinstance(h, logging.FileHandler):
                logging.getLogger().removeHandler(h)
                h.close()
        D.cleanup(ctx)


if __name__ == "__main__":
    main()
