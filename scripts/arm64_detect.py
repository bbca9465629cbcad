"""Detect faces with every (backend, precision) of a plan and write boxes, scores and landmarks at full precision.

Runs the same way on both sides of the arm64 check (scripts/arm64_check.sh): inside the emulated Debian arm64 root
with the installed wheel, and on x86 with the checkout. Needs only edge_sdk and its runtimes.

    python scripts/arm64_detect.py --images a.png b.jpg --plan tflite:fp32,int8:all openvino:fp32,int8:1 --out x.json

A plan entry is BACKEND:PRECISIONS:IMAGES, IMAGES being ``all`` or N (the first N images).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import struct
import sys
from pathlib import Path

import cv2

import edge_sdk
from edge_sdk import FaceDetector

# The runtime distribution behind each backend (its version goes into the report).
RUNTIMES = {"tflite": "ai-edge-litert", "onnxruntime": "onnxruntime", "openvino": "openvino"}


def parse_plan(entries: list[str], n_images: int) -> list[tuple[str, str, int]]:
    """``tflite:fp32,int8:all`` → [("tflite", "fp32", n_images), ("tflite", "int8", n_images)]."""
    plan = []
    for entry in entries:
        backend, precisions, count = entry.split(":")
        for precision in precisions.split(","):
            plan.append((backend, precision, n_images if count == "all" else min(int(count), n_images)))
    return plan


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "edge_sdk": edge_sdk.__version__}
    for name in ("numpy", "opencv-python-headless", *RUNTIMES.values()):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def cpu_features() -> dict[str, bool] | None:
    """The Arm CPU features the kernel (here: qemu) advertises, from the aux vector: shows that QEMU_CPU took effect
    (a Cortex-A76 has the int8 dot product, no i8mm, no SVE and no SME; qemu's default CPU has all of them)."""
    if platform.machine() != "aarch64":
        return None
    data = Path("/proc/self/auxv").read_bytes()
    words = struct.unpack(f"{len(data) // 8}Q", data[: len(data) // 8 * 8])
    aux = dict(zip(words[::2], words[1::2]))
    hwcap, hwcap2 = aux.get(16, 0), aux.get(26, 0)  # AT_HWCAP, AT_HWCAP2
    return {
        "asimddp": bool(hwcap >> 20 & 1),
        "sve": bool(hwcap >> 22 & 1),
        "i8mm": bool(hwcap2 >> 13 & 1),
        "sme": bool(hwcap2 >> 23 & 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True)
    parser.add_argument("--plan", nargs="+", required=True, help="BACKEND:PRECISIONS:IMAGES entries")
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    images = {path.name: cv2.imread(str(path)) for path in args.images}
    missing = [name for name, image in images.items() if image is None]
    if missing:
        raise SystemExit(f"unreadable images: {missing}")
    names = list(images)
    results = []
    threshold = None
    for backend, precision, count in parse_plan(args.plan, len(names)):
        detector = FaceDetector(backend=backend, precision=precision, input_size=args.input_size)
        threshold = detector.score_threshold
        for name in names[:count]:
            faces = detector.detect(images[name])
            results.append(
                {
                    "backend": backend,
                    "precision": precision,
                    "image": name,
                    "model_file": detector.model_file.path.name,
                    "describe": detector.backend.describe(),
                    "pixel_map": detector.pixel_map,
                    "boxes": faces.boxes.tolist(),
                    "scores": faces.scores.tolist(),
                    "landmarks": faces.landmarks.reshape(len(faces), -1).tolist(),
                }
            )
            print(f"{backend} {precision} {name}: {len(faces)} face(s)", flush=True)
    report = {
        "machine": platform.machine(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "edge_sdk_file": edge_sdk.__file__,
        "versions": versions(),
        "cpu_features": cpu_features(),
        "input_size": args.input_size,
        "score_threshold": threshold,
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
