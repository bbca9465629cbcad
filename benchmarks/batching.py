"""Throughput of ``FaceDetector.detect_batch`` at several batch sizes against one-by-one ``detect`` (batch 1),
per backend, precision and thread count, on real WIDER FACE val images at 640x640.

    python -m benchmarks.batching --data-root ../shared/data --out docs/BATCHING.md

Each configuration processes the same images end to end (decode excluded: images are read once up front;
letterbox, normalization, the model call, decoding and NMS included). Rounds are interleaved over every
(configuration, batch size) so machine drift hits all of them alike; the figure is the median images/s over rounds,
and each batch size is reported as a ratio to batch 1 of the same detector in the same run. Model files with a
fixed batch of one (TFLite, the int8 files) run their "batches" one by one: their ratios show the API adds no cost,
not a gain.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .system import load_average, machine_info

DEFAULT_BATCHES = (1, 2, 4, 8)
DEFAULT_CONFIGS = ("onnxruntime:fp32", "openvino:fp32", "tflite:fp32", "onnxruntime:int8", "openvino:int8")


@dataclass
class Config:
    backend: str
    precision: str
    threads: int

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}, {self.threads} thr"


def _parse_configs(text: str, threads: list[int]) -> list[Config]:
    configs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        backend, _, precision = item.partition(":")
        configs += [Config(backend, precision or "fp32", t) for t in threads]
    return configs


def _images(data_root: Path, count: int) -> list[np.ndarray]:
    import cv2

    from .runner import latency_images

    return [cv2.imread(str(p)) for p in latency_images(data_root, count)]


def _one_pass(detector: Any, images: list[np.ndarray], batch: int) -> float:
    """Seconds to detect every image, ``batch`` images per call (batch 1: plain ``detect``)."""
    start = time.perf_counter()
    if batch == 1:
        for image in images:
            detector.detect(image)
    else:
        for i in range(0, len(images), batch):
            detector.detect_batch(images[i : i + batch])
    return time.perf_counter() - start


def measure(
    configs: list[Config], images: list[np.ndarray], batches: tuple[int, ...], rounds: int, model: str | None = None
) -> list[dict[str, Any]]:
    from edge_sdk import FaceDetector

    detectors = {}
    for config in configs:
        detector = FaceDetector(
            model=model,
            backend=config.backend,
            precision=config.precision,
            input_size=640,
            threads=config.threads,
            score_threshold=0.5,
        )
        detectors[config.label] = (config, detector)
        for batch in batches:  # warm-up (OpenVINO compiles one static-shape model per batch size)
            _one_pass(detector, images[: max(batch, 2)], batch)
    samples: dict[tuple[str, int], list[float]] = {(label, b): [] for label in detectors for b in batches}
    for _ in range(rounds):
        for label, (_, detector) in detectors.items():
            for batch in batches:
                samples[(label, batch)].append(len(images) / _one_pass(detector, images, batch))
    rows = []
    for label, (config, detector) in detectors.items():
        base = statistics.median(samples[(label, 1)])
        for batch in batches:
            rate = statistics.median(samples[(label, batch)])
            rows.append(
                {
                    "backend": config.backend,
                    "precision": config.precision,
                    "threads": config.threads,
                    "file": detector.model_file.path.name,
                    "max_batch": detector.max_batch,
                    "batch": batch,
                    "images_per_s": rate,
                    "ms_per_image": 1000.0 / rate,
                    "vs_batch_1": rate / base,
                    "rounds": [round(v, 2) for v in samples[(label, batch)]],
                }
            )
    return rows


def render(report: dict[str, Any]) -> str:
    rows = report["rows"]
    batches = sorted({r["batch"] for r in rows})
    lines = [
        "# Batching: throughput of `detect_batch` vs one-by-one `detect`",
        "",
        f"Generated {report['date']} by `{report['command']}`",
        f"on {report['machine'].get('cpu', platform.machine())} "
        f"({report['machine'].get('logical_cores', '?')} logical CPUs), "
        f"load average before/after {report['load_before']} / {report['load_after']}.",
        "",
        f"{report['images']} WIDER FACE val images (spread over the events), 640x640 letterbox, end to end "
        "(preprocess +",
        f"model + decode + NMS), median images/s over {report['rounds']} interleaved rounds; `x` = ratio to batch 1 of",
        "the same detector in this run. `max batch` is what the model file takes (`any` = dynamic batch dimension;",
        "1 = the batch runs image by image).",
        "",
        "| backend | precision | threads | max batch | " + " | ".join(f"batch {b}" for b in batches) + " |",
        "|---|---|---|---|" + "---|" * len(batches),
    ]
    seen: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        seen.setdefault((r["backend"], r["precision"], r["threads"], r["max_batch"]), {})[r["batch"]] = r
    for (backend, precision, threads, max_batch), by_batch in seen.items():
        cells = [f"{by_batch[b]['images_per_s']:.1f}/s ({by_batch[b]['vs_batch_1']:.2f}x)" for b in batches]
        lines.append(
            f"| {backend} | {precision} | {threads} | {'any' if max_batch is None else max_batch} | "
            + " | ".join(cells)
            + " |"
        )
    best = max((r for r in rows if r["max_batch"] is None), key=lambda r: r["vs_batch_1"], default=None)
    lines += ["", "## Reading it", ""]
    if best is not None:
        lines.append(
            f"- Largest gain in this run: {best['backend']} {best['precision']} with {best['threads']} "
            f"thread(s) at batch {best['batch']}: {best['vs_batch_1']:.2f}x the images/s of batch 1."
        )
    lines += [
        "- A batch costs latency: every image of a batch waits for the whole batch. For live cameras keep batch 1 (or",
        "  use `every=N` frame skipping); batch offline video and folders (`stream(frames, batch_size=B)`,",
        "  `edge-sdk detect DIR --batch-size B`).",
        "- On a small CPU the model call already keeps the cores busy at batch 1, so batching gains little there, and",
        "  ratios below 1 mean it costs throughput (a batch's activations, 10+ MB per 640x640 image in fp32, outgrow",
        "  the caches). Accelerators (GPU, NPU) and many-core CPUs are where larger batches pay; none was available",
        "  for this run. Measure on the target with this command.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batching", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", default=None, help="model directory or name (default: the bundled model)")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="backend:precision,... to measure")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)), help="comma-separated batch sizes")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/BATCHING.md"))
    parser.add_argument("--json", type=Path, default=Path("out/batching.json"))
    args = parser.parse_args(argv)
    batches = tuple(sorted({1, *(int(b) for b in args.batches.split(","))}))
    configs = _parse_configs(args.configs, [int(t) for t in args.threads.split(",")])
    images = _images(args.data_root, args.images)
    load_before = load_average()
    rows = measure(configs, images, batches, args.rounds, args.model)
    report = {
        "date": _dt.date.today().isoformat(),
        "machine": machine_info(),
        "images": len(images),
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": load_average(),
        "rows": rows,
        "command": "python -m benchmarks.batching "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(report), encoding="utf-8")
    for r in rows:
        print(
            f"{r['backend']:12s} {r['precision']:5s} {r['threads']} thr batch {r['batch']}: "
            f"{r['images_per_s']:6.1f} img/s ({r['vs_batch_1']:.2f}x batch 1)"
        )
    print(f"wrote {args.out}, {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
