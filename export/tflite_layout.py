"""TFLite files that take channels-last (NHWC) input, the layout LiteRT computes in.

litert-torch converts the NCHW model by putting a TRANSPOSE (perm 0,2,3,1) in front of the first convolution. This
module drops that operator and makes its output the model's input: the file then takes NHWC directly (the SDK
writes it in one pass, and an int8 file's input is a per-channel lookup of the uint8 canvas), and the interpreter
no longer transposes 1.2 M values per call. Nothing else changes, so the outputs are bit-identical for the same
pixels (tests/test_fast_path.py).

    python -m export.tflite_layout MODEL_DIR    # convert the NCHW .tflite files a model directory lists, in place
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from edge_sdk.manifest import Manifest, ModelFile, load_manifest

log = logging.getLogger(__name__)

_TO_CHANNELS_LAST = (0, 2, 3, 1)


class LayoutError(ValueError):
    """The file's input is not a single NCHW tensor read only by a channels-last TRANSPOSE."""


def channels_last_input(content: bytes) -> bytes:
    """The .tflite ``content`` with its leading NCHW→NHWC TRANSPOSE removed (the model then takes NHWC)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1:
        raise LayoutError(f"expected one input, found {len(graph.inputs)}")
    source = int(graph.inputs[0])
    readers = [op for op in graph.operators if source in list(op.inputs)]
    if len(readers) != 1 or flatbuffer_utils.opcode_to_name(model, readers[0].opcodeIndex) != "TRANSPOSE":
        raise LayoutError("the input is not read by exactly one TRANSPOSE (already channels-last?)")
    transpose = readers[0]
    perm_tensor = graph.tensors[transpose.inputs[1]]
    data = model.buffers[perm_tensor.buffer].data
    if data is None:
        raise LayoutError("the input TRANSPOSE's permutation is not a constant in the file")
    perm = np.frombuffer(bytes(np.asarray(data, np.uint8)), dtype=np.int32)
    if tuple(int(v) for v in perm) != _TO_CHANNELS_LAST:
        raise LayoutError(f"the input TRANSPOSE has perm {perm.tolist()}, not {list(_TO_CHANNELS_LAST)}")
    target = int(transpose.outputs[0])
    graph.inputs[0] = target
    graph.operators.remove(transpose)
    for signature in model.signatureDefs or []:
        for item in signature.inputs:
            if item.tensorIndex == source:
                item.tensorIndex = target
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def convert_file(path: Path) -> None:
    """Rewrite one .tflite file in place with channels-last input."""
    path.write_bytes(channels_last_input(path.read_bytes()))


def convert_model_dir(directory: Path) -> list[ModelFile]:
    """Convert every NCHW .tflite file ``directory``'s manifest lists, in place, and record them (new checksum,
    ``layout: NHWC``) in the manifest. Returns the converted entries."""
    manifest: Manifest = load_manifest(directory)
    converted = []
    for entry in manifest.files:
        if entry.format != "tflite" or manifest.layout_of(entry) == "NHWC":
            continue
        entry.verify()
        convert_file(entry.path)
        fresh = ModelFile.of_file(
            directory,
            entry.path,
            entry.format,
            entry.precision,
            entry.input_size,
            output_names=entry.output_names,
            quantization=entry.quantization,
            exporter=channels_last_note(entry.exporter),
            layout="NHWC",
        )
        converted.append(fresh)
        log.info("%s: input now NHWC", entry.path.name)
    if converted:
        manifest.add_files(converted).write()
    return converted


def channels_last_note(exporter: str) -> str:
    """The exporter note of a file converted here."""
    note = exporter.replace(", NCHW input", "")
    return note if note.endswith(_NOTE) else f"{note}, {_NOTE}"


_NOTE = "NHWC input (input transpose dropped, export.tflite_layout)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = convert_model_dir(args.model_dir)
    print(f"{len(files)} file(s) converted: {', '.join(f.path.name for f in files) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
