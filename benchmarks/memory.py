"""Memory benchmarks.

Process-level peak memory: each configuration loaded and run in a fresh Python process of its own, whose peak
resident set (``VmHWM``) is what a deployment running only that detector needs. In-process figures (RSS growth at
load, working-set peak during calls) are kept too, but a shared process blurs them: a runtime library loaded by one
detector is free for the next.

Long streams of changing frame sizes (:func:`stream_memory`): a dynamic-shape detector (``input_size=None``) on
thousands of frames of nearly all different sizes, each backend in a fresh process; RSS after load, after the first
10 % of the frames and at the end, and the total time against ONNX Runtime on the same frames. OpenVINO runs twice:
as shipped (inputs padded to bucket shapes, ``OpenVinoBackend.shape_multiple``) and with every frame at its own
shape (``shape_multiple = None``, how it ran before). Command::

    python -m benchmarks.memory stream --frames 3000 --max-sides 360,720 --doc docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .doc_sections import splice
from .subjects import SkipSubject, SubjectSpec, build_subject
from .system import peak_rss_mb, rss_mb

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = "_memory"  # hidden CLI subcommand


def worker(spec: SubjectSpec, image_paths: Sequence[Path], calls: int = 2) -> dict[str, Any]:
    """Runs inside the fresh process: load one subject, run it ``calls`` times on each image, report memory (MB)."""
    from .latency import read_images

    images = read_images(image_paths)
    baseline = rss_mb()
    try:
        subject = build_subject(spec)
    except SkipSubject as exc:
        return {"error": str(exc)}
    loaded = rss_mb()
    subject.activate()
    for _ in range(calls):
        for image in images:
            subject.detect(image)
    return {"baseline_mb": baseline, "loaded_mb": loaded, "process_peak_mb": peak_rss_mb()}


def isolated(spec: SubjectSpec, image_paths: Sequence[Path], timeout: float = 300.0) -> dict[str, Any]:
    """Run :func:`worker` in a new interpreter; ``{"error": ...}`` instead of raising when it fails."""
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        WORKER,
        "--spec",
        json.dumps(spec.to_dict()),
        *[str(p) for p in image_paths],
    ]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    result = json.loads(lines[-1])
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()}


def memory_specs(specs: Sequence[SubjectSpec]) -> dict[str, SubjectSpec]:
    """One spec per configuration ignoring threads (the most threads of each): memory hardly depends on them."""
    chosen: dict[str, SubjectSpec] = {}
    for spec in specs:
        group = spec.key.rsplit("/", 1)[0]
        if group not in chosen or (spec.threads or 0) > (chosen[group].threads or 0):
            chosen[group] = spec
    return chosen


# ------------------------------------------------------------------------------ long streams of changing frame sizes

STREAM_WORKER = "_stream"
MIN_SIDE = 40
# (label, backend, OpenVinoBackend.shape_multiple: "shipped" keeps the backend's own setting)
STREAM_CASES = (
    ("onnxruntime", "onnxruntime", "shipped"),
    ("openvino, every frame at its own shape (before)", "openvino", None),
    ("openvino, padded to buckets (now)", "openvino", "shipped"),
)


def stream_sizes(frames: int, max_side: int, seed: int = 0) -> list[tuple[int, int]]:
    """``frames`` (height, width) pairs drawn uniformly from [40, ``max_side``): nearly every frame a new size."""
    import numpy as np

    return [(int(h), int(w)) for h, w in np.random.default_rng(seed).integers(MIN_SIDE, max_side, (frames, 2))]


def stream_worker(
    backend: str, frames: int, max_side: int, shape_multiple: object = "shipped", threads: int = 2
) -> dict[str, Any]:
    """Runs inside a fresh process: one detector at ``input_size=None`` over the stream; RSS (MB) and seconds."""
    import numpy as np

    from edge_sdk import FaceDetector

    if shape_multiple != "shipped":
        from edge_sdk.backends.openvino_backend import OpenVinoBackend

        OpenVinoBackend.shape_multiple = shape_multiple  # type: ignore[assignment]
    sizes = stream_sizes(frames, max_side)
    base = np.random.default_rng(1).integers(0, 256, (max_side, max_side, 3), dtype=np.uint8)
    baseline = rss_mb()
    detector = FaceDetector(backend=backend, input_size=None, score_threshold=0.3, threads=threads)
    loaded = rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    early = None
    for index, (height, width) in enumerate(sizes):
        detector.detect(base[:height, :width])
        if index + 1 == max(1, frames // 10):
            early = rss_mb()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "baseline_mb": baseline,
        "loaded_mb": loaded,
        "after_10pct_mb": early,
        "end_mb": rss_mb(),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "file": detector.model_file.path.name,
        "shape_multiple": detector.backend.describe().get("shape_multiple"),
    }


def _stream_isolated(
    backend: str, frames: int, max_side: int, shape_multiple: object, threads: int, timeout: float
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        STREAM_WORKER,
        "--backend",
        backend,
        "--frames",
        str(frames),
        "--max-side",
        str(max_side),
        "--shape-multiple",
        str(shape_multiple),
        "--threads",
        str(threads),
    ]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def shapes_of_stream(sizes: Sequence[tuple[int, int]], buckets: bool, stride: int = 32) -> tuple[int, int | None]:
    """(distinct input shapes a dynamic-shape model sees over ``sizes``, the bucket multiple at the end): the
    letterbox pads to a multiple of the largest stride; with ``buckets``, the OpenVINO backend's
    :class:`~edge_sdk.backends.shapes.ShapeBuckets` (deterministic, so replayed here) pads further."""
    from edge_sdk.backends.openvino_backend import CPU_SHAPE_CACHE
    from edge_sdk.backends.shapes import SHAPE_MULTIPLE, ShapeBuckets

    replay = ShapeBuckets(SHAPE_MULTIPLE, CPU_SHAPE_CACHE) if buckets else None
    shapes = set()
    for height, width in sizes:
        shape = (math.ceil(height / stride) * stride, math.ceil(width / stride) * stride)
        shapes.add(replay.shape_for(*shape) if replay else shape)
    return len(shapes), replay.multiple if replay else None


def stream_memory(
    frames: int = 3000, max_sides: Sequence[int] = (360,), threads: int = 2, timeout: float = 1800.0
) -> dict[str, Any]:
    """Every case of :data:`STREAM_CASES` on the same stream, per maximum frame side, each in a fresh process."""
    runs = []
    for max_side in max_sides:
        sizes = stream_sizes(frames, max_side)
        for label, backend, multiple in STREAM_CASES:
            log.info("stream: %s, %d frames of %d-%d px", label, frames, MIN_SIDE, max_side)
            result = _stream_isolated(backend, frames, max_side, multiple, threads, timeout)
            result["shapes"], _ = shapes_of_stream(sizes, backend == "openvino" and multiple == "shipped")
            runs.append(
                {
                    "label": label,
                    "backend": backend,
                    "max_side": max_side,
                    "frames": frames,
                    "distinct_sizes": len(set(sizes)),
                    **result,
                }
            )
    return {"frames": frames, "threads": threads, "created": time.strftime("%Y-%m-%d"), "runs": runs}


def render_markdown(report: dict[str, Any]) -> str:
    """The stream-memory section (the name :mod:`benchmarks.doc_sections` renders saved results by)."""
    return render_stream_section(report)


def render_stream_section(report: dict[str, Any]) -> str:
    """The Markdown section (without the markers) for the figures of :func:`stream_memory`."""
    sides = sorted({r["max_side"] for r in report["runs"]})
    lines = [
        f"A dynamic-shape detector (`input_size=None`, {report['threads']} threads) on {report['frames']} frames of "
        f"random sizes (each side uniform from {MIN_SIDE} px to the maximum below, nearly every frame a new size), "
        "each backend in a fresh process; RSS after load, after the first 10 % of the frames and at the end. "
        "OpenVINO pads dynamic inputs up to a multiple of 128 and crops the outputs back "
        "(`edge_sdk/backends/shapes.py`; coarser, 256 then 512, when a stream keeps using more than the 16 shapes its "
        'CPU plugin caches), so the plugin sees a few shapes instead of one per frame; the "before" rows run every '
        "frame at its own shape. The machine is shared and its load changes between runs: the CPU-time ratio is the "
        "steadier figure. Generated by `python -m benchmarks.memory stream "
        f"--frames {report['frames']} --max-sides {','.join(str(s) for s in sides)} --doc docs/BENCHMARKS.md` on "
        f"{report['created']}.",
        "",
        "| frames up to | backend | input shapes the model saw | RSS loaded → 10 % → end (MB) | "
        "growth after 10 % | total s (CPU s) | vs onnxruntime: time (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for max_side in sides:
        runs = [r for r in report["runs"] if r["max_side"] == max_side]
        ort = next((r for r in runs if r["backend"] == "onnxruntime" and "error" not in r), None)
        for r in runs:
            if "error" in r:
                lines.append(f"| {max_side} px | {r['label']} | – | {r['error']} | – | – | – |")
                continue
            ratio = "–"
            if ort:
                ratio = f"{r['seconds'] / ort['seconds']:.2f}x ({r['cpu_seconds'] / ort['cpu_seconds']:.2f}x)"
            shapes = str(r["shapes"])
            if r.get("shape_multiple"):
                shapes += f" (buckets of {r['shape_multiple']} px at the end)"
            lines.append(
                f"| {max_side} px | {r['label']} | {shapes} | {r['loaded_mb']:.0f} → {r['after_10pct_mb']:.0f} → "
                f"{r['end_mb']:.0f} | {r['end_mb'] - r['after_10pct_mb']:+.0f} MB | {r['seconds']:.1f} "
                f"({r['cpu_seconds']:.1f}) | {ratio} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    stream = sub.add_parser("stream", help="memory and time over a long stream of changing frame sizes")
    stream.add_argument("--frames", type=int, default=3000)
    stream.add_argument("--max-sides", default="360", help="comma-separated maximum frame sides, one stream each")
    stream.add_argument("--threads", type=int, default=2)
    stream.add_argument("--json", type=Path, default=Path("docs/benchmarks/stream_memory.json"))
    stream.add_argument("--doc", type=Path, default=None, help="write the section into this page (between markers)")
    stream.add_argument("--render-only", action="store_true", help="re-render --json (its shape counts recomputed)")
    worker_parser = sub.add_parser(STREAM_WORKER, help=argparse.SUPPRESS)
    worker_parser.add_argument("--backend", required=True)
    worker_parser.add_argument("--frames", type=int, required=True)
    worker_parser.add_argument("--max-side", type=int, required=True)
    worker_parser.add_argument("--shape-multiple", default="shipped")
    worker_parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == STREAM_WORKER:
        text = args.shape_multiple
        multiple = text if text == "shipped" else None if text == "None" else int(text)
        print(json.dumps(stream_worker(args.backend, args.frames, args.max_side, multiple, args.threads)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.render_only:
        report = json.loads(args.json.read_text(encoding="utf-8"))
        for run in report["runs"]:
            shipped = run["backend"] == "openvino" and "before" not in run["label"]
            run["shapes"], _ = shapes_of_stream(stream_sizes(run["frames"], run["max_side"]), shipped)
    else:
        report = stream_memory(args.frames, [int(s) for s in args.max_sides.split(",")], args.threads)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    section = render_stream_section(report)
    print(section)
    if args.doc is not None:
        splice(args.doc, "stream-memory", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
