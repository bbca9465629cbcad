"""Our converted, exported model through the official WIDER FACE evaluator, against the reference package.

At original size both networks see the same pixels; the reference truncates its boxes to whole pixels
(int x, y, w, h), so ours is also scored with that truncation applied: the two must then agree to within 0.005 AP.
Untruncated (what the SDK returns) ours is better, never worse by more than that.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import require


def _truncate_like_reference(predictions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, p in predictions.items():
        q = p.copy()
        x, y = q[:, 0].astype(int), q[:, 1].astype(int)
        w, h = (p[:, 2] - p[:, 0]).astype(int), (p[:, 3] - p[:, 1]).astype(int)
        q[:, :4] = np.stack([x, y, x + w, y + h], axis=1)
        out[key] = q
    return out


def test_converted_model_matches_reference_ap(shared_data):
    require("retinaface", "the reference package")
    from evaluation.detectors import reference_detector, run_detector, sdk_detector
    from evaluation.widerface import evaluate_widerface, image_path, list_widerface_images, load_widerface_gt

    root = shared_data / "widerface"
    gt = load_widerface_gt(root)
    keys = list_widerface_images(root, gt=gt)[::5]  # 126 images spread over all events
    paths = {k: image_path(root, k) for k in keys}
    ours, _, _ = run_detector(sdk_detector(backend="onnxruntime", input_size=None), paths, progress=False)
    theirs, _, _ = run_detector(reference_detector(input_size=None), paths, progress=False)
    ap_ours = evaluate_widerface(ours, gt, images=keys).ap
    ap_truncated = evaluate_widerface(_truncate_like_reference(ours), gt, images=keys).ap
    ap_reference = evaluate_widerface(theirs, gt, images=keys).ap
    print(
        f"\n{len(keys)} WIDER val images, original size: ours {ap_ours}, ours truncated {ap_truncated}, "
        f"reference {ap_reference}"
    )
    for setting in ("easy", "medium", "hard"):
        assert ap_truncated[setting] == pytest.approx(ap_reference[setting], abs=0.005)
        assert ap_ours[setting] >= ap_reference[setting] - 0.005
