"""fp32 vs PTQ int8 vs QAT int8 on every backend: WIDER FACE AP, latency at 640 (1 and 2 threads), model size.

    python -m benchmarks.quantization --model out/quant --data-root ../shared/data --out docs/QUANTIZATION.md

``--model`` is a model directory holding fp32 files plus the ``int8`` (QAT) and ``int8-ptq`` (baseline) files that
``python -m training.qat --model-dir DIR`` adds. Latency is the bare backend call (``Backend.run``) on the same
letterboxed WIDER image, interleaved over configurations so machine drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BACKENDS = ("onnxruntime", "openvino", "tflite")
PRECISIONS = ("fp32", "int8-ptq", "int8")
PRECISION_LABELS = {"fp32": "fp32", "int8-ptq": "int8 PTQ", "int8": "int8 QAT"}


def _configs(model: Path) -> list[tuple[str, str, Any]]:
    from edge_sdk.backends import BACKENDS as SPECS
    from edge_sdk.manifest import load_manifest

    manifest = load_manifest(model)
    out = []
    for backend in BACKENDS:
        for precision in PRECISIONS:
            chosen = manifest.select(SPECS[backend].formats, precision, (640, 640))
            if chosen is not None:
                out.append((backend, precision, chosen))
    return out


def _latency(model: Path, configs, image: np.ndarray, runs: int, threads: tuple[int, ...]) -> dict[tuple, float]:
    from edge_sdk import FaceDetector

    detectors = {(b, p, t): FaceDetector(model=model, backend=b, precision=p, input_size=640, threads=t)
                 for b, p, _ in configs for t in threads}
    tensors = {key: det.preprocess(image)[0] for key, det in detectors.items()}
    samples: dict[tuple, list[float]] = {key: [] for key in detectors}
    for key, det in detectors.items():  # warm-up
        for _ in range(3):
            det.run_backend(tensors[key])
    for _ in range(runs):  # interleaved rounds
        for key, det in detectors.items():
            start = time.perf_counter()
            det.run_backend(tensors[key])
            samples[key].append((time.perf_counter() - start) * 1000)
    return {key: statistics.median(v) for key, v in samples.items()}


def _accuracy(model: Path, backend: str, precision: str, root: Path, scale: int | None) -> dict[str, float]:
    from evaluation.detectors import run_detector, sdk_detector
    from evaluation.widerface import evaluate_widerface, image_path, list_widerface_images, load_widerface_gt

    gt = load_widerface_gt(root)
    keys = list_widerface_images(root, gt=gt)
    detector = sdk_detector(model=model, backend=backend, precision=precision, input_size=scale)
    predictions, _, _ = run_detector(detector, {k: image_path(root, k) for k in keys}, progress=False)
    return evaluate_widerface(predictions, gt, images=keys).ap | {"images": len(keys)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quantization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("docs/QUANTIZATION.md"))
    parser.add_argument("--json", type=Path, default=Path("out/quantization.json"))
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)

    configs = _configs(args.model)
    root = args.data_root / "widerface"
    image = cv2.imread(str(sorted((root / "WIDER_val" / "images").glob("0--Parade/*.jpg"))[0]))
    latency = _latency(args.model, configs, image, args.runs, (1, 2))
    rows = []
    for backend, precision, model_file in configs:
        print(f"{backend} {precision}: accuracy at 640", flush=True)
        ap640 = _accuracy(args.model, backend, precision, root, 640)
        rows.append({
            "backend": backend, "precision": precision, "file": model_file.path.name,
            "bytes": model_file.path.stat().st_size + sum(p.stat().st_size for p in model_file.extra_files),
            "ap_640": ap640, "latency_ms": {"1": latency[(backend, precision, 1)], "2": latency[(backend, precision, 2)]},
        })
    fp32_original = {}
    for backend in ("onnxruntime", "openvino"):
        print(f"{backend} fp32: accuracy at original size", flush=True)
        fp32_original[backend] = _accuracy(args.model, backend, "fp32", root, None)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "fp32_original": fp32_original}, indent=1))
    args.out.write_text(render(rows, fp32_original), encoding="utf-8")
    print(f"wrote {args.out}, {args.json}")
    return 0


def render(rows: list[dict], fp32_original: dict[str, dict]) -> str:
    images = rows[0]["ap_640"]["images"]
    lines = [
        "# Quantization: fp32 vs int8 (PTQ baseline) vs int8 (QAT)",
        "",
        f"Generated {_dt.date.today().isoformat()} ({platform.machine()}, Python {platform.python_version()}) by",
        "`python -m benchmarks.quantization --model out/quant --data-root ../shared/data --out docs/QUANTIZATION.md`",
        "after `python -m export --formats onnx,openvino,tflite --sizes 640,dynamic --out out/quant` and",
        "`python -m training.qat --model-dir out/quant --steps 150` (QAT files + PTQ baselines; bundled with `--bundle-into edge_sdk/models/retinaface_mnet025`).",
        "",
        f"WIDER FACE val: {images} images (all 61 events), official protocol, score threshold 0.02, 640 letterbox.",
        "Latency: median bare backend call at 640x640 (interleaved rounds, same input); the machine is a shared",
        "2-core VM, so compare within a column.",
        "",
        "| backend | precision | Easy AP | Medium AP | Hard AP | ms, 1 thread | ms, 2 threads | size MB | file |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ap = r["ap_640"]
        lines.append(
            f"| {r['backend']} | {PRECISION_LABELS[r['precision']]} | {ap['easy']:.4f} | {ap['medium']:.4f} | "
            f"{ap['hard']:.4f} | {r['latency_ms']['1']:.1f} | {r['latency_ms']['2']:.1f} | {r['bytes'] / 1e6:.2f} | "
            f"`{r['file']}` |"
        )
    lines += ["", "Ratios within each backend (this run):", ""]
    by_key = {(r["backend"], r["precision"]): r for r in rows}
    for backend in BACKENDS:
        fp32, qat, ptq = (by_key.get((backend, p)) for p in ("fp32", "int8", "int8-ptq"))
        if not (fp32 and qat):
            continue
        speed = " / ".join(f"{fp32['latency_ms'][t] / qat['latency_ms'][t]:.2f}x ({t} thr)" for t in ("1", "2"))
        delta = " / ".join(f"{100 * (qat['ap_640'][s] - fp32['ap_640'][s]):+.2f}" for s in ("easy", "medium", "hard"))
        line = f"- {backend}: QAT int8 speed-up over fp32 {speed}; AP change vs fp32 (E/M/H, points) {delta}"
        if ptq:
            line += f"; QAT - PTQ on Hard {100 * (qat['ap_640']['hard'] - ptq['ap_640']['hard']):+.2f} points"
        lines.append(line)
    lines += ["", "fp32 at original size (dynamic-shape files; the int8 files are fixed 640x640):", ""]
    for backend, ap in fp32_original.items():
        lines.append(f"- {backend} fp32: Easy {ap['easy']:.4f}, Medium {ap['medium']:.4f}, Hard {ap['hard']:.4f}")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
