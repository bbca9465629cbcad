import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sdk.priors import (
    AnchorConfig,
    decode_boxes,
    decode_landmarks,
    encode_boxes,
    encode_landmarks,
    generate_priors,
)

from .conftest import require


@pytest.mark.parametrize("height,width", [(640, 640), (333, 500), (37, 45), (1080, 1920)])
def test_prior_count_and_layout(height, width):
    cfg = AnchorConfig()
    priors = generate_priors(height, width, cfg)
    assert len(priors) == cfg.num_priors(height, width)
    # first level: stride 8, two sizes per cell, row-major cells
    np.testing.assert_allclose(priors.centers[:4], [[4, 4], [4, 4], [12, 4], [12, 4]])
    np.testing.assert_allclose(priors.sizes[:2], [[16, 16], [32, 32]])


@pytest.mark.parametrize("height,width", [(640, 640), (333, 500), (45, 37)])
def test_priors_match_reference_package(height, width):
    ref = require("retinaface.postprocess", "reference RetinaFace anchors")
    expected = np.concatenate(
        [ref.generate_anchors(s, tuple(z), width, height, 1)[0] for s, z in zip(ref.ANCHOR_STRIDES, ref.ANCHOR_SIZES)]
    )
    ours = generate_priors(height, width).as_cxcywh() / np.array([width, height, width, height])
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_encode_decode_round_trip(seed):
    rng = np.random.default_rng(seed)
    priors = generate_priors(96, 128)
    idx = rng.choice(len(priors), 50)
    c, s = priors.centers[idx].astype(np.float64), priors.sizes[idx].astype(np.float64)
    xy = rng.uniform(0, 120, (50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 80, (50, 2))], axis=1)
    np.testing.assert_allclose(decode_boxes(encode_boxes(boxes, c, s), c, s), boxes, atol=1e-6)
    points = rng.uniform(0, 128, (50, 5, 2))
    np.testing.assert_allclose(decode_landmarks(encode_landmarks(points, c, s), c, s), points, atol=1e-6)
