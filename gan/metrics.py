"""Scores on NumPy arrays: per-feature 1-D Wasserstein distance and the reference baselines.

Scores used for search are in scaled units ([-1, 1] per feature) so that features weigh alike;
`wd_orig` gives the same distance in each column's original units, for people.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from gan.data import Scaler


def wasserstein_per_feature(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """1-D Wasserstein distance of each column: real (n, d) vs fake (m, d) -> (d,)."""
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real {real.shape} and fake {fake.shape} must be 2-D with the same number of columns")
    return np.array([wasserstein_distance(real[:, j], fake[:, j]) for j in range(real.shape[1])])


def score(real_scaled: np.ndarray, fake_scaled: np.ndarray, scaler: Scaler) -> dict[str, Any]:
    """The search metric `wd_mean` (scaled units) plus per-feature values in both unit systems."""
    fake_scaled = np.asarray(fake_scaled, dtype=np.float64)
    if not np.isfinite(fake_scaled).all():
        inf = float("inf")
        d = real_scaled.shape[1]
        return {"wd_mean": inf, "wd": [inf] * d, "wd_orig": [inf] * d, "wd_orig_mean": inf}
    wd = wasserstein_per_feature(real_scaled, fake_scaled)
    wd_orig = wasserstein_per_feature(scaler.inverse_transform(real_scaled), scaler.inverse_transform(fake_scaled))
    return {
        "wd_mean": float(wd.mean()),
        "wd": wd.tolist(),
        "wd_orig": wd_orig.tolist(),
        "wd_orig_mean": float(wd_orig.mean()),
    }


def gaussian_samples(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows from a multivariate Gaussian fitted to `real`: the 'trivial generator' baseline."""
    rng = np.random.default_rng(seed)
    real = np.asarray(real, dtype=np.float64)
    cov = np.atleast_2d(np.cov(real, rowvar=False))
    return rng.multivariate_normal(real.mean(axis=0), cov, size=n, method="eigh")


def resample_rows(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows drawn with replacement from `real`: what pure memorisation would score."""
    rng = np.random.default_rng(seed)
    return np.asarray(real)[rng.integers(0, len(real), size=n)]


def reference_samples(real_scaled: np.ndarray, scaler: Scaler, n: int, seed: int) -> dict[str, np.ndarray]:
    """Rows of the two baselines, in scaled units: a Gaussian fit and a resample of real rows."""
    gauss = gaussian_samples(real_scaled, n, seed)
    # A Gaussian is unbounded; clip to the scaled box like the generator's Tanh output.
    gauss = np.clip(gauss, -1.0, 1.0)
    gauss[:, scaler.constant] = 0.0
    return {"gaussian": gauss, "resample": resample_rows(real_scaled, n, seed)}


def reference_scores(real_scaled: np.ndarray, scaler: Scaler, n: int, seed: int) -> dict[str, dict[str, Any]]:
    """Scores of the Gaussian-fit and resample baselines, in the same units as a model's score."""
    return {name: score(real_scaled, rows, scaler) for name, rows in reference_samples(real_scaled, scaler, n, seed).items()}
