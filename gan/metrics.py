"""Per-column scores on value matrices (see gan.transform) and the two reference generators.

The search metric `wd_mean` is the mean over columns of a per-column distance between the real
and generated columns, each on a scale where 0 is identical:

* numeric / integer column: the 1-D Wasserstein distance in scaled units (the column's real
  range mapped to [-1, 1], so every column weighs alike), computed on the present values; when
  either side has missing cells, `min(present_real, present_fake) * W1 + |missing_real -
  missing_fake|` -- the mass present on both sides moves by W1, the surplus moves to or from
  "missing" at cost 1;
* categorical column: the 1-D Wasserstein distance under the 0/1 ground distance (every two
  different labels are 1 apart), which equals the total variation distance between the label
  frequencies, 0.5 * sum |p - q| in [0, 1]; a missing cell counts as one more label.

`wd_orig` gives the numeric distances in each column's original units (present values only), for
people; for categorical columns it repeats the total variation distance.

Large tables: each numeric column's real values are stored as (distinct value, count) pairs,
exact, and summarised by `MAX_POINTS` evenly spaced quantiles only when a column has more
distinct values than that (an error far below the sampling noise of the generated rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from gan.transform import TableTransformer

# Real points kept per numeric column for the Wasserstein distance (see the module docstring).
MAX_POINTS = 20_000


def wasserstein_per_feature(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """1-D Wasserstein distance of each column: real (n, d) vs fake (m, d) -> (d,)."""
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real {real.shape} and fake {fake.shape} must be 2-D with the same number of columns")
    return np.array([wasserstein_distance(real[:, j], fake[:, j]) for j in range(real.shape[1])])


def _compress(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts; at most MAX_POINTS quantile points for wide columns."""
    uniq, counts = np.unique(values, return_counts=True)
    if len(uniq) <= MAX_POINTS:
        return uniq, counts.astype(np.float64)
    levels = (np.arange(MAX_POINTS) + 0.5) / MAX_POINTS
    return np.quantile(values, levels, method="inverted_cdf"), np.ones(MAX_POINTS)


class Scorer:
    """Scores generated value matrices against fixed real rows (precomputed once)."""

    def __init__(self, transformer: TableTransformer, real: np.ndarray) -> None:
        self.transformer = transformer
        self.specs = transformer.specs
        real = np.asarray(real, dtype=np.float64)
        self.n_real = len(real)
        self._numeric: dict[int, tuple[np.ndarray, np.ndarray, float, float]] = {}
        self._freq: dict[int, np.ndarray] = {}
        for j, s in enumerate(self.specs):
            col = real[:, j]
            na = np.isnan(col)
            if s.is_numeric:
                lo, hi = transformer.bounds[s.name]
                half = (hi - lo) / 2.0 if hi > lo else 1.0
                vals, weights = _compress(col[~na]) if (~na).any() else (np.zeros(0), np.zeros(0))
                self._numeric[j] = (vals, weights, float(na.mean()), half)
            else:
                self._freq[j] = self._frequencies(col, len(s.categories))

    @staticmethod
    def _frequencies(col: np.ndarray, n_labels: int) -> np.ndarray:
        """Label shares, the last slot for missing cells: (n_labels + 1,)."""
        codes = np.where(np.isnan(col), n_labels, col).astype(np.int64)
        counts = np.bincount(codes, minlength=n_labels + 1).astype(np.float64)
        return counts / max(1.0, counts.sum())

    def column_distances(self, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(wd, wd_orig) per column; see the module docstring."""
        fake = np.asarray(fake, dtype=np.float64)
        d = len(self.specs)
        wd, wd_orig = np.zeros(d), np.zeros(d)
        for j, s in enumerate(self.specs):
            col = fake[:, j]
            na = np.isnan(col)
            if s.is_numeric:
                vals, weights, miss_real, half = self._numeric[j]
                miss_fake = float(na.mean()) if len(col) else 1.0
                present = col[~na]
                if len(present) and len(vals):
                    w1 = wasserstein_distance(vals, present, u_weights=weights)
                else:
                    w1 = 0.0
                shared = min(1.0 - miss_real, 1.0 - miss_fake)
                wd[j] = shared * w1 / half + abs(miss_real - miss_fake)
                wd_orig[j] = w1
            else:
                p = self._freq[j]
                q = self._frequencies(col, len(s.categories))
                wd[j] = wd_orig[j] = 0.5 * float(np.abs(p - q).sum())
        return wd, wd_orig

    def score(self, fake: np.ndarray) -> dict[str, Any]:
        """`wd_mean` (the search metric) plus per-column values in both unit systems."""
        wd, wd_orig = self.column_distances(fake)
        return {"wd_mean": float(wd.mean()), "wd": wd.tolist(), "wd_orig": wd_orig.tolist(), "wd_orig_mean": float(wd_orig.mean())}

    def diverged(self) -> dict[str, Any]:
        """The score of a model whose output is not finite: infinitely bad."""
        inf, d = float("inf"), len(self.specs)
        return {"wd_mean": inf, "wd": [inf] * d, "wd_orig": [inf] * d, "wd_orig_mean": inf}

    def score_encoded(self, encoded: np.ndarray) -> dict[str, Any]:
        """Score G's raw output: decoded first; non-finite output (a diverged model) -> inf."""
        if not np.isfinite(encoded).all():
            return self.diverged()
        return self.score(self.transformer.decode(encoded))


# `within_label_pairs`: labels with fewer rows than this on either side are left out (a distance
# between two handfuls of values is mostly noise; the column's own `wd` already scores how often
# the label comes up), and at most this many real rows are used (seeded), so that a 1,000,000-row
# table costs what a 50,000-row one does.
MIN_LABEL_ROWS = 10
MAX_LABEL_ROWS = 50_000


def within_label_pairs(transformer: TableTransformer, real: np.ndarray, fake: np.ndarray, seed: int = 0) -> dict[tuple[str, str], float]:
    """How well numbers follow the labels that set them (`cond_wd` is the mean of these): for
    every pair of a numeric and a categorical column, {(numeric, categorical): the numeric
    column's 1-D Wasserstein distance within each label (scaled units, as `wd`), averaged over
    the labels weighted by their real shares}. 0 = each label's numbers as in the real rows; a
    column's own error (its `wd`) shows in every pair it is in.

    Why: per column, a generator that draws a price regardless of the product has a perfect
    `wd` on both columns, and SDMetrics' pair score bins the price into ten ranges, too coarse to
    see products whose prices share a range (measured on a 30-product table: generated prices
    spread 17 times as wide within a product as the real ones, and the table's pair score was
    0.845 against a Gaussian copula's 0.724). Empty when the
    table lacks either kind of column or no label has MIN_LABEL_ROWS rows on both sides.
    Missing cells: a missing label is one more label; a missing number is left out.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(real) > MAX_LABEL_ROWS:
        real = real[np.sort(np.random.default_rng(seed).choice(len(real), MAX_LABEL_ROWS, replace=False))]
    specs = transformer.specs
    numeric = [j for j, s in enumerate(specs) if s.is_numeric and np.ptp(transformer.bounds[s.name]) > 0]
    pairs: dict[tuple[str, str], float] = {}
    for c, spec in enumerate(specs):
        if spec.is_numeric:
            continue
        labels = len(spec.categories)  # NaN -> one more label
        rc = np.where(np.isnan(real[:, c]), labels, real[:, c]).astype(np.int64)
        fc = np.where(np.isnan(fake[:, c]), labels, fake[:, c]).astype(np.int64)
        r_count, f_count = np.bincount(rc, minlength=labels + 1), np.bincount(fc, minlength=labels + 1)
        kept = np.flatnonzero((r_count >= MIN_LABEL_ROWS) & (f_count >= MIN_LABEL_ROWS))
        if len(kept) == 0:
            continue
        masks = [(lab, rc == lab, fc == lab) for lab in kept]
        for j in numeric:
            lo, hi = transformer.bounds[specs[j].name]
            half = (hi - lo) / 2.0
            dist, weight = 0.0, 0.0
            for lab, in_real, in_fake in masks:
                x, y = real[in_real, j], fake[in_fake, j]
                x, y = x[~np.isnan(x)], y[~np.isnan(y)]
                if len(x) and len(y):
                    dist += r_count[lab] * wasserstein_distance(x, y) / half
                    weight += r_count[lab]
            if weight:
                pairs[(specs[j].name, spec.name)] = dist / weight
    return pairs


def gaussian_values(transformer: TableTransformer, encoded: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows of a multivariate Gaussian fitted to the encoded real rows, decoded: the 'trivial
    generator' baseline (numeric slots decoded as G's are: tanh slots clipped to [-1, 1], normal
    slots through the normal CDF, so on those it is a Gaussian copula; one-hot blocks by argmax)."""
    rng = np.random.default_rng(seed)
    enc = np.asarray(encoded, dtype=np.float64)
    cov = np.atleast_2d(np.cov(enc, rowvar=False))
    rows = rng.multivariate_normal(enc.mean(axis=0), cov, size=n, method="eigh")
    return transformer.decode(rows)


def resample_rows(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows drawn with replacement from `real`: what pure memorisation would score."""
    rng = np.random.default_rng(seed)
    return np.asarray(real)[rng.integers(0, len(real), size=n)]


def reference_values(transformer: TableTransformer, real_values: np.ndarray, real_encoded: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    """Value matrices of the two baselines: a Gaussian fit and a resample of the real rows."""
    return {"gaussian": gaussian_values(transformer, real_encoded, n, seed), "resample": resample_rows(real_values, n, seed)}


# Bootstrap draws for `new_sample_scores`: the mean of 64 has a standard error of ~3 %
# (iris-setosa: sd 0.016 a draw around 0.07; 0.0706 with 64 draws, 0.0683 with 300). Past
# LARGE_TABLE_ROWS rows only 8: a draw builds a Scorer over every real row (0.2 s at 200,000 x
# 20, against 8 ms at 10,000), and the spread is narrow there (200,000 rows: 5-95 % of 8
# draws 0.017-0.020).
NEW_SAMPLE_DRAWS = 64
LARGE_TABLE_ROWS = 20_000


def new_sample_scores(transformer: TableTransformer, real_values: np.ndarray, n: int, seed: int, draws: int = NEW_SAMPLE_DRAWS) -> np.ndarray:
    """What a perfect generator would score: wd_mean of `n` rows from the table's own population
    against `len(real_values)` real rows, both drawn from it independently, `draws` times.

    The population is unknown, so both sides are bootstrap resamples of the real rows (the
    plug-in estimate: the real rows stand in for their population, a resample of them for a new
    sample of it). A score is a distance between two finite samples, so even the population
    itself does not score 0: with 50 rows (iris-setosa) it scores ~0.07 on average, with 178
    (wine) ~0.04. A model scoring below that (on fresh draws) sits closer to these rows than new
    rows from their source would: it fits the sample, not (only) the population. Unlike the
    resample reference, every draw here is scored against a different set of real rows."""
    real = np.asarray(real_values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if len(real) > LARGE_TABLE_ROWS:
        draws = min(draws, 8)
    out = np.empty(draws)
    for i in range(draws):
        sample = real[rng.integers(0, len(real), size=len(real))]
        out[i] = Scorer(transformer, sample).score(real[rng.integers(0, len(real), size=n)])["wd_mean"]
    return out


__all__ = ["MAX_POINTS", "NEW_SAMPLE_DRAWS", "Scorer", "gaussian_values", "new_sample_scores", "reference_values", "resample_rows",
           "wasserstein_per_feature"]
