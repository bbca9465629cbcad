"""Does ``backend="auto"`` pick what is really fastest here? One run: ``detect()`` per installed backend, interleaved
rounds, in this process; then, in fresh processes, ``edge-sdk tune`` and ``FaceDetector(backend="auto")`` with that
cache; both answers side by side, per precision.

    python -m benchmarks.auto_pick --out out/auto_pick [--rounds 40] [--doc docs/BENCHMARKS.md] [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .doc_sections import save_and_publish, splice

_AUTO_PROBE = "import edge_sdk, sys; print(edge_sdk.FaceDetector(precision=sys.argv[1]).backend_name)"


def measure(precision: str, rounds: int) -> dict[str, float]:
    """Median ``detect()`` ms per installed backend at 640x640, interleaved rounds (drift hits all alike)."""
    from edge_sdk import FaceDetector, available_backends
    from edge_sdk.errors import EdgeSDKError

    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    detectors = {}
    for name in available_backends():
        try:
            detectors[name] = FaceDetector(backend=name, precision=precision)  # threads: the runtime's default
        except EdgeSDKError:
            continue
        for _ in range(5):
            detectors[name].detect(frame)
    times: dict[str, list[float]] = {name: [] for name in detectors}
    for _ in range(rounds):
        for name, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(frame)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def auto_in_fresh_processes(precision: str) -> dict[str, Any]:
    """``edge-sdk tune``, then ``FaceDetector(backend="auto")`` reading its cache, each a fresh process; and auto
    with an empty cache (the static order)."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as empty:
        env = {**os.environ, "EDGE_SDK_CACHE_DIR": cache}
        tuned = subprocess.run(
            [sys.executable, "-m", "edge_sdk", "tune", "--precision", precision, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        picked = subprocess.run(
            [sys.executable, "-c", _AUTO_PROBE, precision], env=env, capture_output=True, text=True, timeout=300
        )
        static = subprocess.run(
            [sys.executable, "-c", _AUTO_PROBE, precision],
            env={**os.environ, "EDGE_SDK_CACHE_DIR": empty},
            capture_output=True,
            text=True,
            timeout=300,
        )
    tune = json.loads(tuned.stdout) if tuned.returncode == 0 else {"choice": None, "candidates": []}
    return {
        "tune_choice": tune["choice"],
        "tune_candidates": tune["candidates"],
        "auto_backend": picked.stdout.strip() or None,
        "static_backend": static.stdout.strip() or None,
    }


def run(precisions: list[str], rounds: int) -> dict[str, Any]:
    rows = []
    for precision in precisions:
        measured = measure(precision, rounds)
        auto = auto_in_fresh_processes(precision)
        fastest = min(measured, key=measured.get) if measured else None
        rows.append({"precision": precision, "measured_ms": measured, "fastest": fastest, **auto})
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "rounds": rounds,
        "load_average": load,
        "rows": rows,
    }


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"`detect()` at 640x640 on a 640x480 frame, default threads, median of {result['rounds']} "
        "interleaved rounds in one process; then, in fresh processes of the same run, `edge-sdk tune` and "
        f'`FaceDetector(backend="auto")` reading its cache (load average at the end {result["load_average"]}).',
        "",
        "| precision | measured here (ms) | fastest | `edge-sdk tune` picked | auto loads | auto without a "
        "tuned cache (static order) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        measured = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["measured_ms"].items(), key=lambda kv: kv[1]))
        lines.append(
            f"| {r['precision']} | {measured} | {r['fastest']} | {r['tune_choice']} | {r['auto_backend']} | "
            f"{r['static_backend']} |"
        )
    lines += ["", "Regenerate: `python -m benchmarks.auto_pick --out out/auto_pick --doc docs/BENCHMARKS.md`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.auto_pick", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--doc", type=Path, default=None, help="docs page: the section, and its JSON saved beside it")
    parser.add_argument("--readme", type=Path, default=None, help="also splice the section into this page (README)")
    args = parser.parse_args(argv)
    result = run(args.precisions.split(","), args.rounds)
    section = save_and_publish("auto-pick", result, args.out, args.doc)
    if args.readme:
        splice(args.readme, "auto-pick", section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
