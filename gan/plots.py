"""Figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from gan.columns import DAYS_PER_DATE_UNIT


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# Date columns are held as days ("date") or seconds ("datetime") since 1970-01-01 (gan.columns
# DAYS_PER_DATE_UNIT); matplotlib's date numbers are days since its epoch, 1970-01-01 by default.


def histograms(transformer: Any, real: np.ndarray, fake: np.ndarray, path: str | Path, title: str = "", max_labels: int = 12) -> Path:
    """`histogram_figure`, saved as a PNG at `path`."""
    plt = _pyplot()
    fig = histogram_figure(transformer, real, fake, title, max_labels)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def histogram_figure(transformer: Any, real: np.ndarray, fake: np.ndarray, title: str = "", max_labels: int = 12) -> Any:
    """Real vs generated per column, one panel each: histograms (original units; dates on a date
    axis) for numeric columns, bars of label shares for categorical ones (the `max_labels` most
    frequent real labels; missing cells as 'missing'). `real` / `fake` are value matrices
    (gan.transform)."""
    plt = _pyplot()
    from matplotlib import dates as mdates
    specs = transformer.specs
    d = len(specs)
    ncols = min(4, d)
    nrows = math.ceil(d / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for j, ax in enumerate(axes.flat):
        if j >= d:
            ax.axis("off")
            continue
        s = specs[j]
        r, f = real[:, j], fake[:, j]
        if s.is_numeric:
            r, f = r[~np.isnan(r)], f[~np.isnan(f)]
            days = DAYS_PER_DATE_UNIT.get(s.dtype)
            if days is not None:
                r, f = r * days, f * days
                locator = mdates.AutoDateLocator(minticks=2, maxticks=4)
                ax.xaxis.set_major_locator(locator)
                ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
                ax.xaxis.get_offset_text().set_fontsize(7)
            both = np.concatenate([r, f])
            lo, hi = (both.min(), both.max()) if len(both) else (0.0, 1.0)
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
            ax.hist(r, bins=bins, density=True, alpha=0.55, label="real", color="tab:blue")
            if len(f):
                ax.hist(f, bins=bins, density=True, alpha=0.55, label="generated", color="tab:orange")
        else:
            k = len(s.categories)
            share = lambda v: np.bincount(np.where(np.isnan(v), k, v).astype(np.int64), minlength=k + 1) / max(1, len(v))  # noqa: E731
            pr, pf = share(r), share(f)
            order = [i for i in np.argsort(-pr) if i < k or pr[i] > 0 or pf[i] > 0][:max_labels]
            labels = [str(s.categories[i]) if i < k else "missing" for i in order]
            x = np.arange(len(order))
            ax.bar(x - 0.2, pr[order], width=0.4, label="real", color="tab:blue", alpha=0.75)
            ax.bar(x + 0.2, pf[order], width=0.4, label="generated", color="tab:orange", alpha=0.75)
            ax.set_xticks(x, [lab[:10] for lab in labels], rotation=45 if len(order) > 4 else 0, ha="right" if len(order) > 4 else "center")
        ax.set_title(str(s.name), fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
