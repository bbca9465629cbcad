"""The report: ratios computed from one run's figures, the JSON file, a Markdown summary and PNG plots."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JSON_NAME = "benchmark.json"
MARKDOWN_NAME = "benchmark.md"
SCATTER_NAME = "latency_vs_hard_ap.png"
BREAKDOWN_NAME = "latency_breakdown.png"


# ----------------------------------------------------------------------------------------------------- ratios


def _median(row: dict[str, Any] | None) -> float | None:
    return row["detect_ms"]["median"] if row and row.get("detect_ms") else None


def _index(rows: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(r["detector"], r["backend"], r["precision"], r["device"], r["input_size"], r["threads"]): r for r in rows}


def compute_ratios(latency: list[dict[str, Any]], precisions_listed: list[str]) -> dict[str, Any]:
    """Ratios from one run: SDK overhead (detect() / bare backend call), reduced precision vs fp32, and ours vs
    YuNet and vs the reference RetinaFace at the same input size, threads and device."""
    ours = [r for r in latency if r["detector"] == "ours"]
    overhead = [
        {
            "backend": r["backend"],
            "precision": r["precision"],
            "device": r["device"],
            "input_size": r["input_size"],
            "threads": r["threads"],
            "detect_ms": _median(r),
            "bare_backend_ms": r["bare_backend_ms"]["median"],
            "preprocess_ms": r["stages_ms"]["preprocess"]["median"],
            "postprocess_ms": r["stages_ms"]["postprocess"]["median"],
            "overhead_ratio": r["overhead_ratio"],
        }
        for r in ours
        if r.get("bare_backend_ms")
    ]
    index = _index(latency)
    precision_rows = []
    for r in ours:
        if r["precision"] == "fp32":
            continue
        base = index.get(("ours", r["backend"], "fp32", r["device"], r["input_size"], r["threads"]))
        if base and _median(base) and _median(r):
            precision_rows.append(
                {
                    "backend": r["backend"],
                    "precision": r["precision"],
                    "device": r["device"],
                    "input_size": r["input_size"],
                    "threads": r["threads"],
                    "fp32_ms": _median(base),
                    "reduced_ms": _median(r),
                    "speedup": round(_median(base) / _median(r), 3),
                }
            )
    int8_note = None
    if "int8" not in precisions_listed:
        int8_note = (
            "the model's manifest lists no int8 file yet, so there are no int8 figures; the harness times "
            "every precision the manifest lists, so int8 rows appear as soon as an int8 file is exported"
        )
    vs_peers: dict[str, list[dict[str, Any]]] = {}
    for peer in ("yunet", "reference"):
        pairs = []
        for r in ours:
            if r["precision"] != "fp32":
                continue
            other = index.get((peer, None, None, r["device"], r["input_size"], r["threads"]))
            if other and _median(other) and _median(r):
                pairs.append(
                    {
                        "backend": r["backend"],
                        "device": r["device"],
                        "input_size": r["input_size"],
                        "threads": r["threads"],
                        "ours_ms": _median(r),
                        "peer_ms": _median(other),
                        "speedup": round(_median(other) / _median(r), 3),
                    }
                )
        vs_peers[peer] = pairs
    return {
        "sdk_overhead": overhead,
        "precision_vs_fp32": precision_rows,
        "int8_note": int8_note,
        "ours_vs_yunet": vs_peers["yunet"],
        "ours_vs_reference": vs_peers["reference"],
        "speedup_definition": "peer median / ours median (> 1: ours is faster); same input size, threads, device",
        "overhead_definition": "detect() median / bare backend call median on the same input",
    }


# ----------------------------------------------------------------------------------------------------- JSON


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return path


def validate(report: dict[str, Any]) -> None:
    """Validate against :data:`benchmarks.schema.SCHEMA` when jsonschema is installed (a no-op otherwise)."""
    try:
        import jsonschema
    except ImportError:
        log.info("jsonschema not installed: report not validated")
        return
    from .schema import SCHEMA

    jsonschema.validate(report, SCHEMA)


# ----------------------------------------------------------------------------------------------------- Markdown


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) if not isinstance(v, str) else v for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _stage(row: dict[str, Any], name: str) -> float | None:
    stages = row.get("stages_ms")
    return stages[name]["median"] if stages and stages.get(name) else None


def _mb(n: int | None) -> float | None:
    return None if n is None else n / 1e6


def latency_tables(report: dict[str, Any]) -> str:
    latency = report.get("latency") or {}
    rows = latency.get("results", [])
    ours = [r for r in rows if r["detector"] == "ours"]
    peers = [r for r in rows if r["detector"] != "ours"]
    parts = []
    if ours:
        parts.append(
            _table(
                [
                    "backend",
                    "prec.",
                    "device",
                    "input",
                    "thr",
                    "detect() ms (median)",
                    "p90",
                    "FPS",
                    "pre",
                    "bare backend",
                    "post",
                    "detect/bare",
                    "file",
                    "MB",
                    "proc. peak MB",
                ],
                [
                    [
                        r["backend"],
                        r["precision"],
                        r["device"],
                        r["input_size"],
                        r["threads"],
                        _median(r),
                        r["detect_ms"]["p90"],
                        r["fps"],
                        _stage(r, "preprocess"),
                        _stage(r, "inference"),
                        _stage(r, "postprocess"),
                        _fmt(r["overhead_ratio"], 2) + "x" if r["overhead_ratio"] else "–",
                        r["info"].get("model_file", "–"),
                        _mb(r["info"].get("model_bytes")),
                        r["memory"]["process_peak_mb"],
                    ]
                    for r in ours
                ],
            )
        )
    if peers:
        parts.append(
            _table(
                [
                    "peer",
                    "input",
                    "thr",
                    "ms (median)",
                    "p90",
                    "FPS",
                    "pre",
                    "inference",
                    "post",
                    "faces/img",
                    "proc. peak MB",
                ],
                [
                    [
                        r["label"],
                        r["input_size"],
                        r["threads"],
                        _median(r),
                        r["detect_ms"]["p90"],
                        r["fps"],
                        _stage(r, "preprocess"),
                        _stage(r, "inference"),
                        _stage(r, "postprocess"),
                        r["faces_per_image"],
                        r["memory"]["process_peak_mb"],
                    ]
                    for r in peers
                ],
            )
        )
    return "\n\n".join(parts)


def ratio_tables(report: dict[str, Any]) -> str:
    ratios = report.get("ratios") or {}
    parts = []
    if ratios.get("sdk_overhead"):
        parts.append(
            "**SDK overhead** ("
            + ratios["overhead_definition"]
            + "):\n\n"
            + _table(
                [
                    "backend",
                    "precision",
                    "input",
                    "thr",
                    "detect() ms",
                    "bare backend ms",
                    "pre ms",
                    "post ms",
                    "detect/bare",
                ],
                [
                    [
                        r["backend"],
                        r["precision"],
                        r["input_size"],
                        r["threads"],
                        r["detect_ms"],
                        r["bare_backend_ms"],
                        r["preprocess_ms"],
                        r["postprocess_ms"],
                        _fmt(r["overhead_ratio"], 2) + "x",
                    ]
                    for r in ratios["sdk_overhead"]
                ],
            )
        )
    if ratios.get("precision_vs_fp32"):
        parts.append(
            "**Reduced precision vs fp32:**\n\n"
            + _table(
                ["backend", "precision", "input", "thr", "fp32 ms", "ms", "speedup"],
                [
                    [
                        r["backend"],
                        r["precision"],
                        r["input_size"],
                        r["threads"],
                        r["fp32_ms"],
                        r["reduced_ms"],
                        _fmt(r["speedup"], 2) + "x",
                    ]
                    for r in ratios["precision_vs_fp32"]
                ],
            )
        )
    if ratios.get("int8_note"):
        parts.append(f"**int8 vs fp32:** {ratios['int8_note']}.")
    for peer, title in (("ours_vs_yunet", "YuNet"), ("ours_vs_reference", "the reference RetinaFace")):
        if ratios.get(peer):
            parts.append(
                f"**Ours vs {title}** (speedup = {title} ms / ours ms, same input, threads, device):\n\n"
                + _table(
                    ["our backend", "input", "thr", "ours ms", f"{title} ms", "speedup"],
                    [
                        [
                            r["backend"],
                            r["input_size"],
                            r["threads"],
                            r["ours_ms"],
                            r["peer_ms"],
                            _fmt(r["speedup"], 2) + "x",
                        ]
                        for r in ratios[peer]
                    ],
                )
            )
    return "\n\n".join(parts)


def best_latency(
    report: dict[str, Any], detector: str, input_size: str, backend: str | None = None, precision: str | None = None
) -> dict[str, Any] | None:
    """The CPU latency row of a configuration with the lowest median over the thread counts measured (on a shared
    machine extra threads can hurt; the best count is what a user would pick)."""
    rows = [
        r
        for r in (report.get("latency") or {}).get("results", [])
        if r["detector"] == detector
        and r["input_size"] == input_size
        and r["device"] == "cpu"
        and (detector != "ours" or (r["backend"] == backend and r["precision"] == precision))
    ]
    return min(rows, key=lambda r: _median(r) or float("inf")) if rows else None


def _ap(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def accuracy_table(report: dict[str, Any]) -> str:
    accuracy = report.get("accuracy") or {}
    rows = accuracy.get("results", [])
    if not rows:
        return ""
    out = []
    for r in rows:
        ap = (r.get("widerface") or {}).get("ap") or {}
        fd = (r.get("fddb") or {}).get("tpr_at_fp_discrete") or {}
        fc = (r.get("fddb") or {}).get("tpr_at_fp_continuous") or {}
        fast = best_latency(report, r["detector"], r["input_size"], r["backend"], r["precision"])
        out.append(
            [
                r["label"],
                r["input_size"],
                _ap(ap.get("easy")),
                _ap(ap.get("medium")),
                _ap(ap.get("hard")),
                _ap(fd.get("10")),
                _ap(fd.get("50")),
                _ap(fc.get("50")),
                f"{_median(fast):.1f} (t{fast['threads']})" if fast else "–",
            ]
        )
    return _table(
        [
            "detector",
            "input",
            "WIDER Easy AP",
            "Medium AP",
            "Hard AP",
            "FDDB TPR@10FP",
            "TPR@50FP",
            "TPR@50FP cont.",
            "latency ms (best threads)",
        ],
        out,
    )


def skipped_list(report: dict[str, Any]) -> str:
    """Configurations that could not run, with the reason (a missing peer is listed once, as a peer; devices a
    detector can never use are summarised in one line)."""
    lines = [f"- peer {row['name']}: {row['reason']}" for row in report.get("peers", []) if row["status"] == "skipped"]
    not_applicable: dict[str, list[str]] = {}
    for part in ("latency", "accuracy"):
        for row in (report.get(part) or {}).get("skipped", []):
            detail = [str(row[k]) for k in ("backend", "precision", "device", "size") if row.get(k)]
            if row.get("detector") != "ours" and not detail:
                continue  # the peer line above says it
            name = " ".join([row.get("detector", "?"), *([row["backend"]] if row.get("backend") else [])])
            if row.get("device") and " has no " in row["reason"] and "device" in row["reason"]:
                not_applicable.setdefault(name, []).append(row["device"])
                continue
            lines.append(f"- {part}: {' '.join([row.get('detector', '?'), *detail])}: {row['reason']}")
    if not_applicable:
        lines.append(
            "- devices these detectors cannot use at all: "
            + "; ".join(f"{name} ({', '.join(dict.fromkeys(devices))})" for name, devices in not_applicable.items())
        )
    return "\n".join(dict.fromkeys(lines))


def device_table(report: dict[str, Any]) -> str:
    return _table(
        ["runtime", "device", "present", "detail"],
        [
            [d["runtime"], d["device"], "yes" if d["present"] else "not present", d["detail"]]
            for d in report.get("devices", [])
        ],
    )


def markdown(report: dict[str, Any]) -> str:
    """A self-contained Markdown summary of one run."""
    m = report["machine"]
    settings = report["settings"]
    parts = [
        "# Benchmark results",
        f"{report['created']} · `{report['command']}`",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}; "
        f"load average at start {m['load_average']}, at end {report.get('load_average_end')}.",
        f"Settings: {json.dumps(settings)}",
        "## Latency",
        latency_tables(report) or "(not run)",
        "## Ratios",
        ratio_tables(report) or "(no latency figures)",
        "## Accuracy",
        accuracy_table(report) or "(not run)",
        "## Devices",
        device_table(report),
        "## Skipped",
        skipped_list(report) or "(nothing)",
    ]
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------------------- plots


def plot_scatter(report: dict[str, Any], path: Path) -> Path | None:
    """Latency (detect() median, all threads, CPU, log scale) against WIDER Hard AP: one point per configuration."""
    rows = (report.get("accuracy") or {}).get("results", [])
    latency = [r for r in (report.get("latency") or {}).get("results", []) if r["device"] == "cpu"]
    points = []
    for acc in rows:
        hard = ((acc.get("widerface") or {}).get("ap") or {}).get("hard")
        if hard is None:
            continue
        matches = [
            r
            for r in latency
            if r["detector"] == acc["detector"]
            and r["input_size"] == acc["input_size"]
            and (acc["detector"] != "ours" or r["precision"] == acc["precision"])
        ]
        by_backend: dict[str | None, dict[str, Any]] = {}
        for r in matches:  # the best thread count of each backend
            if r["backend"] not in by_backend or (_median(r) or 0) < (_median(by_backend[r["backend"]]) or 0):
                by_backend[r["backend"]] = r
        for r in by_backend.values():
            name = f"ours {r['backend']}" if r["detector"] == "ours" else r["detector"]
            label = acc["input_size"] if acc["input_size"].isdigit() or acc["input_size"] == "original" else ""
            points.append((name, label, _median(r), hard))
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    names = sorted({p[0] for p in points})
    cmap = plt.get_cmap("tab10")
    labelled: set[tuple[str, str]] = set()
    for i, name in enumerate(names):
        mine = [p for p in points if p[0] == name]
        ax.scatter(
            [p[2] for p in mine],
            [p[3] for p in mine],
            label=name,
            color=cmap(i % 10),
            marker="o" if name.startswith("ours") else "s",
            s=46,
        )
        for p in mine:
            family = "ours" if name.startswith("ours") else name
            if p[1] and (family, p[1]) not in labelled:  # one size label per detector family and size
                labelled.add((family, p[1]))
                ax.annotate(p[1], (p[2], p[3]), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("latency per image, ms (median of detect(), best thread count, CPU; log scale)")
    ax.set_ylabel("WIDER FACE val Hard AP (subset)")
    ax.set_title("Latency vs Hard AP (labels: input size; peers without one run at their own input)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_breakdown(report: dict[str, Any], path: Path) -> Path | None:
    """Stacked bars: preprocess / bare inference / postprocess per configuration (all threads, CPU); peers whose
    code cannot be split show their total."""
    rows = [r for r in (report.get("latency") or {}).get("results", []) if r["device"] == "cpu"]
    if not rows:
        return None
    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:  # each configuration at its best thread count
        group = (r["detector"], r["backend"], r["precision"], r["input_size"])
        if group not in best or (_median(r) or 0) < (_median(best[group]) or 0):
            best[group] = r
    chosen = sorted(best.values(), key=lambda r: _median(r) or 0.0)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.32 * len(chosen) + 1.2)), dpi=110)
    split = [_median(r) or 0.0 for r in chosen if r.get("stages_ms")]
    limit = 1.25 * max(split) if split else None  # linear axis sized for the split bars; longer bars are clipped
    labels, seen = [], set()
    for i, r in enumerate(chosen):
        name = f"ours {r['backend']} {r['precision']}" if r["detector"] == "ours" else r["detector"]
        labels.append(f"{name} @ {r['input_size']} (t{r['threads']})")
        total = _median(r) or 0.0
        end = total
        if r.get("stages_ms"):
            left = 0.0
            for stage, color in (("preprocess", "#4c72b0"), ("inference", "#dd8452"), ("postprocess", "#55a868")):
                value = r["stages_ms"][stage]["median"]
                ax.barh(i, value, left=left, color=color, label=None if stage in seen else stage)
                seen.add(stage)
                left += value
            end = max(total, left)
        else:
            shown = min(total, limit) if limit else total
            ax.barh(i, shown, color="#999999", label=None if "total" in seen else "total (not separable)")
            seen.add("total")
        ax.annotate(
            f"{total:.1f} ms" + (" →" if limit and total > limit else ""),
            (min(end, limit) if limit else end, i),
            xytext=(3, -3),
            textcoords="offset points",
            fontsize=7,
        )
    ax.set_yticks(range(len(chosen)), labels, fontsize=7)
    if limit:
        ax.set_xlim(0, limit * 1.15)
    ax.set_xlabel("ms per image (medians of the split calls; detect() median annotated)")
    ax.set_title("Where the time goes (each configuration at its best thread count)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def write_outputs(report: dict[str, Any], out: Path, plots: bool = True) -> dict[str, str]:
    """JSON, Markdown and (optionally) the two PNGs into ``out``; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if plots:
        for name, function in ((SCATTER_NAME, plot_scatter), (BREAKDOWN_NAME, plot_breakdown)):
            written = function(report, out / name)
            if written:
                files[name] = str(written)
    report["files"] = {**files, "json": str(out / JSON_NAME), "markdown": str(out / MARKDOWN_NAME)}
    write_json(report, out / JSON_NAME)
    (out / MARKDOWN_NAME).write_text(markdown(report))
    validate(report)  # after writing: a schema problem must not cost the run's figures
    return report["files"]


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write and close a figure (every plot here ends the same way)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
