"""The OpenVINO backend's load-time choices, measured: the bare model call on real WIDER FACE canvases as the SDK
compiles it against the graph as written (score softmax left on its short last axis) and, on CPUs with bf16, against
the float layers left in bf16 (OpenVINO's default for an int8 file there) — time and output differences, in one run.

    python -m benchmarks.openvino_graph --data-root ../shared/data --out out/openvino_graph [--doc docs/BENCHMARKS.md]

Every variant is an :class:`edge_sdk.backends.openvino_backend.OpenVinoBackend` on the same bundled file and the same
canvases (the SDK's own preprocessing); timing is interleaved (each round times every variant on every image, in
turn, after a pause that lets the previous variant's threads go idle).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk import FaceDetector
from edge_sdk.backends import BACKENDS

from .doc_sections import save_and_publish

OUTPUTS = ("box offsets", "scores", "landmark offsets")
VARIANTS = ("as_written", "sdk", "bf16_float_layers")
LABELS = {
    "as_written": "graph as written (softmax on its 2-wide axis), f32",
    "sdk": "SDK: softmax moved to the long axis, f32",
    "bf16_float_layers": "SDK graph, float layers in bf16 (the device default on this CPU)",
}
PAUSE_S = 0.02


def _has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def build_variants(precision: str, threads: int) -> dict[str, Any]:
    """The bundled 640 file of ``precision`` opened three ways (the bf16 one only on a CPU that has bf16)."""
    backend_class = BACKENDS["openvino"].load_class()
    detector = FaceDetector(backend="openvino", precision=precision, input_size=640, threads=threads)
    model, manifest = detector.backend.model, detector.manifest
    variants = {
        "sdk": detector.backend,
        "as_written": backend_class(model, manifest, threads=threads, softmax_on_a_long_axis=False),
    }
    if _has_bf16():
        variants["bf16_float_layers"] = backend_class(model, manifest, threads=threads, inference_precision="bf16")
    return {"detector": detector, "variants": variants}


def compare(variants: dict[str, Any], canvases: list[np.ndarray], rounds: int) -> dict[str, Any]:
    """Median ms of each variant's bare call, and each variant's largest output difference from the graph as
    written (per output)."""
    reference = [variants["as_written"].run(c) for c in canvases]
    differences = {}
    for name, backend in variants.items():
        worst = np.zeros(len(OUTPUTS))
        for canvas, expected in zip(canvases, reference):
            got = backend.run(canvas)
            worst = np.maximum(worst, [float(np.abs(a - b).max()) for a, b in zip(got, expected, strict=True)])
        differences[name] = dict(zip(OUTPUTS, (round(float(w), 6) for w in worst)))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_index in range(rounds):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            time.sleep(PAUSE_S)
            for canvas in canvases:
                start = time.perf_counter()
                variants[name].run(canvas)
                samples[name].append((time.perf_counter() - start) * 1000)
    return {
        "ms": {name: round(statistics.median(values), 3) for name, values in samples.items()},
        "max_difference": differences,
    }


def run(data_root: Path, precisions: list[str], threads: list[int], images: int, rounds: int) -> dict[str, Any]:
    from evaluation.runs import spread
    from evaluation.widerface import image_path, list_widerface_images

    root = data_root / "widerface"
    photos = [cv2.imread(str(image_path(root, key))) for key in spread(list_widerface_images(root), images)]
    rows = []
    for precision in precisions:
        for count in threads:
            built = build_variants(precision, count)
            canvases = [built["detector"].preprocess(photo)[0] for photo in photos]
            for variant in built["variants"].values():  # warm-up: first calls allocate
                variant.run(canvases[0])
            rows.append({"precision": precision, "threads": count, **compare(built["variants"], canvases, rounds)})
    import openvino as ov

    return {
        "images": len(photos),
        "rounds": rounds,
        "openvino": ov.get_version(),
        "bf16_cpu": _has_bf16(),
        "rows": rows,
    }


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"The OpenVINO backend's bare call at 640 on {result['images']} WIDER FACE val canvases, median of "
        f"{result['rounds']} interleaved rounds (OpenVINO {result['openvino']}); each variant's largest difference "
        "from the graph as written, over all outputs. The SDK compiles the second variant.",
        "",
        "| precision | threads | variant | bare ms | vs as written | max difference |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        base = row["ms"]["as_written"]
        for name in VARIANTS:
            if name not in row["ms"]:
                continue
            worst = max(row["max_difference"][name].values())
            lines.append(
                f"| {row['precision']} | {row['threads']} | {LABELS[name]} | {row['ms'][name]:.2f} | "
                f"{row['ms'][name] / base:.3f}x | {worst:.3g} |"
            )
    lines.append("")
    if not result["bf16_cpu"]:
        lines.append("- This CPU has no bf16: OpenVINO's default and f32 are the same here (no bf16 row).")
    lines += [
        "- The moved softmax computes the same values bit for bit (max difference 0); it saves the time the CPU "
        "plugin spent on a softmax vectorized along a 2-wide axis.",
        "- bf16 float layers are not the SDK's default: they change the outputs (the same file would give other faces "
        "on a bf16 CPU than on any other) for a speed difference shown in the table.",
        "",
        "Regenerate: `python -m benchmarks.openvino_graph --data-root ../shared/data --out out/openvino_graph "
        "--doc docs/BENCHMARKS.md`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.openvino_graph",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-root", type=Path, required=True, help="the shared data folder (holds widerface/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--doc", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(
        args.data_root,
        args.precisions.split(","),
        [int(t) for t in args.threads.split(",")],
        args.images,
        args.rounds,
    )
    print(save_and_publish("openvino-graph", result, args.out, args.doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
