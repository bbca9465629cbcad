"""Quantization-aware training (PT2E) of the RetinaFace model, distilled from its own fp32 weights.

Path (torch 2.13 + torchao 0.18): ``torch.export`` (dynamic batch) → ``prepare_qat_pt2e`` with a quantizer →
fine-tune with fake quantization → ``convert_pt2e`` → per-format export. Three quantizer set-ups, because the
runtimes consume different int8 schemes:

- ``x86`` (torchao ``X86InductorQuantizer``): uint8 affine activations, int8 symmetric per-channel weights — the
  scheme OpenVINO runs fast (signed activations degrade it, see the STACK notes) — with conv outputs rounded only
  after their activation (recipe step 1). Exported as an ONNX QDQ graph and converted to the OpenVINO int8 IR.
- ``x86-fused``: the same quantizer with every conv output rounded (step 1 not applied), for the ONNX Runtime file:
  ORT turns DQ→Conv→Q into an int8 QLinearConv only when a QuantizeLinear follows the conv directly; the step-1
  graph runs its convs in fp32 between extra (de)quantize nodes there (23 ms vs 13 ms for fp32 at 640, 1 thread).
- ``litert`` (litert-torch ``PT2EQuantizer``): int8 activations, per-channel int8 weights, int8 model input and
  box/landmark outputs (their scale/zero point live in the .tflite; the runtime applies them).

Fine-tuning is knowledge distillation from the fp32 model (its raw head outputs are the targets), so it needs no
labels (WIDER train has no landmarks here) and aims exactly at what QAT is for: keeping the fp32 behaviour under
int8 rounding. Box and landmark errors are weighted by the teacher's face probability, so the loss concentrates on
anchors that matter. BatchNorm runs on its frozen running statistics (batches are small), and ``convert_pt2e``
folds BatchNorm into the int8 convolutions at the end.

Recipe (the defaults; measured on the 626 WIDER val images at 640; the experiments behind each step are tabulated
in docs/QAT_EXPERIMENTS.md):

1. ``drop_pre_activation_quantizers`` (x86 only): torchao's X86InductorQuantizer in QAT mode fake-quantizes every
   conv-BN output *and* the LeakyReLU output after it (47 of its 89 activation quantizers are such double
   roundings; ORT/OpenVINO requantize only after the activation anyway). Removing them is the largest single gain:
   calibration-only AP .861/.806/.530 -> .879/.827/.543 (E/M/H, ORT). The litert quantizer keeps them: TFLite runs
   LEAKY_RELU as a separate int8 kernel, so its conv outputs really are int8.
2. ``equalize_depthwise_inputs`` (``--equalize 16`` images): per-channel gains folded into BN and the following
   depthwise conv so that every channel of the activation feeding a depthwise conv spans the same range
   (function and per-channel weight quantization unchanged). Calibration-only AP -> .879/.832/.549 (x86, ORT).
   The equalized depthwise weights are frozen during fine-tuning (they are up to 64x smaller; Adam's steps would
   be that much larger relative to them; training them cost 0.1-0.4 AP points in the runs measured).
3. Observers: warmed up on 16 whole letterboxed images, updated during the first 70 % of the fine-tuning and
   frozen after (``--freeze-observers-at 0.7``); training inputs are random square crops (30-100 % of the short
   side, ``--whole-images 0``). Whole images with observers frozen from the start were tried: equal on x86 Hard,
   0.2-0.3 lower on Easy/Medium, and 0.8 lower on TFLite Hard.
4. Loss: the distillation loss plus a face log-odds term (``--logit-weight 3``): BCE has no gradient where both
   probabilities are small, yet the ranking of low-confidence faces is what Medium/Hard AP measures. Without it,
   fine-tuning did not move AP beyond calibration-only (+-0.3 points, noise); with it Easy/Medium gained ~0.3-0.4.
5. ``make_ranges_learnable`` (``--learn-ranges``, ``--range-lr 0.05``): after the observer warm-up every per-tensor
   activation fake-quant becomes a ``LearnableFakeQuantize`` (LSQ) starting from its observed range; scale and zero
   point are trained with the weights, each at 0.05 x its starting value per Adam step. Min/max ranges are set by a
   few outliers, and before a LeakyReLU (the rounded conv outputs of ``x86-fused`` and ``litert``) half of the range
   shrinks 10x after the activation. Same seed, everything else equal (min/max -> range lr 0.02 -> 0.05): x86 on
   OpenVINO .8844/.8354/.5494 -> .8863/.8411/.5517 -> .8886/.8402/.5519; x86-fused (ORT) .8810/.8269/.5401 ->
   .8853/.8355/.5451 -> .8837/.8364/.5495; litert .8788/.8245/.5398 -> .8774/.8315/.5395 -> .8862/.8374/.5439.
6. Schedule: Adam lr 5e-5 cosine, batch 4, 300 steps (~3 min per quantizer on 2 cores; batch 2 gave the same
   Easy/Medium and 0.2 lower Hard). A longer/higher-lr schedule alone (300 steps at 1e-4, without 1-4) reached
   only .876/.820/.541; 100-300 steps are within noise (~0.3 points) of each other once 1-4 are in place. Stem
   conv frozen.

The x86 quantizers trace height and width as dynamic dimensions, so each trained x86 model is exported twice: at
640x640 and as a dynamic-shape file for original-size inference (``FaceDetector(precision="int8",
input_size=None)``; litert-torch bakes shapes into the .tflite, so LiteRT has only the 640 file).

This module only prepares, fine-tunes and converts the torch models; :mod:`export.int8` writes the files and their
manifest entries (:func:`run` hands each converted model over).

CLI: ``python -m training.qat --model-dir DIR [--steps 300] [--no-baselines] [--lr 5e-5] [--batch-size 4]
[--whole-images 0] [--freeze-observers-at 0.7] [--equalize 16] [--logit-weight 3] [--learn-ranges | --no-learn-ranges]
[--range-lr 0.05]`` (each flag's default is the recipe above, :class:`QatRecipe`; ``--no-learn-ranges`` is the
previous recipe). The flags parse into :class:`QatOptions`; ``run(QatOptions(...))`` does the same from Python.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edge_sdk.manifest import ModelFile
from edge_sdk.preprocess import Letterbox, Normalization, make_input

from .checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from .model import InferenceModel

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- quantizers


HEAD_MODULES = tuple(
    f"model.{head}.{level}" for head in ("class_head", "bbox_head", "landmark_head") for level in range(3)
)


def _x86_quantizer(qat: bool, float_heads: bool = False):
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config(is_qat=qat))
    if float_heads:  # the 9 final 1x1 convs stay fp32 (0.4 % of the MACs)
        for name in HEAD_MODULES:
            quantizer.set_module_name_qconfig(name, None)
    return quantizer


def _litert_quantizer(qat: bool, float_heads: bool = False):
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    _patch_litert_pattern_export()
    return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))


def _patch_litert_pattern_export() -> None:
    """litert-torch 0.10 hands plain functions (conv-bn patterns) to ``torch.export``, which since torch 2.x wants
    an ``nn.Module``: "Expected `mod` to be an instance of `torch.nn.Module`, got <class 'function'>". Wrap them."""
    import litert_torch.quantize.pt2e_quantizer_utils as utils
    from torchao.quantization.pt2e.export_utils import WrapperModule

    original = utils._get_aten_graph_module_for_pattern
    if getattr(original, "_edge_sdk_wrapped", False):
        return

    def wrapped(pattern, example_inputs, is_cuda=False, **kwargs):
        if not isinstance(pattern, torch.nn.Module):
            pattern = WrapperModule(pattern)
        return original(pattern, example_inputs, is_cuda, **kwargs)

    wrapped._edge_sdk_wrapped = True  # type: ignore[attr-defined]
    utils._get_aten_graph_module_for_pattern = wrapped


@dataclass(frozen=True)
class QuantizerSpec:
    name: str
    make: Callable[..., object]  # (qat, float_heads) → quantizer
    fold_quantize: bool  # litert's converter needs the Q/DQ of weights kept (it folds them itself)
    formats: tuple[str, ...]
    # drop the fake-quant on BatchNorm outputs that only feed a (leaky) ReLU (see drop_pre_activation_quantizers)
    drop_pre_activation: bool = False
    # traced with dynamic height/width, so the int8 model is also exported as a dynamic-shape file (litert-torch
    # bakes shapes into the .tflite anyway)
    dynamic_size: bool = False


QUANTIZERS: dict[str, QuantizerSpec] = {
    # OpenVINO fuses conv + (leaky) ReLU and requantizes after the activation: no rounding before it
    "x86": QuantizerSpec("x86", _x86_quantizer, True, ("openvino",), drop_pre_activation=True, dynamic_size=True),
    # ONNX Runtime only runs a conv in int8 (QLinearConv) when a QuantizeLinear follows it directly; without that it
    # dequantizes and runs the conv in fp32 (2x slower than the fp32 model here), so its file keeps those roundings
    "x86-fused": QuantizerSpec("x86-fused", _x86_quantizer, True, ("onnx",), dynamic_size=True),
    # TFLite runs LEAKY_RELU as its own int8 kernel, so the conv output must stay quantized there
    "litert": QuantizerSpec("litert", _litert_quantizer, False, ("tflite",)),
}


def drop_pre_activation_quantizers(graph: torch.fx.GraphModule) -> int:
    """Remove the fake-quant that ``X86InductorQuantizer`` (QAT mode) puts on every conv-BN output — "TODO Remove
    the annotate of output in QAT" in torchao — where that output only feeds a ReLU/LeakyReLU whose own output is
    quantized anyway (or, for ReLU, the concat after it). 47 of the 89 activation quantizers of this model are such
    double roundings before the activation; their PTQ (calibration-only) AP is 1.3-2 points lower with them. The
    int8 runtimes (ORT QDQ, OpenVINO) fuse conv + activation and requantize only after it; this is also what the
    x86 PTQ annotation and NNCF produce. Returns how many were removed."""
    removed = 0
    for node in list(graph.graph.nodes):
        if node.op != "call_module" or "activation_post_process" not in str(node.target):
            continue
        source = node.args[0]
        if (
            source.op == "call_function"
            and "batch_norm" in str(source.target)
            and node.users
            and all(u.op == "call_function" and "relu" in str(u.target) for u in node.users)
        ):
            node.replace_all_uses_with(source)
            graph.graph.erase_node(node)
            removed += 1
    graph.graph.lint()
    graph.recompile()
    graph.delete_all_unused_submodules()
    return removed


# ----------------------------------------------------------------------------------------------------- data


def train_images(data_root: Path) -> list[Path]:
    paths = sorted((Path(data_root) / "widerface" / "WIDER_train" / "images").glob("*/*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no WIDER train images under {data_root}/widerface/WIDER_train/images")
    return paths


def sample_inputs(
    paths: list[Path], size: int, seed: int, normalization: Normalization = Normalization(), whole: float = 0.0
) -> Iterator[torch.Tensor]:
    """Endless (1,3,size,size) inputs, random mirror, letterboxed like the runtime does: with probability ``whole``
    the whole image (what deployment and the WIDER evaluation see), else a random square crop (30-100 % of the
    short side)."""
    rng = random.Random(seed)
    while True:
        image = cv2.imread(str(rng.choice(paths)))
        h, w = image.shape[:2]
        if rng.random() < whole:
            crop = image
        else:
            side = int(min(h, w) * rng.uniform(0.3, 1.0))
            x, y = rng.randint(0, w - side), rng.randint(0, h - side)
            crop = image[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        box = Letterbox.fit(crop.shape[1], crop.shape[0], size, size)
        yield torch.from_numpy(make_input(np.ascontiguousarray(crop), box, normalization))


def calibration_inputs(paths: list[Path], size: int, count: int, seed: int = 0) -> list[torch.Tensor]:
    """Whole images letterboxed to ``size`` (what deployment sees), for PTQ calibration and observer warm-up."""
    rng = random.Random(seed)
    chosen = rng.sample(paths, min(count, len(paths)))
    out = []
    for path in chosen:
        image = cv2.imread(str(path))
        box = Letterbox.fit(image.shape[1], image.shape[0], size, size)
        out.append(torch.from_numpy(make_input(image, box, Normalization())))
    return out


# ------------------------------------------------------------------------------------------------------ QAT


def equalize_depthwise_inputs(model: torch.nn.Module, images: list[torch.Tensor], max_gain: float = 64.0) -> int:
    """Activation equalization before quantization (data-driven, no training): every conv-BN-LeakyReLU of the
    backbone whose only consumer is a depthwise conv gets per-channel gains ``k_c``: BN gamma and beta *= k_c and
    the depthwise weights /= k_c. LeakyReLU is positively homogeneous and depthwise weights are quantized per
    channel, so neither the float function nor the weight quantization changes — but ``k_c`` makes every channel
    span the same range, so the per-tensor activation quantizer stops spending its 256 levels on a few wide
    channels (MobileNet's narrow early layers have channels 5-60x apart). Stage outputs (which also feed the FPN)
    are left alone. Returns the number of equalized pairs."""
    from .model import DepthwiseSeparable

    pairs = []
    for stage in (model.body.stage1, model.body.stage2, model.body.stage3):
        sequence = []
        for block in stage:
            sequence += [block.dw, block.pw] if isinstance(block, DepthwiseSeparable) else [block]
        for prev, nxt in zip(sequence[:-1], sequence[1:]):
            if nxt.conv.groups > 1 and nxt.conv.groups == nxt.conv.in_channels:
                pairs.append((prev, nxt))
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def observe(index: int):
        def hook(_module, _inputs, out):
            lo, hi = out.amin(dim=(0, 2, 3)), out.amax(dim=(0, 2, 3))
            if index in stats:
                lo, hi = torch.minimum(stats[index][0], lo), torch.maximum(stats[index][1], hi)
            stats[index] = (lo, hi)

        return hook

    hooks = [prev.register_forward_hook(observe(i)) for i, (prev, _) in enumerate(pairs)]
    model.eval()
    with torch.no_grad():
        for x in images:
            model(x)
        for hook in hooks:
            hook.remove()
        for i, (prev, nxt) in enumerate(pairs):
            lo, hi = stats[i]
            spread = (hi - lo).clamp_min(1e-6)
            gain = (spread.max() / spread).clamp(max=max_gain)
            prev.bn.weight.mul_(gain)
            prev.bn.bias.mul_(gain)
            nxt.conv.weight.div_(gain.view(-1, 1, 1, 1))
    return len(pairs)


def prepare(
    model: torch.nn.Module, quantizer: object, size: int, qat: bool = True, dynamic_size: bool = False
) -> torch.fx.GraphModule:
    """Export (batch dimension dynamic; height and width too with ``dynamic_size``, so that the int8 model can
    also be exported as a dynamic-shape file for original-size inference) and insert fake-quantize (QAT) or
    observers (PTQ)."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    example = torch.zeros(2, 3, size, size)
    axes = {0: torch.export.Dim("batch", min=1, max=64)}
    if dynamic_size:  # at least 64: the stride-32 map must be 2+ wide, or torch.export specializes the FPN upsample
        axes |= {2: torch.export.Dim("height", min=64, max=8192), 3: torch.export.Dim("width", min=64, max=8192)}
    graph = torch.export.export(model.eval(), (example,), dynamic_shapes={"x": axes}).module()
    return (prepare_qat_pt2e if qat else prepare_pt2e)(graph, quantizer)


def distillation_loss(
    student: tuple[torch.Tensor, ...], teacher: tuple[torch.Tensor, ...], logit_weight: float = 0.0
) -> torch.Tensor:
    """Match the teacher's raw heads: face-probability-weighted smooth-L1 on box/landmark deltas + BCE on scores,
    plus (``logit_weight``) a face-probability-weighted smooth-L1 on the face log-odds. The BCE gradient vanishes
    where both probabilities are small, yet the ranking of low-confidence faces is what Medium/Hard AP measures;
    the log-odds term keeps a gradient there."""
    s_box, s_score, s_lmk = student
    t_box, t_score, t_lmk = teacher
    weight = t_score[..., 1:2] + 0.01  # anchors the teacher believes are faces dominate localization
    box = (F.smooth_l1_loss(s_box, t_box, reduction="none") * weight).sum() / weight.sum()
    lmk = (F.smooth_l1_loss(s_lmk, t_lmk, reduction="none") * weight).sum() / weight.sum()
    face = s_score[..., 1].clamp(1e-6, 1 - 1e-6)
    score = F.binary_cross_entropy(face, t_score[..., 1])
    loss = box + lmk + 10.0 * score
    if logit_weight:

        def log_odds(p: torch.Tensor) -> torch.Tensor:
            return torch.log(p[..., 1].clamp_min(1e-6)) - torch.log(p[..., 0].clamp_min(1e-6))

        w = weight[..., 0]
        loss = (
            loss
            + logit_weight
            * (F.smooth_l1_loss(log_odds(s_score), log_odds(t_score), reduction="none") * w).sum()
            / w.sum()
        )
    return loss


def make_ranges_learnable(model: torch.fx.GraphModule) -> int:
    """Swap every calibrated per-tensor activation fake-quant for a ``LearnableFakeQuantize`` (LSQ: scale and zero
    point trained by backpropagation) that starts from the observed range. Min/max ranges are a poor choice where a
    few outliers set them, and before a LeakyReLU (the fused graphs) the negative half of the range shrinks 10x after
    the activation; a learned range can trade clipping for resolution there. Weight fake-quants (per channel) keep
    their min/max observers. Returns how many were swapped; call after the observer warm-up."""
    from torchao.quantization.pt2e import FakeQuantize, LearnableFakeQuantize

    swapped = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, FakeQuantize) or module.qscheme not in (
            torch.per_tensor_affine,
            torch.per_tensor_symmetric,
        ):
            continue
        observer = module.activation_post_process
        learnable = LearnableFakeQuantize(
            type(observer),
            quant_min=module.quant_min,
            quant_max=module.quant_max,
            dtype=observer.dtype,
            qscheme=observer.qscheme,
        )
        learnable._initialize_or_update_qparams(
            module.scale.detach().clone().reshape(1).float(), module.zero_point.detach().clone().reshape(1)
        )
        learnable.activation_post_process.load_state_dict(observer.state_dict())
        learnable.enable_range_learning()
        model.set_submodule(name, learnable)
        swapped += 1
    return swapped


def freeze_observers(model: torch.nn.Module) -> None:
    from torchao.quantization.pt2e import disable_observer

    model.apply(disable_observer)


# The stem sees raw 0-255 pixels, so its weights are ~1e-3 and any step size that suits the rest wrecks it; the
# fine-tuning recipes keep it fixed for the same reason (training/recipes/widerface_finetune.json).
FROZEN_PREFIXES = ("model.body.stage1.0.conv",)


def distill(
    student: torch.fx.GraphModule,
    teacher: torch.nn.Module,
    inputs: Iterator[torch.Tensor],
    steps: int,
    batch_size: int = 2,
    lr: float = 5e-5,
    freeze_observers_at: float = 0.7,
    frozen: tuple[str, ...] = FROZEN_PREFIXES,
    logit_weight: float = 0.0,
    range_lr: float = 5e-2,
) -> list[float]:
    """Fine-tune the fake-quantized ``student`` towards ``teacher``; returns the loss per step. Parameters whose
    name starts with one of ``frozen`` stay fixed. Learnable quantization ranges (``make_ranges_learnable``) move
    at ``range_lr`` relative to their starting scale per step."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    from .train import freeze_parameters

    move_exported_model_to_eval(student)  # BatchNorm on running statistics: small batches would make them drift
    freeze_parameters(student, list(frozen))
    optimizer = torch.optim.Adam(_parameter_groups(student, lr, range_lr), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))
    losses: list[float] = []
    for step in range(steps):
        if step == int(freeze_observers_at * steps):
            freeze_observers(student)
            log.info("step %d: observers frozen", step)
        x = torch.cat([next(inputs) for _ in range(batch_size)])
        with torch.no_grad():
            targets = teacher(x)
        loss = distillation_loss(student(x), targets, logit_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == steps - 1:
            log.info("qat step %d/%d loss %.4f", step + 1, steps, losses[-1])
    return losses


def _parameter_groups(student: torch.nn.Module, lr: float, range_lr: float) -> list[dict]:
    """Weights at ``lr``; each learnable quantizer's scale at ``range_lr`` x its starting scale (Adam's steps have a
    fixed size, and the scales of this model span 100x) and its zero point at ``range_lr`` x 50 levels."""
    from torchao.quantization.pt2e import LearnableFakeQuantize

    ranges = [
        m
        for m in student.modules()
        if isinstance(m, LearnableFakeQuantize) and m.scale is not None and m.scale.requires_grad
    ]
    range_ids = {id(p) for m in ranges for p in (m.scale, m.zero_point)}
    groups: list[dict] = [
        {"params": [p for p in student.parameters() if p.requires_grad and id(p) not in range_ids], "lr": lr}
    ]
    for module in ranges:
        groups.append({"params": [module.scale], "lr": range_lr * float(module.scale.detach().abs().max())})
        groups.append({"params": [module.zero_point], "lr": range_lr * 50})
    return groups


def convert(student: torch.fx.GraphModule, spec: QuantizerSpec) -> torch.fx.GraphModule:
    from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    move_exported_model_to_eval(student)
    converted = convert_pt2e(student, fold_quantize=spec.fold_quantize)
    move_exported_model_to_eval(converted)
    allow_exported_model_train_eval(converted)  # exporters call .eval() on what they are given
    return converted


@dataclass(frozen=True)
class QatRecipe:
    """The fine-tuning recipe (module docstring, steps 1-6); the defaults are the chosen one."""

    steps: int = 300
    lr: float = 5e-5
    batch_size: int = 4
    whole: float = 0.0  # probability that a training input is a whole letterboxed image (else a random crop)
    freeze_observers_at: float = 0.7  # fraction of the schedule after which activation ranges stop moving
    equalize: int = 16  # images for the depthwise-input equalization (0: off)
    warmup: int = 16  # whole images the observers see before any weight moves
    logit_weight: float = 3.0  # weight of the face log-odds distillation term (0: off)
    learn_ranges: bool = True  # learn the activation quantization ranges (LSQ)
    range_lr: float = 5e-2  # step of a learned range per step, relative to its starting scale
    seed: int = 0
    float_heads: bool = False  # keep the 9 final 1x1 convs in fp32

    def describe(self) -> str:
        """The recipe in words, for the manifest entries of the files it produced."""
        return (
            f"{self.steps} distillation steps (lr {self.lr}, batch {self.batch_size}, depthwise-input equalization "
            f"on {self.equalize} images, face log-odds weight {self.logit_weight}"
            + (f", learned activation ranges at {self.range_lr}" if self.learn_ranges else "")
            + ")"
        )


@dataclass(frozen=True)
class QatOptions:
    """One ``python -m training.qat`` run: the QAT int8 files of every runtime (and the PTQ baselines) for the fp32
    export in ``model_dir``."""

    model_dir: Path
    data_root: Path = Path("../shared/data")
    checkpoint: Path = DEFAULT_CHECKPOINT
    recipe: QatRecipe = QatRecipe()
    size: int = 640  # training/calibration input side; the fixed-size files are size x size
    baselines: bool = True  # also the PTQ baselines (precision "int8-ptq")
    calibration: int = 64  # images for the PTQ baselines
    threads: int | None = None


@dataclass
class QatResult:
    quantizer: str
    model: torch.fx.GraphModule
    quantizer_object: object
    losses: list[float]
    seconds: float


def quantization_aware_training(
    data_root: Path,
    quantizer: str,
    recipe: QatRecipe = QatRecipe(),
    size: int = 640,
    checkpoint: Path = DEFAULT_CHECKPOINT,
) -> QatResult:
    """QAT from the fp32 checkpoint; returns the converted (int8 Q/DQ) model. See the module docstring for the
    recipe."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    r = recipe
    torch.manual_seed(r.seed)
    spec = QUANTIZERS[quantizer]
    model, _ = load_checkpoint(checkpoint)
    teacher = InferenceModel(model).eval()
    student_source, _ = load_checkpoint(checkpoint)
    paths = train_images(data_root)
    frozen = FROZEN_PREFIXES
    if r.equalize:
        pairs = equalize_depthwise_inputs(student_source, calibration_inputs(paths, size, r.equalize, r.seed + 7))
        log.info("%s: equalized %d conv -> depthwise pairs on %d images", quantizer, pairs, r.equalize)
        # the equalized depthwise weights are scaled down by up to 64x: Adam's fixed-size steps would be up to 64x
        # larger relative to them (measured: fine-tuning them costs AP, even with each channel's steps scaled down
        # by its gain), so they stay fixed
        frozen = frozen + tuple(
            f"{name}.weight"
            for name, module in student_source.named_modules()
            if isinstance(module, torch.nn.Conv2d) and name.startswith("body.") and module.groups > 1
        )
    quantizer_object = spec.make(True, r.float_heads)
    student = prepare(InferenceModel(student_source), quantizer_object, size, qat=True, dynamic_size=spec.dynamic_size)
    if spec.drop_pre_activation:
        log.info("%s: dropped %d pre-activation fake-quants", quantizer, drop_pre_activation_quantizers(student))
    # BatchNorm must run on its running statistics from the first forward on: in train mode even the observer
    # warm-up below would pull them towards batch statistics and change the function being distilled.
    move_exported_model_to_eval(student)
    with torch.no_grad():  # observer warm-up on whole images before any weight moves
        for x in calibration_inputs(paths, size, r.warmup, r.seed):
            student(x)
    if r.learn_ranges:
        log.info("%s: %d activation quantizers with learnable ranges", quantizer, make_ranges_learnable(student))
    start = time.perf_counter()
    losses = distill(
        student,
        teacher,
        sample_inputs(paths, size, r.seed, whole=r.whole),
        r.steps,
        r.batch_size,
        r.lr,
        r.freeze_observers_at,
        tuple(p if p.startswith("model.") else f"model.{p}" for p in frozen),
        r.logit_weight,
        r.range_lr,
    )
    converted = convert(student, spec)
    return QatResult(quantizer, converted, quantizer_object, losses, time.perf_counter() - start)


def post_training_quantization(
    data_root: Path, quantizer: str, size: int = 640, calibration: int = 64, checkpoint: Path = DEFAULT_CHECKPOINT
) -> tuple[torch.fx.GraphModule, object]:
    """The same quantizer, calibrated only (no fine-tuning): the PT2E PTQ baseline."""
    spec = QUANTIZERS[quantizer]
    model, _ = load_checkpoint(checkpoint)
    quantizer_object = spec.make(False)
    observed = prepare(InferenceModel(model), quantizer_object, size, qat=False)
    with torch.no_grad():
        for x in calibration_inputs(train_images(data_root), size, calibration):
            observed(x)
    return convert(observed, spec), quantizer_object


# ------------------------------------------------------------------------------------------------------ run


# What each quantizer's model is written as, and how its manifest entries describe it.
_QAT_OUTPUTS = (
    (
        "x86-fused",
        "onnx",
        "QAT: PT2E X86InductorQuantizer (uint8 act, int8 per-channel weights; every conv output "
        "quantized, so ONNX Runtime runs QLinearConv)",
    ),
    (
        "x86",
        "openvino",
        "QAT: PT2E X86InductorQuantizer (uint8 act, int8 per-channel weights; conv outputs rounded "
        "only after their activation, as OpenVINO fuses them)",
    ),
    ("litert", "tflite", "QAT: PT2E litert-torch quantizer (int8, per-channel weights)"),
)


def run(options: QatOptions) -> list[ModelFile]:
    """Train and convert one int8 model per runtime and hand each to :mod:`export.int8`, which writes the files
    (``size`` x ``size``, plus dynamic height/width where the quantizer traced it) into ``model_dir`` and its
    manifest; then the PTQ baselines. Returns the manifest entries written."""
    from export.int8 import QuantizedModel, write_ptq_baselines, write_quantized
    from export.manifest_writer import add_files

    o = options
    fixed = (o.size, o.size)
    written: list[ModelFile] = []
    for quantizer, fmt, note in _QAT_OUTPUTS:
        result = quantization_aware_training(o.data_root, quantizer, o.recipe, o.size, o.checkpoint)
        log.info("QAT %s done in %.0f s", quantizer, result.seconds)
        sizes = [fixed, None] if QUANTIZERS[quantizer].dynamic_size else [fixed]
        quantized = QuantizedModel(result.model, f"{note}, {o.recipe.describe()}", result.quantizer_object)
        files = write_quantized(o.model_dir, fmt, quantized, sizes)
        add_files(o.model_dir, files, o.checkpoint)  # recorded at once: a later failure orphans no trained file
        written += files
    if o.baselines:
        calibration = [t.numpy() for t in calibration_inputs(train_images(o.data_root), o.size, o.calibration)]
        files = write_ptq_baselines(o.model_dir, calibration, [fixed, None])
        model, quantizer_object = post_training_quantization(o.data_root, "litert", o.size, o.calibration, o.checkpoint)
        note = f"PTQ baseline: PT2E litert-torch quantizer, {o.calibration} images"
        files += write_quantized(
            o.model_dir, "tflite", QuantizedModel(model, note, quantizer_object), [fixed], precision="int8-ptq"
        )
        add_files(o.model_dir, files, o.checkpoint)
        written += files
    return written


# ------------------------------------------------------------------------------------------------------ CLI


def parse_options(argv: list[str] | None = None) -> tuple[QatOptions, Path | None]:
    """The CLI's flags → (options, ``--bundle-into`` directory or None). Each flag's default is the recipe's."""
    recipe = QatRecipe()
    parser = argparse.ArgumentParser(
        prog="python -m training.qat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=QatOptions.data_root)
    parser.add_argument(
        "--model-dir",
        type=Path,
        required=True,
        help="a model directory holding the fp32 export (python -m export ... --out DIR)",
    )
    parser.add_argument("--checkpoint", type=Path, default=QatOptions.checkpoint)
    parser.add_argument("--steps", type=int, default=recipe.steps)
    parser.add_argument("--no-baselines", action="store_true", help="skip the PTQ baselines")
    parser.add_argument("--lr", type=float, default=recipe.lr)
    parser.add_argument("--batch-size", type=int, default=recipe.batch_size)
    parser.add_argument(
        "--whole-images",
        type=float,
        default=recipe.whole,
        help="probability that a training input is a whole letterboxed image (else a random crop)",
    )
    parser.add_argument(
        "--freeze-observers-at",
        type=float,
        default=recipe.freeze_observers_at,
        help="fraction of the schedule after which activation ranges stop moving (0: right after warm-up)",
    )
    parser.add_argument(
        "--equalize",
        type=int,
        default=recipe.equalize,
        help="images for the depthwise-input activation equalization (0: off)",
    )
    parser.add_argument(
        "--logit-weight",
        type=float,
        default=recipe.logit_weight,
        help="weight of the face log-odds distillation term (0: off)",
    )
    parser.add_argument(
        "--learn-ranges",
        action=argparse.BooleanOptionalAction,
        default=recipe.learn_ranges,
        help="learn the activation quantization ranges (LSQ) during fine-tuning",
    )
    parser.add_argument(
        "--range-lr",
        type=float,
        default=recipe.range_lr,
        help="step of a learned range per step, relative to its starting scale",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--bundle-into",
        type=Path,
        default=None,
        metavar="DIR",
        help="only copy the int8 (QAT) files of --model-dir into this model directory (no training; export.bundle)",
    )
    args = parser.parse_args(argv)
    recipe = QatRecipe(
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        whole=args.whole_images,
        freeze_observers_at=args.freeze_observers_at,
        equalize=args.equalize,
        logit_weight=args.logit_weight,
        learn_ranges=args.learn_ranges,
        range_lr=args.range_lr,
    )
    options = QatOptions(
        model_dir=args.model_dir,
        data_root=args.data_root,
        checkpoint=args.checkpoint,
        recipe=recipe,
        baselines=not args.no_baselines,
        threads=args.threads,
    )
    return options, args.bundle_into


def main(argv: list[str] | None = None) -> int:
    options, bundle_into = parse_options(argv)
    if bundle_into is not None:
        from export.bundle import bundle

        for path in bundle(options.model_dir, bundle_into):
            print(f"bundled {path} into {bundle_into}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if options.threads:
        torch.set_num_threads(options.threads)
    log.info("QAT options: %s", options)
    for entry in run(options):
        print(f"wrote {entry.path.name} ({entry.format}, {entry.precision}, {(entry.bytes or 0) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
