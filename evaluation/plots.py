"""PR / ROC curve PNGs (matplotlib, Agg canvas; no pyplot global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fddb import FddbResult
from .widerface import WiderFaceResult

_COLORS = {"easy": "tab:green", "medium": "tab:orange", "hard": "tab:red"}


def _figure(width: float = 6.0, height: float = 5.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def plot_widerface_pr(result: WiderFaceResult, path: str | Path, title: str | None = None) -> Path:
    """Precision-recall curves of the three settings with their AP in the legend."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for setting, curve in result.pr_curves.items():
        precision, recall = curve[:, 0], curve[:, 1]
        ok = np.isfinite(precision) & np.isfinite(recall)
        ax.plot(
            recall[ok],
            precision[ok],
            color=_COLORS.get(setting),
            lw=2,
            label=f"{setting}: AP {result.ap[setting]:.4f} ({result.num_faces[setting]} faces)",
        )
    ax.set_xlim(0, 1)
    title = title or f"WIDER FACE val, {len(result.images)} images"
    return _finish(fig, ax, "recall", "precision", "lower left", title, path)


def plot_fddb_roc(result: FddbResult, path: str | Path, title: str | None = None) -> Path:
    """Discrete and continuous ROC curves (TPR against false-positive count)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    curves = (("discrete", result.tpr_discrete, "tab:blue"), ("continuous", result.tpr_continuous, "tab:purple"))
    for kind, tpr, color in curves:
        ax.step(result.fp, tpr, where="post", color=color, lw=2, label=kind)
    for k in result.tpr_at_fp["discrete"]:
        ax.axvline(k, color="0.8", lw=0.8)
    ax.set_xlim(0, max(int(result.fp[-1]) if len(result.fp) else 1, 1))
    default = f"FDDB ({result.annotation}), {len(result.images)} images, {result.num_faces} faces"
    return _finish(fig, ax, "false positives", "true positive rate", "lower right", title or default, path)


def _finish(fig, ax, xlabel: str, ylabel: str, legend: str, title: str, path: str | Path) -> Path:
    """The axes, grid, legend and title both plots share; saves the figure to ``path``."""
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc=legend)
    ax.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
