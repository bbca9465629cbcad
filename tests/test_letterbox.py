import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sdk.preprocess import Letterbox, Normalization, make_input

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
