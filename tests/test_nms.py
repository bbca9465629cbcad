import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sdk.nms import nms, pairwise_iou


def reference_nms(boxes, scores, thr):
    """Plain, obviously-correct greedy NMS (one Python loop per pair)."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x1, y1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            x2, y2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            a = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            b = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (a + b - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(rng, n, extent=640.0):
    xy = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(4, 120, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


def test_equals_reference_on_thousands_of_boxes():
    rng = np.random.default_rng(42)
    for n, thr in ((3000, 0.4), (2000, 0.5), (500, 0.1), (50, 0.9)):
        boxes, scores = random_boxes(rng, n)
        assert nms(boxes, scores, thr).tolist() == reference_nms(boxes.tolist(), scores.tolist(), thr)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 80), st.floats(0.05, 0.95))
def test_invariants(seed, n, thr):
    boxes, scores = random_boxes(np.random.default_rng(seed), n, extent=200)
    keep = nms(boxes, scores, thr)
    assert len(set(keep.tolist())) == len(keep) <= n  # a subset, no repeats
    assert np.all(np.diff(scores[keep]) <= 0)  # sorted by score
    if len(keep) > 1:
        iou = pairwise_iou(boxes[keep], boxes[keep])
        np.fill_diagonal(iou, 0)
        assert iou.max() <= thr + 1e-6


def test_chains_of_suppression_within_and_across_blocks():
    """Each box overlaps only its neighbours, scores falling along the chain: greedy keeps every other box (a
    suppressed box suppresses nothing), which the block's fixpoint iteration must reach however long the chain."""
    for n in (2, 3, 17, 64, 65, 200):
        x = np.arange(n, dtype=np.float32) * 3.0  # 10-px boxes 3 px apart: IoU 7/13 with a neighbour, 4/16 two apart
        boxes = np.stack([x, np.zeros(n, np.float32), x + 10, np.full(n, 10, np.float32)], axis=1)
        scores = np.linspace(1.0, 0.1, n, dtype=np.float32)
        want = reference_nms(boxes.tolist(), scores.tolist(), 0.4)
        assert want == list(range(0, n, 2))
        assert nms(boxes, scores, 0.4).tolist() == want
        # equal scores: the order is the index order (stable), here along the chain from its other end
        assert nms(boxes[::-1].copy(), np.ones(n, np.float32), 0.4).tolist() == want


def test_max_output_and_empty():
    boxes, scores = random_boxes(np.random.default_rng(1), 100)
    full = nms(boxes, scores, 0.4)
    assert nms(boxes, scores, 0.4, max_output=3).tolist() == full[:3].tolist()
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).shape == (0,)


def test_speed_on_16800_candidates_is_printed():
    """16,800 = the anchors of a 640x640 input. Timing is printed, not asserted (see benchmarks/)."""
    rng = np.random.default_rng(0)
    # detector-like candidates: clusters of overlapping boxes around ~300 faces
    centers = rng.uniform(0, 640, (300, 2)).repeat(56, axis=0)
    wh = rng.uniform(10, 100, (300, 2)).repeat(56, axis=0)
    jitter = rng.normal(0, 3, (16800, 4))
    boxes = (np.concatenate([centers - wh / 2, centers + wh / 2], axis=1) + jitter).astype(np.float32)
    scores = rng.uniform(0, 1, 16800).astype(np.float32)
    nms(boxes, scores, 0.4)
    start = time.perf_counter()
    keep = nms(boxes, scores, 0.4)
    elapsed = (time.perf_counter() - start) * 1000
    print(f"\nNMS on 16,800 candidates: {elapsed:.2f} ms, kept {len(keep)}")
    assert 0 < len(keep) < 16800
