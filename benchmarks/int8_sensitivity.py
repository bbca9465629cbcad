"""Where an int8 QDQ model loses its accuracy: give one part of the network float activations at a time.

For each part (backbone stages, FPN, SSH) every activation QuantizeLinear -> DequantizeLinear pair whose producer
belongs to that part is removed, so the part runs on float activations (its weights stay int8), and the model is
scored on WIDER FACE val through the SDK with ONNX Runtime. What a part gains is what the 8-bit rounding of its
activations costs, given weights that QAT adapted to that rounding (so the gains of two parts need not add up).
The part of a node comes from the name scopes the torch exporter writes into each ONNX node's metadata.

    python -m benchmarks.int8_sensitivity --model edge_sdk/models/retinaface_mnet025 --data-root ../shared/data \\
        [--file retinaface_mnet025_640x640_int8.onnx] [--limit N] [--out docs/INT8_SENSITIVITY.md]

Torch-free (onnx + onnxruntime), like the evaluation it runs.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from edge_sdk.manifest import MANIFEST_NAME, sha256_of

# label -> module scope prefix ("" = every activation of the graph)
PARTS = {
    "backbone stage 1 (strides 2-8)": "model.body.stage1",
    "backbone stage 2 (stride 16)": "model.body.stage2",
    "backbone stage 3 (stride 32)": "model.body.stage3",
    "FPN": "model.fpn",
    "SSH context modules": "model.ssh",
    "all activations": "",
}
SCOPES_KEY = "pkg.torch.onnx.name_scopes"


def _scopes(node: onnx.NodeProto) -> list[str]:
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            return [str(s) for s in ast.literal_eval(prop.value)]
    return []


def activation_pairs(model: onnx.ModelProto) -> list[tuple[onnx.NodeProto, list[onnx.NodeProto], list[str]]]:
    """(QuantizeLinear, its DequantizeLinear consumers, the producer's name scopes) for every quantized activation:
    a QuantizeLinear fed by another node (not the graph input, not a weight initializer)."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    pairs = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in producer:
            continue
        dequantize = [c for c in consumers.get(node.output[0], []) if c.op_type == "DequantizeLinear"]
        if dequantize and len(dequantize) == len(consumers[node.output[0]]):
            pairs.append((node, dequantize, _scopes(producer[node.input[0]])))
    return pairs


def without_activation_rounding(model: onnx.ModelProto, scope: str) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` whose activations produced inside ``scope`` ("" = anywhere) skip their Q/DQ pair; returns
    it with the number of pairs removed."""
    if not model.graph.node or not any(_scopes(n) for n in model.graph.node):
        raise ValueError(f"the graph has no {SCOPES_KEY} metadata: export it with torch.onnx (dynamo) to get it")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    outputs = {o.name for o in graph.output}
    renames: dict[str, str] = {}  # a removed DequantizeLinear's output -> the activation it came from
    removed: list[onnx.NodeProto] = []
    for quantize, dequantize, scopes in activation_pairs(copy):
        if scope and not any(s == scope or s.startswith(scope + ".") for s in scopes):
            continue
        if any(d.output[0] in outputs for d in dequantize):
            continue  # a graph output keeps its name
        renames.update({d.output[0]: quantize.input[0] for d in dequantize})
        removed += [quantize, *dequantize]
    for node in removed:
        graph.node.remove(node)
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
    pairs = sum(node.op_type == "QuantizeLinear" for node in removed)
    return copy, pairs


@dataclass(frozen=True)
class ValImages:
    """The WIDER FACE val images to score and their ground truth, read once for every variant."""

    root: Path
    gt: Any
    keys: list[str]

    @classmethod
    def load(cls, data_root: Path, limit: int | None) -> ValImages:
        from evaluation.widerface import list_widerface_images, load_widerface_gt

        root = data_root / "widerface"
        gt = load_widerface_gt(root)
        keys = list_widerface_images(root, gt=gt)
        if limit:
            keys = keys[:: max(1, len(keys) // limit)][:limit]  # spread over the events
        return cls(root, gt, keys)


def score(model: onnx.ModelProto, template: dict, input_size: list[int] | None, val: ValImages) -> dict[str, float]:
    """WIDER FACE val AP of ``model``, run through the SDK (onnxruntime) from a scratch model directory that carries
    the original manifest's settings."""
    with tempfile.TemporaryDirectory(prefix="edge_sdk_int8_sensitivity_") as scratch:
        path = Path(scratch) / "model.onnx"
        onnx.save(model, path)
        manifest = dict(
            template,
            files=[
                {
                    "path": path.name,
                    "format": "onnx",
                    "precision": "int8",
                    "input_size": input_size,
                    "sha256": sha256_of(path),
                    "bytes": path.stat().st_size,
                    "extra_files": [],
                }
            ],
        )
        (Path(scratch) / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
        return score_directory(Path(scratch), "int8", input_size, val)


def score_directory(model_dir: Path, precision: str, input_size: list[int] | None, val: ValImages) -> dict[str, float]:
    from evaluation.detectors import run_detector, sdk_detector
    from evaluation.widerface import evaluate_widerface, image_path

    detector = sdk_detector(
        model=model_dir, backend="onnxruntime", precision=precision, input_size=input_size[0] if input_size else None
    )
    predictions, _, _ = run_detector(detector, {k: image_path(val.root, k) for k in val.keys}, progress=False)
    return evaluate_widerface(predictions, val.gt, images=val.keys).ap | {"images": len(val.keys)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.int8_sensitivity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, default=Path("edge_sdk/models/retinaface_mnet025"))
    parser.add_argument("--file", default=None, help="the int8 QDQ ONNX file of --model (default: the 640 one)")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="score this many val images (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as markdown here")
    args = parser.parse_args(argv)
    manifest = json.loads((args.model / MANIFEST_NAME).read_text(encoding="utf-8"))
    onnx_files = [f for f in manifest["files"] if f["format"] == "onnx"]
    entry = next(
        (
            f
            for f in onnx_files
            if (f["path"] == args.file if args.file else f["precision"] == "int8" and f["input_size"] == [640, 640])
        ),
        None,
    )
    if entry is None:
        parser.error(f"no int8 ONNX file {args.file or 'at 640x640'} in {args.model / MANIFEST_NAME}")
    template = {k: v for k, v in manifest.items() if k != "files"}
    model = onnx.load(str(args.model / entry["path"]))
    size = entry["input_size"]

    val = ValImages.load(args.data_root, args.limit)
    fp32 = score_directory(args.model, "fp32", size, val)
    rows = [("int8 file as shipped", 0, score(model, template, size, val))]
    for label, scope in PARTS.items():
        variant, removed = without_activation_rounding(model, scope)
        print(f"{label}: {removed} activation Q/DQ pairs removed", flush=True)
        rows.append((f"{label} in float", removed, score(variant, template, size, val)))
    text = render(entry["path"], fp32, rows, args.limit)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


def render(file: str, fp32: dict[str, float], rows: list[tuple[str, int, dict[str, float]]], limit: int | None) -> str:
    base = rows[0][2]
    images = base["images"]
    lines = [
        "# int8 sensitivity: what each part's activation rounding costs",
        "",
        f"Generated {_dt.date.today().isoformat()} ({platform.machine()}, Python {platform.python_version()}) by",
        f"`python -m benchmarks.int8_sensitivity --model edge_sdk/models/retinaface_mnet025 --data-root ../shared/data"
        f"{f' --limit {limit}' if limit else ''} --out docs/INT8_SENSITIVITY.md` on `{file}`.",
        "",
        f"WIDER FACE val, {images} images, official protocol, ONNX Runtime through the SDK at the file's input size.",
        "Each row removes the activation QuantizeLinear/DequantizeLinear pairs of one part (its weights stay int8).",
        "",
        "| activations | Q/DQ pairs removed | Easy AP | Medium AP | Hard AP | vs the int8 file (E/M/H, points) "
        "| vs fp32 (E/M/H, points) |",
        "|---|---|---|---|---|---|---|",
        f"| fp32 file | - | {fp32['easy']:.4f} | {fp32['medium']:.4f} | {fp32['hard']:.4f} | | |",
    ]

    def change(ap: dict[str, float], reference: dict[str, float]) -> str:
        return " / ".join(f"{100 * (ap[s] - reference[s]):+.2f}" for s in ("easy", "medium", "hard"))

    for label, removed, ap in rows:
        lines.append(
            f"| {label} | {removed} | {ap['easy']:.4f} | {ap['medium']:.4f} | {ap['hard']:.4f} "
            f"| {change(ap, base)} | {change(ap, fp32)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
