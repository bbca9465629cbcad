"""Bad input and arguments get a typed error with a helpful message; models are verified before inference."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import (
    BackendUnavailableError,
    FaceDetector,
    InvalidArgumentError,
    InvalidImageError,
    ModelLoadError,
)
from edge_sdk.errors import EdgeSDKError

from .conftest import REPO_ROOT, copy_bundled_model

BAD_IMAGES = [
    ("none", None, "None"),
    ("list", [[1, 2, 3]], "numpy array"),
    ("int", 7, "numpy array"),
    ("dict", {"img": 1}, "numpy array"),
    ("empty rows", np.zeros((0, 10, 3), np.uint8), "empty"),
    ("empty cols", np.zeros((10, 0, 3), np.uint8), "empty"),
    ("zero-size 2d", np.zeros((0, 0), np.uint8), "empty"),
    ("float > 1", np.full((10, 10, 3), 2.0, np.float32), r"\[0, 1\]"),
    ("float negative", np.full((10, 10, 3), -0.5, np.float64), r"\[0, 1\]"),
    ("float nan", np.full((10, 10, 3), np.nan, np.float32), "NaN"),
    ("uint16", np.zeros((10, 10, 3), np.uint16), "16-bit"),
    ("bool", np.zeros((10, 10, 3), bool), "dtype"),
    ("int32", np.zeros((10, 10, 3), np.int32), "dtype"),
    ("complex", np.zeros((10, 10, 3), np.complex64), "dtype"),
    ("2 channels", np.zeros((10, 10, 2), np.uint8), "channels"),
    ("5 channels", np.zeros((10, 10, 5), np.uint8), "channels"),
    ("batch", np.zeros((2, 10, 10, 3), np.uint8), "batch"),
    ("1d", np.zeros(30, np.uint8), "shape"),
    ("0d", np.array(5, np.uint8), "shape"),
    ("missing file", "does/not/exist.jpg", "does not exist"),
    ("empty bytes", b"", "empty"),
    ("garbage bytes", b"not an image at all", "cannot decode"),
    ("truncated jpeg", "TRUNCATED_JPEG", "cannot decode"),
    ("text file", "TEXT_FILE", "cannot decode"),
]

BAD_ARGUMENTS = [
    ({"score_threshold": 1.5}, InvalidArgumentError, "score_threshold"),
    ({"score_threshold": -0.01}, InvalidArgumentError, "score_threshold"),
    ({"score_threshold": "0.5"}, InvalidArgumentError, "score_threshold"),
    ({"nms_threshold": -0.1}, InvalidArgumentError, "nms_threshold"),
    ({"nms_threshold": 2}, InvalidArgumentError, "nms_threshold"),
    ({"input_size": 0}, InvalidArgumentError, "input_size"),
    ({"input_size": -640}, InvalidArgumentError, "input_size"),
    ({"input_size": (640,)}, InvalidArgumentError, "input_size"),
    ({"input_size": 640.0}, InvalidArgumentError, "input_size"),
    ({"input_size": 100000}, InvalidArgumentError, "input_size"),
    ({"max_faces": 0}, InvalidArgumentError, "max_faces"),
    ({"threads": 0}, InvalidArgumentError, "threads"),
    ({"max_pixels": 0}, InvalidArgumentError, "max_pixels"),
    ({"backend": "onnxrt"}, InvalidArgumentError, "Did you mean 'onnx"),
    ({"backend": "tensorflow-gpu"}, InvalidArgumentError, "unknown backend"),
    ({"precision": "int4"}, ModelLoadError, "no int4 file"),
    ({"model": "no_such_model"}, ModelLoadError, "not found"),
    # the size is what is missing, and the message says which files exist
    (
        {"backend": "tflite", "input_size": 320},
        ModelLoadError,
        r"no fp32 file at input size 320x320 for backend 'tflite'; "
        r"it has: .*640x640\.tflite \(tflite, fp32, 640x640\)",
    ),
    (
        {"backend": "tflite", "precision": "int8", "input_size": None},
        ModelLoadError,
        r"no int8 file at input size original \(dynamic\) for backend 'tflite'",
    ),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    (root / "truncated.jpg").write_bytes(jpeg[:40])
    (root / "notes.txt").write_text("hello")
    return {"TRUNCATED_JPEG": str(root / "truncated.jpg"), "TEXT_FILE": str(root / "notes.txt")}


@pytest.mark.parametrize("name,image,match", BAD_IMAGES, ids=[c[0] for c in BAD_IMAGES])
def test_bad_image(detector, files, name, image, match):
    image = files.get(image, image) if isinstance(image, str) else image
    with pytest.raises(InvalidImageError, match=match):
        detector.detect(image)


@pytest.mark.parametrize("kwargs,error,match", BAD_ARGUMENTS, ids=[str(c[0]) for c in BAD_ARGUMENTS])
def test_bad_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        FaceDetector(**kwargs)


def test_helper_arguments_are_checked(detector, astronaut):
    from edge_sdk.privacy import anonymize_faces
    from edge_sdk.tiling import TiledDetector

    faces = detector.detect(astronaut)
    with pytest.raises(InvalidArgumentError, match="mode"):
        anonymize_faces(astronaut, faces, mode="smudge")
    with pytest.raises(InvalidArgumentError, match="margin"):
        anonymize_faces(astronaut, faces, margin=-1)
    with pytest.raises(InvalidArgumentError, match="edge_margin"):
        TiledDetector(detector, overlap=64, edge_margin=64)


def test_errors_are_also_builtin_types():
    assert issubclass(InvalidImageError, ValueError) and issubclass(InvalidArgumentError, ValueError)
    assert issubclass(BackendUnavailableError, ImportError)
    assert all(issubclass(e, EdgeSDKError) for e in (InvalidImageError, ModelLoadError, BackendUnavailableError))


def test_oversized_image_is_rejected_before_work(astronaut):
    with pytest.raises(InvalidImageError, match="max_pixels"):
        FaceDetector(max_pixels=1000).detect(astronaut)


@pytest.mark.parametrize("shape", [(1, 1, 3), (8, 8, 3), (3, 500, 3), (4320, 7680, 3)])
def test_tiny_and_huge_images_work(detector, shape):
    faces = detector.detect(np.full(shape, 90, np.uint8))
    assert len(faces) == 0


def test_other_input_kinds_give_the_same_faces(detector, astronaut):
    from PIL import Image

    expected = detector.detect(astronaut)
    path = REPO_ROOT / "samples" / "astronaut.png"
    rgb = np.ascontiguousarray(astronaut[:, :, ::-1])
    readonly = astronaut.copy()
    readonly.setflags(write=False)
    variants = {
        "path": str(path),
        "pathlib": path,
        "bytes": path.read_bytes(),
        "pil": Image.open(path),
        "readonly": readonly,
        "non-contiguous": astronaut[:, ::-1][:, ::-1],
        "float01": astronaut.astype(np.float32) / 255.0,
    }
    for name, image in variants.items():
        got = detector.detect(image)
        assert len(got) == 1, name
        np.testing.assert_allclose(got.boxes, expected.boxes, atol=0.5, err_msg=name)
    np.testing.assert_allclose(detector.detect(rgb, rgb=True).boxes, expected.boxes, atol=1e-4)
    assert readonly.flags.writeable is False


def test_exif_orientation_is_applied(detector, astronaut):
    from PIL import Image

    # Store the image rotated 90° with an EXIF tag saying "rotate back": decoders must undo it.
    rotated = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut[:, :, ::-1], k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    buffer = io.BytesIO()
    rotated.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    data = buffer.getvalue()
    upright = detector.detect(astronaut)
    for image in (data, Image.open(io.BytesIO(data))):
        faces = detector.detect(image)
        assert len(faces) == 1
        np.testing.assert_allclose(faces.boxes, upright.boxes, atol=6)


def _rewrite_manifest(model_dir: Path, change) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    change(manifest)
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


def test_truncated_model_fails_checksum(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    onnx = model_dir / "retinaface_mnet025_640x640.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="checksum"):
        FaceDetector(model=model_dir, backend="onnxruntime")


def test_missing_model_file(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    (model_dir / "retinaface_mnet025_640x640.onnx").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        FaceDetector(model=model_dir, backend="onnxruntime")


def test_corrupt_model_with_matching_checksum_is_a_load_error(tmp_path):
    """A manifest re-signed over garbage: the runtime's own parse error becomes ModelLoadError."""
    from edge_sdk.manifest import sha256_of

    model_dir = copy_bundled_model(tmp_path)
    onnx = model_dir / "retinaface_mnet025_640x640.onnx"
    onnx.write_bytes(b"\x08\x07garbage" * 100)

    def resign(m):
        for f in m["files"]:
            if f["path"] == onnx.name:
                f["sha256"] = sha256_of(onnx)

    _rewrite_manifest(model_dir, resign)
    with pytest.raises(ModelLoadError, match="could not load"):
        FaceDetector(model=model_dir, backend="onnxruntime")


def test_manifest_that_disagrees_with_the_model(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    _rewrite_manifest(model_dir, lambda m: m["anchors"].update(min_sizes=[[16], [64], [256]]))
    with pytest.raises(ModelLoadError, match="disagree"):
        FaceDetector(model=model_dir, backend="onnxruntime")
    model_dir = copy_bundled_model(tmp_path / "b")
    _rewrite_manifest(model_dir, lambda m: m["outputs"]["names"].update(boxes="bbox"))
    with pytest.raises(ModelLoadError, match="lacks outputs"):
        FaceDetector(model=model_dir, backend="onnxruntime")


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda m: m.update(schema_version=99), "schema_version"),
        (lambda m: m.pop("anchors"), "malformed"),
        (lambda m: m.update(files=[]), "no model files"),
        (lambda m: m["files"][0].update(path="../../escape.onnx"), "inside the model directory"),
    ],
)
def test_malformed_manifests(tmp_path, change, match):
    model_dir = copy_bundled_model(tmp_path)
    _rewrite_manifest(model_dir, change)
    with pytest.raises(ModelLoadError, match=match):
        FaceDetector(model=model_dir)


def test_model_file_not_in_manifest(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    stray = model_dir / "other.onnx"
    shutil.copy(model_dir / "retinaface_mnet025_640x640.onnx", stray)
    with pytest.raises(ModelLoadError, match="not listed"):
        FaceDetector(model=stray)


RISKY = {
    "corrupt model": """
import json, shutil, sys, pathlib
from edge_sdk import FaceDetector, ModelLoadError
from edge_sdk.manifest import sha256_of
from edge_sdk.models import BUNDLED_DIR
d = pathlib.Path(sys.argv[1]) / "m"; shutil.copytree(BUNDLED_DIR / "retinaface_mnet025", d)
f = d / "retinaface_mnet025_640x640.onnx"; f.write_bytes(bytes(range(256)) * 64)
m = json.loads((d / "manifest.json").read_text())
for e in m["files"]:
    if e["path"] == f.name: e["sha256"] = sha256_of(f)
(d / "manifest.json").write_text(json.dumps(m))
try:
    FaceDetector(model=d, backend="onnxruntime")
except ModelLoadError as e:
    print("ModelLoadError"); sys.exit(3)
""",
    "huge image": """
import numpy as np, sys
from edge_sdk import FaceDetector, InvalidImageError
d = FaceDetector(input_size=None, max_pixels=50_000_000)
try:
    d.detect(np.zeros((10000, 10000, 3), np.uint8))
except InvalidImageError:
    print("InvalidImageError"); sys.exit(3)
""",
}


@pytest.mark.parametrize("name", sorted(RISKY))
def test_risky_inputs_do_not_crash_the_process(tmp_path, name):
    result = subprocess.run(
        [sys.executable, "-c", RISKY[name], str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, (result.returncode, result.stderr[-2000:])  # typed error, no segfault
