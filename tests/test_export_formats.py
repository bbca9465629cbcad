"""Export to OpenVINO IR (fp32, fp16 weights) and TFLite through the CLI, and the TFLite backend's int8 input/output
path on a tiny int8 model made here with litert-torch (PT2E)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging

import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.backends.tflite_backend import TfliteBackend
from edge_sdk.manifest import ModelFile, load_manifest, sha256_of
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

from .conftest import REPO_ROOT, require


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``python -m export --formats openvino,tflite --sizes 640 --precisions fp32,fp16`` once (~20 s, TFLite ~11)."""
    for module in ("torch", "onnxscript", "openvino", "litert_torch", "ai_edge_litert"):
        require(module, "the [export] extra")
    from export.__main__ import main

    out = tmp_path_factory.mktemp("exported")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert (
            main(
                [
                    "--formats",
                    "openvino,tflite",
                    "--sizes",
                    "640",
                    "--precisions",
                    "fp32,fp16",
                    "--out",
                    str(out),
                    "--parity-image",
                    str(REPO_ROOT / "samples" / "astronaut.png"),
                ]
            )
            == 0
        )
    return out, stdout.getvalue().splitlines()


def test_cli_prints_one_parity_line_per_file(exported):
    out, lines = exported
    print("\n" + "\n".join(lines))
    by_file = {line.split()[1]: line for line in lines if line.startswith("parity ")}
    # TFLite has fp32 only: asking for fp16 skips it there.
    assert set(by_file) == {
        "retinaface_mnet025_640x640.xml",
        "retinaface_mnet025_640x640_fp16.xml",
        "retinaface_mnet025_640x640.tflite",
    }
    assert "via tflite" in by_file["retinaface_mnet025_640x640.tflite"]


def test_manifest_entries_of_the_new_formats(exported):
    out, _ = exported
    raw = json.loads((out / "manifest.json").read_text())
    entries = {e["path"]: e for e in raw["files"]}
    fp32, fp16 = entries["retinaface_mnet025_640x640.xml"], entries["retinaface_mnet025_640x640_fp16.xml"]
    for entry in (fp32, fp16):
        (weights,) = entry["extra_files"]
        assert weights.endswith(".bin") and entry["extra_sha256"][weights] == sha256_of(out / weights)
    assert (fp32["precision"], fp16["precision"]) == ("fp32", "fp16")
    ratio = (out / fp16["extra_files"][0]).stat().st_size / (out / fp32["extra_files"][0]).stat().st_size
    assert 0.45 < ratio < 0.55  # fp16 weights: half the .bin
    assert entries["retinaface_mnet025_640x640.tflite"]["output_names"] == {
        "boxes": "serving_default_boxes_output",
        "scores": "serving_default_scores_output",
        "landmarks": "serving_default_landmarks_output",
    }
    for f in load_manifest(out).files:
        f.verify()


def test_fp16_weights_find_the_same_face(exported, astronaut):
    out, _ = exported
    fp32 = FaceDetector(model=out, backend="openvino").detect(astronaut)
    fp16 = FaceDetector(model=out, backend="openvino", precision="fp16").detect(astronaut)
    assert len(fp32) == len(fp16) == 1
    w = np.minimum(fp32.boxes[0, 2:], fp16.boxes[0, 2:]) - np.maximum(fp32.boxes[0, :2], fp16.boxes[0, :2])
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    iou = w.prod() / (area(fp32.boxes[0]) + area(fp16.boxes[0]) - w.prod())
    print(f"\nfp16 vs fp32 weights: IoU {iou:.4f}, score {fp16.scores[0]:.5f} vs {fp32.scores[0]:.5f}")
    assert iou > 0.95 and abs(fp16.scores[0] - fp32.scores[0]) < 0.01


def test_exported_tflite_equals_the_bundled_one(exported):
    """The bundled TFLite file is this export of the shipped checkpoint (the conversion is deterministic)."""
    out, _ = exported
    bundled = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    shipped = next(f for f in bundled.files if f.format == "tflite")
    assert sha256_of(out / "retinaface_mnet025_640x640.tflite") == shipped.sha256


# --- int8 input/output ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory):
    """A 3-conv model with the detector's three heads, PT2E-quantized to int8 by litert-torch (~2 s). Its input and
    its box/landmark outputs are int8 with scale/zero point; the softmaxed scores stay float."""
    torch = require("torch", "the [export] extra")
    require("litert_torch", "the [export] extra")
    require("ai_edge_litert", "the [tflite] extra")
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Conv2d(3, 8, 3, 2, 1)
            self.heads = torch.nn.ModuleList(torch.nn.Conv2d(8, k, 1) for k in (4, 2, 10))

        def forward(self, x):
            f = torch.relu(self.body(x))
            boxes, logits, landmarks = (h(f).reshape(1, h.out_channels, -1).transpose(1, 2) for h in self.heads)
            return {"boxes": boxes, "scores": torch.softmax(logits, -1), "landmarks": landmarks}

    torch.manual_seed(0)
    example = torch.randn(1, 3, 32, 32) * 60
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(Tiny().eval(), (example,)).module(), quantizer)
    for _ in range(8):
        prepared(torch.randn(1, 3, 32, 32) * 60)
    quantized = convert_pt2e(prepared, fold_quantize=False)
    path = tmp_path_factory.mktemp("int8") / "tiny_int8.tflite"
    litert_torch.convert(quantized, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return path, quantized


def test_int8_input_and_outputs_are_handled(tiny_int8, caplog):
    torch = require("torch", "the [export] extra")
    path, reference_model = tiny_int8
    bundled = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    model_file = ModelFile(path=path, format="tflite", precision="int8", input_size=(32, 32), sha256=sha256_of(path))
    # No output names in this manifest: the backend must tell boxes/scores/landmarks apart by shape.
    manifest = dataclasses.replace(bundled, directory=path.parent, files=(model_file,))
    with caplog.at_level(logging.WARNING):
        backend = TfliteBackend(model_file, manifest, threads=1)
    assert "matched them by shape" in caplog.text
    details = backend.interpreter.get_input_details()[0]
    assert details["dtype"] == np.int8 and backend.describe()["quantized_io"] is True
    input_scale = details["quantization"][0]
    out_scales = {role: q.scale for role, (_, q) in zip(("boxes", "scores", "landmarks"), backend._outputs) if q}
    assert set(out_scales) == {"boxes", "landmarks"}  # scores come out float

    x = (np.random.default_rng(1).standard_normal((1, 3, 32, 32)) * 60).astype(np.float32)
    got = backend.run(x)
    with torch.no_grad():
        want = reference_model(torch.from_numpy(x))
    for role, out in zip(("boxes", "scores", "landmarks"), got):
        assert out.dtype == np.float32 and out.shape == tuple(want[role].shape)
        diff = float(np.abs(out - want[role].numpy()).max())
        # within two output steps (rounding in the kernels may differ by one; the float scores by a little)
        limit = 2.01 * out_scales[role] if role in out_scales else 0.02
        print(
            f"\nint8 {role}: max |diff| vs the PT2E reference {diff:.4f} (limit {limit:.4f}, "
            f"input scale {input_scale:.3f})"
        )
        assert diff <= limit


def test_channels_last_input_drops_only_the_transpose(tiny_int8, tmp_path):
    """``export.tflite_layout``: the NCHW file with its input TRANSPOSE dropped takes NHWC and gives bit-identical
    outputs for the same values; a file that is already channels-last is refused, not damaged."""
    from ai_edge_litert.interpreter import Interpreter

    from export.tflite_layout import LayoutError, channels_last_input

    path, _ = tiny_int8
    converted = tmp_path / "nhwc.tflite"
    converted.write_bytes(channels_last_input(path.read_bytes()))
    nchw, nhwc = Interpreter(model_path=str(path)), Interpreter(model_path=str(converted))
    for interpreter in (nchw, nhwc):
        interpreter.allocate_tensors()
    assert tuple(nchw.get_input_details()[0]["shape"]) == (1, 3, 32, 32)
    assert tuple(nhwc.get_input_details()[0]["shape"]) == (1, 32, 32, 3)
    assert nhwc.get_input_details()[0]["quantization"] == nchw.get_input_details()[0]["quantization"]
    x = np.random.default_rng(2).integers(-128, 128, (1, 3, 32, 32), dtype=np.int8)
    nchw.set_tensor(nchw.get_input_details()[0]["index"], x)
    nhwc.set_tensor(nhwc.get_input_details()[0]["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    nchw.invoke()
    nhwc.invoke()
    for a, b in zip(nchw.get_output_details(), nhwc.get_output_details()):
        assert np.array_equal(nchw.get_tensor(a["index"]), nhwc.get_tensor(b["index"]))
    with pytest.raises(LayoutError, match="TRANSPOSE"):
        channels_last_input(converted.read_bytes())


# --- post-training int8 baselines ------------------------------------------------------------------------------


def test_ptq_baselines_are_written_through_export_int8(tmp_path, astronaut, shared_data):
    """``export.int8.write_ptq_baselines`` quantizes the directory's fp32 ONNX file (ONNX Runtime ``quantize_static``
    and NNCF), names the files, and ``add_files`` lists them; the runtime loads them as precision "int8-ptq"."""
    require("onnxruntime", "the [onnx] extra")
    require("nncf", "the [quantize] extra")
    import cv2

    from edge_sdk.preprocess import Letterbox, make_input
    from export.int8 import write_ptq_baselines
    from export.manifest_writer import add_files
    from training.checkpoint import DEFAULT_CHECKPOINT

    from .conftest import copy_bundled_model

    model_dir = copy_bundled_model(tmp_path)
    manifest = load_manifest(model_dir)
    calibration = []
    for path in sorted((shared_data / "widerface" / "WIDER_train" / "images").glob("*/*.jpg"))[:2]:
        image = cv2.imread(str(path))
        calibration.append(
            make_input(image, Letterbox.fit(image.shape[1], image.shape[0], 640, 640), manifest.normalization)
        )
    files = write_ptq_baselines(model_dir, calibration, [(640, 640)])
    add_files(model_dir, files, DEFAULT_CHECKPOINT)
    assert [(f.path.name, f.format) for f in files] == [
        ("retinaface_mnet025_640x640_int8-ptq.onnx", "onnx"),
        ("retinaface_mnet025_640x640_int8-ptq.xml", "openvino"),
    ]
    assert files[1].extra_files == (model_dir / "retinaface_mnet025_640x640_int8-ptq.bin",)
    assert {f.path.name for f in load_manifest(model_dir).files if f.precision == "int8-ptq"} == {
        f.path.name for f in files
    }
    reference = FaceDetector(backend="onnxruntime").detect(astronaut)
    for backend in ("onnxruntime", "openvino"):
        faces = FaceDetector(model=model_dir, backend=backend, precision="int8-ptq").detect(astronaut)
        assert len(faces) == 1 and np.abs(faces.boxes - reference.boxes).max() < 10, backend
