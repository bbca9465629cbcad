"""Quantization-aware training (PT2E) of the RetinaFace model, distilled from its own fp32 weights.

Path (torch 2.13 + torchao 0.18): ``torch.export`` (dynamic batch) → ``prepare_qat_pt2e`` with a quantizer →
fine-tune with fake quantization → ``convert_pt2e`` → per-format export. Two quantizers, because the formats
consume different int8 schemes:

- ``x86`` (torchao ``X86InductorQuantizer``): uint8 affine activations, int8 symmetric per-channel weights — the
  scheme ONNX Runtime and OpenVINO run fast (signed activations degrade OpenVINO, see the STACK notes). Exported as
  an ONNX QDQ graph; the OpenVINO int8 IR is converted from that graph.
- ``litert`` (litert-torch ``PT2EQuantizer``): int8 activations, per-channel int8 weights, int8 model input and
  box/landmark outputs (their scale/zero point live in the .tflite; the runtime applies them).

Fine-tuning is knowledge distillation from the fp32 model (its raw head outputs are the targets), so it needs no
labels (WIDER train has no landmarks here) and aims exactly at what QAT is for: keeping the fp32 behaviour under
int8 rounding. Box and landmark errors are weighted by the teacher's face probability, so the loss concentrates on
anchors that matter. BatchNorm runs on its frozen running statistics (batches are small); observers are frozen for
the last part of the schedule, and ``convert_pt2e`` folds BatchNorm into the int8 convolutions at the end.

CLI: ``python -m training.qat --data-root ../shared/data --out DIR [--steps 150] [--quantizers x86,litert]``
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edge_sdk.preprocess import Letterbox, Normalization, make_input

from .checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from .model import InferenceModel

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- quantizers


HEAD_MODULES = tuple(f"model.{head}.{level}" for head in ("class_head", "bbox_head", "landmark_head") for level in range(3))


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


QUANTIZERS: dict[str, QuantizerSpec] = {
    "x86": QuantizerSpec("x86", _x86_quantizer, True, ("onnx", "openvino")),
    "litert": QuantizerSpec("litert", _litert_quantizer, False, ("tflite",)),
}


# ----------------------------------------------------------------------------------------------------- data


def train_images(data_root: Path) -> list[Path]:
    paths = sorted((Path(data_root) / "widerface" / "WIDER_train" / "images").glob("*/*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no WIDER train images under {data_root}/widerface/WIDER_train/images")
    return paths


def sample_inputs(paths: list[Path], size: int, seed: int, normalization: Normalization = Normalization()) -> Iterator[torch.Tensor]:
    """Endless (1,3,size,size) inputs: a random square crop (30-100 % of the short side), random mirror,
    letterboxed like the runtime does."""
    rng = random.Random(seed)
    while True:
        image = cv2.imread(str(rng.choice(paths)))
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.3, 1.0))
        x, y = rng.randint(0, w - side), rng.randint(0, h - side)
        crop = image[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        box = Letterbox.fit(side, side, size, size)
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


def prepare(model: torch.nn.Module, quantizer: object, size: int, qat: bool = True) -> torch.fx.GraphModule:
    """Export (batch dimension dynamic) and insert fake-quantize (QAT) or observers (PTQ)."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=64)
    graph = torch.export.export(model.eval(), (example,), dynamic_shapes={"x": {0: batch}}).module()
    return (prepare_qat_pt2e if qat else prepare_pt2e)(graph, quantizer)


def distillation_loss(student: tuple[torch.Tensor, ...], teacher: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Match the teacher's raw heads: face-probability-weighted smooth-L1 on box/landmark deltas + BCE on scores."""
    s_box, s_score, s_lmk = student
    t_box, t_score, t_lmk = teacher
    weight = t_score[..., 1:2] + 0.01  # anchors the teacher believes are faces dominate localization
    box = (F.smooth_l1_loss(s_box, t_box, reduction="none") * weight).sum() / weight.sum()
    lmk = (F.smooth_l1_loss(s_lmk, t_lmk, reduction="none") * weight).sum() / weight.sum()
    face = s_score[..., 1].clamp(1e-6, 1 - 1e-6)
    score = F.binary_cross_entropy(face, t_score[..., 1])
    return box + lmk + 10.0 * score


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
) -> list[float]:
    """Fine-tune the fake-quantized ``student`` towards ``teacher``; returns the loss per step."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    from .train import freeze_parameters

    move_exported_model_to_eval(student)  # BatchNorm on running statistics: small batches would make them drift
    freeze_parameters(student, list(FROZEN_PREFIXES))
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))
    losses: list[float] = []
    for step in range(steps):
        if step == int(freeze_observers_at * steps):
            freeze_observers(student)
            log.info("step %d: observers frozen", step)
        x = torch.cat([next(inputs) for _ in range(batch_size)])
        with torch.no_grad():
            targets = teacher(x)
        loss = distillation_loss(student(x), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss))
        if step % 10 == 0 or step == steps - 1:
            log.info("qat step %d/%d loss %.4f", step + 1, steps, losses[-1])
    return losses


def convert(student: torch.fx.GraphModule, spec: QuantizerSpec) -> torch.fx.GraphModule:
    from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    move_exported_model_to_eval(student)
    converted = convert_pt2e(student, fold_quantize=spec.fold_quantize)
    move_exported_model_to_eval(converted)
    allow_exported_model_train_eval(converted)  # exporters call .eval() on what they are given
    return converted


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
    steps: int = 150,
    size: int = 640,
    batch_size: int = 2,
    lr: float = 5e-5,
    seed: int = 0,
    checkpoint: Path = DEFAULT_CHECKPOINT,
    float_heads: bool = False,
) -> QatResult:
    """QAT from the fp32 checkpoint; returns the converted (int8 Q/DQ) model."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    torch.manual_seed(seed)
    spec = QUANTIZERS[quantizer]
    model, _ = load_checkpoint(checkpoint)
    teacher = InferenceModel(model).eval()
    student_source, _ = load_checkpoint(checkpoint)
    quantizer_object = spec.make(True, float_heads)
    student = prepare(InferenceModel(student_source), quantizer_object, size, qat=True)
    # BatchNorm must run on its running statistics from the first forward on: in train mode even the observer
    # warm-up below would pull them towards batch statistics and change the function being distilled.
    move_exported_model_to_eval(student)
    paths = train_images(data_root)
    with torch.no_grad():  # observer warm-up on whole images before any weight moves
        for x in calibration_inputs(paths, size, 16, seed):
            student(x)
    start = time.perf_counter()
    losses = distill(student, teacher, sample_inputs(paths, size, seed), steps, batch_size, lr)
    converted = convert(student, spec)
    return QatResult(quantizer, converted, quantizer_object, losses, time.perf_counter() - start)


def post_training_quantization(data_root: Path, quantizer: str, size: int = 640, calibration: int = 64,
                               checkpoint: Path = DEFAULT_CHECKPOINT) -> tuple[torch.fx.GraphModule, object]:
    """The same quantizer, calibrated only (no fine-tuning): the PT2E PTQ baseline."""
    spec = QUANTIZERS[quantizer]
    model, _ = load_checkpoint(checkpoint)
    quantizer_object = spec.make(False)
    observed = prepare(InferenceModel(model), quantizer_object, size, qat=False)
    with torch.no_grad():
        for x in calibration_inputs(train_images(data_root), size, calibration):
            observed(x)
    return convert(observed, spec), quantizer_object


# --------------------------------------------------------------------------------------------- int8 export


def _entry_note(kind: str, detail: str) -> dict[str, str]:
    return {"quantization": kind, "exporter": detail}


def export_int8(model_dir: Path, data_root: Path, steps: int, checkpoint: Path = DEFAULT_CHECKPOINT,
                baselines: bool = True, calibration: int = 64, size: int = 640) -> list[dict]:
    """QAT int8 files for ONNX, OpenVINO and TFLite (precision "int8"), plus the PTQ baselines (precision
    "int8-ptq"), written into ``model_dir`` (which holds the fp32 export) and added to its manifest."""
    import json

    from export.manifest_writer import file_entry, write_manifest
    from export.onnx_export import export_onnx
    from export.openvino_export import export_openvino
    from export.ptq import ptq_onnxruntime, ptq_openvino
    from export.tflite_export import export_tflite
    from litert_torch.quantize.quant_config import QuantConfig

    manifest = json.loads((model_dir / "manifest.json").read_text())
    name = manifest["name"]
    stem = model_dir / f"{name}_{size}x{size}"
    shape = (size, size)
    _, meta = load_checkpoint(checkpoint)
    entries: list[dict] = []

    x86 = quantization_aware_training(data_root, "x86", steps, size, checkpoint=checkpoint)
    onnx_int8 = export_onnx(x86.model, stem.with_name(stem.name + "_int8.onnx"), shape)
    note = f"QAT: PT2E X86InductorQuantizer (uint8 act, int8 per-channel weights), {steps} distillation steps"
    entries.append(file_entry(model_dir, onnx_int8, "onnx", "int8", shape, **_entry_note(note, "torch.onnx QDQ")))
    xml, weights = export_openvino(onnx_int8, stem.with_name(stem.name + "_int8.xml"), "fp32")
    entries.append(file_entry(model_dir, xml, "openvino", "int8", shape, extra_files=(weights,),
                              **_entry_note(note, "openvino convert_model(QDQ ONNX)")))

    lite = quantization_aware_training(data_root, "litert", steps, size, checkpoint=checkpoint)
    tflite_int8 = stem.with_name(stem.name + "_int8.tflite")
    names = export_tflite(lite.model, tflite_int8, shape, QuantConfig(pt2e_quantizer=lite.quantizer_object))
    entries.append(file_entry(model_dir, tflite_int8, "tflite", "int8", shape, output_names=names,
                              **_entry_note(f"QAT: PT2E litert-torch quantizer (int8, per-channel weights), {steps} "
                                            "distillation steps", "litert-torch full-integer")))
    log.info("QAT done: x86 %.0f s, litert %.0f s", x86.seconds, lite.seconds)

    if baselines:
        fp32_onnx = next(model_dir / f["path"] for f in manifest["files"]
                         if f["format"] == "onnx" and f["precision"] == "fp32" and f["input_size"] == list(shape))
        calib = [t.numpy() for t in calibration_inputs(train_images(data_root), size, calibration)]
        path = ptq_onnxruntime(fp32_onnx, stem.with_name(stem.name + "_int8-ptq.onnx"), calib)
        entries.append(file_entry(model_dir, path, "onnx", "int8-ptq", shape,
                                  **_entry_note(f"PTQ baseline: onnxruntime quantize_static, {calibration} images", "")))
        xml = ptq_openvino(fp32_onnx, stem.with_name(stem.name + "_int8-ptq.xml"), calib)
        entries.append(file_entry(model_dir, xml, "openvino", "int8-ptq", shape, extra_files=(xml.with_suffix(".bin"),),
                                  **_entry_note(f"PTQ baseline: nncf.quantize, {calibration} images", "")))
        ptq_lite, quantizer = post_training_quantization(data_root, "litert", size, calibration, checkpoint)
        path = stem.with_name(stem.name + "_int8-ptq.tflite")
        names = export_tflite(ptq_lite, path, shape, QuantConfig(pt2e_quantizer=quantizer))
        entries.append(file_entry(model_dir, path, "tflite", "int8-ptq", shape, output_names=names,
                                  **_entry_note(f"PTQ baseline: PT2E litert-torch quantizer, {calibration} images", "")))
    write_manifest(model_dir, name, meta, checkpoint, entries, manifest["produced_by"])
    return entries


def bundle(source_dir: Path, target_dir: Path, precision: str = "int8") -> list[str]:
    """Copy the ``precision`` files of ``source_dir`` (with their manifest entries) into ``target_dir``'s model;
    both manifests must describe the same model (same source checkpoint)."""
    import json
    import shutil

    source = json.loads((source_dir / "manifest.json").read_text())
    target = json.loads((target_dir / "manifest.json").read_text())
    if source["source"]["checkpoint_sha256"] != target["source"]["checkpoint_sha256"]:
        raise ValueError("the two model directories come from different checkpoints")
    chosen = [f for f in source["files"] if f["precision"] == precision]
    for entry in chosen:
        for relative in (entry["path"], *entry.get("extra_files", [])):
            shutil.copyfile(source_dir / relative, target_dir / relative)
    paths = {f["path"] for f in chosen}
    target["files"] = sorted([f for f in target["files"] if f["path"] not in paths] + chosen,
                             key=lambda f: (f["format"], f["precision"], f["path"]))
    (target_dir / "manifest.json").write_text(json.dumps(target, indent=2) + "\n", encoding="utf-8")
    return sorted(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.qat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model-dir", type=Path, required=True,
                        help="a model directory holding the fp32 export (python -m export ... --out DIR)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--no-baselines", action="store_true", help="skip the PTQ baselines")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--bundle-into", type=Path, default=None, metavar="DIR",
                        help="only copy the int8 (QAT) files of --model-dir into this model directory (no training)")
    args = parser.parse_args(argv)
    if args.bundle_into is not None:
        for path in bundle(args.model_dir, args.bundle_into):
            print(f"bundled {path} into {args.bundle_into}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    for entry in export_int8(args.model_dir, args.data_root, args.steps, args.checkpoint, not args.no_baselines):
        print(f"wrote {entry['path']} ({entry['format']}, {entry['precision']}, {entry['bytes'] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
