"""Face detection evaluation: WIDER FACE (official MATLAB protocol) and FDDB. Torch-free.

The core API takes detections, not a detector::

    from evaluation import load_widerface_gt, evaluate_widerface
    gt = load_widerface_gt("../shared/data/widerface")
    result = evaluate_widerface({"0--Parade/0_Parade_marchingband_1_465": preds_xyxy_score}, gt)
    result.ap  # {"easy": ..., "medium": ..., "hard": ...}

Detectors (``image_bgr -> (boxes xyxy, scores)``) are adapted in :mod:`evaluation.detectors`; whole runs (detect,
score, write JSON/predictions/plot) are :func:`run_widerface` / :func:`run_fddb` with the options of
:mod:`evaluation.runs`, which the CLI ``python -m evaluation {widerface,fddb} ...`` parses its arguments into. The
evaluation thresholds are :mod:`evaluation.defaults`. The on-device runtime (``edge_sdk``) must not import this
package.
"""

from .defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD
from .detectors import Detector, letterbox, reference_detector, run_detector, sdk_detector
from .fddb import (
    FddbAnnotations,
    FddbResult,
    ellipse_to_rect,
    evaluate_fddb,
    list_fddb_images,
    load_fddb_annotations,
    parse_ellipse_list,
    region_overlaps,
)
from .predictions import (
    read_fddb_predictions,
    read_widerface_prediction_file,
    read_widerface_predictions,
    write_fddb_predictions,
    write_widerface_predictions,
)
from .runs import DetectorOptions, FddbRun, WiderFaceRun, run_fddb, run_widerface, spread
from .widerface import (
    SETTINGS,
    WiderAnnotation,
    WiderFaceGT,
    WiderFaceResult,
    box_overlaps,
    evaluate_widerface,
    list_widerface_images,
    load_widerface_gt,
    normalize_scores,
    parse_wider_bbx_gt,
    voc_ap,
)

__all__ = [
    "EVAL_NMS_THRESHOLD",
    "EVAL_SCORE_THRESHOLD",
    "SETTINGS",
    "Detector",
    "DetectorOptions",
    "FddbAnnotations",
    "FddbResult",
    "FddbRun",
    "WiderAnnotation",
    "WiderFaceGT",
    "WiderFaceResult",
    "WiderFaceRun",
    "box_overlaps",
    "ellipse_to_rect",
    "evaluate_fddb",
    "evaluate_widerface",
    "letterbox",
    "list_fddb_images",
    "list_widerface_images",
    "load_fddb_annotations",
    "load_widerface_gt",
    "normalize_scores",
    "parse_ellipse_list",
    "parse_wider_bbx_gt",
    "read_fddb_predictions",
    "read_widerface_prediction_file",
    "read_widerface_predictions",
    "reference_detector",
    "region_overlaps",
    "run_detector",
    "run_fddb",
    "run_widerface",
    "sdk_detector",
    "spread",
    "voc_ap",
    "write_fddb_predictions",
    "write_widerface_predictions",
]
