"""Results like users expect: slicing, boolean masks, integer arrays, crops and 5-point alignment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector, InvalidArgumentError
from edge_sdk.detections import ALIGN_TEMPLATE_112, Detections, Face


@pytest.fixture(scope="module")
def crowd(shared_data: Path) -> tuple[np.ndarray, Detections]:
    path = shared_data / "widerface" / "WIDER_val" / "images" / "12--Group" / "12_Group_Group_12_Group_Group_12_10.jpg"
    image = cv2.imread(str(path))
    faces = FaceDetector(backend="onnxruntime", input_size=640).detect(image)
    assert len(faces) >= 10
    return image, faces


def test_slices_masks_and_index_arrays(crowd) -> None:
    _, faces = crowd
    first3 = faces[:3]
    assert isinstance(first3, Detections) and len(first3) == 3
    np.testing.assert_array_equal(first3.boxes, faces.boxes[:3])
    confident = faces[faces.scores > 0.9]
    assert len(confident) == int((faces.scores > 0.9).sum()) and (confident.scores > 0.9).all()
    picked = faces[[2, 0]]
    np.testing.assert_array_equal(picked.scores, faces.scores[[2, 0]])
    assert isinstance(faces[0], Face) and isinstance(faces[-1], Face) and faces[np.int64(1)].score == faces.scores[1]
    assert len(faces[faces.scores > 2]) == 0 and faces[::-1].scores[0] == faces.scores[-1]
    with pytest.raises(InvalidArgumentError):
        faces[np.ones(3, bool)]  # a mask of the wrong length
    with pytest.raises(InvalidArgumentError):
        faces[np.array([0.5])]


def test_crop_is_the_box_and_stays_inside_the_image(crowd) -> None:
    image, faces = crowd
    crop = faces.crop(image, 0)
    x1, y1, x2, y2 = faces.boxes[0]
    assert abs(crop.shape[1] - (x2 - x1)) <= 2 and abs(crop.shape[0] - (y2 - y1)) <= 2
    wide = faces.crop(image, 0, margin=10.0)  # far larger than the image: clipped, never empty
    assert wide.shape[0] <= image.shape[0] and wide.shape[1] <= image.shape[1] and wide.size
    with pytest.raises(InvalidArgumentError):
        faces.crop(image, len(faces))


def test_align_puts_the_landmarks_on_the_template(crowd) -> None:
    image, faces = crowd
    detector = FaceDetector(backend="onnxruntime", input_size=640)
    errors = []
    for i in range(5):
        aligned = faces.align(image, i)
        assert aligned.shape == (112, 112, 3)
        # the detector, run on the aligned face (with a border), finds its landmarks where the template puts them
        found = detector.detect(cv2.copyMakeBorder(aligned, 56, 56, 56, 56, cv2.BORDER_CONSTANT, value=0))
        assert len(found) >= 1
        errors.append(np.abs(found.landmarks[0] - 56 - ALIGN_TEMPLATE_112).max())
    assert np.median(errors) < 7.0, errors  # a 5-point similarity fit leaves a few pixels; a wrong warp is tens
    big = faces.align(image, 0, size=224)
    assert big.shape == (224, 224, 3)
    with pytest.raises(InvalidArgumentError):
        faces.align(image, 0, size=8)
