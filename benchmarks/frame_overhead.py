"""The SDK's overhead on camera-sized frames: ``detect()`` against the bare backend call at 640, for frames of the
sizes cameras deliver (640x480: no resize; 1280x720: one exact halving; 1920x1080: a 3x shrink), next to the main
page's WIDER FACE photos (1024 px wide: a 1.6x shrink, the costliest case).

    python -m benchmarks.frame_overhead --data-root ../shared/data --out out/frame_overhead [--doc docs/BENCHMARKS.md]

Frames are real content: WIDER FACE val images centre-cropped to the frame's aspect and resized to its size. Timing is
the main benchmark's (interleaved rounds, each configuration's ``detect()`` and then its three calls on the same
frames; :func:`benchmarks.latency.measure`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .doc_sections import save_and_publish
from .latency import measure, stats_ms
from .subject_base import SkipSubject, SubjectSpec
from .subjects import OursSubject

FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080))


def camera_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` centre-cropped to ``width:height`` and resized to that size (a stand-in for a camera frame)."""
    h, w = image.shape[:2]
    crop_w, crop_h = min(w, round(h * width / height)), min(h, round(w * height / width))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    interpolation = cv2.INTER_AREA if crop_w > width else cv2.INTER_CUBIC
    return cv2.resize(crop, (width, height), interpolation=interpolation)


def run(
    data_root: Path, backends: list[str], precisions: list[str], threads: list[int], images: int, runs: int
) -> dict[str, Any]:
    from evaluation.runs import spread
    from evaluation.widerface import image_path, list_widerface_images

    root = data_root / "widerface"
    sources = [cv2.imread(str(image_path(root, key))) for key in spread(list_widerface_images(root), images)]
    subjects, skipped = [], []
    for backend in backends:
        for precision in precisions:
            for count in threads:
                spec = SubjectSpec("ours", 640, count, backend=backend, precision=precision)
                try:
                    subjects.append(OursSubject(spec))
                except SkipSubject as exc:
                    skipped.append({"config": spec.key, "reason": str(exc)})
    rows = []
    for width, height in FRAME_SIZES:
        frames = [camera_frame(image, width, height) for image in sources]
        samples, _ = measure(subjects, frames, runs=runs, warmup=1, progress=False)
        for subject in subjects:
            record = samples[subject.spec.key]
            detect, stages = stats_ms(record.detect), {k: stats_ms(v) for k, v in record.stages.items()}
            rows.append(
                {
                    "frame": f"{width}x{height}",
                    "backend": subject.spec.backend,
                    "precision": subject.spec.precision,
                    "threads": subject.spec.threads,
                    "detect_ms": detect["median"],
                    "preprocess_ms": stages["preprocess"]["median"],
                    "bare_ms": stages["inference"]["median"],
                    "postprocess_ms": stages["postprocess"]["median"],
                    "ratio": round(detect["median"] / stages["inference"]["median"], 3),
                }
            )
    return {"images": len(sources), "runs": runs, "rows": rows, "skipped": skipped}


def render_markdown(result: dict[str, Any]) -> str:
    frames = [f"{w}x{h}" for w, h in FRAME_SIZES]
    by_config: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
    for row in result["rows"]:
        by_config.setdefault((row["backend"], row["precision"], row["threads"]), {})[row["frame"]] = row
    lines = [
        f"`detect()` / bare backend call at 640 on camera-sized frames ({result['images']} WIDER FACE val images "
        f"cropped and resized to each size; median of {result['runs']} interleaved rounds). In brackets: "
        "preprocessing ms. 640x480 needs no resize, 1280x720 one exact halving, 1920x1080 a 3x shrink "
        '(see "Letterbox resize").',
        "",
        "| backend | precision | threads | " + " | ".join(frames) + " |",
        "|---|---|---|" + "---|" * len(frames),
    ]
    for (backend, precision, threads), cells in by_config.items():
        values = [f"{cells[f]['ratio']:.2f}x ({cells[f]['preprocess_ms']:.1f})" if f in cells else "–" for f in frames]
        lines.append(f"| {backend} | {precision} | {threads} | " + " | ".join(values) + " |")
    within = [r for r in result["rows"] if r["ratio"] <= 1.10]
    lines += [
        "",
        f"- Within 1.10x: {len(within)} of {len(result['rows'])} (configuration, frame) pairs.",
    ]
    if result["skipped"]:
        lines.append("- Skipped: " + "; ".join(f"{s['config']} ({s['reason']})" for s in result["skipped"]) + ".")
    lines += [
        "",
        "Regenerate: `python -m benchmarks.frame_overhead --data-root ../shared/data --out out/frame_overhead "
        "--doc docs/BENCHMARKS.md`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.frame_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-root", type=Path, required=True, help="the shared data folder (holds widerface/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backends", default="tflite,openvino,onnxruntime")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20)  # the ratios move by ~0.03x between 10-round runs here
    parser.add_argument("--doc", type=Path, default=None)
    args = parser.parse_args(argv)
    from edge_sdk import available_backends

    backends = [b for b in args.backends.split(",") if b in available_backends()]
    threads = [int(t) for t in args.threads.split(",")]
    result = run(args.data_root, backends, args.precisions.split(","), threads, args.images, args.runs)
    print(save_and_publish("frame-overhead", result, args.out, args.doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
