"""FDDB evaluation: pixel overlaps against brute-force masks, one-to-one matching, ROC by hand, real data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from evaluation import (
    FddbAnnotations,
    ellipse_to_rect,
    evaluate_fddb,
    list_fddb_images,
    load_fddb_annotations,
    read_fddb_predictions,
    reference_detector,
    region_overlaps,
    run_detector,
    write_fddb_predictions,
)
from evaluation.fddb import annotation_mask, image_path, match_at_threshold, read_image_sizes

from .conftest import data_root as _data_root


def brute_force_iou(ellipse, rect_xyxy, size) -> float:
    """The official computation: draw both regions on image-sized masks, count AND / OR pixels."""
    h, w = size
    a = annotation_mask(np.asarray(ellipse, dtype=float), h, w)
    d = np.zeros((h, w), np.uint8)
    p1 = tuple(int(v) for v in np.rint(np.float32(rect_xyxy[:2])))
    p2 = tuple(int(v) for v in np.rint(np.float32(rect_xyxy[2:])))
    cv2.rectangle(d, p1, p2, 1, thickness=-1)
    union = np.count_nonzero(a | d)
    return np.count_nonzero(a & d) / union if union else 0.0


def test_ellipse_is_drawn_with_the_fddb_angle_convention():
    # FDDB faces have angles near +-pi/2 with the major radius along the face: the mask must be tall.
    mask = annotation_mask(np.array([30.0, 10.0, np.pi / 2, 50.0, 50.0]), 100, 100)
    ys, xs = np.nonzero(mask)
    assert ys.max() - ys.min() + 1 == 61 and xs.max() - xs.min() + 1 == 21
    flat = annotation_mask(np.array([30.0, 10.0, 0.0, 50.0, 50.0]), 100, 100)
    ys, xs = np.nonzero(flat)
    assert xs.max() - xs.min() + 1 == 61 and ys.max() - ys.min() + 1 == 21


def test_ellipse_to_rect():
    np.testing.assert_allclose(ellipse_to_rect(np.array([[30, 10, 0, 50, 60]])), [[20, 50, 80, 70]])
    np.testing.assert_allclose(ellipse_to_rect(np.array([[30, 10, np.pi / 2, 50, 60]])), [[40, 30, 60, 90]], atol=1e-9)
    r = ellipse_to_rect(np.array([[10, 10, 0.7, 0, 0]]))  # a circle: rotation does not matter
    np.testing.assert_allclose(r, [[-10, -10, 10, 10]])
    mask = annotation_mask(np.array([30.0, 10.0, 1.2, 50.0, 50.0]), 100, 100, annotation="rect")
    ys, xs = np.nonzero(mask)
    x1, y1, x2, y2 = ellipse_to_rect(np.array([[30.0, 10.0, 1.2, 50.0, 50.0]]))[0]
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == tuple(int(v) for v in np.rint([x1, x2, y1, y2]))


def test_pixel_overlaps_equal_brute_force_masks():
    rng = np.random.default_rng(1)
    size = (90, 120)
    ellipses = np.array([[25.3, 14.8, 1.45, 60.4, 44.6], [12.0, 9.0, -1.2, 10.0, 80.0], [40, 30, 0.3, 115, 5]])
    rects = [rng.uniform(-30, 150, 4) for _ in range(60)]
    rects += [
        np.array([50.0, 30.0, 50.0, 30.0]),
        np.array([70.0, 60.0, 40.0, 20.0]),  # point; swapped corners
        np.array([-50.0, -50.0, -10.0, -10.0]),
        np.array([119.5, 0.0, 300.0, 89.5]),
    ]  # outside; on the edge
    iou = region_overlaps(ellipses, np.array(rects), size)
    for i, e in enumerate(ellipses):
        for j, r in enumerate(rects):
            assert iou[i, j] == pytest.approx(brute_force_iou(e, r, size), abs=1e-12), (i, j, r)
    assert iou.max() > 0.3  # the random rectangles do hit the ellipses


def test_matching_is_one_to_one_and_maximises_total_overlap():
    # Greedy by score would give D0-F0 only; the Hungarian assignment maximises the sum: D0-F1 + D1-F0.
    iou = np.array([[0.60, 0.58], [0.55, 0.0]])
    vals = match_at_threshold(iou, np.array([True, True]))
    assert sorted(vals.tolist()) == [0.55, 0.58]
    # Only the first detection valid: one pair, with its best face.
    assert match_at_threshold(iou, np.array([True, False])).tolist() == [0.60]
    # Zero-overlap rows/columns never produce pairs.
    assert match_at_threshold(np.zeros((2, 3)), np.ones(3, bool)).size == 0


def hand_case() -> tuple[FddbAnnotations, dict, dict]:
    ell = np.array([[20.0, 12.0, np.pi / 2, 50.0, 50.0]])  # one face, tall
    ann = FddbAnnotations(ellipses={"img": ell}, folds={"img": 1}, image_keys=("img",))
    tight = ellipse_to_rect(ell)[0]
    preds = np.array(
        [
            [*tight, 0.9],  # TP
            [*tight, 0.8],  # duplicate -> FP (one-to-one)
            [0, 0, 10, 10, 0.7],  # background -> FP
            [tight[0], tight[1], tight[2], 50.0, 0.6],  # upper half of the face: overlap < 0.5
        ]
    )
    return ann, {"img": preds}, {"img": (100, 100)}


def test_roc_by_hand():
    ann, preds, sizes = hand_case()
    x = brute_force_iou(ann.ellipses["img"][0], preds["img"][0, :4], (100, 100))
    assert 0.7 < x < 0.85  # ellipse / its bounding box ~ pi/4
    r = evaluate_fddb(preds, ann, sizes)
    # thresholds +inf, .9, .8, .7, .6: the duplicate, the background box and the half box are FPs.
    np.testing.assert_array_equal(r.fp, [0, 0, 1, 2, 3])
    np.testing.assert_allclose(r.tpr_discrete, [0, 1, 1, 1, 1])
    np.testing.assert_allclose(r.tpr_continuous, [0, x, x, x, x])
    assert r.tpr_at_fp["discrete"][10] == 1.0
    assert r.num_faces == 1 and r.num_predictions == 4 and r.folds == {1: 1}


def test_continuous_score_counts_matched_pairs_below_half():
    ann, preds, sizes = hand_case()
    half = preds["img"][3:4]  # only the half-face box: matched (overlap > 0) but not a discrete TP
    y = brute_force_iou(ann.ellipses["img"][0], half[0, :4], (100, 100))
    assert 0.2 < y < 0.5
    r = evaluate_fddb({"img": half}, ann, sizes)
    np.testing.assert_array_equal(r.fp, [0, 1])
    np.testing.assert_allclose(r.tpr_discrete, [0, 0])
    np.testing.assert_allclose(r.tpr_continuous, [0, y])


def test_images_without_detections_count_their_faces():
    ann, preds, sizes = hand_case()
    ann2 = FddbAnnotations(
        ellipses={**ann.ellipses, "other": np.array([[10.0, 8.0, 1.5, 20.0, 20.0]] * 3)},
        folds={"img": 1, "other": 2},
        image_keys=("img", "other"),
    )
    r = evaluate_fddb({"img": preds["img"][:1]}, ann2, {**sizes, "other": (50, 50)}, images=["img", "other"])
    assert r.num_faces == 4 and r.folds == {1: 1, 2: 1}
    np.testing.assert_allclose(r.tpr_discrete, [0, 0.25])


def test_tpr_at_fp_takes_the_best_point_within_the_budget():
    ann, preds, sizes = hand_case()
    background, face = preds["img"][2].copy(), preds["img"][0].copy()
    background[4], face[4] = 0.9, 0.5
    r = evaluate_fddb({"img": np.stack([background, face])}, ann, sizes, fp_points=(0, 1))
    # The background box scores above the face: TPR 0 with no FP allowed, 1 with one.
    assert r.tpr_at_fp["discrete"] == {0: 0.0, 1: 1.0}


def test_fddb_prediction_files_round_trip(tmp_path):
    preds = {
        "2002/08/11/big/img_591": np.array([[1.5, 2.0, 11.5, 30.25, 0.75]]),
        "2002/08/26/big/img_265": np.zeros((0, 5)),
        "2003/01/01/big/img_1": np.array([[0, 0, 4, 4, 0.5]]),
    }
    folds = {"2002/08/11/big/img_591": 1, "2002/08/26/big/img_265": 1, "2003/01/01/big/img_1": 7}
    written = write_fddb_predictions(preds, folds, tmp_path)
    assert [p.name for p in written] == ["fold-01-out.txt", "fold-07-out.txt"]
    lines = (tmp_path / "fold-01-out.txt").read_text().splitlines()
    assert lines == ["2002/08/11/big/img_591", "1", "1.5 2 10 28.25 0.75", "2002/08/26/big/img_265", "0"]
    back = read_fddb_predictions(tmp_path)
    assert set(back) == set(preds)
    for k in preds:
        np.testing.assert_array_equal(back[k], preds[k])


# ------------------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def fddb_root() -> Path:
    return _data_root() / "fddb"


def test_real_annotations(fddb_root):
    ann = load_fddb_annotations(fddb_root)
    assert len(ann.image_keys) == 2845 and ann.num_faces() == 5171
    assert sorted(set(ann.folds.values())) == list(range(1, 11))
    np.testing.assert_allclose(
        ann.ellipses["2002/08/11/big/img_591"], [[123.5833, 85.5495, 1.265839, 269.6934, 161.7812]]
    )
    disk = list_fddb_images(fddb_root, ann)
    assert len(disk) == 133 and {ann.folds[k] for k in disk} == {1, 2, 3, 4, 5}


def test_reference_detector_on_real_images(fddb_root, tmp_path):
    ann = load_fddb_annotations(fddb_root)
    keys = list_fddb_images(fddb_root, ann)[::13]
    preds, sizes, _ = run_detector(
        reference_detector(0.02), {k: image_path(fddb_root, k) for k in keys}, progress=False
    )
    assert sizes == read_image_sizes(fddb_root, keys)
    r = evaluate_fddb(preds, ann, sizes, images=keys)
    print(f"reference on {len(keys)} FDDB images: {r.tpr_at_fp}")
    assert r.tpr_at_fp["discrete"][50] > 0.85
    assert 0.5 < r.tpr_at_fp["continuous"][50] < r.tpr_at_fp["discrete"][50]
    rect = evaluate_fddb(preds, ann, sizes, images=keys, annotation="rect")
    assert rect.tpr_at_fp["continuous"][50] != r.tpr_at_fp["continuous"][50]
    write_fddb_predictions(preds, ann.folds, tmp_path, order=keys)
    back = read_fddb_predictions(tmp_path)
    r2 = evaluate_fddb(back, ann, sizes, images=keys)
    np.testing.assert_array_equal(r2.fp, r.fp)
    np.testing.assert_allclose(r2.tpr_continuous, r.tpr_continuous, rtol=0, atol=1e-12)
