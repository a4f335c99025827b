"""Figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def histograms(real: np.ndarray, fake: np.ndarray, columns: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Real-vs-generated histogram per feature, in original units, one panel each."""
    plt = _pyplot()
    d = len(columns)
    ncols = min(4, d)
    nrows = math.ceil(d / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for j, ax in enumerate(axes.flat):
        if j >= d:
            ax.axis("off")
            continue
        lo = min(real[:, j].min(), fake[:, j].min())
        hi = max(real[:, j].max(), fake[:, j].max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
        ax.hist(real[:, j], bins=bins, density=True, alpha=0.55, label="real", color="tab:blue")
        ax.hist(fake[:, j], bins=bins, density=True, alpha=0.55, label="generated", color="tab:orange")
        ax.set_title(str(columns[j]), fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
