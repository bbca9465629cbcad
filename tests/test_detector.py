"""FaceDetector on real images through the real onnxruntime backend and the bundled model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_sdk import (
    BackendUnavailableError,
    Detections,
    FaceDetector,
    ModelLoadError,
)

from .conftest import copy_bundled_model, flip_middle_byte

# The astronaut's face (Eileen Collins) in samples/astronaut.png, by hand: x 178-272, y 57-178.
FACE_REGION = np.array([178, 57, 272, 178], np.float32)


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("input_size", [640, None, 320, (480, 320)])
def test_astronaut_has_exactly_one_face_on_the_face(astronaut, input_size):
    faces = FaceDetector(input_size=input_size).detect(astronaut)
    assert len(faces) == 1
    assert iou(faces.boxes[0], FACE_REGION) > 0.8
    assert faces.scores[0] > 0.9
    left_eye, right_eye, nose, left_mouth, right_mouth = faces.landmarks[0]
    assert left_eye[0] < nose[0] < right_eye[0]  # "left" is the image's left
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
    x1, y1, x2, y2 = faces.boxes[0]
    assert np.all((faces.landmarks[0][:, 0] > x1) & (faces.landmarks[0][:, 0] < x2))


def test_detections_api(detector, shared_data):
    image = cv2.imread(str(sorted((shared_data / "widerface/WIDER_val/images").glob("0--Parade/*.jpg"))[0]))
    faces = detector.detect(image)
    assert isinstance(faces, Detections) and len(faces) > 3
    assert faces.boxes.dtype == np.float32 and faces.boxes.shape == (len(faces), 4)
    assert faces.landmarks.shape == (len(faces), 5, 2)
    assert np.all(np.diff(faces.scores) <= 0)
    assert np.all((faces.boxes[:, 0] >= 0) & (faces.boxes[:, 2] <= image.shape[1]))
    assert np.all((faces.boxes[:, 1] >= 0) & (faces.boxes[:, 3] <= image.shape[0]))
    rows = faces.to_array()
    assert rows.shape == (len(faces), 15)
    np.testing.assert_allclose(rows[:, 2], faces.boxes[:, 2] - faces.boxes[:, 0], rtol=1e-6)
    np.testing.assert_allclose(rows[:, 14], faces.scores)
    first = next(iter(faces))
    assert first.score == pytest.approx(float(faces.scores[0]))
    assert set(first.to_dict()) == {"box", "score", "landmarks", "track_id"} and first.to_dict()["track_id"] is None


def test_max_faces_and_thresholds(shared_data):
    image = cv2.imread(str(sorted((shared_data / "widerface/WIDER_val/images").glob("0--Parade/*.jpg"))[0]))
    everything = FaceDetector(score_threshold=0.3).detect(image)
    top2 = FaceDetector(score_threshold=0.3, max_faces=2).detect(image)
    assert len(everything) > 2 and len(top2) == 2
    np.testing.assert_allclose(top2.boxes, everything.boxes[:2])
    strict = FaceDetector(score_threshold=0.9).detect(image)
    assert len(strict) < len(everything) and np.all(strict.scores >= 0.9)


def test_grayscale_and_bgra_inputs(detector, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    assert len(detector.detect(gray)) == 1
    assert len(detector.detect(gray[:, :, None])) == 1
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    np.testing.assert_allclose(detector.detect(bgra).boxes, detector.detect(astronaut).boxes)
    assert len(detector.detect(np.asfortranarray(astronaut))) == 1  # non-contiguous input
    assert len(detector.detect(np.zeros((480, 640, 3), np.uint8))) == 0  # blank frame → no faces


def test_tampered_or_missing_model_is_rejected(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    flip_middle_byte(model_dir / "retinaface_mnet025_640x640.onnx")
    with pytest.raises(ModelLoadError, match="checksum"):
        FaceDetector(model=model_dir, backend="onnxruntime")
    with pytest.raises(ModelLoadError, match="not found"):
        FaceDetector(model=tmp_path / "nope")
    (model_dir / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="JSON"):
        FaceDetector(model=model_dir)


def test_missing_backend_package_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.split(".")[0] == "onnxruntime":
            raise ImportError("blocked for the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    import sys

    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    with pytest.raises(BackendUnavailableError, match=r"edge-face-sdk\[onnx\]"):
        FaceDetector(backend="onnxruntime")
