"""One benchmark run: plan the configurations, measure memory, time them interleaved, score accuracy, assemble the
report. :func:`run` is what ``python -m benchmarks`` calls; it logs and returns the report dict."""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.defaults import EVAL_SCORE_THRESHOLD
from evaluation.runs import spread

from . import accuracy as acc
from . import latency as lat
from . import memory as mem
from .peers import PEERS, peer_status
from .report import compute_ratios
from .schema import SCHEMA_VERSION
from .subjects import SubjectSpec, all_threads, size_label
from .system import load_average, machine_info, probe_devices, versions

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
FALLBACK_IMAGE = REPO_ROOT / "samples" / "astronaut.png"


@dataclass
class Options:
    """Everything a run depends on (the CLI's flags)."""

    command: str = "all"  # latency | accuracy | all
    backends: list[str] | None = None  # None: every installed backend
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    sizes: list[int | None] = field(default_factory=lambda: [320, 480, 640, None])
    accuracy_sizes: list[int | None] = field(default_factory=lambda: [320, 640, None])
    threads: list[int] = field(default_factory=lambda: sorted({1, 2, all_threads()}))
    precisions: list[str] | None = None  # None: every precision the manifest lists
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    model: str | None = None
    data_root: Path = REPO_ROOT.parent / "shared" / "data"
    images: int = 4
    runs: int = 10
    warmup: int = 1
    budget: float = 6.0  # seconds of timed work per configuration before its rounds are capped (0: no cap)
    limit: int | None = 100
    fddb_limit: int | None = None
    memory: str = "isolated"  # isolated | inprocess
    progress: bool = True
    command_line: str = ""


def latency_images(data_root: Path, count: int) -> list[Path]:
    """``count`` WIDER val images evenly spread over the events (deterministic); the bundled sample without data."""
    folder = Path(data_root) / "widerface" / "WIDER_val" / "images"
    pool = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*.jpg")) if folder.is_dir() else []
    if not pool:
        log.warning("no WIDER val images under %s: timing on %s", folder, FALLBACK_IMAGE)
        return [FALLBACK_IMAGE]
    return [folder / key for key in spread(pool, count)]


def model_info(model: str | None) -> dict[str, Any]:
    from edge_sdk.manifest import load_manifest
    from edge_sdk.models import resolve_model

    manifest = load_manifest(resolve_model(model)[0])
    return {
        "name": manifest.name,
        "directory": str(manifest.directory),
        "files": [
            {
                "path": f.path.name,
                "format": f.format,
                "precision": f.precision,
                "input_size": None if f.input_size is None else f"{f.input_size[0]}x{f.input_size[1]}",
                "bytes": sum(p.stat().st_size for p in (f.path, *f.extra_files) if p.is_file()),
            }
            for f in manifest.files
        ],
        "precisions": sorted({f.precision for f in manifest.files}),
        "produced_by": manifest.produced_by.get("command"),
        "bundled": model is None,
    }


def _backends(options: Options) -> list[str]:
    from edge_sdk import available_backends
    from edge_sdk.backends import BACKENDS, resolve_backend_name

    if options.backends is None:
        return available_backends()
    names = [resolve_backend_name(b) for b in options.backends]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backends {unknown}")
    return list(dict.fromkeys(names))


def run_latency(options: Options, backends: list[str], devices: list[dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    specs, skipped = lat.ours_plan(
        options.model, backends, options.precisions, options.sizes, options.threads, options.devices, devices
    )
    peer_specs, peer_skipped = lat.peer_plan(options.peers, options.sizes, options.threads, options.devices, devices)
    specs += peer_specs
    skipped += peer_skipped
    paths = latency_images(options.data_root, options.images)
    images = lat.read_images(paths)
    isolated: dict[str, dict[str, Any]] = {}
    if options.memory == "isolated":
        groups = mem.memory_specs(specs)
        log.info("memory: %d configurations, each in a fresh process", len(groups))
        for group, spec in groups.items():
            isolated[group] = mem.isolated(spec, paths)
    subjects, failed, load_mb = lat.build_all(specs)
    skipped += failed
    log.info(
        "latency: %d configurations x %d images x %d runs (+%d warm-up)",
        len(subjects),
        len(images),
        options.runs,
        options.warmup,
    )
    samples, process_peak = lat.measure(
        subjects, images, options.runs, options.warmup, options.progress, budget_s=options.budget
    )
    rows = lat.summarize(subjects, samples, load_mb)
    for row in rows:
        found = isolated.get(row["key"].rsplit("/", 1)[0], {})
        row["memory"]["process_peak_mb"] = found.get("process_peak_mb")
        if "error" in found:
            row["memory"]["isolated_error"] = found["error"]
        elif found:
            row["memory"]["isolated_baseline_mb"] = found.get("baseline_mb")
    return {
        "images": [
            {"path": str(p), "height": int(i.shape[0]), "width": int(i.shape[1])} for p, i in zip(paths, images)
        ],
        "runs": options.runs,
        "warmup": options.warmup,
        "calls_per_configuration": options.runs * len(images),
        "budget_seconds": options.budget,
        "order": (
            "interleaved: every round times every configuration once per image, order rotated each round, "
            "20 ms pause before each configuration; a configuration whose rounds would exceed the budget "
            "takes part in fewer (at least 3) rounds"
        ),
        "results": rows,
        "skipped": skipped,
        "process_peak_mb": None if process_peak is None else round(process_peak, 1),
        "memory_method": options.memory,
        "seconds": round(time.perf_counter() - start, 1),
    }


def accuracy_specs(
    options: Options, backends: list[str], devices: list[dict[str, Any]]
) -> tuple[list[SubjectSpec], list[dict[str, Any]]]:
    """Ours at each accuracy size and listed precision, on one backend (all backends give the same boxes within
    1e-4; ONNX Runtime first, as it has a dynamic-shape file), plus the peers at their accuracy settings."""
    threads = [min(options.threads)]  # accuracy does not depend on threads; one thread is the robust choice
    order = sorted(backends, key=lambda b: b != "onnxruntime")
    specs: list[SubjectSpec] = []
    skipped: list[dict[str, Any]] = []
    for size in options.accuracy_sizes:
        found: list[SubjectSpec] = []
        for backend in order:
            found, _ = lat.ours_plan(
                options.model, [backend], options.precisions, [size], threads, ["cpu"], devices, purpose="accuracy"
            )
            if found:
                break
        if not found:
            skipped.append(
                lat.skip_row("no backend has a model file for this size", detector="ours", size=size_label(size))
            )
        specs += found
    peer_specs, peer_skipped = lat.peer_plan(
        options.peers, options.accuracy_sizes, threads, ["cpu"], devices, "accuracy"
    )
    return specs + peer_specs, skipped + peer_skipped


def run_accuracy(options: Options, backends: list[str], devices: list[dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    data = acc.load_data(options.data_root, options.limit, options.fddb_limit)
    specs, skipped = accuracy_specs(options, backends, devices)
    results = []
    for spec in specs:  # one at a time: each detector is loaded, run over both datasets, released
        subjects, failed, _ = lat.build_all([spec])
        skipped += failed
        for subject in subjects:
            results.append(acc.evaluate_subject(subject, data, options.progress))
    return {
        "data": data.describe(),
        "results": results,
        "skipped": skipped,
        "seconds": round(time.perf_counter() - start, 1),
    }


def peer_rows(options: Options, report: dict[str, Any]) -> list[dict[str, Any]]:
    from importlib import metadata

    measured = {r["detector"] for part in ("latency", "accuracy") for r in (report.get(part) or {}).get("results", [])}
    rows = []
    for name, peer in PEERS.items():
        problem = peer_status(name)
        try:
            version = metadata.version(peer.distribution) if peer.distribution else None
        except metadata.PackageNotFoundError:
            version = None
        status = "not requested" if name not in options.peers else ("ok" if name in measured else "skipped")
        if status == "skipped" and not problem:
            reasons = [
                r["reason"]
                for part in ("latency", "accuracy")
                for r in (report.get(part) or {}).get("skipped", [])
                if r.get("detector") == name
            ]
            problem = reasons[0] if reasons else "nothing measured"
        rows.append(
            {
                "name": name,
                "label": peer.label,
                "status": status,
                "reason": problem if status != "ok" else None,
                "install": peer.install,
                "license": peer.license,
                "version": version,
            }
        )
    return rows


def notes(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    out = [
        "Latency: median and p90 over all timed calls (runs x images); FPS = 1000 / median. Timing is interleaved "
        "across configurations so machine drift hits all of them alike.",
        "Latency thresholds are each detector's operating point (ours and the reference 0.5, YuNet 0.5, BlazeFace "
        f"0.5, MTCNN and dlib defaults); accuracy uses low thresholds ({EVAL_SCORE_THRESHOLD} for ours and the "
        "reference) so the PR curve is traced as the WIDER FACE protocol expects.",
        "Process peak memory: each configuration loaded and run alone in a fresh Python process (VmHWM); "
        "it includes the interpreter, numpy and OpenCV.",
        f"Machine load average at start {m.get('load_average')}, at end {report.get('load_average_end')} on "
        f"{m.get('usable_cores')} cores: other processes share this machine, so absolute figures carry noise; "
        "compare configurations within one run.",
    ]
    ratios = report.get("ratios") or {}
    if ratios.get("int8_note"):
        out.append("int8: " + ratios["int8_note"] + ".")
    return out


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark described by ``options`` and return the report (not yet written)."""
    start = time.perf_counter()
    backends = _backends(options)
    devices = probe_devices()
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": options.command_line or f"python -m benchmarks {options.command}",
        "machine": machine_info(),
        "versions": versions(),
        "devices": devices,
        "settings": {
            "command": options.command,
            "backends": backends,
            "precisions": options.precisions or "all listed in the manifest",
            "sizes": [size_label(s) for s in options.sizes],
            "accuracy_sizes": [size_label(s) for s in options.accuracy_sizes],
            "threads": options.threads,
            "devices": options.devices,
            "peers": options.peers,
            "model": options.model or "bundled default",
            "data_root": str(options.data_root),
            "latency_images": options.images,
            "runs": options.runs,
            "warmup": options.warmup,
            "budget_seconds": options.budget,
            "widerface_limit": options.limit,
            "fddb_limit": options.fddb_limit,
            "memory": options.memory,
        },
        "model": model_info(options.model),
        "latency": None,
        "accuracy": None,
    }
    if options.command in ("latency", "all"):
        report["latency"] = run_latency(options, backends, devices)
    if options.command in ("accuracy", "all"):
        report["accuracy"] = run_accuracy(options, backends, devices)
    report["ratios"] = compute_ratios((report["latency"] or {}).get("results", []), report["model"]["precisions"])
    report["peers"] = peer_rows(options, report)
    report["load_average_end"] = load_average()
    report["notes"] = notes(report)
    report["elapsed_seconds"] = round(time.perf_counter() - start, 1)
    return report
