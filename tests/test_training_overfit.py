"""Evidence that the pipeline learns: 8 WIDER train images, from scratch, a short schedule on CPU.

Loss must fall >= 5x and the recall (IoU >= 0.5, score >= 0.5) of the faces at least 16 px tall at the network input
(the smallest anchor) must reach 0.8. ``python -m training.evidence overfit`` runs the longer (200-step) version.
"""

from __future__ import annotations

import pytest

from .conftest import require

torch = require("torch", "the [train] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_overfit_eight_images_from_scratch(shared_data, tmp_path):
    from training.evidence import overfit

    f = overfit(shared_data, tmp_path, steps=120, size=256, lr=0.01, threads=1)
    print(
        f"\noverfit: loss {f['loss_first']:.3f} -> {f['loss_last10']:.4f} ({f['loss_ratio']:.0f}x), "
        f"recall {f['recall']:.3f} of {f['faces_ge16px']} faces >= 16 px"
    )
    assert f["faces_ge16px"] >= 20
    assert f["loss_ratio"] >= 5.0
    assert f["recall"] >= 0.8
