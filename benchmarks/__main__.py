"""CLI: ``python -m benchmarks latency|accuracy|all [options] --out DIR [--doc docs/BENCHMARKS.md]``.

latency   every installed backend x precision x input size x threads (+ the peers), interleaved, with the
          preprocess / bare backend / postprocess breakdown and per-configuration process peak memory
accuracy  the same detectors scored on WIDER FACE val (AP Easy/Medium/Hard) and FDDB by the evaluation module
all       both, plus the latency-vs-Hard-AP plot
report    re-render benchmark.md, the plots and (with --doc) the docs page from a saved benchmark.json

Writes benchmark.json, benchmark.md, latency_vs_hard_ap.png and latency_breakdown.png into --out.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .subjects import all_threads


def _size(text: str) -> int | None:
    if text.strip().lower() in ("original", "none"):
        return None
    value = int(text)
    if value < 32:
        raise argparse.ArgumentTypeError(f"input sizes must be >= 32 or 'original', got {text!r}")
    return value


def _sizes(text: str) -> list[int | None]:
    try:
        return list(dict.fromkeys(_size(t) for t in text.split(",") if t.strip()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sizes: comma-separated integers or 'original' ({exc})") from None


def _threads(text: str) -> list[int]:
    out = set()
    for item in (t.strip().lower() for t in text.split(",") if t.strip()):
        out.add(all_threads() if item == "all" else int(item))
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"threads: positive integers or 'all', got {text!r}")
    return sorted(out)


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip() and t.strip().lower() != "none"]


def _peers(text: str) -> list[str]:
    from .peers import PEERS

    names = list(PEERS) if text.strip().lower() == "all" else _names(text)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    return names


def _limit(text: str) -> int | None:
    return None if text.strip().lower() == "all" else int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("latency", "accuracy", "all"):
        p = sub.add_parser(name, help=f"run the {name} benchmark" if name != "all" else "latency + accuracy")
        p.add_argument("--out", type=Path, required=True, help="output folder (JSON, Markdown, PNG)")
        p.add_argument("--doc", type=Path, default=None, help="also write this docs page (e.g. docs/BENCHMARKS.md)")
        p.add_argument(
            "--backends",
            type=_names,
            default=None,
            help="our backends, comma-separated (default: every installed one; 'none' for peers only)",
        )
        p.add_argument("--peers", type=_peers, default="all", help="comma-separated peers, 'all' (default) or 'none'")
        p.add_argument(
            "--sizes", type=_sizes, default=[320, 480, 640, None], help="input sizes (default 320,480,640,original)"
        )
        p.add_argument(
            "--accuracy-sizes",
            type=_sizes,
            default=[320, 640, None],
            help="input sizes scored for accuracy (default 320,640,original)",
        )
        p.add_argument("--threads", type=_threads, default=_threads("1,2,all"), help="thread counts (default 1,2,all)")
        p.add_argument(
            "--precisions",
            type=_names,
            default=None,
            help="precisions (default: every precision the model's manifest lists, int8 included)",
        )
        p.add_argument(
            "--devices",
            type=_names,
            default=["cpu"],
            help="cpu, cuda, tensorrt (ONNX Runtime, torch), gpu, npu (OpenVINO); absent ones are reported",
        )
        p.add_argument("--model", default=None, help="model name, directory or file (default: the bundled model)")
        p.add_argument(
            "--data-root", type=Path, default=Path("../shared/data"), help="shared data (default ../shared/data)"
        )
        p.add_argument("--images", type=int, default=4, help="latency images, spread over WIDER val (default 4)")
        p.add_argument("--runs", type=int, default=10, help="timed rounds per image (default 10)")
        p.add_argument(
            "--warmup", type=int, default=1, help="untimed warm-up rounds (default 1, i.e. one call per image)"
        )
        p.add_argument(
            "--budget",
            type=float,
            default=6.0,
            help="seconds of timed calls per configuration; slower ones get fewer rounds, at least 3 "
            "(default 6; 0 = always --runs)",
        )
        p.add_argument(
            "--limit",
            type=_limit,
            default=100,
            help="WIDER val images scored, evenly spread (default 100 of the 626 on disk, which keeps "
            "'all' near 6 minutes on 2 lightly loaded cores; 'all' = every image on disk)",
        )
        p.add_argument("--fddb-limit", type=_limit, default=None, help="FDDB images scored (default: all on disk)")
        p.add_argument(
            "--memory",
            choices=("isolated", "inprocess"),
            default="isolated",
            help="isolated: process peak of each configuration in a fresh process (default); "
            "inprocess: only the in-process figures (faster)",
        )
        p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--log-level", default="WARNING")
    r = sub.add_parser("report", help="re-render Markdown, plots and docs page from a saved benchmark.json")
    r.add_argument("--json", type=Path, required=True)
    r.add_argument("--out", type=Path, default=None, help="output folder (default: beside the JSON)")
    r.add_argument("--doc", type=Path, default=None)
    r.add_argument("--no-plots", action="store_true")
    w = sub.add_parser("_memory", help=argparse.SUPPRESS)
    w.add_argument("--spec", required=True)
    w.add_argument("images", nargs="+", type=Path)
    return parser


def _summary(report: dict) -> None:
    latency = report.get("latency") or {}
    for row in latency.get("results", []):
        stages = row.get("stages_ms")
        split = (
            f"  pre {stages['preprocess']['median']:.1f} / bare {stages['inference']['median']:.1f} / "
            f"post {stages['postprocess']['median']:.1f}"
            if stages
            else ""
        )
        print(f"{row['key']:<48} {row['detect_ms']['median']:8.2f} ms  p90 {row['detect_ms']['p90']:8.2f}{split}")
    for row in (report.get("accuracy") or {}).get("results", []):
        ap = (row.get("widerface") or {}).get("ap") or {}
        print(f"{row['key']:<48} WIDER AP easy {ap.get('easy')} medium {ap.get('medium')} hard {ap.get('hard')}")
    for part in ("latency", "accuracy"):
        for row in (report.get(part) or {}).get("skipped", []):
            what = row.get("key") or " ".join(
                str(row[k]) for k in ("detector", "backend", "device", "size") if row.get(k)
            )
            print(f"skipped ({part}) {what}: {row['reason']}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "_memory":
        from .memory import worker
        from .subjects import SubjectSpec

        print(json.dumps(worker(SubjectSpec.from_dict(json.loads(args.spec)), args.images)))
        return 0
    from .doc import write_doc
    from .report import write_outputs

    if args.command == "report":
        report = json.loads(args.json.read_text())
        files = write_outputs(report, args.out or args.json.parent, plots=not args.no_plots)
        if args.doc:
            print(f"wrote {write_doc(report, args.doc)}")
        print("wrote " + ", ".join(files.values()))
        return 0
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
    )
    from .runner import Options, run

    command_line = "python -m benchmarks " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    options = Options(
        command=args.command,
        backends=args.backends,
        peers=args.peers,
        sizes=args.sizes,
        accuracy_sizes=args.accuracy_sizes,
        threads=args.threads,
        precisions=args.precisions,
        devices=args.devices,
        model=args.model,
        data_root=args.data_root,
        images=args.images,
        runs=args.runs,
        warmup=args.warmup,
        budget=args.budget,
        limit=args.limit,
        fddb_limit=args.fddb_limit,
        memory=args.memory,
        progress=not args.no_progress,
        command_line=command_line,
    )
    report = run(options)
    files = write_outputs(report, args.out, plots=not args.no_plots)
    _summary(report)
    if args.doc:
        print(f"wrote {write_doc(report, args.doc)}")
    print(f"done in {report['elapsed_seconds']:.0f} s: " + ", ".join(files.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
