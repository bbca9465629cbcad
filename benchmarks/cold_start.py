"""Cold start per backend, each in a fresh Python process: ``import edge_sdk``, model load (choose + verify sha256 +
runtime load), the self-check inference, and the first ``detect()`` — with the self-check's result not yet cached
(first start on a machine) and cached (every later start; see ``FaceDetector._self_check_once``).

    python -m benchmarks.cold_start --out out/cold_start [--runs 5] [--doc docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .doc_sections import save_and_publish

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import edge_sdk
t1 = time.perf_counter()
import cv2
image = cv2.imread("samples/astronaut.png")
detector = edge_sdk.FaceDetector(backend=sys.argv[1], precision=sys.argv[2])
t2 = time.perf_counter()
faces = detector.detect(image)
t3 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "construct_ms": (t2 - t1) * 1000, "first_detect_ms": (t3 - t2) * 1000,
                  "faces": len(faces), **detector.load_timings}))
"""


def probe(backend: str, precision: str, cache: Path, repo: Path) -> dict[str, float]:
    env = {**os.environ, "EDGE_SDK_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, backend, precision],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{backend} {precision}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(backends: list[str], precisions: list[str], runs: int, repo: Path) -> dict[str, Any]:
    rows = []
    for backend in backends:
        for precision in precisions:
            samples: dict[str, list[dict[str, float]]] = {"uncached": [], "cached": []}
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as cache:
                    samples["uncached"].append(probe(backend, precision, Path(cache), repo))
                    samples["cached"].append(probe(backend, precision, Path(cache), repo))
            for state, values in samples.items():
                median = {
                    k: round(statistics.median(v[k] for v in values), 1)
                    for k in ("import_ms", "load_ms", "self_check_ms", "first_detect_ms")
                }
                total = round(
                    median["import_ms"] + median["load_ms"] + median["self_check_ms"] + median["first_detect_ms"], 1
                )
                rows.append(
                    {
                        "backend": backend,
                        "precision": precision,
                        "self_check": state,
                        **median,
                        "total_ms": total,
                        "faces": values[0]["faces"],
                        "runs": runs,
                    }
                )
    return {"python": sys.version.split()[0], "rows": rows}


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        "Each row: the median of fresh Python processes (astronaut.png, 640x640); the self-check is the one "
        "inference at load that proves outputs and manifest agree — its pass is remembered per model file, "
        "manifest, backend, runtime version and input size, so only a machine's first start pays it.",
        "",
        "| backend | precision | self-check | import ms | load ms | self-check ms | first detect ms | total ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['precision']} | {r['self_check']} | {r['import_ms']} | {r['load_ms']} | "
            f"{r['self_check_ms']} | {r['first_detect_ms']} | **{r['total_ms']}** |"
        )
    lines += ["", "Regenerate: `python -m benchmarks.cold_start --out out/cold_start --doc docs/BENCHMARKS.md`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cold_start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backends", default="tflite,openvino,onnxruntime")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--doc", type=Path, default=None)
    args = parser.parse_args(argv)
    from edge_sdk import available_backends

    backends = [b for b in args.backends.split(",") if b in available_backends()]
    result = run(backends, args.precisions.split(","), args.runs, Path.cwd())
    print(save_and_publish("cold-start", result, args.out, args.doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
