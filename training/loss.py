"""MultiBox loss of RetinaFace: smooth-L1 boxes, smooth-L1 landmarks (faces that have them), classification by
online hard negative mining (OHEM, ``neg_pos_ratio``:1 per image — the seed) or focal loss (RetinaNet).

Normalisation: box and classification terms are divided by the number of positive priors, the landmark term by the
number of positive priors whose face has landmarks. The counts are passed in so that, under DDP, they can be the
*global* counts (summed over processes): then ``world_size x`` each process's loss, averaged by DDP, is exactly the
single-process loss of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossOutput:
    total: torch.Tensor
    box: torch.Tensor
    cls: torch.Tensor
    landmark: torch.Tensor


def hard_negative_mask(ce: torch.Tensor, labels: torch.Tensor, ratio: int) -> torch.Tensor:
    """Per image, the ``ratio x num_pos`` negatives with the highest loss (ties broken by prior order)."""
    num_pos = (labels == 1).sum(dim=1, keepdim=True)
    negatives = labels == 0
    mining = torch.where(negatives, ce.detach(), torch.full_like(ce, -1.0))  # CE >= 0: non-negatives rank last
    order = mining.sort(dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(ce.shape[1], device=ce.device).expand_as(order))
    num_neg = torch.minimum(ratio * num_pos, negatives.sum(dim=1, keepdim=True))
    return negatives & (rank < num_neg)


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Softmax focal loss summed over non-ignored priors (two classes: the model's head is a 2-way softmax)."""
    valid = labels >= 0
    target = labels.clamp(min=0)
    log_p = F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    p_t = log_p.exp()
    alpha_t = torch.where(target == 1, torch.full_like(p_t, alpha), torch.full_like(p_t, 1 - alpha))
    loss = -alpha_t * (1 - p_t).pow(gamma) * log_p
    return loss[valid].sum()


def count_positives(labels: torch.Tensor, landmark_mask: torch.Tensor) -> torch.Tensor:
    """(2,) float: positive priors, positive priors with landmarks (before any cross-process sum)."""
    return torch.stack([(labels == 1).sum(), landmark_mask.sum()]).float()


def multibox_loss(
    pred_boxes: torch.Tensor,
    pred_logits: torch.Tensor,
    pred_landmarks: torch.Tensor,
    labels: torch.Tensor,
    box_targets: torch.Tensor,
    landmark_targets: torch.Tensor,
    landmark_mask: torch.Tensor,
    cfg,
    num_pos: torch.Tensor | float,
    num_landmarks: torch.Tensor | float,
) -> LossOutput:
    """``cfg``: :class:`training.recipe.LossConfig`. Predictions (B,P,·) in any dtype; computed in float32."""
    pred_boxes, pred_logits, pred_landmarks = pred_boxes.float(), pred_logits.float(), pred_landmarks.float()
    pos = labels == 1
    n_pos = torch.as_tensor(num_pos, dtype=torch.float32, device=labels.device).clamp(min=1.0)
    n_lm = torch.as_tensor(num_landmarks, dtype=torch.float32, device=labels.device).clamp(min=1.0)

    box = F.smooth_l1_loss(pred_boxes[pos], box_targets[pos], reduction="sum", beta=cfg.smooth_l1_beta) / n_pos
    lm = (
        F.smooth_l1_loss(
            pred_landmarks[landmark_mask], landmark_targets[landmark_mask], reduction="sum", beta=cfg.smooth_l1_beta
        )
        / n_lm
    )
    if cfg.classification == "ohem":
        ce = F.cross_entropy(
            pred_logits.reshape(-1, pred_logits.shape[-1]), labels.clamp(min=0).reshape(-1), reduction="none"
        ).reshape(labels.shape)
        chosen = pos | hard_negative_mask(ce, labels, cfg.neg_pos_ratio)
        cls = ce[chosen].sum() / n_pos
    else:
        cls = focal_loss(pred_logits, labels, cfg.focal_alpha, cfg.focal_gamma) / n_pos
    total = cfg.box_weight * box + cfg.cls_weight * cls + cfg.landmark_weight * lm
    return LossOutput(total=total, box=box.detach(), cls=cls.detach(), landmark=lm.detach())
