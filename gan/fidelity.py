"""Scores that the per-feature Wasserstein distance cannot give: copying, correlations, detectability.

`gan.metrics.score` compares each column's 1-D distribution on its own. That has two blind spots:

* it *rewards memorisation*: resampling the training rows scores best of all (iris-setosa,
  1,000 rows, mean WD in scaled units: resample ~0.01, Gaussian fit ~0.08, reference GAN ~0.07);
* it ignores relations between columns: shuffling each column independently keeps every 1-D
  marginal, hence the same score, while destroying all structure.

The functions here close those gaps. They are pure functions on NumPy arrays in scaled units
(rows x features), like `gan.metrics`:

* distance to closest record (DCR) of every generated row to the training rows, compared with
  how close real rows are to *each other* -> `dcr_ratio` and `copy_share` (memorisation guard);
* `corr_diff`: mean absolute difference of the Pearson correlation matrices (pairwise structure);
* `detect_auc`: cross-validated ROC AUC of a classifier telling real from generated rows (any
  structure a tree ensemble can find, interactions included).

`fidelity()` is the one entry point; `passes_guard()` turns its result into a yes/no for tuning.

Reading the numbers:

* `dcr_ratio` ~ 1: generated rows are as far from the training rows as real rows are from each
  other (what fresh draws from the true distribution give); -> 0: copies of training rows.
* `copy_share`: share of generated rows closer to a training row than all but `copy_quantile` of
  the real rows are to their nearest other real row. Calibrated: a generator drawing from the
  true distribution scores about `copy_quantile` (0.05 by default); pure copying scores 1.0.
* `corr_diff`: 0 is perfect, at most 2.
* `detect_auc`: **0.5 is perfect**, 1.0 means trivially detectable. Values clearly *below* 0.5
  are also a warning: they appear when generated rows are exact copies of real rows, because in
  cross-validation each test row's twin sits in the training folds with the opposite label. The
  raw mean AUC is therefore reported, not max(auc, 1 - auc), so the two failures stay distinct.

Measured on iris-setosa (50 training rows, 1,000 generated rows; see the comment on
DEFAULT_MAX_COPY_SHARE for more): resample dcr_ratio 0.0 / copy_share 1.0 /
detect_auc ~0.39, Gaussian fit dcr_ratio ~1.0 / copy_share ~0.03 / detect_auc ~0.8, real rows +
N(0, 0.05) noise dcr_ratio ~0.28 / copy_share ~0.9.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import ThreadpoolController

_CONTROLLER: ThreadpoolController | None = None


def _one_thread() -> Any:
    """A context capping BLAS / OpenMP pools at one thread. threadpoolctl's `threadpool_limits`
    finds the loaded libraries again on every call (it reads /proc/self/maps): 4.2 ms a call
    here, 40 % of a pool member's evaluation on iris-setosa; one ThreadpoolController found once
    takes 0.05 ms. It is found at the first call, after this module's imports have loaded the
    libraries these searches run on (SciPy's OpenBLAS, scikit-learn's OpenMP)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


__all__ = [
    "DEFAULT_COPY_QUANTILE",
    "DEFAULT_MAX_COPY_SHARE",
    "DEFAULT_DETECT_FOLDS",
    "DEFAULT_DETECT_MAX_ROWS",
    "nearest_distances",
    "real_nn_distances",
    "dcr_metrics",
    "corr_diff",
    "detect_auc",
    "fidelity",
    "passes_guard",
    "RealReference",
    "association_matrix",
    "distance_features",
    "table_fidelity",
]

# A generated row is a "near-copy" when its DCR is below this quantile of the real rows'
# leave-one-out nearest-neighbour distances. A quantile rather than a fraction of the median
# makes `copy_share` calibrated (a perfect generator scores about this value whatever the data's
# dimension or density), so one guard threshold works across datasets.
DEFAULT_COPY_QUANTILE = 0.05

# The guard fails a model when more than this share of its rows are near-copies: 5x the share a
# perfect generator has in expectation (DEFAULT_COPY_QUANTILE). Measured with 1,000 generated
# rows (copy_share over seeds 0-9 unless noted):
#   honest draws from the true distribution (Gaussian, 100 seeds): 50 real x 4 features mean
#     0.077, p95 0.15, max 0.23 (the threshold is a quantile of only 50 values); 200 x 13 max
#     0.135; 1,000 x 30 max 0.095
#   iris-setosa Gaussian fit (clipped): 0.025-0.050      resample of training rows: 1.0
#   iris-setosa rows + N(0, 0.02) noise: 1.0; + N(0, 0.05): 0.87-0.92; + N(0, 0.1): 0.25-0.30
#   iris-setosa reference GAN (GANConfig defaults, 10,000 epochs, seed 0): 0.125, dcr_ratio 0.76
# 0.25 clears honest sampling noise even at 50 rows, passes the Gaussian fit 5x over and the
# reference GAN 2x over, and fails generators that mostly jitter training rows by a few
# hundredths; jitter as large as the data's own spacing (N(0, 0.1) on iris-setosa, dcr_ratio
# ~0.5) sits at the boundary.
DEFAULT_MAX_COPY_SHARE = 0.25

DEFAULT_DETECT_FOLDS = 5
# Rows per class used by `detect_auc`: past a few thousand the AUC estimate is already tight and
# the cost grows linearly (5 folds x 100 boosting rounds).
DEFAULT_DETECT_MAX_ROWS = 5000

# Standard deviation at or below which a column counts as constant (scaled units, [-1, 1]).
_CONSTANT_STD = 1e-12


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x features), got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{name} has no rows")
    return arr


def _check_pair(real: np.ndarray, fake: np.ndarray, real_name: str = "real", fake_name: str = "fake") -> tuple[np.ndarray, np.ndarray]:
    real = _as_2d(real, real_name)
    fake = _as_2d(fake, fake_name)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{real_name} {real.shape} and {fake_name} {fake.shape} must have the same number of columns")
    return real, fake


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when undefined (den 0 or NaN): NaN never passes the guard."""
    if not (den > 0.0) or math.isnan(num):
        return float("nan")
    return float(num / den)


def nearest_distances(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Euclidean distance of each query row to its nearest reference row: (m, d), (n, d) -> (m,).

    `algorithm="auto"` lets scikit-learn pick a KD-tree for few features and brute force for many
    (>15). Measured for 100k query x 10k reference rows on a shared, loaded 2-core box: 4
    features KD-tree 0.5-1.4 s vs brute 12 s; 30 features brute ~6 s CPU (7.5-10 s wall) vs
    KD-tree > 70 s. Thread pools (BLAS, OpenMP) are capped at one: two threads gave no clear gain
    on that box, oversubscription can be catastrophic (see `detect_auc`), and Ray trials already
    run side by side, one per CPU.
    """
    reference, query = _check_pair(reference, query, "reference", "query")
    with _one_thread():
        nn = NearestNeighbors(n_neighbors=1, algorithm="auto").fit(reference)
        dist, _ = nn.kneighbors(query)
    return dist[:, 0]


def real_nn_distances(real: np.ndarray) -> np.ndarray:
    """Leave-one-out nearest-neighbour distance among the *distinct* real rows.

    This is the scale a DCR is judged against: how close a real row is to its nearest *other*
    real row. Exact duplicate rows are collapsed first; otherwise each duplicate's nearest other
    row is its twin at distance 0, and a dataset with a few duplicates would get a copy
    threshold of 0 and never flag anything. Returns an empty array when fewer than two distinct
    rows exist (no scale: the copy metrics are then NaN).
    """
    real = _as_2d(real, "real")
    distinct = np.unique(real, axis=0)
    if len(distinct) < 2:
        return np.zeros(0)
    with _one_thread():
        nn = NearestNeighbors(n_neighbors=1, algorithm="auto").fit(distinct)
        # kneighbors() without X leaves each row out of its own query: the "k=2, take the
        # second" trick without relying on the self-match being returned first.
        dist, _ = nn.kneighbors()
    return dist[:, 0]


def _copy_block(dcr: np.ndarray, ref: np.ndarray, q: float, suffix: str, exact_real: float = 0.0) -> dict[str, float]:
    """Compare synthetic DCRs with a reference distribution of real distances.

    `exact_real`: the share of fresh real rows expected to equal a training row exactly (on a
    table recorded to coarse precision real rows coincide now and then; 0 for continuous data).
    Exact matches (DCR 0) count as copies only beyond that share, so a generator that rounds to
    the recorded precision, as the real rows were, is not called a copier for landing on the
    same grid points real rows land on.
    """
    dcr_median = float(np.median(dcr))
    if len(ref) == 0:
        nan = float("nan")
        return {f"dcr_real_median{suffix}": nan, f"dcr_ratio{suffix}": nan, f"copy_threshold{suffix}": nan, f"copy_share{suffix}": nan}
    threshold = float(np.quantile(ref, q))
    # Strictly below: exact copies (DCR 0) count even if the threshold is tiny, and a threshold
    # of 0 (a holdout full of duplicates of training rows) flags nothing rather than everything.
    exact = float(np.mean(dcr == 0.0))
    near = float(np.mean((dcr > 0.0) & (dcr < threshold)))
    share = near + max(0.0, exact - exact_real) if threshold > 0 else float(np.mean(dcr < threshold))
    return {
        f"dcr_real_median{suffix}": float(np.median(ref)),
        f"dcr_ratio{suffix}": _ratio(dcr_median, float(np.median(ref))),
        f"copy_threshold{suffix}": threshold,
        f"copy_share{suffix}": share,
    }


def dcr_metrics(
    real_train: np.ndarray,
    fake: np.ndarray,
    *,
    holdout: np.ndarray | None = None,
    copy_quantile: float = DEFAULT_COPY_QUANTILE,
) -> dict[str, float]:
    """Distance-to-closest-record metrics of `fake` against the training rows.

    Keys: `dcr_median` (median synthetic DCR), `dcr_real_median` (median leave-one-out distance
    among distinct training rows), `dcr_ratio` (their ratio), `copy_threshold` (the
    `copy_quantile` quantile of the leave-one-out distances) and `copy_share` (share of generated
    rows with DCR strictly below it).

    With `holdout` rows (real rows the model never saw), the reference is instead the holdout
    rows' distances to the training rows -- exactly the DCR distribution a generator drawing fresh
    rows from the true distribution would have -- giving `dcr_real_median_holdout`,
    `dcr_ratio_holdout`, `copy_threshold_holdout`, `copy_share_holdout`. Holdout duplicates of
    training rows are kept there: they are how the real data behaves.
    """
    real_train, fake = _check_pair(real_train, fake, "real_train", "fake")
    if not (0.0 < copy_quantile < 1.0):
        raise ValueError(f"copy_quantile must be in (0, 1), got {copy_quantile}")
    if not np.isfinite(real_train).all():
        raise ValueError("real_train contains NaN or infinite values")
    dcr = nearest_distances(real_train, fake)  # (n_fake,)
    out = {"dcr_median": float(np.median(dcr))}
    out.update(_copy_block(dcr, real_nn_distances(real_train), copy_quantile, ""))
    if holdout is not None and len(holdout):
        holdout = _check_pair(real_train, holdout, "real_train", "holdout")[1]
        out.update(_copy_block(dcr, nearest_distances(real_train, holdout), copy_quantile, "_holdout"))
    return out


def _correlation(x: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix with 0 (not NaN) for any pair involving a constant column."""
    centred = x - x.mean(axis=0)
    std = np.sqrt((centred**2).mean(axis=0))
    ok = std > _CONSTANT_STD
    z = np.where(ok, centred / np.where(ok, std, 1.0), 0.0)  # (n, d) standardised, 0 if constant
    corr = z.T @ z / len(x)
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def corr_diff(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean |corr_real - corr_fake| over the off-diagonal pairs of columns (0 perfect, <= 2).

    Constant columns: a column constant in the *real* rows has no correlation to reproduce, so it
    is excluded (the generator writes constants back as constants anyway). A column constant in
    the *generated* rows only (collapse) gets correlation 0 with everything, so the model pays
    |corr_real| for each of its pairs instead of the metric turning NaN. Fewer than two
    non-constant real columns -> 0.0 (there is no pair to compare).
    """
    real, fake = _check_pair(real, fake)
    keep = real.std(axis=0) > _CONSTANT_STD
    if keep.sum() < 2:
        return 0.0
    if not np.isfinite(fake[:, keep]).all():
        return float("nan")
    diff = np.abs(_correlation(real[:, keep]) - _correlation(fake[:, keep]))
    upper = np.triu_indices(int(keep.sum()), k=1)
    return float(diff[upper].mean())


def detect_auc(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    seed: int = 0,
    n_folds: int = DEFAULT_DETECT_FOLDS,
    max_rows: int = DEFAULT_DETECT_MAX_ROWS,
    n_repeats: int | None = None,
    categorical: np.ndarray | None = None,
    allow_nan: bool = False,
) -> float:
    """Mean cross-validated ROC AUC of a classifier separating real (0) from generated (1) rows.

    0.5 is perfect (indistinguishable), 1.0 trivially detectable, clearly below 0.5 a sign of
    copied rows (see the module docstring). Classes are balanced by subsampling both sets to
    n = min(n_real, n_fake, max_rows) rows (seeded), so the AUC is not dominated by the larger set
    and the cost is bounded. Folds: stratified, `min(n_folds, n)`.

    `n_repeats` (default: 3 when n < 500, else 1) repeats the subsample + fold split and
    averages: with 50 real rows one 5-fold AUC has a standard deviation of ~0.045 across seeds
    (iris-setosa vs its Gaussian fit), 3 repeats ~0.023; past a few hundred rows per class one
    run is already tight and the time is better saved.

    Classifier: HistGradientBoostingClassifier (100 rounds, defaults otherwise, no early
    stopping so the work is fixed). Trees capture interactions and odd shapes that logistic
    regression misses; min_samples_leaf=20 keeps it from fitting noise on tiny tables. It runs on
    one OpenMP thread: the result is identical, and on a loaded 2-core box the default two
    threads took 28 s instead of 0.6 s for 50 + 50 rows (oversubscription).

    `categorical`: boolean mask of columns holding label codes (0, 1, ...), split natively by the
    trees; `allow_nan`: missing cells (NaN) are data, which the trees route on their own.

    Deterministic for a given seed. NaN when fewer than 2 rows per class or non-finite input.
    Expect a slight downward bias on tiny tables: two samples of one distribution with 50 rows
    per class score ~0.45 on average (the usual pessimism of cross-validated AUC under the null).
    """
    real, fake = _check_pair(real, fake)
    finite = (lambda a: not np.isinf(a).any()) if allow_nan else (lambda a: np.isfinite(a).all())
    if not (finite(real) and finite(fake)):
        return float("nan")
    cat_mask = None if categorical is None or not np.any(categorical) else np.asarray(categorical, dtype=bool)
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake), max_rows)
    if n < 2:
        return float("nan")
    if n_repeats is None:
        n_repeats = 3 if n < 500 else 1
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    aucs = []
    with _one_thread():
        for _ in range(n_repeats):
            r = real[np.sort(rng.choice(len(real), n, replace=False))] if len(real) > n else real
            f = fake[np.sort(rng.choice(len(fake), n, replace=False))] if len(fake) > n else fake
            x = np.vstack([r, f])  # (2n, d): real rows first, matching y
            split_seed, model_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
            folds = StratifiedKFold(n_splits=min(n_folds, n), shuffle=True, random_state=split_seed)
            for train_idx, test_idx in folds.split(x, y):
                clf = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=model_seed,
                                                     categorical_features=cat_mask)
                clf.fit(x[train_idx], y[train_idx])
                aucs.append(roc_auc_score(y[test_idx], clf.predict_proba(x[test_idx])[:, 1]))
    return float(np.mean(aucs))


def fidelity(
    real_train: np.ndarray,
    fake: np.ndarray,
    *,
    holdout: np.ndarray | None = None,
    seed: int = 0,
    copy_quantile: float = DEFAULT_COPY_QUANTILE,
    detect: bool = True,
) -> dict[str, float]:
    """All scores in one JSON-able dict of plain floats (scaled units, rows x features).

    Keys: `dcr_median`, `dcr_real_median`, `dcr_ratio`, `copy_threshold`, `copy_share`,
    `corr_diff`, `detect_auc` (NaN when `detect=False`, the only part that costs seconds on big
    tables), plus the `*_holdout` DCR keys when `holdout` rows are given (see `dcr_metrics`).

    Generated rows with NaN or infinite values (a diverged model) give NaN for every score, like
    `gan.metrics.score` gives inf: the model is ranked by `wd_mean` and fails the guard, and the
    trial does not crash. NaN is a Python float; `json.dumps` writes it as `NaN`.
    """
    real_train, fake = _check_pair(real_train, fake, "real_train", "fake")
    if not np.isfinite(fake).all():
        nan = float("nan")
        keys = ["dcr_median", "dcr_real_median", "dcr_ratio", "copy_threshold", "copy_share"]
        if holdout is not None and len(holdout):
            keys += ["dcr_real_median_holdout", "dcr_ratio_holdout", "copy_threshold_holdout", "copy_share_holdout"]
        return {**{k: nan for k in keys}, "corr_diff": nan, "detect_auc": nan}
    out = dcr_metrics(real_train, fake, holdout=holdout, copy_quantile=copy_quantile)
    out["corr_diff"] = corr_diff(real_train, fake)
    out["detect_auc"] = detect_auc(real_train, fake, seed=seed) if detect else float("nan")
    return out


def passes_guard(metrics: Mapping[str, Any], max_copy_share: float = DEFAULT_MAX_COPY_SHARE) -> bool:
    """True when the share of near-copies is at most `max_copy_share`.

    Uses `copy_share` (leave-one-out reference over all training rows, always present and less
    noisy than a small holdout). A NaN share -- diverged output, or fewer than two distinct
    training rows -- does not pass: a guard that cannot judge should not wave a model through.
    """
    share = float(metrics["copy_share"])
    return bool(share <= max_copy_share)  # False for NaN


# ---------------------------------------------------------------------------------------------
# Mixed tables: the same scores on value matrices (gan.transform), real side prepared once
# ---------------------------------------------------------------------------------------------
# Nearest-neighbour searches are the only scores whose exact cost grows with rows x rows; on
# large tables they use seeded samples (documented in the README, "Scores on large tables"):
# the training rows a DCR is measured against (every generated row is a query): a brute-force
# search of 1,000 generated rows over 20,000 rows of ~100 one-hot-expanded dimensions takes
# ~0.3 s on one core (bench/scale.py), and a trial scores at every report ...
MAX_REFERENCE_ROWS = 20_000
# ... and the real rows whose leave-one-out / holdout distances set the copy threshold.
MAX_QUERY_ROWS = 5_000
# Rows used for the association matrix (Pearson / Cramer's V / correlation ratio).
MAX_ASSOCIATION_ROWS = 50_000
# Categorical columns with more labels than this are given to the detection classifier as
# numbers: HistGradientBoosting's native categorical splits take codes below its 255 bins.
_MAX_NATIVE_CATEGORIES = 250


def distance_features(transformer: Any, values: np.ndarray) -> np.ndarray:
    """Rows as points for nearest-neighbour distances (DCR): (n, p) float64.

    Numeric columns: the real range mapped to [-1, 1] (the units of `wd`); a missing cell is 0
    there plus 1 in an indicator coordinate (columns with missing values only). Categorical
    columns: one-hot scaled by 1/sqrt(2), so two different labels are exactly 1 apart, like
    the 0/1 ground distance of the categorical score; missing is one more label. A numeric-only
    table without missing values gives exactly the scaled rows.
    """
    values = np.asarray(values, dtype=np.float64)
    parts = []
    for j, spec in enumerate(transformer.specs):
        col = values[:, j]
        na = np.isnan(col)
        if spec.is_numeric:
            lo, hi = transformer.bounds[spec.name]
            scaled = np.where(na, 0.0, (col - lo) / (hi - lo) * 2.0 - 1.0 if hi > lo else 0.0)
            parts.append(scaled[:, None])
            if spec.has_missing:
                parts.append(na[:, None].astype(np.float64))
        else:
            k = len(spec.categories) + (1 if spec.has_missing else 0)
            codes = np.where(na, len(spec.categories), col).astype(np.int64)
            codes = np.minimum(codes, k - 1)  # missing in fake rows of a column never missing in real ones
            onehot = np.zeros((len(col), k))
            onehot[np.arange(len(col)), codes] = 1.0 / math.sqrt(2.0)
            parts.append(onehot)
    return np.hstack(parts) if parts else np.zeros((len(values), 0))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 2:
        return 0.0
    x, y = x[ok], y[ok]
    sx, sy = x.std(), y.std()
    if sx <= _CONSTANT_STD or sy <= _CONSTANT_STD:
        return 0.0
    return float(np.clip(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy), -1.0, 1.0))


def _codes(col: np.ndarray, n_labels: int) -> np.ndarray:
    return np.where(np.isnan(col), n_labels, col).astype(np.int64)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramer's V of two label-code columns (missing already a label): 0 independent, 1 tied."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    r, c = ai.max() + 1, bi.max() + 1
    if min(r, c) < 2:
        return 0.0
    table = np.zeros((r, c))
    np.add.at(table, (ai, bi), 1.0)
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(min(1.0, math.sqrt(chi2 / (n * (min(r, c) - 1)))))


def _correlation_ratio(x: np.ndarray, codes: np.ndarray) -> float:
    """Correlation ratio eta of a numeric column on a label column: 0 no link, 1 determined."""
    ok = ~np.isnan(x)
    x, codes = x[ok], codes[ok]
    if len(x) < 2 or x.std() <= _CONSTANT_STD:
        return 0.0
    _, g = np.unique(codes, return_inverse=True)
    counts = np.bincount(g).astype(np.float64)
    means = np.bincount(g, weights=x) / counts
    between = float((counts * (means - x.mean()) ** 2).sum())
    total = float(((x - x.mean()) ** 2).sum())
    return float(min(1.0, math.sqrt(between / total)))


def association_matrix(values: np.ndarray, specs: Sequence[Any]) -> np.ndarray:
    """Pairwise association of columns: (d, d), diagonal 1.

    Pearson r (signed) for two numeric columns (rows where both are present), Cramer's V for two
    categorical columns, the correlation ratio for a numeric and a categorical one; missing is a
    label of a categorical column. On an all-numeric table this is the Pearson matrix, so
    `corr_diff` keeps its meaning there.
    """
    values = np.asarray(values, dtype=np.float64)
    d = len(specs)
    out = np.eye(d)
    codes = {j: _codes(values[:, j], len(s.categories)) for j, s in enumerate(specs) if not s.is_numeric}
    for i in range(d):
        for j in range(i + 1, d):
            a, b = specs[i], specs[j]
            if a.is_numeric and b.is_numeric:
                v = _pearson(values[:, i], values[:, j])
            elif not a.is_numeric and not b.is_numeric:
                v = _cramers_v(codes[i], codes[j])
            elif a.is_numeric:
                v = _correlation_ratio(values[:, i], codes[j])
            else:
                v = _correlation_ratio(values[:, j], codes[i])
            out[i, j] = out[j, i] = v
    return out


def _sample_rows(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= k else x[np.sort(rng.choice(len(x), k, replace=False))]


class RealReference:
    """The real side of every fidelity score, prepared once per table (a fitted nearest-neighbour
    index, the copy threshold's reference distances, the real association matrix)."""

    def __init__(self, transformer: Any, train_values: np.ndarray, holdout_values: np.ndarray | None = None, *, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.transformer = transformer
        self.specs = transformer.specs
        train_values = np.asarray(train_values, dtype=np.float64)
        self.n_train = len(train_values)
        # Sample rows before expanding them: 1,000,000 rows x ~100 one-hot dimensions would be GBs.
        self.reference = distance_features(transformer, _sample_rows(train_values, MAX_REFERENCE_ROWS, rng))
        with _one_thread():
            self.nn = NearestNeighbors(n_neighbors=1, algorithm="auto").fit(self.reference)
        distinct, counts = np.unique(self.reference, axis=0, return_counts=True)
        # Share of real rows with an exact twin among the others: how often a fresh real row
        # lands exactly on a training row (recorded precision, categories), see _copy_block.
        self.exact_real = float(counts[counts > 1].sum() / max(1, counts.sum()))
        if len(distinct) < 2:
            self.loo = np.zeros(0)
        else:
            queries = _sample_rows(distinct, MAX_QUERY_ROWS, rng)
            with _one_thread():
                nn2 = NearestNeighbors(n_neighbors=2, algorithm="auto").fit(distinct)
                dist, _ = nn2.kneighbors(queries)
            self.loo = dist[:, 1]  # the nearest *other* distinct row (the first is the row itself)
        self.holdout = None
        if holdout_values is not None and len(holdout_values):
            self.holdout = self.dcr(distance_features(transformer, _sample_rows(np.asarray(holdout_values, dtype=np.float64), MAX_QUERY_ROWS, rng)))
        self.assoc_rows = _sample_rows(train_values, MAX_ASSOCIATION_ROWS, rng)
        self.assoc = association_matrix(self.assoc_rows, self.specs)
        self.detect_rows = _sample_rows(train_values, DEFAULT_DETECT_MAX_ROWS, rng)
        self.categorical = np.array([(not s.is_numeric) and len(s.categories) <= _MAX_NATIVE_CATEGORIES for s in self.specs])
        # Columns constant in the real rows carry no association to reproduce.
        self._varying = np.array([
            (s.is_numeric and transformer.bounds[s.name][1] > transformer.bounds[s.name][0])
            or (not s.is_numeric and len(s.categories) + (1 if s.has_missing else 0) > 1)
            for s in self.specs
        ])

    def dcr(self, features: np.ndarray) -> np.ndarray:
        with _one_thread():
            dist, _ = self.nn.kneighbors(features)
        return dist[:, 0]

    def corr_diff(self, fake_values: np.ndarray) -> float:
        keep = self._varying
        if keep.sum() < 2:
            return 0.0
        rows = _sample_rows(np.asarray(fake_values, dtype=np.float64), MAX_ASSOCIATION_ROWS, np.random.default_rng(0))
        fake = association_matrix(rows, self.specs)
        idx = np.flatnonzero(keep)
        diff = np.abs(self.assoc[np.ix_(idx, idx)] - fake[np.ix_(idx, idx)])
        return float(diff[np.triu_indices(len(idx), k=1)].mean())


def table_fidelity(
    ref: RealReference,
    fake_values: np.ndarray,
    *,
    seed: int = 0,
    copy_quantile: float = DEFAULT_COPY_QUANTILE,
    detect: bool = True,
) -> dict[str, float]:
    """`fidelity` for value matrices of any table (numeric, categorical, missing cells).

    Same keys and meaning as `fidelity`: DCR and the guard in `distance_features` space, the
    association-matrix difference as `corr_diff`, the detection AUC of a classifier that splits
    categorical codes natively and routes missing cells itself.
    """
    fake_values = np.asarray(fake_values, dtype=np.float64)
    if np.isinf(fake_values).any() or len(fake_values) == 0:
        nan = float("nan")
        keys = ["dcr_median", "dcr_real_median", "dcr_ratio", "copy_threshold", "copy_share"]
        if ref.holdout is not None:
            keys += ["dcr_real_median_holdout", "dcr_ratio_holdout", "copy_threshold_holdout", "copy_share_holdout"]
        return {**{k: nan for k in keys}, "corr_diff": nan, "detect_auc": nan}
    dcr = ref.dcr(distance_features(ref.transformer, fake_values))
    out = {"dcr_median": float(np.median(dcr))}
    out.update(_copy_block(dcr, ref.loo, copy_quantile, "", exact_real=ref.exact_real))
    if ref.holdout is not None:
        out.update(_copy_block(dcr, ref.holdout, copy_quantile, "_holdout", exact_real=float(np.mean(ref.holdout == 0.0))))
    out["corr_diff"] = ref.corr_diff(fake_values)
    out["detect_auc"] = (
        detect_auc(ref.detect_rows, fake_values, seed=seed, categorical=ref.categorical, allow_nan=True) if detect else float("nan")
    )
    return out
