"""WIDER FACE evaluation: hand-built cases whose AP is computed by hand, then the real ground truth and data."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pytest

from evaluation import (
    SETTINGS,
    WiderFaceGT,
    box_overlaps,
    evaluate_widerface,
    list_widerface_images,
    load_widerface_gt,
    parse_wider_bbx_gt,
    read_widerface_predictions,
    reference_detector,
    run_detector,
    voc_ap,
    write_widerface_predictions,
)
from evaluation.widerface import image_path

from .conftest import data_root as _data_root

MINUS_TWO_IMAGE = "39--Ice_Skating/39_Ice_Skating_iceskiing_39_583"


def xyxy(x: float, y: float, w: float, h: float, score: float) -> list[float]:
    """A prediction row on the ground-truth box x, y, w, h (corners x, y, x + w, y + h)."""
    return [x, y, x + w, y + h, score]


A = (10, 10, 20, 20)
B = (100, 100, 20, 20)
FAR = (300, 300, 20, 20)  # overlaps nothing


def one_image(boxes, keep=None, key="e/a") -> WiderFaceGT:
    return WiderFaceGT.from_boxes({key: boxes}, None if keep is None else {s: {key: k} for s, k in keep.items()})


# ------------------------------------------------------------------------------------------- hand-built AP


def test_basic_ap_by_hand():
    # A (1.0) TP, FAR (0.5) FP, B (0.0) TP. Thresholds > 0.5: P 1, R 1/2; (0, 0.5]: P 1/2, R 1/2;
    # 0: P 2/3, R 1. Envelope: 1/2 * 1 + 1/2 * 2/3 = 5/6.
    gt = one_image([A, B])
    preds = {"e/a": np.array([xyxy(*A, 1.0), xyxy(*FAR, 0.5), xyxy(*B, 0.0)])}
    for mode in ("matlab", "float"):
        r = evaluate_widerface(preds, gt, iou_mode=mode)
        for s in SETTINGS:
            assert r.ap[s] == pytest.approx(5 / 6, abs=1e-12)
            assert r.num_faces[s] == 2
        assert r.num_predictions == 3
        assert r.images == ("e/a",)
    pr = r.pr_curves["easy"]
    assert pr.shape == (1000, 2)
    assert r.thresholds[0] == pytest.approx(0.999) and r.thresholds[-1] == 0.0
    np.testing.assert_allclose(pr[0], [1.0, 0.5])
    np.testing.assert_allclose(pr[600], [0.5, 0.5])  # threshold 0.399
    np.testing.assert_allclose(pr[-1], [2 / 3, 1.0])


def test_unsorted_input_gives_the_same_ap():
    gt = one_image([A, B])
    rows = [xyxy(*A, 1.0), xyxy(*FAR, 0.5), xyxy(*B, 0.0)]
    for perm in itertools.permutations(rows):
        r = evaluate_widerface({"e/a": np.array(perm)}, gt)
        assert r.ap["hard"] == pytest.approx(5 / 6, abs=1e-12)


def test_ignored_faces_are_neither_tp_nor_fp():
    # A kept, B not kept in any setting. B (1.0) is ignored, A (0.5) TP, FAR (0.0) FP.
    # Thresholds > 0.5: no proposal (precision NaN, recall 0); (0, 0.5]: P 1, R 1; 0: P 1/2, R 1 -> AP 1.
    # (Counting B as a FP would give 1/2.)
    gt = one_image([A, B], keep={s: [0] for s in SETTINGS})
    preds = {"e/a": np.array([xyxy(*B, 1.0), xyxy(*A, 0.5), xyxy(*FAR, 0.0)])}
    r = evaluate_widerface(preds, gt)
    assert r.ap["easy"] == pytest.approx(1.0)
    assert r.num_faces["easy"] == 1
    assert np.isnan(r.pr_curves["easy"][0, 0]) and r.pr_curves["easy"][0, 1] == 0


def test_settings_use_their_own_keep_lists():
    # FAR (1.0) FP, B (0.5), A (0.0).
    # easy keeps A: >0.5: P 0; (0,0.5]: B ignored, P 0; 0: P 1/2, R 1 -> AP 1/2.
    # hard keeps A, B: >0.5: P 0, R 0; (0,0.5]: P 1/2, R 1/2; 0: P 2/3, R 1 -> AP 2/3.
    # medium keeps nothing: no faces, AP undefined (NaN).
    gt = one_image([A, B], keep={"easy": [0], "medium": [], "hard": [0, 1]})
    preds = {"e/a": np.array([xyxy(*FAR, 1.0), xyxy(*B, 0.5), xyxy(*A, 0.0)])}
    r = evaluate_widerface(preds, gt)
    assert r.ap["easy"] == pytest.approx(0.5)
    assert r.ap["hard"] == pytest.approx(2 / 3)
    assert np.isnan(r.ap["medium"]) and r.num_faces["medium"] == 0


def test_duplicate_detections_are_false_positives():
    # A (1.0) TP, A shifted by one pixel (0.5) duplicate -> FP, B (0.0) TP: AP 5/6 (1 if duplicates were ignored).
    gt = one_image([A, B])
    dup = xyxy(A[0] + 1, A[1], A[2], A[3], 0.5)
    preds = {"e/a": np.array([xyxy(*A, 1.0), dup, xyxy(*B, 0.0)])}
    assert evaluate_widerface(preds, gt).ap["medium"] == pytest.approx(5 / 6)


def test_duplicates_on_ignored_faces_stay_ignored():
    gt = one_image([A, B], keep={s: [0] for s in SETTINGS})
    preds = {"e/a": np.array([xyxy(*B, 1.0), xyxy(B[0] + 1, *B[1:], 0.5), xyxy(*A, 0.0)])}
    r = evaluate_widerface(preds, gt)
    assert r.ap["easy"] == pytest.approx(1.0)
    np.testing.assert_allclose(r.pr_curves["easy"][-1], [1.0, 1.0])  # one proposal in total


def test_images_without_ground_truth_are_skipped_but_normalise_scores():
    # Official: an image with no ground truth box is skipped, its predictions are not FPs, but they take part in
    # the score normalisation. e/a: A (0.5) TP, FAR (0.0) FP; e/empty: one prediction at 1.0.
    # >0.5: nothing; (0,0.5]: P 1, R 1; 0: P 1/2 -> AP 1 (1/2 if e/empty's prediction counted).
    gt = WiderFaceGT.from_boxes({"e/a": [A], "e/empty": np.zeros((0, 4))})
    preds = {"e/a": np.array([xyxy(*A, 0.5), xyxy(*FAR, 0.0)]), "e/empty": np.array([xyxy(*B, 1.0)])}
    r = evaluate_widerface(preds, gt)
    assert r.ap["hard"] == pytest.approx(1.0)
    assert np.isnan(r.pr_curves["hard"][0, 0])


def test_dummy_zero_box_images_count_their_false_positives():
    # The four face-less val images hold a dummy 0 0 0 0 box (not kept): they are evaluated, so a prediction
    # there is a FP. Same predictions as above -> >0.5: P 0; (0,0.5]: P 1/2, R 1; 0: P 1/3 -> AP 1/2.
    gt = WiderFaceGT.from_boxes(
        {"e/a": [A], "e/dummy": [(0, 0, 0, 0)]}, {s: {"e/a": [0], "e/dummy": []} for s in SETTINGS}
    )
    preds = {"e/a": np.array([xyxy(*A, 0.5), xyxy(*FAR, 0.0)]), "e/dummy": np.array([xyxy(*B, 1.0)])}
    assert evaluate_widerface(preds, gt).ap["hard"] == pytest.approx(0.5)


def test_images_without_predictions_count_their_faces():
    # e/a: A, B; A (1.0) TP, FAR (0.0) FP. e/b: C, D and no predictions.
    # 4 faces: (0,1]: P 1, R 1/4; 0: P 1/2, R 1/4 -> AP 1/4. Evaluating e/a alone: AP 1/2.
    C, D = (50, 50, 20, 20), (150, 150, 20, 20)
    gt = WiderFaceGT.from_boxes({"e/a": [A, B], "e/b": [C, D]})
    preds = {"e/a": np.array([xyxy(*A, 1.0), xyxy(*FAR, 0.0)]), "e/b": np.zeros((0, 5))}
    r = evaluate_widerface(preds, gt)
    assert r.ap["easy"] == pytest.approx(0.25) and r.num_faces["easy"] == 4
    only_a = {"e/a": preds["e/a"]}
    assert evaluate_widerface(only_a, gt, images=["e/a", "e/b"]).ap["easy"] == pytest.approx(0.25)
    r_a = evaluate_widerface(preds, gt, images=["e/a"])
    assert r_a.ap["easy"] == pytest.approx(0.5) and r_a.images == ("e/a",)


def test_minus_two_width_box_never_matches():
    box = (1026, 474, -2, 23)  # the official val box with width -2
    pred = np.array([[1024, 474, 1026, 497], [1020, 470, 1030, 500]], dtype=float)
    for mode in ("matlab", "float"):
        assert np.all(box_overlaps(np.array([box]), pred, mode) == 0)
    gt = one_image([box, A])
    preds = {"e/a": np.array([[1024, 474, 1026, 497, 1.0], xyxy(*A, 0.0)])}
    # (0,1]: P 0 (the -2 box cannot be found); 0: P 1/2, R 1/2 -> AP 1/4.
    assert evaluate_widerface(preds, gt).ap["hard"] == pytest.approx(0.25)


def test_plus_one_pixel_overlap_convention():
    gt = np.array([[0, 0, 9, 9]], dtype=float)  # corners 0..9: 10 x 10 pixels
    # Shifted by 5: intersection 5 x 10 = 50, union 150 -> 1/3 (without +1 it would be 36/126).
    assert box_overlaps(gt, np.array([[5, 0, 14, 9]]), "float")[0, 0] == pytest.approx(1 / 3)
    assert box_overlaps(gt, np.array([[0, 0, 9, 9]]), "float")[0, 0] == 1.0
    assert box_overlaps(gt, np.array([[0, 0, 9, 9]]), "matlab")[0, 0] == 1.0
    assert box_overlaps(gt, np.array([[20, 20, 30, 30]]), "matlab")[0, 0] == 0.0


def test_matlab_int32_rounding_of_the_overlap():
    # Prediction corners are rounded (3.9 -> 4) and the overlap ratio is rounded in MATLAB's int32 arithmetic:
    # 50 / round(100 + 49) - 50 = 50/99 >= 0.5 -> match; in floating point 49/100 < 0.5 -> no match.
    gt = one_image([(0, 0, 9, 9)])
    pred = [0, 0, 9, 3.9]
    assert box_overlaps(np.array([[0, 0, 9, 9]]), np.array([pred]), "matlab")[0, 0] == 1.0
    assert box_overlaps(np.array([[0, 0, 9, 9]]), np.array([pred]), "float")[0, 0] == pytest.approx(0.49)
    # The union is rounded too: a 20.04 x 10 prediction over the 10 x 10 box: 100 / round(300.4) - 100 = 1/2
    # -> match; in floating point 100 / 200.4 < 1/2.
    wide = np.array([[0, 0, 19.04, 9]])
    assert box_overlaps(np.array([[0, 0, 9, 9]]), wide, "matlab")[0, 0] == 1.0
    assert box_overlaps(np.array([[0, 0, 9, 9]]), wide, "float")[0, 0] == pytest.approx(100 / 200.4)
    preds = {"e/a": np.array([pred + [1.0], xyxy(*FAR, 0.0)])}
    assert evaluate_widerface(preds, gt, iou_mode="matlab").ap["easy"] == pytest.approx(1.0)
    assert evaluate_widerface(preds, gt, iou_mode="float").ap["easy"] == pytest.approx(0.0)


def test_matlab_matches_the_first_box_passing_not_the_best():
    # G1 = 11x11 at the origin, G2 = 11x13 (same corner). P2 == G2 (1.0), P1 == G1 (0.0).
    # float: P2 -> G2 (IoU 1), P1 -> G1: AP 1. MATLAB: both overlaps round to 1, max() takes the first (G1):
    # P2 -> G1 TP, P1 -> G1 duplicate FP, G2 never found: (0,1]: P 1, R 1/2; 0: P 1/2, R 1/2 -> AP 1/2.
    g1, g2 = (0, 0, 10, 10), (0, 0, 10, 12)
    gt = one_image([g1, g2])
    preds = {"e/a": np.array([xyxy(*g2, 1.0), xyxy(*g1, 0.0)])}
    assert evaluate_widerface(preds, gt, iou_mode="float").ap["easy"] == pytest.approx(1.0)
    assert evaluate_widerface(preds, gt, iou_mode="matlab").ap["easy"] == pytest.approx(0.5)


def test_equal_scores_reproduce_the_matlab_division_by_zero(caplog):
    gt = one_image([A])
    with caplog.at_level(logging.WARNING, logger="evaluation.widerface"):
        r = evaluate_widerface({"e/a": np.array([xyxy(*A, 0.7)])}, gt)
    assert r.ap["easy"] == 0.0
    assert "divides by zero" in caplog.text


def test_voc_ap_by_hand():
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(5 / 6)
    assert voc_ap(np.array([0.0, 1.0]), np.array([np.nan, 1.0])) == pytest.approx(1.0)
    assert voc_ap(np.array([0.25, 0.5]), np.array([0.5, 1.0])) == pytest.approx(0.5)  # envelope lifts 0.5 -> 1


def test_rejects_unknown_keys_and_bad_shapes():
    gt = one_image([A])
    with pytest.raises(ValueError, match="not in the ground truth"):
        evaluate_widerface({"e/a.jpg": np.zeros((0, 5))}, gt)
    with pytest.raises(ValueError, match=r"\(N,5\)"):
        evaluate_widerface({"e/a": np.zeros((3, 4))}, gt)


def test_prediction_files_round_trip(tmp_path):
    preds = {
        "0--Parade/0_Parade_marchingband_1_465": np.array([[1.5, 2.25, 30.125, 40.0, 0.987654321], [0, 0, 5, 5, 0.1]]),
        "1--Handshaking/1_Handshaking_x.jpg_1": np.zeros((0, 5)),  # a name containing ".jpg" and 'g' letters
    }
    write_widerface_predictions(preds, tmp_path)
    text = (tmp_path / "0--Parade" / "0_Parade_marchingband_1_465.txt").read_text().splitlines()
    assert text[0] == "0_Parade_marchingband_1_465" and text[1] == "2"
    assert [float(v) for v in text[2].split()] == [1.5, 2.25, 28.625, 37.75, 0.987654321]
    back = read_widerface_predictions(tmp_path)
    assert set(back) == set(preds)
    for k in preds:
        np.testing.assert_array_equal(back[k], preds[k])
    assert back["1--Handshaking/1_Handshaking_x.jpg_1"].shape == (0, 5)
    # Images asked for without a file are images without predictions.
    some = read_widerface_predictions(tmp_path, keys=["0--Parade/missing"])
    assert some["0--Parade/missing"].shape == (0, 5)


def _matlab_round(v: float) -> float:
    return float(np.sign(v) * np.floor(abs(v) + 0.5))


def _literal_wider_eval(preds: dict, gt: WiderFaceGT, setting: str, int32_gt: bool) -> np.ndarray:
    """Line-by-line port of read_pred (sort) + norm_score + evaluation.m (loops, scalar boxoverlap).

    ``int32_gt``: MATLAB semantics of int32 ground truth (mixed int32/double operations round to int32)."""
    rnd = _matlab_round if int32_gt else (lambda v: v)
    lists = {k: (p[np.argsort(-p[:, 4], kind="stable")].copy() if len(p) else p) for k, p in preds.items()}
    allscores = np.concatenate([p[:, 4] for p in lists.values() if len(p)])
    lo, hi = allscores.min(), allscores.max()
    for p in lists.values():
        if len(p):
            p[:, 4] = (p[:, 4] - lo) / (hi - lo)
    org = np.zeros((1000, 2))
    count_face = 0
    for k, pred_info in lists.items():
        gt_bbx = gt.boxes[k].copy()
        keep_index = gt.keep[setting][k]
        count_face += len(keep_index)
        if gt_bbx.size == 0 or pred_info.size == 0:
            continue
        ignore = np.zeros(len(gt_bbx))
        ignore[keep_index] = 1
        gt_bbx[:, 2] += gt_bbx[:, 0]
        gt_bbx[:, 3] += gt_bbx[:, 1]
        pred_recall = np.zeros(len(pred_info))
        recall_list = np.zeros(len(gt_bbx))
        proposal_list = np.ones(len(pred_info))
        for h in range(len(pred_info)):
            b = pred_info[h, :4]
            overlaps = []
            for a in gt_bbx:
                x1, y1 = rnd(max(a[0], b[0])), rnd(max(a[1], b[1]))
                x2, y2 = rnd(min(a[2], b[2])), rnd(min(a[3], b[3]))
                w, hh = x2 - x1 + 1, y2 - y1 + 1
                inter = w * hh
                aarea = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
                barea = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
                union = rnd(aarea + barea) - inter
                o = rnd(inter / union) if union else 0.0
                overlaps.append(0.0 if w <= 0 or hh <= 0 else o)
            idx = int(np.argmax(overlaps))
            if overlaps[idx] >= 0.5:
                if ignore[idx] == 0:
                    recall_list[idx] = -1
                    proposal_list[h] = -1
                elif recall_list[idx] == 0:
                    recall_list[idx] = 1
            pred_recall[h] = np.count_nonzero(recall_list == 1)
        for t in range(1, 1001):
            thresh = 1 - t / 1000
            r = np.flatnonzero(pred_info[:, 4] >= thresh)
            if r.size:
                r_index = r[-1]
                org[t - 1, 0] += np.count_nonzero(proposal_list[: r_index + 1] == 1)
                org[t - 1, 1] += pred_recall[r_index]
    with np.errstate(invalid="ignore"):
        return np.stack([org[:, 1] / org[:, 0], org[:, 1] / count_face], axis=1)


@pytest.mark.parametrize("mode", ["matlab", "float"])
def test_vectorised_protocol_equals_a_literal_port(mode):
    rng = np.random.default_rng(7)
    boxes, keep, preds = {}, {s: {} for s in SETTINGS}, {}
    for i in range(12):
        key = f"e{i % 3}/img{i}"
        n = int(rng.integers(0, 7))
        xy = rng.integers(0, 80, (n, 2))
        wh = rng.integers(3, 30, (n, 2))
        if n > 2:
            wh[0] = (-2, 10)  # a broken box
            xy[1], wh[1] = xy[2] + 1, wh[2]  # near-duplicate faces (ties)
        boxes[key] = np.c_[xy, wh]
        hard = np.flatnonzero(rng.random(n) < 0.8)
        keep["hard"][key], keep["medium"][key], keep["easy"][key] = hard, hard[: len(hard) // 2 + 1], hard[:1]
        m = int(rng.integers(0, 9))
        src = boxes[key][rng.integers(0, max(n, 1), m)] if n else rng.integers(0, 80, (m, 4))
        jitter = rng.normal(0, 2.0, (m, 4)) * (rng.random((m, 1)) < 0.7)
        xyxy_ = np.c_[src[:, :2], src[:, :2] + np.abs(src[:, 2:])] + jitter
        scores = np.round(rng.random(m), 2)  # ties in score too
        preds[key] = np.c_[xyxy_, scores]
    gt = WiderFaceGT.from_boxes(boxes, keep)
    r = evaluate_widerface(preds, gt, iou_mode=mode)
    for s in SETTINGS:
        expected = _literal_wider_eval(preds, gt, s, int32_gt=(mode == "matlab"))
        np.testing.assert_array_equal(r.pr_curves[s], expected, err_msg=s)
        assert r.ap[s] == pytest.approx(voc_ap(expected[:, 1], expected[:, 0]), abs=1e-15)


# ------------------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def wider_root() -> Path:
    return _data_root() / "widerface"


@pytest.fixture(scope="module")
def gt(wider_root) -> WiderFaceGT:
    return load_widerface_gt(wider_root)


def test_official_ground_truth_files(gt):
    assert len(gt.image_keys) == 3226 and len(gt.events) == 61
    assert {s: gt.num_faces(s) for s in SETTINGS} == {"easy": 7211, "medium": 13319, "hard": 31958}
    # gt_list indices are stored as uint8/uint16: they must have been widened, and stay inside each image.
    for s in SETTINGS:
        for k in gt.image_keys:
            idx = gt.keep[s][k]
            assert idx.dtype == np.int64 and (idx.size == 0 or (idx.min() >= 0 and idx.max() < len(gt.boxes[k])))
    # The settings are nested: easy within medium within hard.
    assert all(set(gt.keep["easy"][k]) <= set(gt.keep["medium"][k]) <= set(gt.keep["hard"][k]) for k in gt.image_keys)
    assert gt.keep["hard"]["0--Parade/0_Parade_marchingband_1_465"].tolist() == [30, 31, 124]


def test_txt_ground_truth_matches_the_mat_files(gt, wider_root):
    ann = parse_wider_bbx_gt(wider_root / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    assert set(ann) == set(gt.image_keys) and len(ann) == 3226
    for k in gt.image_keys:
        np.testing.assert_array_equal(ann[k].boxes, gt.boxes[k], err_msg=k)
    boxes = ann[MINUS_TWO_IMAGE].boxes
    assert boxes[7].tolist() == [1026, 474, -2, 23] and len(boxes) == 32
    assert ann[MINUS_TWO_IMAGE].attributes.shape == (32, 6)
    subset = parse_wider_bbx_gt(wider_root / "wider_face_split" / "wider_face_val_bbx_gt.staged_subset.txt")
    assert sorted(subset) == sorted(list_widerface_images(wider_root))
    assert len(subset) == 626


def test_ground_truth_as_predictions(gt, wider_root):
    keys = list_widerface_images(wider_root, gt=gt)
    assert len(keys) == 626
    rng = np.random.default_rng(0)
    preds = {}
    for k in keys:
        b = gt.boxes[k]
        preds[k] = np.c_[b[:, :2], b[:, :2] + b[:, 2:], rng.random(len(b))]
    r = evaluate_widerface(preds, gt, iou_mode="float")
    assert r.ap == {"easy": 1.0, "medium": 1.0, "hard": 1.0}
    assert r.num_faces == {s: gt.num_faces(s, keys) for s in SETTINGS}
    m = evaluate_widerface(preds, gt, iou_mode="matlab")
    assert m.ap["easy"] == 1.0 and m.ap["medium"] == 1.0
    # MATLAB's first-of-ties matching loses a few heavily overlapping hard faces.
    assert 0.99 < m.ap["hard"] < 1.0


def test_reference_detector_on_20_images(gt, wider_root, tmp_path):
    keys = list_widerface_images(wider_root, gt=gt)[::31][:20]
    det = reference_detector(score_threshold=0.02)
    preds, sizes, seconds = run_detector(det, {k: image_path(wider_root, k) for k in keys}, progress=False)
    assert list(preds) == keys and all(p.shape[1] == 5 for p in preds.values())
    assert all(h > 0 and w > 0 for h, w in sizes.values()) and seconds > 0
    r = evaluate_widerface(preds, gt, images=keys)
    print(f"reference, 20 images: AP {r.ap}")
    assert 0.75 < r.ap["easy"] <= 1.0
    assert 0.70 < r.ap["medium"] <= 1.0
    assert 0.40 < r.ap["hard"] < r.ap["medium"]
    # Official prediction files, read back, score identically.
    write_widerface_predictions(preds, tmp_path)
    assert len(list(tmp_path.glob("*/*.txt"))) == 20
    back = read_widerface_predictions(tmp_path, keys)
    for k in keys:
        np.testing.assert_allclose(back[k], preds[k], rtol=0, atol=1e-9)
    r2 = evaluate_widerface(back, gt, images=keys)
    for s in SETTINGS:
        assert r2.ap[s] == pytest.approx(r.ap[s], abs=1e-12)


@pytest.mark.slow
def test_reference_detector_full_626(gt, wider_root):
    keys = list_widerface_images(wider_root, gt=gt)
    preds, _, seconds = run_detector(
        reference_detector(0.02), {k: image_path(wider_root, k) for k in keys}, progress=False
    )
    r = evaluate_widerface(preds, gt, images=keys)
    print(f"reference, 626 images, original size: AP {r.ap} (detection {seconds:.1f} s)")
    # Regression anchor for the evaluator and the peer (measured: 0.8984 / 0.8773 / 0.7411).
    assert r.ap["easy"] == pytest.approx(0.8984, abs=0.005)
    assert r.ap["medium"] == pytest.approx(0.8773, abs=0.005)
    assert r.ap["hard"] == pytest.approx(0.7411, abs=0.005)
