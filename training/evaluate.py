"""Periodic evaluation during training, through the :mod:`evaluation` package.

:class:`TorchDetector` wraps the PyTorch model being trained as an :class:`evaluation.detectors.Detector`
(``image_bgr -> (boxes xyxy, scores)``) with the runtime's own pieces: :class:`edge_sdk.preprocess.Letterbox` /
:func:`~edge_sdk.preprocess.make_input`, :func:`edge_sdk.priors.generate_priors` (cached) and
:func:`edge_sdk.postprocess.decode_detections`, the same post-processing ``FaceDetector`` runs. A test checks it
against ``edge_sdk.FaceDetector`` on the bundled model.

Under DDP every process detects on its share of the images; rank 0 gathers and scores them with
:func:`evaluation.evaluate_widerface` / :func:`evaluation.evaluate_fddb`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_sdk.postprocess import decode_detections
from edge_sdk.preprocess import Letterbox, Normalization, make_input
from edge_sdk.priors import AnchorConfig
from evaluation.defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD

from .distributed import DistContext, gather_objects
from .matching import priors_for

log = logging.getLogger(__name__)


class TorchDetector:
    """The model in training as a detector. ``input_size=None``: the image's own size padded to a multiple of the
    largest stride (the dynamic-shape runtime setting); an int letterboxes into ``input_size x input_size``."""

    def __init__(
        self,
        model: nn.Module,
        normalization: Normalization,
        anchors: AnchorConfig,
        device: torch.device,
        input_size: int | None = None,
        score_threshold: float = EVAL_SCORE_THRESHOLD,
        nms_threshold: float = EVAL_NMS_THRESHOLD,
    ) -> None:
        self.model = model
        self.normalization = normalization
        self.anchors = anchors
        self.device = device
        self.input_size = input_size
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)

    def describe(self) -> dict[str, Any]:
        return {
            "detector": "training.TorchDetector",
            "input_size": self.input_size,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
        }

    @torch.no_grad()
    def raw(self, image_bgr: np.ndarray) -> tuple[list[np.ndarray], Letterbox]:
        h, w = image_bgr.shape[:2]
        size = None if self.input_size is None else (self.input_size, self.input_size)
        box = Letterbox.for_input_size(w, h, size, self.anchors.max_stride)
        x = torch.from_numpy(make_input(image_bgr, box, self.normalization)).to(self.device)
        boxes, logits, landmarks = self.model(x)
        scores = torch.softmax(logits.float(), dim=-1)
        return [t[0].float().cpu().numpy() for t in (boxes, scores, landmarks)], box

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (deltas, scores, landmarks), box = self.raw(image_bgr)
        priors = priors_for(box.canvas_height, box.canvas_width, self.anchors)[0]
        found = decode_detections(
            deltas, scores, landmarks, priors, box, self.score_threshold, self.nms_threshold, self.anchors.variances
        )
        return found.boxes, found.scores


def _spread(keys: list[str], limit: int | None) -> list[str]:
    if limit is None or limit >= len(keys):
        return keys
    idx = np.unique(np.round(np.linspace(0, len(keys) - 1, limit)).astype(int))
    return [keys[i] for i in idx]


class Evaluator:
    """Loads the ground truth once; :meth:`run` evaluates a model (``cfg``: EvalConfig)."""

    def __init__(self, cfg, data_root: str | Path) -> None:
        self.cfg = cfg
        root = Path(data_root)
        if cfg.dataset == "widerface":
            from evaluation.widerface import image_path, list_widerface_images, load_widerface_gt

            self.root = root / cfg.widerface_root
            self.gt = load_widerface_gt(self.root)
            keys = list_widerface_images(self.root, "val", self.gt)
            self.paths = {k: image_path(self.root, k, "val") for k in _spread(keys, cfg.max_images)}
        else:
            from evaluation.fddb import image_path, list_fddb_images, load_fddb_annotations

            self.root = root / cfg.fddb_root
            self.gt = load_fddb_annotations(self.root, folds=cfg.fddb_folds)
            keys = list_fddb_images(self.root, self.gt)
            self.paths = {k: image_path(self.root, k) for k in _spread(keys, cfg.max_images)}
        if not self.paths:
            raise FileNotFoundError(f"no {cfg.dataset} evaluation images under {self.root}")
        log.info("evaluation: %s, %d images", cfg.dataset, len(self.paths))

    def run(
        self,
        model: nn.Module,
        normalization: Normalization,
        anchors: AnchorConfig,
        ctx: DistContext,
        progress: bool = False,
    ) -> dict[str, float]:
        """Metrics on rank 0 (``{}`` elsewhere): WIDER ``ap_easy/ap_medium/ap_hard``; FDDB ``tpr@FP`` (discrete)."""
        from evaluation.detectors import run_detector

        was_training = model.training
        model.eval()
        detector = TorchDetector(
            model,
            normalization,
            anchors,
            ctx.device,
            self.cfg.input_size,
            self.cfg.score_threshold,
            self.cfg.nms_threshold,
        )
        keys = list(self.paths)[ctx.rank :: ctx.world_size]
        preds, sizes, _ = run_detector(
            detector,
            {k: self.paths[k] for k in keys},
            progress=progress and ctx.is_main,
            desc=f"eval {self.cfg.dataset}",
        )
        model.train(was_training)
        gathered = gather_objects((preds, sizes), ctx)
        if not ctx.is_main:
            return {}
        all_preds: dict[str, np.ndarray] = {}
        all_sizes: dict[str, tuple[int, int]] = {}
        for p, s in gathered:
            all_preds.update(p)
            all_sizes.update(s)
        images = list(self.paths)
        if self.cfg.dataset == "widerface":
            from evaluation.widerface import evaluate_widerface

            result = evaluate_widerface(all_preds, self.gt, images=images)
            return {f"ap_{k}": float(v) for k, v in result.ap.items()}
        from evaluation.fddb import evaluate_fddb

        result = evaluate_fddb(all_preds, self.gt, all_sizes, images=images)
        return {f"tpr@{fp}fp": float(v) for fp, v in result.tpr_at_fp["discrete"].items()}
