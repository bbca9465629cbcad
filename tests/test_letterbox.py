import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sdk.preprocess import (
    Letterbox,
    Normalization,
    make_input,
    resize_for_letterbox,
    resize_steps,
    scratch_size,
)

sizes = st.integers(1, 4000)
canvas = st.integers(32, 1280)


@settings(max_examples=300, deadline=None)
@given(sizes, sizes, canvas, canvas, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_box_round_trip(src_w, src_h, can_w, can_h, fx1, fy1, fx2, fy2):
    box = Letterbox.fit(src_w, src_h, can_w, can_h)
    assert box.resized_width <= can_w and box.resized_height <= can_h
    assert box.resized_width == can_w or box.resized_height == can_h  # it fills one side
    boxes = np.array([[fx1 * src_w, fy1 * src_h, fx2 * src_w, fy2 * src_h]], np.float32)
    forward = box.to_canvas(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    assert forward[:, 0::2].max() <= can_w + 1e-3 and forward[:, 1::2].max() <= can_h + 1e-3
    back = box.boxes_to_original(forward)
    np.testing.assert_allclose(back, boxes, atol=1e-2 + 1e-5 * max(src_w, src_h))


@settings(max_examples=100, deadline=None)
@given(sizes, sizes, st.sampled_from([8, 16, 32]))
def test_pad_to_multiple_keeps_scale(src_w, src_h, multiple):
    box = Letterbox.pad_to_multiple(src_w, src_h, multiple)
    assert box.scale_x == 1 and box.scale_y == 1
    assert box.canvas_width % multiple == 0 and box.canvas_width - src_w < multiple
    assert box.canvas_height % multiple == 0 and box.canvas_height - src_h < multiple


def test_make_input_content_and_padding():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    norm = Normalization("BGR", (104, 117, 127), (1, 1, 1))
    box = Letterbox.fit(200, 300, 320, 320)  # portrait, upscaled: 213x320 inside 320x320
    tensor = make_input(image, box, norm)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert (box.resized_width, box.resized_height) == (213, 320)
    assert np.all(tensor[0, :, :, 213:] == 0)  # padding is the mean → 0
    # the image area holds the normalized resize
    import cv2

    resized = cv2.resize(image, (213, 320), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.testing.assert_allclose(tensor[0, 0, :, :213], resized[:, :, 0] - 104)
    rgb = make_input(image, box, Normalization("RGB", (1, 2, 3), (2, 2, 2)))
    np.testing.assert_allclose(rgb[0, 0, :, :213], (resized[:, :, 2] - 1) / 2)


H, L = "halve", "linear"


@pytest.mark.parametrize(
    ("src", "canvas", "steps"),
    [
        ((200, 300), 320, [(L, 213, 320)]),  # enlarging: one INTER_LINEAR
        ((640, 480), 640, []),  # the canvas' own width: nothing to do
        ((1280, 720), 640, [(H, 640, 360)]),  # camera frames: exact halvings only
        ((2560, 1440), 640, [(H, 1280, 720), (H, 640, 360)]),
        ((1920, 1080), 640, [(L, 1280, 720), (H, 640, 360)]),  # 3x: linear down to 2x, one halving
        ((1024, 768), 640, [(L, 1280, 960), (H, 640, 480)]),  # 1.6x: linear up to 2x, one halving
        ((1024, 2075), 640, [(L, 632, 1280), (H, 316, 640)]),  # 3.24x: k = 2
        ((1024, 768), 240, [(L, 960, 720), (H, 480, 360), (H, 240, 180)]),  # 4.27x: k = 4
        ((4000, 3000), 320, [(L, 2560, 1920), (H, 1280, 960), (H, 640, 480), (H, 320, 240)]),  # 12.5x: k = 8
    ],
)
def test_resize_steps(src, canvas, steps):
    box = Letterbox.fit(*src, canvas, canvas)
    assert list(resize_steps(box)) == steps
    assert scratch_size(box) == sum(3 * w * h for _, w, h in steps[:-1])
    if steps:
        image = np.zeros((src[1], src[0], 3), np.uint8)
        assert resize_for_letterbox(image, box).shape == (box.resized_height, box.resized_width, 3)


def test_power_of_two_shrinks_are_opencv_area_itself():
    """An exact 2x shrink is OpenCV's INTER_AREA bit for bit; 4x is two of them (each rounded), within 1 level."""
    image = np.random.default_rng(1).integers(0, 256, (1440, 2560, 3), dtype=np.uint8)
    half = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(resize_for_letterbox(image, Letterbox.fit(2560, 1440, 1280, 1280)), half)
    np.testing.assert_array_equal(
        resize_for_letterbox(half, Letterbox.fit(1280, 720, 640, 640)),
        cv2.resize(half, (640, 360), interpolation=cv2.INTER_AREA),
    )
    quarter = resize_for_letterbox(image, Letterbox.fit(2560, 1440, 640, 640)).astype(np.int16)
    assert np.abs(quarter - cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)).max() <= 1


def _centroid(channel: np.ndarray, background: int) -> np.ndarray:
    weights = channel.astype(np.float64) - background
    ys, xs = np.mgrid[0 : channel.shape[0], 0 : channel.shape[1]]
    return np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()


@settings(max_examples=60, deadline=None)
@given(st.integers(300, 1600), st.integers(300, 1600), st.sampled_from([160, 320, 640]), st.floats(0.4, 0.6))
def test_supersampled_shrink_keeps_geometry_and_brightness(width, height, canvas, where):
    """No shift (a blob's centroid lands where the letterbox maps it, as close as INTER_AREA puts it), flat areas
    stay exact, and the output is the same with a dirty, reused scratch buffer as without."""
    box = Letterbox.fit(width, height, canvas, canvas)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, sigma = where * width, (1 - where) * height, 4.0 * max(width / canvas, height / canvas)
    blob = 40 + 200 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
    image = np.repeat(np.rint(blob).astype(np.uint8)[:, :, None], 3, axis=2)
    out = resize_for_letterbox(image, box)
    assert out.shape == (box.resized_height, box.resized_width, 3)
    scratch = np.full(scratch_size(box) + 7, 255, np.uint8)
    np.testing.assert_array_equal(resize_for_letterbox(image, box, scratch=scratch), out)
    expected = (np.array([cx, cy]) + 0.5) * np.array([box.scale_x, box.scale_y]) - 0.5  # pixel-index coordinates
    area = cv2.resize(image, (box.resized_width, box.resized_height), interpolation=cv2.INTER_AREA)
    ours_shift = np.abs(_centroid(out[:, :, 0], 40) - expected).max()
    area_shift = np.abs(_centroid(area[:, :, 0], 40) - expected).max()
    assert ours_shift <= area_shift + 0.02, (ours_shift, area_shift)
    assert out[0, 0, 0] == out[-1, -1, 0] == 40  # flat corners stay exact


def test_supersampled_shrink_is_closer_to_opencv_area_than_linear_on_a_real_photo(astronaut):
    for canvas in (320, 200, 100):  # 1.6x, 2.56x, 5.12x (below ~1.4x INTER_LINEAR itself is close to area)
        box = Letterbox.fit(512, 512, canvas, canvas)
        assert "linear" in {kind for kind, _, _ in resize_steps(box)}
        size = (box.resized_width, box.resized_height)
        area = cv2.resize(astronaut, size, interpolation=cv2.INTER_AREA).astype(np.int16)
        ours = np.abs(resize_for_letterbox(astronaut, box) - area).mean()
        linear = np.abs(cv2.resize(astronaut, size, interpolation=cv2.INTER_LINEAR) - area).mean()
        assert ours < 0.5 and ours < 0.5 * linear, (canvas, ours, linear)
