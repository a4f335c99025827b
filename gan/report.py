"""Evaluation with reference baselines, and the per-feature table printed to people."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gan.data import TabularData
from gan.metrics import reference_scores, score

REFERENCE_SEED = 0


def evaluate_scaled(data: TabularData, fake_scaled: np.ndarray) -> dict[str, Any]:
    """Score generated rows (scaled units) against the training rows, with both baselines."""
    real = data.train_scaled.astype(np.float64)
    out = score(real, fake_scaled, data.scaler)
    out["references"] = reference_scores(real, data.scaler, len(fake_scaled), REFERENCE_SEED)
    return out


def format_table(metrics: dict[str, Any], columns: Sequence[str]) -> str:
    refs = metrics.get("references", {})
    head = ["feature", "wd", "wd_orig"] + [f"{name}" for name in refs]
    rows = []
    for j, col in enumerate(columns):
        rows.append([str(col), f"{metrics['wd'][j]:.4f}", f"{metrics['wd_orig'][j]:.4g}"] + [f"{r['wd'][j]:.4f}" for r in refs.values()])
    rows.append(["MEAN", f"{metrics['wd_mean']:.4f}", f"{metrics['wd_orig_mean']:.4g}"] + [f"{r['wd_mean']:.4f}" for r in refs.values()])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    text = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    text.append("wd: 1-D Wasserstein distance per feature in scaled units [-1, 1] (the search metric); "
                "wd_orig: original units; gaussian / resample: the same score for a Gaussian fit and for resampling real rows")
    return "\n".join(text)
