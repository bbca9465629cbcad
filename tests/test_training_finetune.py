"""Slow evidence (``pytest -m slow``): fine-tuning the pretrained weights on the 581 shared WIDER train images for one
short epoch must not damage the model: WIDER val Hard AP (official protocol, original size, the 626 val images here)
drops by at most 1 point. ``python -m training.evidence finetune`` prints the same figures."""

from __future__ import annotations

import pytest

from .conftest import require

torch = require("torch", "the [train] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_finetune_keeps_hard_ap(shared_data, tmp_path):
    from training.evidence import finetune

    f = finetune(shared_data, tmp_path, steps=72, batch=8, size=640, threads=1)
    start, end = f["start"]["ap_hard"], f["end"]["ap_hard"]
    print(f"\nfine-tune: WIDER val Hard AP {start:.4f} -> {end:.4f}")
    assert start > 0.7  # the pretrained model, evaluated by the training-time detector
    assert end >= start - 0.01
