"""Training recipes: one typed config, defaults = the seed's WIDER FACE recipe, files that only say what differs.

A recipe file (JSON, or YAML when PyYAML is installed) is a nested mapping of the sections below. ``"base"`` names
another recipe (a bundled name such as ``widerface_mnet025`` or a path) whose values it overrides, so recipes never
repeat each other. ``--set section.key=value`` on the command line overrides single values (value parsed as JSON,
falling back to a plain string).

Bundled recipes live in ``training/recipes/``: ``widerface_mnet025`` (from scratch), ``widerface_finetune`` (from the
converted pretrained weights), ``fddb_finetune`` (second stage on FDDB folds).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass
class InitConfig:
    """Where the weights start: ``scratch`` (random, seeded) or ``pretrained`` (a checkpoint; None = the converted
    RetinaFace-MNet0.25 weights, :data:`training.checkpoint.DEFAULT_CHECKPOINT`)."""

    mode: str = "scratch"
    checkpoint: str | None = None


@dataclass
class ModelSection:
    """Architecture for ``init.mode == "scratch"`` (a pretrained checkpoint brings its own config)."""

    width_mult: float = 0.25
    activation: str = "leaky_relu"
    leaky_slope: float = 0.1
    fpn_channels: int = 64


@dataclass
class DataConfig:
    """Training images and annotations, paths relative to ``--data-root``.

    ``format``: ``wider_bbx_gt`` (official ``wider_face_train_bbx_gt.txt``), ``retinaface_label`` (RetinaFace
    ``label.txt`` with 5 landmarks) or ``fddb`` (ellipse folds). ``annotations``: candidate files, the first that
    exists is used (the full official file, then the events 0-1 subset shipped in ``../shared/data``).
    """

    format: str = "wider_bbx_gt"
    annotations: list[str] = field(
        default_factory=lambda: [
            "widerface/wider_face_split/wider_face_train_bbx_gt.txt",
            "widerface/wider_face_split/wider_face_train_bbx_gt.events0-1.txt",
        ]
    )
    images: str = "widerface/WIDER_train/images"
    fddb_root: str = "fddb"
    fddb_folds: list[int] = field(default_factory=lambda: list(range(2, 11)))
    drop_invalid: bool = True  # WIDER ``invalid`` attribute
    min_box_size: float = 1.0  # boxes narrower or shorter than this (pixels, original image) are dropped
    keys: list[str] | None = None  # only these images ("<event>/<name>"), e.g. to overfit
    max_images: int | None = None  # first N images (sorted by key)
    cache_images: bool = False  # keep decoded images in memory (small sets only)
    num_workers: int = 4


@dataclass
class AugmentConfig:
    """RetinaFace-style augmentation (see :mod:`training.augment`). ``enabled=False``: letterbox only."""

    enabled: bool = True
    crop_scales: list[float] = field(default_factory=lambda: [0.3, 0.45, 0.6, 0.8, 1.0])
    crop_attempts: int = 250
    photometric: bool = True
    brightness_delta: float = 32.0
    contrast_range: list[float] = field(default_factory=lambda: [0.5, 1.5])
    saturation_range: list[float] = field(default_factory=lambda: [0.5, 1.5])
    hue_delta: int = 18
    mirror_prob: float = 0.5
    interpolations: list[str] = field(default_factory=lambda: ["linear", "cubic", "area", "nearest", "lanczos4"])
    min_face_size: float = 0.0  # faces smaller than this (pixels, network input) after resize are dropped


@dataclass
class MatchingConfig:
    """Prior-to-face assignment: IoU >= ``pos_iou`` positive, < ``neg_iou`` negative, in between ignored; every face
    also claims its best prior when that IoU >= ``force_min_iou`` (the seed: 0.35 / 0.35 / 0.2)."""

    pos_iou: float = 0.35
    neg_iou: float = 0.35
    force_min_iou: float = 0.2


@dataclass
class LossConfig:
    """``classification``: ``ohem`` (cross-entropy on positives + the hardest negatives, ``neg_pos_ratio``:1 per
    image) or ``focal`` (RetinaNet, ``focal_alpha``/``focal_gamma``). All terms are normalised by positives."""

    classification: str = "ohem"
    neg_pos_ratio: int = 3
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    box_weight: float = 2.0
    cls_weight: float = 1.0
    landmark_weight: float = 1.0
    smooth_l1_beta: float = 1.0


@dataclass
class OptimConfig:
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    no_decay_norm_bias: bool = False  # the seed decays every parameter


@dataclass
class ScheduleConfig:
    """Learning rate per step: linear warm-up over ``warmup_fraction`` of training from ``warmup_start`` x lr, then
    ``step`` (x ``gamma`` at each fraction in ``milestones``) or ``cosine`` (to ``min_lr_ratio`` x lr)."""

    kind: str = "step"
    warmup_fraction: float = 0.02
    warmup_start: float = 1e-3
    milestones: list[float] = field(default_factory=lambda: [0.76, 0.88])
    gamma: float = 0.1
    min_lr_ratio: float = 0.0


@dataclass
class EmaConfig:
    enabled: bool = False
    decay: float = 0.9999
    tau: float = 2000.0  # warm-up of the decay: d = decay * (1 - exp(-updates / tau))


@dataclass
class TrainConfig:
    """``batch_size`` is the *global* batch (all processes together): a recipe means the same thing on 1 or 64
    GPUs; each of ``W`` processes gets ``batch_size / W``. Length: ``max_steps`` when set, else ``epochs``."""

    epochs: float = 250.0
    max_steps: int | None = None
    batch_size: int = 32
    sizes: list[int] = field(default_factory=lambda: [640])
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # CUDA only
    amp_dtype: str = "float16"  # or bfloat16 (no loss scaling)
    clip_grad_norm: float | None = None
    bn: str = "train"  # train | frozen (BatchNorm in eval mode: running statistics and normalisation fixed)
    bn_recalibrate_batches: int = 0  # >0: re-estimate BatchNorm statistics first (for BN-folded pretrained weights)
    sync_bn: bool = False  # SyncBatchNorm across processes (CUDA/NCCL)
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes kept fixed, e.g. "body.stage1.0.conv"
    threads: int | None = None  # torch CPU threads
    deterministic: bool = False  # torch deterministic algorithms (slower on CUDA)
    ema: EmaConfig = field(default_factory=EmaConfig)


@dataclass
class EvalConfig:
    """Periodic evaluation through :mod:`evaluation`: ``widerface`` (val AP easy/medium/hard) or ``fddb``."""

    dataset: str = "widerface"
    widerface_root: str = "widerface"
    fddb_root: str = "fddb"
    fddb_folds: list[int] = field(default_factory=lambda: [1])
    interval: int = 0  # steps between evaluations; 0 = only at the end
    at_start: bool = False
    at_end: bool = True
    max_images: int | None = None  # evenly spread subset (covers all events)
    input_size: int | None = None  # None = original size (padded to a multiple of 32)
    score_threshold: float = EVAL_SCORE_THRESHOLD
    nms_threshold: float = EVAL_NMS_THRESHOLD
    enabled: bool = True


@dataclass
class LogConfig:
    interval: int = 20
    tensorboard: str = "auto"  # auto (when installed) | on | off; metrics.csv is always written
    progress: bool = True


@dataclass
class CheckpointConfig:
    interval: int = 1000  # steps; the last state is always saved
    keep: int = 3  # periodic checkpoints kept (last.pt and final.pt always)


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    init: InitConfig = field(default_factory=InitConfig)
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"{path} is YAML: pip install pyyaml (or use a .json recipe)") from exc
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe must be a mapping")
    return data


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A bundled recipe name (``widerface_finetune``) or a file path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for suffix in (".json", ".yaml", ".yml"):
        candidate = RECIPE_DIR / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    bundled = sorted(p.stem for p in RECIPE_DIR.glob("*.json"))
    raise FileNotFoundError(f"no recipe {name_or_path!r} (a file, or one of {bundled})")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _raw(name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = resolve_recipe_path(name_or_path).resolve()
    if path in seen:
        raise ValueError(f"recipe base cycle: {' -> '.join(str(p) for p in (*seen, path))}")
    data = _read(path)
    base = data.pop("base", None)
    data.setdefault("name", path.stem)
    if base is None:
        return data
    merged = _merge(_raw(base, (*seen, path)), data)
    merged["name"] = data["name"]
    return merged


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Dataclass from a mapping; unknown keys are errors (a typo must not silently keep a default)."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown recipe keys in {where or 'recipe'}: {unknown} (known: {sorted(known)})")
    kwargs = {}
    for key, value in data.items():
        default = known[key].default_factory() if known[key].default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[key] = _build(type(default), value, f"{where}.{key}".strip("."))
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["train.batch_size=8", "augment.enabled=false"]`` applied to a raw recipe mapping."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = _parse_value(value.strip())
    return data


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe (following ``base``), apply ``--set`` overrides, validate, return it."""
    data = apply_overrides(_raw(name_or_path), overrides or [])
    recipe = _build(Recipe, data, "")
    validate(recipe)
    return recipe


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    recipe = _build(Recipe, data, "")
    validate(recipe)
    return recipe


def validate(r: Recipe) -> None:
    checks = [
        (r.init.mode in ("scratch", "pretrained"), f"init.mode must be scratch|pretrained, got {r.init.mode!r}"),
        (r.data.format in ("wider_bbx_gt", "retinaface_label", "fddb"), f"unknown data.format {r.data.format!r}"),
        (
            r.loss.classification in ("ohem", "focal"),
            f"loss.classification must be ohem|focal, got {r.loss.classification!r}",
        ),
        (r.schedule.kind in ("step", "cosine"), f"schedule.kind must be step|cosine, got {r.schedule.kind!r}"),
        (r.train.device in ("auto", "cpu", "cuda"), f"train.device must be auto|cpu|cuda, got {r.train.device!r}"),
        (r.train.bn in ("train", "frozen"), f"train.bn must be train|frozen, got {r.train.bn!r}"),
        (
            r.train.amp_dtype in ("float16", "bfloat16"),
            f"train.amp_dtype must be float16|bfloat16, got {r.train.amp_dtype!r}",
        ),
        (r.eval.dataset in ("widerface", "fddb"), f"eval.dataset must be widerface|fddb, got {r.eval.dataset!r}"),
        (r.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (
            len(r.train.sizes) >= 1 and all(int(s) % 32 == 0 for s in r.train.sizes),
            f"train.sizes must be multiples of 32, got {r.train.sizes}",
        ),
        (0 <= r.matching.neg_iou <= r.matching.pos_iou <= 1, "matching needs 0 <= neg_iou <= pos_iou <= 1"),
        (r.train.max_steps is None or r.train.max_steps >= 1, "train.max_steps must be >= 1"),
        (r.log.tensorboard in ("auto", "on", "off"), "log.tensorboard must be auto|on|off"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"recipe {r.name}: {message}")
