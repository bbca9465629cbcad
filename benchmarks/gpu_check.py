"""The GPU half in one command: CUDA training smoke runs, torchrun/NCCL with resume, fine-tune + ONNX export, and GPU
latency of the model — prepared here, run in one call on a lent GPU machine, dry-run on the CPU by the test suite.

    # here: fill the git-ignored data folder the GPU machine receives (it gets the working tree, not ../shared)
    python -m benchmarks.gpu_check subset --data-root ../shared/data --out .gpu_data

    # on the GPU machine (its python already has torch with CUDA; nothing is installed there)
    PYTHONPATH=. python3 -m benchmarks.gpu_check run --data-root .gpu_data --out out/gpu_check

    # the CPU dry run of the same code paths (tests/test_gpu_check.py runs it)
    python -m benchmarks.gpu_check run --device cpu --tiny --data-root .gpu_data --out out/gpu_check_cpu

    # splice the saved figures into the docs (between the gpu-check markers)
    python -m benchmarks.gpu_check render --json out/gpu_check/gpu_check.json --doc docs/BENCHMARKS.md

``run`` writes ``gpu_check.json`` (every figure, every command, the tail of each phase's log) and
``gpu_check.md`` (the Markdown section) into ``--out``; scratch files go to ``--work``. Each phase runs in its own
process, so a failure in one (a CUDA error, an exporter gap) is recorded and the others still run.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .doc_sections import splice

WIDER_TRAIN_IMAGES = 12880  # one full WIDER FACE train epoch
SCRATCH_RECIPE = "widerface_mnet025"
FINETUNE_RECIPE = "widerface_finetune"
TRAIN_ANNOTATIONS = "widerface/wider_face_split/wider_face_train_bbx_gt.events0-1.txt"


# ------------------------------------------------------------------------------------------------ options


@dataclass
class CheckOptions:
    """Sizes of one check. :meth:`full` is the GPU run; :meth:`tiny` the CPU dry run of the same paths."""

    device: str = "cuda"
    size: int = 640
    batch: int = 32
    scratch_steps: int = 300
    log_interval: int = 10
    ceiling_steps: int = 50
    ddp_steps: int = 40
    ddp_stop_after: int = 20
    finetune_steps: int = 30
    eval_images: int = 24
    num_workers: int = 8
    latency_batches: list[int] = field(default_factory=lambda: [1, 8, 64])
    latency_dtypes: list[str] = field(default_factory=lambda: ["fp32", "fp16"])
    latency_iters: int = 50
    latency_repeats: int = 5
    phase_timeout_s: float = 240.0

    @classmethod
    def full(cls, device: str = "cuda") -> CheckOptions:
        return cls(device=device)

    @classmethod
    def tiny(cls, device: str = "cpu") -> CheckOptions:
        return cls(
            device=device,
            size=128,
            batch=4,
            scratch_steps=6,
            log_interval=2,
            ceiling_steps=2,
            ddp_steps=4,
            ddp_stop_after=2,
            finetune_steps=2,
            eval_images=2,
            num_workers=1,
            latency_batches=[1, 2],
            latency_dtypes=["fp32"],
            latency_iters=2,
            latency_repeats=2,
            phase_timeout_s=180.0,
        )


@dataclass
class Phase:
    """One step of the check and what it showed."""

    name: str
    status: str = "not run"  # ok | failed | skipped
    seconds: float = 0.0
    commands: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ data subset


def make_subset(data_root: Path, out: Path, train_images: int = 224, val_images: int = 24) -> dict[str, int]:
    """Copy a small, self-contained WIDER FACE subset: ``train_images`` train images (spread over the two events
    present) with their official-format annotation lines, ``val_images`` val images spread over the events, and the
    official evaluation ``.mat`` files. Deterministic (sorted keys, even spread)."""
    src = Path(data_root) / "widerface"
    dst = Path(out) / "widerface"
    lines = (src / "wider_face_split" / Path(TRAIN_ANNOTATIONS).name).read_text().splitlines()
    blocks = _bbx_gt_blocks(lines)
    present = sorted(k for k in blocks if (src / "WIDER_train" / "images" / k).is_file())
    chosen = _spread(present, train_images)
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "wider_face_split").mkdir(parents=True)
    out_lines: list[str] = []
    for key in chosen:
        out_lines.extend(blocks[key])
        target = dst / "WIDER_train" / "images" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "WIDER_train" / "images" / key, target)
    (Path(out) / TRAIN_ANNOTATIONS).write_text("\n".join(out_lines) + "\n")
    val_keys = sorted(
        str(p.relative_to(src / "WIDER_val" / "images")) for p in (src / "WIDER_val" / "images").rglob("*.jpg")
    )
    for key in _spread(val_keys, val_images):
        target = dst / "WIDER_val" / "images" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "WIDER_val" / "images" / key, target)
    (dst / "ground_truth").mkdir()
    for mat in sorted((src / "ground_truth").glob("*.mat")):
        shutil.copyfile(mat, dst / "ground_truth" / mat.name)
    return {"train_images": len(chosen), "val_images": min(val_images, len(val_keys))}


def _bbx_gt_blocks(lines: list[str]) -> dict[str, list[str]]:
    """Official ``bbx_gt`` text split into per-image blocks (name, count, box lines; a 0-face image has one line)."""
    blocks: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        count = int(lines[i + 1])
        n_box_lines = max(count, 1)
        blocks[name] = lines[i : i + 2 + n_box_lines]
        i += 2 + n_box_lines
    return blocks


def _spread(keys: list[str], limit: int) -> list[str]:
    if limit >= len(keys):
        return keys
    step = len(keys) / limit
    return [keys[int(i * step)] for i in range(limit)]


# ------------------------------------------------------------------------------------------------ running phases


def _run(cmd: list[str], log_path: Path, timeout_s: float, env: dict[str, str] | None = None) -> None:
    """Run one command of a phase; its output goes to ``log_path`` (appended). Raises on failure or timeout."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, env={**os.environ, **(env or {})}, check=False
        )
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd[:6])} …")


def _tail(path: Path, lines: int = 25) -> list[str]:
    if not path.is_file():
        return []
    return path.read_text(errors="replace").splitlines()[-lines:]


def _phase(name: str, work: Path, body: Callable[[Phase, Path], None]) -> Phase:
    phase = Phase(name)
    log_path = work / "logs" / f"{name}.log"
    start = time.perf_counter()
    try:
        body(phase, log_path)
        phase.status = "ok"
    except subprocess.TimeoutExpired as exc:
        phase.status, phase.error = "failed", f"timed out after {exc.timeout:.0f} s"
    except Exception as exc:  # a failed phase is a result: record it and go on
        phase.status, phase.error = "failed", f"{type(exc).__name__}: {exc}"
    phase.seconds = round(time.perf_counter() - start, 1)
    if phase.status != "ok":
        phase.log_tail = _tail(log_path)
    print(
        f"[gpu-check] {name}: {phase.status} ({phase.seconds} s){' — ' + phase.error if phase.error else ''}",
        flush=True,
    )
    return phase


def _train_cmd(
    config: str, data_root: Path, out: Path, device: str, max_steps: int, o: CheckOptions, extra: list[str] = ()
) -> list[str]:
    sets = [
        f"train.batch_size={o.batch}",
        f"train.sizes=[{o.size}]",
        f"data.num_workers={o.num_workers}",
        f'data.annotations=["{TRAIN_ANNOTATIONS}"]',
        f"log.interval={o.log_interval}",
        "log.tensorboard=off",
        "checkpoint.interval=0",
    ]
    cmd = [
        "-m",
        "training.train",
        "--config",
        config,
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--max-steps",
        str(max_steps),
        "--device",
        device,
        "--no-progress",
    ]
    for s in sets:
        cmd += ["--set", s]
    return cmd + list(extra)


def _read_metrics(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _training_figures(run_dir: Path, batch: int) -> dict[str, Any]:
    """Throughput (median over the logged windows after the first two: worker start, cuDNN autotuning), loss trend,
    runtime facts from summary.json, and what a full epoch and the full recipe would take at that speed."""
    rows = _read_metrics(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    steady = rows[2:] if len(rows) > 3 else rows
    ips = statistics.median(r["images_per_s"] for r in steady)
    first, last = rows[0]["loss"], rows[-1]["loss"]
    return {
        "steps": int(summary["step"]),
        "batch": batch,
        "images_per_s": round(ips, 1),
        "loss_first_window": round(first, 4),
        "loss_last_window": round(last, 4),
        "loss_min_window": round(min(r["loss"] for r in rows), 4),
        "loss_decreased": bool(last < first),
        "wider_epoch_min": round(WIDER_TRAIN_IMAGES / ips / 60, 2),
        "runtime": summary.get("runtime", {}),
        "evals": summary.get("evals", []),
    }


def phase_scratch(o: CheckOptions, data_root: Path, work: Path) -> Callable[[Phase, Path], None]:
    def body(phase: Phase, log: Path) -> None:
        out = work / "scratch"
        cmd = [
            sys.executable,
            *_train_cmd(SCRATCH_RECIPE, data_root, out, o.device, o.scratch_steps, o, ["--set", "eval.enabled=false"]),
        ]
        phase.commands.append(" ".join(cmd[1:]))
        _run(cmd, log, o.phase_timeout_s)
        fig = _training_figures(out, o.batch)
        epochs = _recipe_epochs(SCRATCH_RECIPE)
        fig["full_recipe_epochs"] = epochs
        fig["full_recipe_hours"] = round(epochs * WIDER_TRAIN_IMAGES / fig["images_per_s"] / 3600, 2)
        phase.figures = fig
        if not fig["loss_decreased"]:
            raise RuntimeError(f"loss did not go down: {fig['loss_first_window']} -> {fig['loss_last_window']}")

    return body


def phase_ceiling(o: CheckOptions, data_root: Path, work: Path) -> Callable[[Phase, Path], None]:
    def body(phase: Phase, log: Path) -> None:
        result = work / "ceiling.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.gpu_check",
            "_ceiling",
            "--data-root",
            str(data_root),
            "--work",
            str(work),
            "--device",
            o.device,
            "--json",
            str(result),
            *_size_args(o),
        ]
        phase.commands.append(" ".join(cmd[1:]))
        _run(cmd, log, o.phase_timeout_s)
        phase.figures = json.loads(result.read_text())

    return body


def phase_ddp(o: CheckOptions, data_root: Path, work: Path) -> Callable[[Phase, Path], None]:
    def body(phase: Phase, log: Path) -> None:
        out = work / "ddp"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
        first = launcher + _train_cmd(
            SCRATCH_RECIPE,
            data_root,
            out,
            o.device,
            o.ddp_steps,
            o,
            ["--set", "eval.enabled=false", "--stop-after", str(o.ddp_stop_after)],
        )
        phase.commands.append(" ".join(first[1:]))
        _run(first, log, o.phase_timeout_s)
        stopped = json.loads((out / "summary.json").read_text())
        resume = launcher + [
            "-m",
            "training.train",
            "--resume",
            str(out / "checkpoints" / "last.pt"),
            "--data-root",
            str(data_root),
            "--out",
            str(out),
            "--no-progress",
        ]
        phase.commands.append(" ".join(resume[1:]))
        _run(resume, log, o.phase_timeout_s)
        done = json.loads((out / "summary.json").read_text())
        phase.figures = {
            "stopped_at_step": stopped["step"],
            "resumed_to_step": done["step"],
            "total_steps": done["total_steps"],
            "final_pt_written": (out / "final.pt").is_file(),
            "runtime": done.get("runtime", {}),
            "last_loss": done["last"]["loss"] if done.get("last") else None,
        }
        if stopped["step"] != o.ddp_stop_after or done["step"] != o.ddp_steps:
            raise RuntimeError(
                f"resume: stopped at {stopped['step']}, ended at {done['step']} "
                f"(expected {o.ddp_stop_after} then {o.ddp_steps})"
            )

    return body


def phase_finetune_export(o: CheckOptions, data_root: Path, work: Path) -> Callable[[Phase, Path], None]:
    def body(phase: Phase, log: Path) -> None:
        out = work / "finetune"
        train = [
            sys.executable,
            *_train_cmd(
                FINETUNE_RECIPE,
                data_root,
                out,
                o.device,
                o.finetune_steps,
                o,
                ["--set", f"eval.max_images={o.eval_images}", "--set", f"eval.input_size={o.size}"],
            ),
        ]
        phase.commands.append(" ".join(train[1:]))
        _run(train, log, o.phase_timeout_s)
        fig = _training_figures(out, o.batch)
        export_dir = out / "export"
        export = [
            sys.executable,
            "-m",
            "export",
            "--checkpoint",
            str(out / "final.pt"),
            "--formats",
            "onnx",
            "--sizes",
            str(o.size),
            "--out",
            str(export_dir),
        ]
        phase.commands.append(" ".join(export[1:]))
        _run(export, log, o.phase_timeout_s)
        manifest = json.loads((export_dir / "manifest.json").read_text())
        fig["exported_files"] = [f["path"] for f in manifest["files"]]
        fig["export_parity"] = [line for line in log.read_text().splitlines() if "parity" in line.lower()][-3:]
        phase.figures = fig

    return body


def phase_latency(o: CheckOptions, work: Path) -> Callable[[Phase, Path], None]:
    def body(phase: Phase, log: Path) -> None:
        result = work / "latency.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.gpu_check",
            "_latency",
            "--device",
            o.device,
            "--json",
            str(result),
            *_size_args(o),
        ]
        phase.commands.append(" ".join(cmd[1:]))
        _run(cmd, log, o.phase_timeout_s)
        phase.figures = json.loads(result.read_text())

    return body


def _size_args(o: CheckOptions) -> list[str]:
    return ["--options", json.dumps(asdict(o))]


def _recipe_epochs(name: str) -> float:
    from training.recipe import load_recipe

    return float(load_recipe(name).train.epochs)


# ---------------------------------------------------------------------------------------- in-process measurements


def measure_ceiling(data_root: Path, work: Path, o: CheckOptions) -> dict[str, Any]:
    """The GPU's own training speed: :meth:`training.train.Trainer.train_step` (AMP, GradScaler, EMA, scheduler)
    repeated on one real batch already in memory, so the data loader is out of the measurement."""
    import torch

    from training import distributed as D
    from training.recipe import load_recipe
    from training.train import Trainer

    recipe = load_recipe(
        SCRATCH_RECIPE,
        [
            f"train.batch_size={o.batch}",
            f"train.sizes=[{o.size}]",
            f"train.device={o.device}",
            "data.num_workers=0",
            f'data.annotations=["{TRAIN_ANNOTATIONS}"]',
            "eval.enabled=false",
            "log.tensorboard=off",
        ],
    )
    ctx = D.setup(o.device)
    trainer = Trainer(recipe, ctx, data_root, work / "ceiling")
    trainer.batches.set_epoch(0)
    batch = next(iter(trainer.loader))

    def sync() -> None:
        if ctx.device.type == "cuda":
            torch.cuda.synchronize()

    warmup = max(2, o.ceiling_steps // 5)
    for _ in range(warmup):
        trainer.train_step(batch)
    sync()
    start = time.perf_counter()
    for _ in range(o.ceiling_steps):
        loss = trainer.train_step(batch)
    sync()
    elapsed = time.perf_counter() - start
    ips = o.ceiling_steps * o.batch / elapsed
    return {
        "steps": o.ceiling_steps,
        "batch": o.batch,
        "step_ms": round(1000 * elapsed / o.ceiling_steps, 2),
        "images_per_s": round(ips, 1),
        "wider_epoch_min": round(WIDER_TRAIN_IMAGES / ips / 60, 3),
        "full_recipe_hours": round(recipe.train.epochs * WIDER_TRAIN_IMAGES / ips / 3600, 2),
        "last_loss": round(float(loss[0]), 4),
        "runtime": trainer.runtime_facts(),
    }


def measure_latency(o: CheckOptions) -> dict[str, Any]:
    """Model latency through PyTorch (eager and CUDA-graph replay, fp32/fp16, each batch size) and through
    onnxruntime's CUDA / TensorRT execution providers when those are installed."""
    import torch

    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel

    device = torch.device(o.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    base, _ = load_checkpoint()
    rows: list[dict[str, Any]] = []
    for dtype_name in o.latency_dtypes:
        dtype = torch.float16 if dtype_name == "fp16" else torch.float32
        model = InferenceModel(base).to(device=device, dtype=dtype).eval()
        for batch in o.latency_batches:
            x = torch.rand(batch, 3, o.size, o.size, device=device, dtype=dtype) * 255 - 110
            modes: list[tuple[str, Callable[[], Any] | None, str | None]] = [
                ("eager", functools.partial(model, x), None)
            ]
            if device.type == "cuda":
                modes.append(("cuda_graph", _graph_replay(model, x), None))
            else:
                modes.append(("cuda_graph", None, "needs CUDA"))
            for mode, fn, why in modes:
                row = {"runtime": "torch", "dtype": dtype_name, "batch": batch, "mode": mode}
                if fn is None:
                    rows.append({**row, "skipped": why})
                    continue
                ms = _time_calls(fn, device, o.latency_iters, o.latency_repeats)
                rows.append(
                    {
                        **row,
                        "ms_per_call": round(ms, 3),
                        "ms_per_image": round(ms / batch, 4),
                        "images_per_s": round(1000 * batch / ms, 1),
                    }
                )
    return {"size": o.size, "torch": rows, "onnxruntime": _onnxruntime_latency(o)}


def _graph_replay(model: Any, x: Any) -> Callable[[], Any]:
    """Capture one forward pass as a CUDA graph (warm-up on a side stream, as torch documents); the returned call
    copies a new input into the captured buffer and replays."""
    import torch

    static = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(stream):
        for _ in range(3):
            model(static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        model(static)

    def replay() -> None:
        static.copy_(x)
        graph.replay()

    return replay


def _time_calls(fn: Callable[[], Any], device: Any, iters: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean milliseconds per call over ``iters`` back-to-back calls."""
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        for _ in range(max(3, iters // 5)):
            fn()
        sync()
        means = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(iters):
                fn()
            sync()
            means.append(1000 * (time.perf_counter() - start) / iters)
    return statistics.median(means)


def _onnxruntime_latency(o: CheckOptions) -> list[dict[str, Any]]:
    """The bundled fixed-size ONNX file through the SDK's onnxruntime backend on each GPU provider that is there."""
    rows: list[dict[str, Any]] = []
    try:
        import onnxruntime as ort
    except ImportError:
        return [{"provider": p, "status": "not installed (onnxruntime missing)"} for p in ("cuda", "tensorrt")]
    available = ort.get_available_providers()
    for device, provider in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")):
        if provider not in available:
            rows.append(
                {
                    "provider": device,
                    "status": f"not installed (onnxruntime {ort.__version__} providers: {', '.join(available)})",
                }
            )
            continue
        import numpy as np

        from edge_sdk import FaceDetector

        detector = FaceDetector(backend="onnxruntime", device=device, input_size=640)
        tensor = np.zeros((1, 3, 640, 640), np.float32)
        for _ in range(10):
            detector.run_backend(tensor)
        times = []
        for _ in range(max(20, o.latency_iters)):
            start = time.perf_counter()
            detector.run_backend(tensor)
            times.append(1000 * (time.perf_counter() - start))
        rows.append(
            {
                "provider": device,
                "status": "ok",
                "batch": 1,
                "size": 640,
                "ms_per_call": round(statistics.median(times), 3),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------ environment


def environment(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "requested_device": device,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            info["gpu_multiprocessors"] = props.multi_processor_count
            info["nccl"] = ".".join(map(str, torch.cuda.nccl.version())) if hasattr(torch.cuda, "nccl") else None
    except Exception as exc:  # recorded, not fatal: the phases report their own failures
        info["torch_error"] = f"{type(exc).__name__}: {exc}"
    smi = shutil.which("nvidia-smi")
    if smi:
        query = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        info["nvidia_smi"] = query.stdout.strip() or query.stderr.strip()
    for name in ("onnxruntime", "onnx", "numpy", "cv2"):
        try:
            info[name] = __import__(name).__version__
        except Exception:
            info[name] = None
    return info


# ------------------------------------------------------------------------------------------------ the check


def run_check(data_root: Path, out: Path, work: Path, o: CheckOptions, only: list[str] | None = None) -> dict[str, Any]:
    """All phases in order (or ``only`` those named); returns the report, written after every phase."""
    data_root, out, work = Path(data_root), Path(out), Path(work)
    if not (data_root / TRAIN_ANNOTATIONS).is_file():
        raise FileNotFoundError(
            f"{data_root / TRAIN_ANNOTATIONS} missing: fill the folder with "
            f"`python -m benchmarks.gpu_check subset --data-root ../shared/data --out {data_root}`"
        )
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    bodies = {
        "train_scratch_amp": phase_scratch(o, data_root, work),
        "train_step_ceiling": phase_ceiling(o, data_root, work),
        "torchrun_resume": phase_ddp(o, data_root, work),
        "finetune_export_onnx": phase_finetune_export(o, data_root, work),
        "latency": phase_latency(o, work),
    }
    unknown = sorted(set(only or ()) - set(bodies))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; known: {', '.join(bodies)}")
    report: dict[str, Any] = {
        "kind": "edge_sdk.gpu_check/1",
        "started_utc": started,
        "seconds": 0.0,
        "options": asdict(o),
        "data": {
            "train_images": sum(1 for _ in (data_root / "widerface" / "WIDER_train").rglob("*.jpg")),
            "val_images": sum(1 for _ in (data_root / "widerface" / "WIDER_val").rglob("*.jpg")),
        },
        "environment": environment(o.device),
        "phases": [],
        "ok": False,
    }
    for name, body in bodies.items():
        if only and name not in only:
            continue
        report["phases"].append(asdict(_phase(name, work, body)))
        report["seconds"] = round(time.perf_counter() - t0, 1)
        report["ok"] = all(p["status"] == "ok" for p in report["phases"])
        _write_report(report, out, work)  # after every phase: a run cut short still leaves its figures
    return report


def _write_report(report: dict[str, Any], out: Path, work: Path) -> None:
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu_check.md").write_text(render_markdown(report))
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for log in (work / "logs").glob("*.log"):
        shutil.copyfile(log, logs / log.name)


# ------------------------------------------------------------------------------------------------ Markdown


def render_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    phases = {p["name"]: p for p in report["phases"]}
    o = report["options"]
    gpu = env.get("nvidia_smi") or env.get("gpu") or "no GPU"
    lines = [
        f"Run {report['started_utc']} in {report['seconds']} s with `python -m benchmarks.gpu_check run` "
        f"(device `{o['device']}`, {report['data']['train_images']} WIDER train images carried, "
        f"{o['size']} px, global batch {o['batch']}).",
        "",
        f"- Machine: {gpu}; {env.get('cpu_count')} CPU cores; torch {env.get('torch')} (CUDA {env.get('torch_cuda')}, "
        f"cuDNN {env.get('cudnn')}, NCCL {env.get('nccl')}); onnxruntime {env.get('onnxruntime')}; "
        f"Python {env.get('python')}.",
        "",
        "| phase | status | seconds | what it showed |",
        "|---|---|---|---|",
    ]
    for p in report["phases"]:
        lines.append(f"| {p['name']} | {p['status']} | {p['seconds']} | {_phase_summary(p)} |")
    scratch = phases.get("train_scratch_amp", {}).get("figures") or {}
    ceiling = phases.get("train_step_ceiling", {}).get("figures") or {}
    if scratch or ceiling:
        lines += [
            "",
            "Training speed (`widerface_mnet025`, from scratch, AMP):",
            "",
            "| measured as | images/s | one WIDER epoch (12,880 images) | full recipe (250 epochs) |",
            "|---|---|---|---|",
        ]
        if scratch:
            lines.append(
                f"| end to end (data loader with {o['num_workers']} workers, augmentation on the CPU) | "
                f"{scratch['images_per_s']} | {scratch['wider_epoch_min']} min | "
                f"{scratch['full_recipe_hours']} h |"
            )
        if ceiling:
            lines.append(
                f"| GPU step only (one batch in memory, `Trainer.train_step`) | {ceiling['images_per_s']} | "
                f"{ceiling['wider_epoch_min']} min | {ceiling['full_recipe_hours']} h |"
            )
    if scratch and ceiling:
        lines += [
            "",
            f"- The end-to-end rate is {ceiling['images_per_s'] / scratch['images_per_s']:.1f}x below the "
            "GPU step alone: a run of this recipe is bound by the data loader (decode, crop, photometric "
            "jitter and anchor matching on the CPU workers), so more workers or GPU-side augmentation pay "
            "before any GPU tuning does.",
        ]
    latency = phases.get("latency", {}).get("figures") or {}
    if latency.get("torch"):
        lines += [
            "",
            f"Model latency at {latency['size']}x{latency['size']} (raw heads + softmax, no decoding), "
            "mean ms per call (median of repeats):",
            "",
            "| runtime | dtype | batch | eager ms | CUDA graph ms | graph images/s |",
            "|---|---|---|---|---|---|",
        ]
        by_key: dict[tuple[str, int], dict[str, Any]] = {}
        for row in latency["torch"]:
            by_key.setdefault((row["dtype"], row["batch"]), {})[row["mode"]] = row
        for (dtype, batch), modes in by_key.items():
            eager, graph = modes.get("eager", {}), modes.get("cuda_graph", {})
            lines.append(
                f"| torch | {dtype} | {batch} | {eager.get('ms_per_call', eager.get('skipped', '—'))} | "
                f"{graph.get('ms_per_call', graph.get('skipped', '—'))} | {graph.get('images_per_s', '—')} |"
            )
        for row in latency.get("onnxruntime", []):
            lines.append(
                f"| onnxruntime {row['provider']} | fp32 | 1 | {row.get('ms_per_call', row['status'])} | — | — |"
            )
        lines += _latency_notes(by_key)
    if report.get("provenance"):
        lines += ["", "How these figures were obtained:", "", *[f"- {line}" for line in report["provenance"]]]
    failed = [p for p in report["phases"] if p["status"] != "ok"]
    for p in failed:
        lines += ["", f"`{p['name']}` failed: {p['error']}", "", "```", *p["log_tail"][-12:], "```"]
    return "\n".join(lines) + "\n"


def _latency_notes(by_key: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    """Ratios read off the latency rows: what CUDA graphs and fp16 buy."""
    notes = []
    one = by_key.get(("fp32", 1), {})
    if "ms_per_call" in one.get("eager", {}) and "ms_per_call" in one.get("cuda_graph", {}):
        notes.append(
            f"- Batch 1, fp32: CUDA-graph replay is "
            f"{one['eager']['ms_per_call'] / one['cuda_graph']['ms_per_call']:.1f}x "
            "faster than eager — a network this small is bound by kernel launches, not by the GPU's "
            "arithmetic, so a GPU deployment should replay a captured graph (or use TensorRT)."
        )
    largest = max((b for (_, b) in by_key), default=None)
    f32, f16 = by_key.get(("fp32", largest), {}), by_key.get(("fp16", largest), {})
    if "ms_per_call" in f32.get("cuda_graph", {}) and "ms_per_call" in f16.get("cuda_graph", {}):
        notes.append(
            f"- Batch {largest}: fp16 is {f32['cuda_graph']['ms_per_call'] / f16['cuda_graph']['ms_per_call']:.2f}x "
            "fp32 (graph replay); at small batches the two are level."
        )
    return ["", *notes] if notes else []


def _phase_summary(p: dict[str, Any]) -> str:
    f = p.get("figures") or {}
    if p["status"] != "ok":
        return (p.get("error") or "").replace("|", "/")
    rt = f.get("runtime", {})
    if p["name"] == "train_scratch_amp":
        return (
            f"{f['steps']} steps, loss {f['loss_first_window']} → {f['loss_last_window']}, {f['images_per_s']} "
            f"images/s, AMP {rt.get('amp')}, peak GPU memory {rt.get('max_memory_allocated_mb', '—')} MB"
        )
    if p["name"] == "train_step_ceiling":
        return f"{f['step_ms']} ms per step of {f['batch']} images ({f['images_per_s']} images/s)"
    if p["name"] == "torchrun_resume":
        return (
            f"process group {rt.get('process_group')}, {rt.get('sync_bn_layers')} SyncBatchNorm layers; stopped "
            f"at step {f['stopped_at_step']}, resumed to {f['resumed_to_step']}"
        )
    if p["name"] == "finetune_export_onnx":
        ev = f.get("evals") or []
        aps = " → ".join(f"Hard {e.get('ap_hard', float('nan')):.3f}" for e in ev)
        return f"{f['steps']} steps, eval {aps or '—'}; exported {', '.join(f['exported_files'])}"
    if p["name"] == "latency":
        return f"{len(f.get('torch', []))} torch rows, onnxruntime: " + "; ".join(
            f"{r['provider']} {r['status']}" for r in f.get("onnxruntime", [])
        )
    return ""


# ------------------------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("subset", help="copy the small data subset the GPU machine receives")
    s.add_argument("--data-root", type=Path, default=Path(os.environ.get("EDGE_SDK_DATA", "../shared/data")))
    s.add_argument("--out", type=Path, default=Path(".gpu_data"))
    s.add_argument("--train-images", type=int, default=224)
    s.add_argument("--val-images", type=int, default=24)
    r = sub.add_parser("run", help="run the check")
    r.add_argument("--data-root", type=Path, default=Path(".gpu_data"))
    r.add_argument("--out", type=Path, default=Path("out/gpu_check"))
    r.add_argument("--work", type=Path, default=None, help="scratch folder (default: OUT/work)")
    r.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    r.add_argument("--tiny", action="store_true", help="the CPU dry-run sizes (a few steps at 128 px)")
    r.add_argument("--phases", default=None, help="comma-separated subset of the phases (default: all)")
    d = sub.add_parser("render", help="re-render the Markdown from a saved gpu_check.json (and splice it into --doc)")
    d.add_argument("--json", type=Path, required=True)
    d.add_argument("--doc", type=Path, action="append", default=[])
    for hidden in ("_ceiling", "_latency"):
        h = sub.add_parser(hidden)
        h.add_argument("--data-root", type=Path, default=None)
        h.add_argument("--work", type=Path, default=None)
        h.add_argument("--device", default="cuda")
        h.add_argument("--json", type=Path, required=True)
        h.add_argument("--options", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "subset":
        counts = make_subset(args.data_root, args.out, args.train_images, args.val_images)
        print(f"wrote {args.out}: {counts}")
        return 0
    if args.command == "run":
        options = CheckOptions.tiny(args.device) if args.tiny else CheckOptions.full(args.device)
        only = [p.strip() for p in args.phases.split(",") if p.strip()] if args.phases else None
        report = run_check(args.data_root, args.out, args.work or args.out / "work", options, only)
        print((args.out / "gpu_check.md").read_text())
        return 0 if report["ok"] else 1
    if args.command == "render":
        report = json.loads(args.json.read_text())
        section = render_markdown(report)
        for doc in args.doc:
            splice(doc, "gpu-check", section)
            print(f"updated {doc}")
        if not args.doc:
            print(section)
        return 0
    options = CheckOptions(**json.loads(args.options))
    if args.command == "_ceiling":
        result = measure_ceiling(args.data_root, args.work, options)
    else:
        result = measure_latency(options)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
