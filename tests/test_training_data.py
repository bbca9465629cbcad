"""Training data: annotation parsers (WIDER official, RetinaFace label.txt, FDDB), augmentation, batching."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from .conftest import require

torch = require("torch", "the [train] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from training.augment import Annotations, augment, mirror, photometric_distort, random_square_crop  # noqa: E402
from training.data import (  # noqa: E402
    load_fddb,
    load_retinaface_labels,
    load_wider_bbx_gt,
    parse_retinaface_labels,
)
from training.recipe import AugmentConfig, MatchingConfig, load_recipe  # noqa: E402


def _write_images(root, keys, size=(120, 160)):
    for key in keys:
        path = root / f"{key}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8))


def test_wider_bbx_gt_drops_degenerate_and_invalid_with_counts(tmp_path, caplog):
    gt = tmp_path / "gt.txt"
    gt.write_text(
        "ev/a.jpg\n4\n"
        "10 10 20 30 0 0 0 0 0 0 \n"  # kept
        "5 5 -2 10 0 0 0 0 0 0 \n"  # degenerate (the official val file has one w = -2 box)
        "5 5 0 0 0 0 0 0 0 0 \n"  # degenerate
        "50 50 10 10 0 0 0 1 0 0 \n"  # WIDER 'invalid' attribute
        "ev/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n"
        "ev/missing.jpg\n1\n1 1 5 5 0 0 0 0 0 0 \n"
    )
    _write_images(tmp_path / "images", ["ev/a", "ev/b"])
    with caplog.at_level(logging.INFO, logger="training.data"):
        samples = load_wider_bbx_gt(gt, tmp_path / "images")
    assert [s.key for s in samples] == ["ev/a", "ev/b"]
    np.testing.assert_array_equal(samples[0].boxes, [[10, 10, 30, 40]])
    assert not samples[0].has_landmarks.any() and len(samples[1].boxes) == 0
    assert "dropped 2 degenerate boxes, 1 flagged invalid; 1 images missing" in caplog.text
    kept_invalid = load_wider_bbx_gt(gt, tmp_path / "images", drop_invalid=False)
    assert len(kept_invalid[0].boxes) == 2


def test_retinaface_labels_mask_absent_landmarks(tmp_path):
    label = tmp_path / "train" / "label.txt"
    label.parent.mkdir()
    lm = "30.0 40.0 0.0 50.0 40.0 0.0 40.0 50.0 0.0 32.0 60.0 0.0 48.0 60.0 0.0 0.9"
    label.write_text(f"# ev/a.jpg\n20 30 40 40 {lm}\n70 10 20 20 " + " ".join(["-1.0"] * 15) + " 0.5\n1 1 8 8\n")
    _write_images(label.parent / "images", ["ev/a"])
    parsed = parse_retinaface_labels(label)
    boxes, landmarks, has = parsed["ev/a"]
    np.testing.assert_array_equal(has, [True, False, False])
    np.testing.assert_allclose(landmarks[0], [[30, 40], [50, 40], [40, 50], [32, 60], [48, 60]])
    (sample,) = load_retinaface_labels(label)
    assert (sample.landmarks[1:] == 0).all() and not sample.has_landmarks[1:].any()  # -1 never becomes a target
    np.testing.assert_allclose(sample.boxes[0], [20, 30, 60, 70])


def test_real_retinaface_val_labels_have_no_landmarks(shared_data):
    parsed = parse_retinaface_labels(shared_data / "widerface" / "retinaface_label" / "val" / "label.txt")
    assert len(parsed) == 3226
    assert sum(len(b) for b, _, _ in parsed.values()) > 39000
    assert not any(h.any() for _, _, h in parsed.values())


def test_fddb_folds_become_boxes(shared_data):
    from evaluation.fddb import load_fddb_annotations

    samples = load_fddb(shared_data / "fddb", range(1, 6))
    assert len(samples) == 133
    ann = load_fddb_annotations(shared_data / "fddb", folds=range(1, 6))
    s = samples[0]
    e = ann.ellipses[s.key]
    # the box is the tight bounding box of the rotated ellipse: centred on it, at least as large as its radii
    np.testing.assert_allclose((s.boxes[:, :2] + s.boxes[:, 2:]) / 2, e[:, 3:5], atol=1e-3)
    assert ((s.boxes[:, 2] - s.boxes[:, 0]) / 2 >= np.minimum(e[:, 0], e[:, 1]) - 1e-3).all()


def _faces():
    boxes = np.array([[20, 20, 60, 70], [100, 30, 130, 60], [5, 90, 15, 110]], np.float32)
    lm = np.zeros((3, 5, 2), np.float32)
    lm[0] = [[30, 35], [50, 35], [40, 45], [32, 60], [48, 60]]
    return Annotations(boxes, lm, np.array([True, False, False]))


def test_mirror_swaps_landmarks_and_keeps_absent_masked():
    image = np.zeros((120, 160, 3), np.uint8)
    flipped, out = mirror(image, _faces())
    np.testing.assert_allclose(out.boxes[0], [100, 20, 140, 70])
    # left eye is image-left again: it is the old right eye, mirrored
    np.testing.assert_allclose(out.landmarks[0], [[110, 35], [130, 35], [120, 45], [112, 60], [128, 60]])
    assert out.landmarks[0, 0, 0] < out.landmarks[0, 1, 0] and out.landmarks[0, 3, 0] < out.landmarks[0, 4, 0]
    assert (out.landmarks[1:] == 0).all()


def test_crop_keeps_faces_whose_centre_is_inside():
    image = np.zeros((120, 160, 3), np.uint8)
    ann = _faces()
    for seed in range(30):
        crop, out, cropped = random_square_crop(image, ann, np.random.default_rng(seed), [0.3, 0.6, 1.0])
        if not cropped:
            continue
        side = crop.shape[0]
        assert crop.shape[:2] == (side, side) and len(out.boxes) >= 1
        assert (out.boxes >= 0).all() and (out.boxes <= side).all()


def test_augment_is_seeded_and_returns_the_training_size():
    rng_image = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    cfg = AugmentConfig()
    a = augment(rng_image, _faces(), 96, cfg, np.random.default_rng(7), (104, 117, 127))
    b = augment(rng_image, _faces(), 96, cfg, np.random.default_rng(7), (104, 117, 127))
    assert a[0].shape == (96, 96, 3) and a[0].dtype == np.uint8
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1].boxes, b[1].boxes)
    distorted = photometric_distort(rng_image, np.random.default_rng(3))
    assert distorted.dtype == np.uint8 and distorted.shape == rng_image.shape


def test_batches_split_over_processes_reproduce_the_single_process_batch(tmp_path):
    """The union of the per-rank batches at step k is the single-process batch at step k, same size, same tensors."""
    from edge_sdk.preprocess import Normalization
    from edge_sdk.priors import AnchorConfig
    from training.data import FaceSample
    from training.dataset import FaceDataset, build_loader

    _write_images(tmp_path, [f"im{i}" for i in range(12)], size=(80, 100))
    samples = [FaceSample(f"im{i}", tmp_path / f"im{i}.jpg", [[10 + i, 10, 50 + i, 60]]) for i in range(12)]
    dataset = FaceDataset(samples, AugmentConfig(), MatchingConfig(), AnchorConfig(), Normalization(), seed=3)

    def steps(rank, world):
        loader, batches = build_loader(
            dataset, 4, [64, 96], seed=3, rank=rank, world_size=world, num_workers=0, pin_memory=False
        )
        batches.set_epoch(1)
        return list(loader)

    single = steps(0, 1)
    r0, r1 = steps(0, 2), steps(1, 2)
    assert len(single) == len(r0) == len(r1) == 3
    for s, a, b in zip(single, r0, r1):
        order = torch.cat([a["index"], b["index"]]).argsort()
        assert sorted(s["index"].tolist()) == sorted(torch.cat([a["index"], b["index"]]).tolist())
        merged = torch.cat([a["image"], b["image"]])[order]
        assert torch.equal(merged, s["image"][s["index"].argsort()])
        assert torch.equal(torch.cat([a["labels"], b["labels"]])[order], s["labels"][s["index"].argsort()])


def test_recipes_load_and_reject_typos():
    for name in ("widerface_mnet025", "widerface_finetune", "fddb_finetune"):
        r = load_recipe(name)
        assert r.name == name
    ft = load_recipe("fddb_finetune", ["train.batch_size=4"])
    assert ft.init.mode == "pretrained" and ft.train.bn == "frozen" and ft.data.format == "fddb"
    assert ft.train.batch_size == 4
    with pytest.raises(ValueError, match="unknown recipe keys"):
        load_recipe("widerface_mnet025", ["train.batchsize=4"])
