"""The letterbox's shrink, measured: the SDK's rule (:func:`edge_sdk.preprocess.resize_for_letterbox`: INTER_LINEAR
to a power-of-two multiple, then exact INTER_AREA halvings) against one OpenCV INTER_AREA call (the SDK's rule
before 2026-12-05) and one INTER_LINEAR call (the reference RetinaFace's) — time per image and WIDER FACE AP, in one
run, so the choice rests on figures and can be checked again.

    python -m benchmarks.letterbox_resize --data-root ../shared/data --out out/letterbox_resize \
        [--doc docs/BENCHMARKS.md]

Accuracy: every method resizes the image itself; the detector (OpenVINO fp32) then gets the resized image, which
fits its canvas as it is (padding only), and the boxes are scaled back by the letterbox — so only the resize differs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk import FaceDetector
from edge_sdk.preprocess import HALVE, Letterbox, resize_for_letterbox, resize_steps

from .doc_sections import save_and_publish

Resize = Callable[[np.ndarray, Letterbox], np.ndarray]


def _opencv(interpolation: int) -> Resize:
    def resize(image: np.ndarray, box: Letterbox) -> np.ndarray:
        return cv2.resize(image, (box.resized_width, box.resized_height), interpolation=interpolation)

    return resize


METHODS: dict[str, Resize] = {
    "sdk": lambda image, box: resize_for_letterbox(image, box),
    "opencv_area": _opencv(cv2.INTER_AREA),
    "opencv_linear": _opencv(cv2.INTER_LINEAR),
}
LABELS = {
    "sdk": "SDK: INTER_LINEAR to k x size, k/2 ... 1 by INTER_AREA halvings",
    "opencv_area": "one INTER_AREA (before 2026-12-05)",
    "opencv_linear": "one INTER_LINEAR (the reference RetinaFace)",
}


def supersampling(box: Letterbox) -> int:
    """k of the SDK's shrink for ``box``: the resized size times k is what the linear step writes (1: no shrink)."""
    return 2 ** sum(kind == HALVE for kind, _, _ in resize_steps(box))


def wider_images(data_root: Path, limit: int | None) -> dict[str, Path]:
    from evaluation.runs import spread
    from evaluation.widerface import image_path, list_widerface_images

    root = data_root / "widerface"
    keys = spread(list_widerface_images(root), limit)
    return {key: image_path(root, key) for key in keys}


def time_methods(images: list[np.ndarray], size: int, threads: int, rounds: int) -> dict[str, float]:
    """Median ms per image of each method (interleaved rounds), with OpenCV's pool at ``threads``."""
    cv2.setNumThreads(threads)
    boxes = [Letterbox.fit(im.shape[1], im.shape[0], size, size) for im in images]
    samples: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(rounds):
        for name, method in METHODS.items():
            for image, box in zip(images, boxes):
                start = time.perf_counter()
                method(image, box)
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def accuracy(paths: dict[str, Path], data_root: Path, size: int) -> dict[str, dict[str, float]]:
    """WIDER FACE AP (easy/medium/hard) of each method, OpenVINO fp32 at ``size``."""
    from evaluation.defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD
    from evaluation.widerface import evaluate_widerface

    detector = FaceDetector(
        backend="openvino",
        input_size=size,
        score_threshold=EVAL_SCORE_THRESHOLD,
        nms_threshold=EVAL_NMS_THRESHOLD,
    )
    predictions: dict[str, dict[str, np.ndarray]] = {name: {} for name in METHODS}
    for key, path in paths.items():
        image = cv2.imread(str(path))
        box = detector.letterbox_for(image.shape[1], image.shape[0])
        for name, method in METHODS.items():
            if box.scale_x >= 1 and box.scale_y >= 1:  # not a shrink: the same for all (the SDK's rule)
                resized = resize_for_letterbox(image, box)
            else:
                resized = method(image, box)
            faces = detector.detect(resized)  # fits the canvas as it is: padding only
            boxes = box.boxes_to_original(faces.boxes)
            predictions[name][key] = np.concatenate([boxes, faces.scores[:, None]], axis=1).astype(np.float64)
    results = {}
    for name, predicted in predictions.items():
        result = evaluate_widerface(predicted, data_root / "widerface", images=list(paths))
        results[name] = {setting: round(float(ap), 4) for setting, ap in result.ap.items()}
    return results


def run(data_root: Path, sizes: list[int], limit: int | None, timing_images: int, rounds: int) -> dict[str, Any]:
    paths = wider_images(data_root, limit)
    timed = [cv2.imread(str(p)) for p in list(paths.values())[:: max(1, len(paths) // timing_images)][:timing_images]]
    rows = []
    for size in sizes:
        boxes = [Letterbox.fit(im.shape[1], im.shape[0], size, size) for im in timed]
        row: dict[str, Any] = {
            "size": size,
            "k": sorted({supersampling(b) for b in boxes}),
            "ms_1_thread": time_methods(timed, size, 1, rounds),
            "ms_2_threads": time_methods(timed, size, 2, rounds),
            "ap": accuracy(paths, data_root, size),
        }
        rows.append(row)
    return {
        "images_ap": len(paths),
        "images_timed": len(timed),
        "timed_sizes": sorted({f"{im.shape[1]}x{im.shape[0]}" for im in timed}),
        "opencv": cv2.__version__,
        "rows": rows,
    }


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Shrinking a WIDER FACE val image into the letterbox: time per image (median over {result['images_timed']} "
        f"images, OpenCV {result['opencv']}) and AP (OpenVINO fp32, {result['images_ap']} val images; only the "
        "resize differs). The SDK uses the first row's rule (`edge_sdk.preprocess.resize_steps`).",
        "",
        "| input | resize | k | 1 thread ms | 2 threads ms | AP easy | medium | hard |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        for name in METHODS:
            ap = row["ap"][name]
            k = "/".join(str(k) for k in row["k"]) if name == "sdk" else "–"
            lines.append(
                f"| {row['size']} | {LABELS[name]} | {k} | {row['ms_1_thread'][name]:.2f} | "
                f"{row['ms_2_threads'][name]:.2f} | {ap['easy']:.4f} | {ap['medium']:.4f} | {ap['hard']:.4f} |"
            )
    lines.append("")
    for row in result["rows"]:
        sdk, area = row["ms_1_thread"]["sdk"], row["ms_1_thread"]["opencv_area"]
        worst = max(abs(row["ap"]["sdk"][s] - row["ap"]["opencv_area"][s]) for s in ("easy", "medium", "hard"))
        lines.append(
            f"- {row['size']}: the SDK's resize takes {sdk / area:.2f}x the time of one INTER_AREA (1 thread); "
            f"its AP is within {worst:.4f} of INTER_AREA's."
        )
    lines += [
        "",
        "Regenerate: `python -m benchmarks.letterbox_resize --data-root ../shared/data --out out/letterbox_resize "
        "--doc docs/BENCHMARKS.md`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.letterbox_resize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-root", type=Path, required=True, help="the shared data folder (holds widerface/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", default="640,320")
    parser.add_argument("--limit", type=int, default=None, help="AP on N val images evenly spread (default: all)")
    parser.add_argument("--timing-images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--doc", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.data_root, [int(s) for s in args.sizes.split(",")], args.limit, args.timing_images, args.rounds)
    print(save_and_publish("letterbox-resize", result, args.out, args.doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
