"""BatchNorm handling for fine-tuning: freezing, and re-estimating ("unfolding") folded BatchNorms.

The converted pretrained checkpoint has its BatchNorms folded into the convolutions: every BN is the identity plus a
bias. Such a network trains like a network without normalisation — e.g. the stem convolution, which sees raw 0-255
pixels, gets a gradient ~1e5 times its weight norm — so fine-tuning it needs either frozen BatchNorms with a tiny
learning rate, or :func:`recalibrate_batchnorm`: measure each BN input's per-channel mean and variance on training
batches and re-parameterise the layer so that its *eval-mode function is unchanged* while its statistics are real.
Train-mode BatchNorm then normalises activations and gradients as during the original training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch
from torch import nn

log = logging.getLogger(__name__)

_BN = nn.modules.batchnorm._BatchNorm


def set_train_mode(model: nn.Module, bn: str) -> None:
    """``model.train()``; with ``bn="frozen"`` BatchNorm layers stay in eval mode (running statistics fixed)."""
    model.train()
    if bn == "frozen":
        for module in model.modules():
            if isinstance(module, _BN):
                module.eval()


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    device: torch.device,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> int:
    """Re-estimate every BatchNorm's statistics from ``batches`` (input tensors) without changing the eval function.

    For a BN ``y = g (z - m) / s + b`` (``s = sqrt(v + eps)``) and measured input mean ``mu`` and variance ``var``
    (``s' = sqrt(var + eps)``): ``m' = mu``, ``v' = var``, ``g' = g s' / s``, ``b' = b + g (mu - m) / s``; hence
    ``g' (z - m') / s' + b' == g (z - m) / s + b`` for every ``z``. ``reduce`` (e.g. a sum over processes) is applied
    to the accumulated sums, so all processes end with the same statistics. Returns the number of batches used.
    """
    layers = [m for m in model.modules() if isinstance(m, _BN)]
    sums: dict[int, list[torch.Tensor | float]] = {}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        z = inputs[0].detach().double()
        dims = [d for d in range(z.ndim) if d != 1]
        acc = sums.setdefault(id(module), [0.0, 0.0, 0])
        acc[0] = acc[0] + z.sum(dim=dims)
        acc[1] = acc[1] + (z * z).sum(dim=dims)
        acc[2] += z.numel() // z.shape[1]

    was_training = model.training
    model.eval()  # the function being preserved: eval mode, current statistics
    handles = [m.register_forward_pre_hook(hook) for m in layers]
    n = 0
    try:
        for images in batches:
            model(images.to(device))
            n += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if n == 0:
        raise ValueError("recalibrate_batchnorm needs at least one batch")
    for m in layers:
        total, total_sq, count = sums[id(m)]
        if reduce is not None:
            packed = reduce(
                torch.cat([total, total_sq, torch.tensor([float(count)], dtype=torch.float64, device=total.device)])
            )
            c = m.num_features
            total, total_sq, count = packed[:c], packed[c : 2 * c], float(packed[-1])
        mu = total / count
        var = (total_sq / count - mu * mu).clamp(min=0.0)
        s_old = torch.sqrt(m.running_var.double() + m.eps)
        s_new = torch.sqrt(var + m.eps)
        g = m.weight.double() if m.weight is not None else torch.ones_like(mu)
        b = m.bias.double() if m.bias is not None else torch.zeros_like(mu)
        new_g = g * s_new / s_old
        new_b = b + g * (mu - m.running_mean.double()) / s_old
        if m.weight is None or m.bias is None:
            raise ValueError("recalibrate_batchnorm needs affine BatchNorms")
        m.weight.copy_(new_g.to(m.weight.dtype))
        m.bias.copy_(new_b.to(m.bias.dtype))
        m.running_mean.copy_(mu.to(m.running_mean.dtype))
        m.running_var.copy_(var.to(m.running_var.dtype))
    log.info("re-estimated %d BatchNorm layers from %d batches (eval function unchanged)", len(layers), n)
    return n
