"""``edge-sdk info``, ``edge-sdk bench``, ``edge-sdk serve`` and ``edge-sdk mqtt``."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from .._version import __version__, install_hint
from ..backends import BACKENDS, available_backends
from ..detector import FaceDetector
from ..errors import EdgeSDKError
from ..manifest import load_manifest
from ..models import BUNDLED_DIR, DEFAULT_MODEL, bundled_models
from .errors import EXIT_OK, EXIT_USAGE


def run_info(_: argparse.Namespace) -> int:
    installed = available_backends()
    models = {}
    for name in bundled_models():
        manifest = load_manifest(BUNDLED_DIR / name)
        models[name] = [
            f"{f.path.name} ({f.format}, {f.precision}, {'dynamic' if f.dynamic else 'x'.join(map(str, f.input_size))})"
            for f in manifest.files
        ]
    print(
        json.dumps(
            {
                "version": __version__,
                "backends": {name: name in installed for name in BACKENDS},
                "install_hints": {name: install_hint(spec.extra) for name, spec in BACKENDS.items()},
                "bundled_models": models,
                "auto": _auto_info(),
            },
            indent=2,
        )
    )
    return EXIT_OK


def _auto_info() -> dict:
    """What ``backend="auto"`` picks for the default settings here, and the measurement behind it, if any."""
    from ..backend_choice import TuneKey, cache_path, cached_entry, manifest_digest
    from ..detector import AUTO_ORDER

    manifest_path = BUNDLED_DIR / DEFAULT_MODEL / "manifest.json"
    entry = cached_entry(TuneKey.for_model(manifest_digest(manifest_path), "fp32", (640, 640), None))
    info: dict = {"cache": str(cache_path()), "static_order": list(AUTO_ORDER)}
    if entry is None:
        info["tuned"] = None
        info["note"] = "no measurement for this machine and runtime versions: run `edge-sdk tune`"
    else:
        info["tuned"] = {
            "choice": entry["choice"],
            "measured_at": entry["measured_at"],
            "candidates": entry["candidates"],
        }
    return info


def run_tune(args: argparse.Namespace) -> int:
    """Measure the installed backends here and cache the fastest for ``backend="auto"``."""
    from ..tuning import cache_path, tune

    size = args.input_size
    result = tune(
        model=args.model, input_size=size, precision=args.precision, threads=args.threads, budget_s=args.budget
    )
    payload = {
        "choice": result.choice,
        "cache": str(cache_path()),
        "candidates": [c.__dict__ for c in result.candidates],
    }
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        for c in result.candidates:
            detail = c.skipped or f"{c.model_file:40s} median {c.median_ms:7.2f} ms over {c.calls} calls"
            print(f"{c.backend:12s} {detail}")
        print(f"auto → {result.choice} (cached in {cache_path()})" if result.choice else "no backend could be timed")
    return EXIT_OK if result.choice else EXIT_USAGE


def run_bench(args: argparse.Namespace) -> int:
    """Latency of ``detect()`` per backend on a 640x480 noise image. A backend that is not installed, has no file
    for the asked size and precision, or lacks the asked device is listed as skipped, with the reason."""
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    manifest = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    size = (args.input_size, args.input_size) if isinstance(args.input_size, int) else args.input_size
    installed = available_backends()
    rows: list[dict] = []
    for name in args.backend or list(BACKENDS):
        row: dict = {
            "backend": name,
            "precision": args.precision,
            "device": args.device,
            "input_size": None if size is None else list(size),
        }
        if name not in installed:
            rows.append({**row, "skipped": f"not installed ({install_hint(BACKENDS[name].extra)})"})
            continue
        if manifest.select(BACKENDS[name].formats, args.precision, size) is None:
            rows.append({**row, "skipped": f"no {args.precision} file at input size {args.input_size}"})
            continue
        try:
            detector = FaceDetector(
                backend=name,
                input_size=args.input_size,
                threads=args.threads,
                precision=args.precision,
                device=args.device,
            )
        except EdgeSDKError as exc:  # e.g. a device this backend or machine does not have
            rows.append({**row, "skipped": str(exc)})
            continue
        for _ in range(3):
            detector.detect(image)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            detector.detect(image)
            times.append((time.perf_counter() - start) * 1000)
        median = statistics.median(times)
        rows.append(
            {
                **row,
                "model_file": detector.model_file.path.name,
                "runs": args.runs,
                "median_ms": round(median, 3),
                "fps": round(1000 / median, 1),
            }
        )
    timed = [r for r in rows if "median_ms" in r]
    if args.json:
        print(json.dumps({"version": __version__, "results": rows}, indent=2))
    else:
        for r in rows:
            if "skipped" in r:
                print(f"{r['backend']:12s} skipped: {r['skipped']}")
            else:
                print(
                    f"{r['backend']:12s} {r['model_file']:40s} median {r['median_ms']:7.2f} ms "
                    f"({r['fps']:6.1f} FPS, {r['runs']} runs)"
                )
    if not timed:
        why = (
            f"no installed backend has a {args.precision} file at input size {args.input_size}"
            if all(r["skipped"].startswith(("no ", "not installed")) for r in rows)
            else f"no backend could be timed at {args.precision}, input size {args.input_size}, device {args.device}"
        )
        print(why, file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from ..integrations import require_extra

    require_extra("serve", "edge-sdk serve")
    from ..integrations.http_service import run_from_args  # FastAPI/uvicorn only when asked for

    return run_from_args(args)


def run_mqtt(args: argparse.Namespace) -> int:
    from ..integrations import require_extra

    require_extra("mqtt", "edge-sdk mqtt")
    from ..integrations.mqtt_bridge import run_from_args  # paho-mqtt only when asked for

    return run_from_args(args)
