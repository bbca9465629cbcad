"""The evaluation operating point, defined once for evaluation, benchmarks and training's periodic evaluation.

The score threshold is low on purpose: average precision integrates over the whole precision/recall curve, so the
detector must hand over its low-scoring boxes too (the WIDER FACE protocol expects them). This is not the runtime's
deployment default (``edge_sdk.FaceDetector(score_threshold=0.5)``), which picks one point on that curve.
"""

from __future__ import annotations

EVAL_SCORE_THRESHOLD = 0.02
EVAL_NMS_THRESHOLD = 0.4
