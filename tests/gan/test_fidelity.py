"""Tests for gan.fidelity: each checks a property a broken implementation would lose."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gan.data import load_data
from gan.fidelity import (
    DEFAULT_COPY_QUANTILE,
    DEFAULT_MAX_COPY_SHARE,
    corr_diff,
    dcr_metrics,
    detect_auc,
    fidelity,
    passes_guard,
    real_nn_distances,
)
from gan.metrics import gaussian_samples, resample_rows

COV = np.array(
    [
        [1.0, 0.7, 0.0, -0.3],
        [0.7, 1.0, 0.2, 0.0],
        [0.0, 0.2, 1.0, 0.5],
        [-0.3, 0.0, 0.5, 1.0],
    ]
)


def gaussian(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.full(4, shift), COV, size=n)


@pytest.fixture(scope="module")
def setosa() -> np.ndarray:
    return load_data("iris-setosa").train_scaled.astype(np.float64)


# --- correlations -------------------------------------------------------------------------


def test_identical_data_has_zero_corr_diff() -> None:
    x = gaussian(300, 0)
    assert corr_diff(x, x.copy()) == 0.0


def test_independent_draws_have_small_corr_diff() -> None:
    assert corr_diff(gaussian(2000, 0), gaussian(2000, 1)) < 0.05


def test_correlation_sign_flip_gives_large_corr_diff() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    real = rng.multivariate_normal([0, 0], cov, size=1000)
    flipped = real * np.array([1.0, -1.0])  # same marginals (symmetric), correlation -0.8
    assert corr_diff(real, flipped) == pytest.approx(1.6, abs=0.05)


def test_constant_real_column_is_excluded() -> None:
    real, fake = gaussian(500, 0), gaussian(500, 1)
    with_const_real = np.column_stack([real, np.zeros(len(real))])
    with_noise_fake = np.column_stack([fake, np.random.default_rng(2).normal(size=len(fake))])
    # The extra column is constant in the real rows: it must not change the score.
    assert corr_diff(with_const_real, with_noise_fake) == pytest.approx(corr_diff(real, fake))


def test_column_constant_only_in_fake_is_penalised_not_nan() -> None:
    real = gaussian(500, 0)
    collapsed = gaussian(500, 1)
    collapsed[:, 0] = 0.5  # mode collapse on the feature most correlated with another
    # Its correlations are undefined (0 / 0): they must count as 0, not turn the score NaN.
    with np.errstate(invalid="ignore"):
        expected = np.corrcoef(collapsed, rowvar=False)
    expected[0, :] = expected[:, 0] = 0.0
    diff = np.abs(np.corrcoef(real, rowvar=False) - expected)[np.triu_indices(4, k=1)].mean()
    value = corr_diff(real, collapsed)
    assert value == pytest.approx(diff, abs=1e-9)
    assert value > corr_diff(real, gaussian(500, 1)) + 0.1


def test_one_feature_gives_zero_corr_diff() -> None:
    assert corr_diff(np.arange(10.0)[:, None], np.ones((5, 1))) == 0.0


# --- detection ------------------------------------------------------------------------------


def test_same_distribution_is_undetectable() -> None:
    assert detect_auc(gaussian(500, 0), gaussian(500, 1), seed=0) == pytest.approx(0.5, abs=0.1)


def test_shifted_copy_is_detected() -> None:
    real = gaussian(300, 0)
    assert detect_auc(real, gaussian(300, 1, shift=2.0), seed=0) > 0.9


def test_unbalanced_input_stays_near_half() -> None:
    # 50 real vs 1,000 fake from one distribution (the iris-setosa shape of the problem).
    auc = detect_auc(gaussian(50, 0), gaussian(1000, 1), seed=0)
    assert 0.3 < auc < 0.7


def test_detect_auc_of_copies_is_below_half(setosa: np.ndarray) -> None:
    # Documented behaviour: exact copies land below 0.5, which is why the raw AUC is reported.
    assert detect_auc(setosa, resample_rows(setosa, 1000, 0), seed=0) < 0.5


def test_detect_auc_needs_two_rows_per_class() -> None:
    assert math.isnan(detect_auc(gaussian(1, 0), gaussian(100, 1)))


# --- distance to closest record and the guard ---------------------------------------------


def test_resample_is_flagged(setosa: np.ndarray) -> None:
    m = fidelity(setosa, resample_rows(setosa, 1000, 0), seed=0)
    assert m["dcr_ratio"] < 0.01
    assert m["copy_share"] == 1.0
    assert not passes_guard(m)


def test_gaussian_fit_of_setosa_passes(setosa: np.ndarray) -> None:
    fake = np.clip(gaussian_samples(setosa, 1000, 0), -1.0, 1.0)
    m = fidelity(setosa, fake, seed=0)
    assert 0.7 < m["dcr_ratio"] < 1.5
    assert m["copy_share"] < DEFAULT_MAX_COPY_SHARE / 2
    assert passes_guard(m)


def test_jittered_training_rows_are_flagged(setosa: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    fake = resample_rows(setosa, 1000, 0) + rng.normal(0, 0.03, size=(1000, setosa.shape[1]))
    m = dcr_metrics(setosa, fake)
    assert 0.05 < m["dcr_ratio"] < 0.5  # not exact copies, but far closer than real rows are
    assert not passes_guard(m)


def test_copy_share_is_calibrated_for_honest_draws() -> None:
    # Fresh draws from the real rows' own distribution: about `copy_quantile` of them fall below
    # the threshold, and their DCR matches real rows' nearest-neighbour distances.
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(1000, 5)), rng.normal(size=(2000, 5))
    m = dcr_metrics(real, fake)
    assert m["copy_share"] == pytest.approx(DEFAULT_COPY_QUANTILE, abs=0.03)
    assert m["dcr_ratio"] == pytest.approx(1.0, abs=0.1)


def test_copy_quantile_sets_the_threshold(setosa: np.ndarray) -> None:
    fake = np.clip(gaussian_samples(setosa, 1000, 0), -1.0, 1.0)
    low, high = dcr_metrics(setosa, fake, copy_quantile=0.05), dcr_metrics(setosa, fake, copy_quantile=0.5)
    assert high["copy_threshold"] > low["copy_threshold"]
    assert high["copy_share"] > low["copy_share"]
    with pytest.raises(ValueError):
        dcr_metrics(setosa, fake, copy_quantile=0.0)


def test_duplicate_training_rows_do_not_disable_the_guard() -> None:
    # Every real row twice: a naive k=2 leave-one-out finds each row's twin at distance 0, the
    # threshold becomes 0, and not even exact copies would count as copies.
    base = gaussian(100, 0)
    real = np.vstack([base, base])
    assert real_nn_distances(real).min() > 0.0
    m = dcr_metrics(real, resample_rows(real, 500, 0))
    assert m["copy_threshold"] > 0.0
    assert m["copy_share"] == 1.0


def test_holdout_reference() -> None:
    real, holdout = gaussian(1000, 0), gaussian(300, 1)
    honest = dcr_metrics(real, gaussian(1000, 2), holdout=holdout)
    copied = dcr_metrics(real, resample_rows(real, 1000, 0), holdout=holdout)
    assert honest["dcr_ratio_holdout"] == pytest.approx(1.0, abs=0.15)
    assert honest["copy_share_holdout"] < 0.15
    assert copied["dcr_ratio_holdout"] == 0.0 and copied["copy_share_holdout"] == 1.0
    assert "copy_share_holdout" not in dcr_metrics(real, gaussian(10, 2))


# --- entry point ----------------------------------------------------------------------------


def test_fidelity_returns_plain_floats_and_is_json_able() -> None:
    data = load_data("iris-setosa", holdout=0.2, seed=0)
    train = data.train_scaled.astype(np.float64)
    holdout = data.scaler.transform(data.holdout_raw)
    m = fidelity(train, gaussian_samples(train, 200, 0), holdout=holdout, seed=0)
    expected = {"dcr_median", "dcr_real_median", "dcr_ratio", "copy_threshold", "copy_share", "corr_diff", "detect_auc"}
    assert expected <= set(m)
    assert {"dcr_ratio_holdout", "copy_share_holdout"} <= set(m)
    assert all(type(v) is float and math.isfinite(v) for v in m.values())
    assert json.loads(json.dumps(m)) == m


def test_fidelity_is_deterministic_for_a_seed(setosa: np.ndarray) -> None:
    fake = np.clip(gaussian_samples(setosa, 1000, 0), -1.0, 1.0)
    assert fidelity(setosa, fake, seed=3) == fidelity(setosa, fake, seed=3)
    # The seed does drive the detector's subsampling and folds.
    assert detect_auc(setosa, fake, seed=3, n_repeats=1) != detect_auc(setosa, fake, seed=4, n_repeats=1)


def test_constant_column_and_one_feature_do_not_crash() -> None:
    real = np.column_stack([gaussian(200, 0), np.zeros(200)])
    fake = np.column_stack([gaussian(300, 1), np.zeros(300)])
    m = fidelity(real, fake, seed=0)
    assert all(math.isfinite(v) for v in m.values())

    rng = np.random.default_rng(0)
    m1 = fidelity(rng.uniform(-1, 1, size=(50, 1)), rng.uniform(-1, 1, size=(400, 1)), seed=0)
    assert m1["corr_diff"] == 0.0
    assert all(math.isfinite(v) for v in m1.values())


def test_diverged_output_gives_nan_and_fails_guard(setosa: np.ndarray) -> None:
    fake = np.full((100, setosa.shape[1]), np.nan)
    m = fidelity(setosa, fake, holdout=setosa[:5])
    assert all(math.isnan(v) for v in m.values())
    assert "copy_share_holdout" in m
    assert not passes_guard(m)


def test_single_distinct_training_row_gives_nan_copy_metrics() -> None:
    real = np.zeros((20, 3))
    m = dcr_metrics(real, np.zeros((10, 3)))
    assert math.isnan(m["copy_share"]) and math.isnan(m["dcr_ratio"])
    assert not passes_guard(m)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        fidelity(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D"):
        corr_diff(np.zeros(5), np.zeros(5))
