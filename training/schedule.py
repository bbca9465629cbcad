"""Optimizer and learning-rate schedule: SGD with momentum, linear warm-up, then step decay or cosine."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def lr_factor(step: int, total_steps: int, cfg) -> float:
    """Multiplier of the base lr at ``step`` (0-based) of ``total_steps`` (``cfg``: ScheduleConfig)."""
    warmup = int(round(cfg.warmup_fraction * total_steps))
    if step < warmup:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * step / warmup
    if cfg.kind == "step":
        factor = 1.0
        for milestone in cfg.milestones:
            if step >= int(round(milestone * total_steps)):
                factor *= cfg.gamma
        return factor
    progress = (step - warmup) / max(1, total_steps - warmup)
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_optimizer(model: nn.Module, cfg) -> torch.optim.SGD:
    """SGD (``cfg``: OptimConfig); ``no_decay_norm_bias`` leaves BatchNorm parameters and biases undecayed."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if cfg.no_decay_norm_bias and (param.ndim <= 1 or name.endswith(".bias")) else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, cfg) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimizer step; its state (the step count) goes into checkpoints."""
    fn: Callable[[int], float] = lambda step: lr_factor(step, total_steps, cfg)  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
