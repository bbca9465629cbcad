"""Matching on the runtime's priors, target encoding, and the MultiBox loss (OHEM / focal, normalisation)."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import require

torch = require("torch", "the [train] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from edge_sdk.priors import AnchorConfig, decode_boxes, decode_landmarks, generate_priors  # noqa: E402
from training.loss import count_positives, hard_negative_mask, multibox_loss  # noqa: E402
from training.matching import IGNORE, POSITIVE, build_targets, match, priors_for  # noqa: E402
from training.recipe import LossConfig  # noqa: E402

ANCHORS = AnchorConfig()


def _faces(rng, n, size=320):
    xy = rng.uniform(0, size - 60, (n, 2))
    wh = rng.uniform(8, 150, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, size)], axis=1).astype(np.float32)
    lm = boxes[:, None, :2] + rng.uniform(0.2, 0.8, (n, 5, 2)) * (boxes[:, None, 2:] - boxes[:, None, :2])
    return boxes, lm.astype(np.float32), rng.random(n) < 0.5


def test_priors_are_the_runtimes():
    priors, corners = priors_for(320, 320, ANCHORS)
    ref = generate_priors(320, 320, ANCHORS)
    np.testing.assert_array_equal(priors.centers, ref.centers)
    np.testing.assert_array_equal(corners[:, 2:] - corners[:, :2], ref.sizes)


@pytest.mark.parametrize("seed", range(5))
def test_targets_decode_back_to_their_faces(seed):
    rng = np.random.default_rng(seed)
    boxes, lm, has = _faces(rng, 12)
    t = build_targets(boxes, lm, has, 320, 320, ANCHORS)
    priors, corners = priors_for(320, 320, ANCHORS)
    _, matched = match(boxes, corners)
    pos = np.flatnonzero(t.labels == POSITIVE)
    assert len(pos) >= len(boxes) - 1  # (two faces may share a best prior)
    decoded = decode_boxes(t.boxes[pos], priors.centers[pos], priors.sizes[pos], ANCHORS.variances)
    np.testing.assert_allclose(decoded, boxes[matched[pos]], atol=1e-3)
    assert (t.landmark_mask == (t.labels == POSITIVE) & has[matched]).all()
    lm_pos = np.flatnonzero(t.landmark_mask)
    points = decode_landmarks(t.landmarks[lm_pos], priors.centers[lm_pos], priors.sizes[lm_pos], ANCHORS.variances)
    np.testing.assert_allclose(points, lm[matched[lm_pos]], atol=1e-3)
    assert (t.landmarks[~t.landmark_mask] == 0).all() and (t.boxes[t.labels != POSITIVE] == 0).all()


def test_every_face_claims_its_best_prior_and_ignore_zone():
    priors, corners = priors_for(320, 320, ANCHORS)
    face = np.array([[100, 100, 106, 126]], np.float32)  # thin: its best IoU with any prior is in [0.2, 0.35)
    labels, matched = match(face, corners, 0.35, 0.35, 0.2)
    assert (labels == POSITIVE).sum() == 1
    labels, _ = match(face, corners, 0.35, 0.35, 0.34)
    assert (labels == POSITIVE).sum() == 0
    labels, _ = match(np.array([[100, 100, 164, 164]], np.float32), corners, 0.5, 0.3, 0.2)
    assert (labels == IGNORE).any() and (labels == POSITIVE).any()
    empty, _ = match(np.zeros((0, 4), np.float32), corners)
    assert (empty == 0).all()


def test_ohem_keeps_the_hardest_negatives_three_to_one():
    labels = torch.tensor([[1, 0, 0, 0, 0, 0, 0, -1], [0, 0, 0, 0, 0, 0, 0, 0]])
    ce = torch.tensor([[5.0, 0.1, 0.9, 0.3, 0.8, 0.7, 0.2, 9.0], [1.0] * 8])
    chosen = hard_negative_mask(ce, labels, 3)
    assert chosen[0].tolist() == [False, False, True, False, True, True, False, False]  # never the ignored one
    assert not chosen[1].any()  # an image without faces contributes no negatives (as the seed)


def _random_batch(rng, b=4, size=160):
    labels, box_t, lm_t, lm_m = [], [], [], []
    for _ in range(b):
        boxes, lm, has = _faces(rng, 5, size)
        t = build_targets(boxes, lm, has, size, size, ANCHORS)
        labels.append(t.labels), box_t.append(t.boxes), lm_t.append(t.landmarks), lm_m.append(t.landmark_mask)
    p = len(labels[0])
    g = torch.Generator().manual_seed(0)
    preds = [torch.randn(b, p, k, generator=g, requires_grad=True) for k in (4, 2, 10)]
    targets = [torch.from_numpy(np.stack(x)) for x in (labels, box_t, lm_t, lm_m)]
    return preds, targets


@pytest.mark.parametrize("kind", ["ohem", "focal"])
def test_loss_split_over_processes_sums_to_the_whole_batch(kind):
    """Per-process losses normalised by the global counts add up to the single-process loss (what DDP relies on)."""
    cfg = LossConfig(classification=kind)
    (pb, pl, pm), (labels, bt, lt, lmask) = _random_batch(np.random.default_rng(0))
    counts = count_positives(labels, lmask)
    whole = multibox_loss(pb, pl, pm, labels, bt, lt, lmask, cfg, counts[0], counts[1])
    halves = [
        multibox_loss(pb[s], pl[s], pm[s], labels[s], bt[s], lt[s], lmask[s], cfg, counts[0], counts[1])
        for s in (slice(0, 2), slice(2, 4))
    ]
    torch.testing.assert_close(halves[0].total + halves[1].total, whole.total, rtol=1e-6, atol=1e-6)
    g_whole = torch.autograd.grad(whole.total, [pb, pl, pm])
    g_split = torch.autograd.grad(halves[0].total + halves[1].total, [pb, pl, pm])
    for a, b in zip(g_whole, g_split):
        torch.testing.assert_close(a, b)
    assert counts[0] > 0 and torch.isfinite(whole.total)


def test_landmark_loss_ignores_faces_without_landmarks_and_normalises_by_positives():
    cfg = LossConfig()
    (pb, pl, pm), (labels, bt, lt, lmask) = _random_batch(np.random.default_rng(1))
    counts = count_positives(labels, lmask)
    base = multibox_loss(pb, pl, pm, labels, bt, lt, lmask, cfg, counts[0], counts[1])
    garbage = lt.clone()
    garbage[~lmask] = 1e6  # absent landmarks: whatever sits there must not matter
    same = multibox_loss(pb, pl, pm, labels, bt, garbage, lmask, cfg, counts[0], counts[1])
    torch.testing.assert_close(base.landmark, same.landmark)
    none = multibox_loss(pb, pl, pm, labels, bt, lt, torch.zeros_like(lmask), cfg, counts[0], 0)
    assert float(none.landmark) == 0.0 and torch.isfinite(none.total)
    pos = labels == 1
    expected_box = torch.nn.functional.smooth_l1_loss(pb[pos], bt[pos], reduction="sum") / counts[0]
    torch.testing.assert_close(base.box, expected_box.detach())
