"""The search metric (gan.metrics.Scorer) on hand-computed cases, and the two baselines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

import gan.metrics as metrics
from gan.columns import ColumnSpec
from gan.data import load_data
from gan.metrics import Scorer, gaussian_values, reference_values, resample_rows, wasserstein_per_feature
from gan.transform import TableTransformer
from tests.conftest import data_from_frame, make_frame


def categorical(n_labels: int = 3, missing: float = 0.0) -> TableTransformer:
    labels = tuple("abcdefgh"[:n_labels])
    return TableTransformer([ColumnSpec("c", "categorical", missing=missing, categories=labels, dtype="str")])


def numeric(low: float, high: float, missing: float = 0.0) -> TableTransformer:
    spec = ColumnSpec("x", "numeric", missing=missing, low=low, high=high)
    return TableTransformer([spec], bounds={"x": (low, high)})


def col(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


# -- categorical columns: total variation distance -----------------------------------------------
def test_categorical_score_is_the_total_variation_distance():
    # real a, a, b, c -> p = (1/2, 1/4, 1/4); fake a, b, b, b -> q = (1/4, 3/4, 0)
    # 0.5 * (|1/2 - 1/4| + |1/4 - 3/4| + |1/4 - 0|) = 0.5 * (0.25 + 0.5 + 0.25) = 0.5
    scorer = Scorer(categorical(3), col([0, 0, 1, 2]))
    m = scorer.score(col([0, 1, 1, 1]))
    assert m["wd"] == [0.5] and m["wd_orig"] == [0.5] and m["wd_mean"] == 0.5
    assert scorer.score(col([2, 1, 0, 0]))["wd_mean"] == 0.0  # same shares, any order
    assert scorer.score(col([1, 1]))["wd_mean"] == pytest.approx(0.75)  # 0.5 * (0.5 + 0.75 + 0.25)


def test_missing_cells_are_one_more_label():
    # real a, a, b, NaN -> (1/2, 1/4, 0, 1/4); fake a, NaN, NaN, NaN -> (1/4, 0, 0, 3/4)
    # 0.5 * (1/4 + 1/4 + 0 + 1/2) = 0.5
    scorer = Scorer(categorical(3, missing=0.25), col([0, 0, 1, np.nan]))
    assert scorer.score(col([0, np.nan, np.nan, np.nan]))["wd_mean"] == pytest.approx(0.5)
    # Disjoint supports: the distance is 1.
    assert Scorer(categorical(2), col([0, 0])).score(col([1, 1]))["wd_mean"] == 1.0


# -- numeric columns: W1 in scaled units plus the missing-rate term -------------------------------
def test_numeric_score_is_w1_in_scaled_units():
    # Range 0..4: half-range 2. Shifting every value by 1 costs W1 = 1 (original units) = 0.5 scaled.
    scorer = Scorer(numeric(0.0, 4.0), col([0, 1, 2, 3, 4]))
    m = scorer.score(col([1, 2, 3, 4, 5]))
    assert m["wd"] == [pytest.approx(0.5)] and m["wd_orig"] == [pytest.approx(1.0)]
    assert m["wd_orig_mean"] == pytest.approx(1.0)


def test_missing_rate_term():
    # Real: 4 values and 4 missing (share 0.5); fake: the same 4 values and 2 missing (share 1/3).
    # Present values identical (W1 = 0): the score is |0.5 - 1/3| = 1/6.
    real = col([0, 1, 2, 4] + [np.nan] * 4)
    scorer = Scorer(numeric(0.0, 4.0, missing=0.5), real)
    assert scorer.score(col([0, 1, 2, 4, np.nan, np.nan]))["wd_mean"] == pytest.approx(1 / 6)
    # Present values shifted by 1 (W1 = 1, scaled 0.5) and the same share missing:
    # min(present_real, present_fake) * 0.5 + 0 = 0.5 * 0.5 = 0.25.
    assert scorer.score(col([1, 2, 3, 5] + [np.nan] * 4))["wd_mean"] == pytest.approx(0.25)
    # Both: shared mass min(0.5, 0.75) = 0.5 moves 0.5, and 0.25 of mass moves to "missing" at cost 1.
    fake = col([1, 2, 3, 5, 1, 2, 3, 5, 1, 2, 3, 5] + [np.nan] * 4)  # present 0.75, W1 = 1
    assert scorer.score(fake)["wd_mean"] == pytest.approx(0.5 * 0.5 + 0.25)
    # All missing in the generated rows: the whole present mass must move (cost 0.5).
    assert scorer.score(col([np.nan] * 4))["wd_mean"] == pytest.approx(0.5)
    # wd_orig is W1 of the present values only, in original units.
    assert scorer.score(col([1, 2, 3, 5, np.nan]))["wd_orig"] == [pytest.approx(1.0)]


@pytest.mark.parametrize("encoding", ["minmax", "quantile", "normal"])
def test_wd_mean_equals_the_old_numeric_score_on_a_numeric_table(encoding):
    """All-numeric, no missing: wd_mean is the old score, the mean 1-D Wasserstein distance of
    the min-max scaled columns, whatever the training encoding."""
    frame = make_frame(200, 4)
    data = data_from_frame(frame, encoding=encoding)
    rng = np.random.default_rng(1)
    fake = frame.to_numpy() + rng.normal(0, 0.5, size=(500, 4))[:200]
    lo, hi = frame.min().to_numpy(), frame.max().to_numpy()
    scale = lambda x: (x - lo) / (hi - lo) * 2 - 1  # noqa: E731  the old Scaler
    old = wasserstein_per_feature(scale(frame.to_numpy()), scale(fake))
    m = data.scorer.score(fake)
    np.testing.assert_allclose(m["wd"], old, rtol=1e-12)
    assert m["wd_mean"] == pytest.approx(float(old.mean()), rel=1e-12)
    np.testing.assert_allclose(m["wd_orig"], wasserstein_per_feature(frame.to_numpy(), fake), rtol=1e-12)


def test_iris_setosa_real_rows_score_zero_and_baselines_rank_as_documented():
    data = load_data("iris-setosa")
    assert data.scorer.score(data.values)["wd_mean"] == 0.0
    refs = reference_values(data.transformer, data.train_values, data.train_encoded, 1000, 0)
    resample = data.scorer.score(refs["resample"])["wd_mean"]
    gaussian = data.scorer.score(refs["gaussian"])["wd_mean"]
    assert 0 < resample < gaussian < 0.2  # gan.fidelity: resample ~0.01, Gaussian fit ~0.08


def test_wide_columns_are_summarised_by_quantiles(monkeypatch):
    rng = np.random.default_rng(0)
    real = col(rng.normal(size=5000))
    fake = col(rng.normal(0.1, 1.0, size=3000))
    t = numeric(float(real.min()), float(real.max()))
    exact = Scorer(t, real).score(fake)["wd_mean"]
    monkeypatch.setattr(metrics, "MAX_POINTS", 500)
    approx = Scorer(t, real).score(fake)["wd_mean"]
    assert approx != exact and approx == pytest.approx(exact, rel=0.05)


def test_diverged_output_scores_infinite():
    data = load_data("iris-setosa")
    enc = np.full((10, data.width), np.nan)
    m = data.scorer.score_encoded(enc)
    assert m["wd_mean"] == math.inf and m["wd"] == [math.inf] * 4 and m["wd_orig_mean"] == math.inf


def test_mixed_table_scores(mixed_data):
    assert mixed_data.scorer.score(mixed_data.values)["wd_mean"] == 0.0
    m = mixed_data.scorer.score(resample_rows(mixed_data.values, 2000, 0))
    assert 0 < m["wd_mean"] < 0.05 and len(m["wd"]) == mixed_data.n_columns
    g = gaussian_values(mixed_data.transformer, mixed_data.train_encoded, 2000, 0)
    # The Gaussian baseline decodes to valid cells: labels, missing cells, values in range.
    for j, spec in enumerate(mixed_data.specs):
        present = g[~np.isnan(g[:, j]), j]
        if spec.is_numeric:
            assert present.min() >= spec.low and present.max() <= spec.high
        else:
            assert set(np.unique(present)) <= set(range(len(spec.categories)))
    assert math.isfinite(mixed_data.scorer.score(g)["wd_mean"])


def test_wasserstein_per_feature_shape_check():
    with pytest.raises(ValueError, match="same number of columns"):
        wasserstein_per_feature(np.zeros((3, 2)), np.zeros((3, 3)))
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(wasserstein_per_feature(x, x + 1), [1.0, 1.0])
    assert wasserstein_per_feature(x, x)[0] == wasserstein_distance(x[:, 0], x[:, 0]) == 0.0


def test_scorer_on_a_frame_read_back_from_csv(tmp_path, mixed_data):
    # A generated table written by `gantune sample` and read back scores as its values did.
    fake = resample_rows(mixed_data.values, 400, 3)
    path = tmp_path / "gen.csv"
    mixed_data.transformer.to_frame(fake).to_csv(path, index=False)
    back = mixed_data.transformer.values(pd.read_csv(path), str(path))
    np.testing.assert_array_equal(np.isnan(back), np.isnan(fake))
    assert mixed_data.scorer.score(back)["wd_mean"] == pytest.approx(mixed_data.scorer.score(fake)["wd_mean"], abs=1e-12)


# -- what a perfect generator scores: new_sample_scores -------------------------------------------
def _population_score(n_real: int, n_fake: int, reps: int, seed: int) -> float:
    """Monte Carlo: a sample of n_real from N(0, 1) against n_fake more from it (the truth)."""
    rng = np.random.default_rng(seed)
    t = numeric(-4.0, 4.0)
    return float(np.mean([Scorer(t, col(rng.normal(size=n_real))).score(col(rng.normal(size=n_fake)))["wd_mean"] for _ in range(reps)]))


@pytest.mark.parametrize("n_real", [50, 2000])
def test_new_sample_scores_estimate_what_the_population_itself_scores(n_real):
    """The bootstrap sees only the real rows, yet its mean is close to what new draws from the
    population score against them (known here: N(0, 1)); on a small table a resample of the rows
    (memorisation) scores below it (with more real rows than generated ones it does not: 1,000
    of 2,000 rows are a sample too)."""
    rng = np.random.default_rng(1)
    real = col(rng.normal(size=n_real))
    t = numeric(-4.0, 4.0)
    boot = metrics.new_sample_scores(t, real, 1000, seed=0)
    truth = _population_score(n_real, 1000, 200, seed=2)
    assert len(boot) == metrics.NEW_SAMPLE_DRAWS
    assert abs(boot.mean() - truth) < 0.25 * truth, (boot.mean(), truth)
    if n_real < 1000:
        assert Scorer(t, real).score(resample_rows(real, 1000, 0))["wd_mean"] < np.percentile(boot, 5)
    np.testing.assert_array_equal(boot, metrics.new_sample_scores(t, real, 1000, seed=0))  # seeded


def test_new_sample_scores_fall_with_more_rows_and_cover_categories():
    small = metrics.new_sample_scores(categorical(3), col(np.arange(40) % 3), 1000, seed=0).mean()
    large = metrics.new_sample_scores(categorical(3), col(np.arange(4000) % 3), 1000, seed=0).mean()
    assert 0 < large < small / 3  # ~1 / sqrt(rows) while the real rows dominate


def test_new_sample_scores_take_fewer_draws_on_large_tables(monkeypatch):
    monkeypatch.setattr(metrics, "LARGE_TABLE_ROWS", 100)
    t = numeric(-4.0, 4.0)
    rows = col(np.random.default_rng(0).normal(size=101))
    assert len(metrics.new_sample_scores(t, rows, 100, seed=0)) == 8
    assert len(metrics.new_sample_scores(t, rows[:100], 100, seed=0)) == metrics.NEW_SAMPLE_DRAWS


def test_a_table_computes_its_new_sample_score_once_per_row_count(monkeypatch):
    """An export scores several candidates against the same table: the bootstrap runs once."""
    calls = []
    real = metrics.new_sample_scores
    monkeypatch.setattr(metrics, "new_sample_scores", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    data = load_data("iris-setosa")
    first = data.new_sample(1000)
    first["wd_mean"] = -1.0  # a caller's copy: the cached figure stays
    assert data.new_sample(1000)["wd_mean"] > 0 and calls == [1000]
    data.new_sample(200)
    assert calls == [1000, 200]


def test_within_label_distance_sees_a_number_that_ignores_its_label():
    """A price set by the product: generated rows with the prices shuffled across products have
    exactly the real columns (per-column wd 0) but a large cond_wd on (price, product); the real
    rows themselves score 0; an unrelated number scores ~0 either way (as real, per label)."""
    rng = np.random.default_rng(0)
    n = 4000
    product = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    frame = pd.DataFrame({"product": np.array(["a", "b", "c", "d"])[product],
                          "price": np.round(np.array([2.0, 20.0, 50.0, 300.0])[product] * (1 + 0.05 * rng.standard_normal(n)), 2),
                          "noise": rng.normal(0, 1, n)})
    data = data_from_frame(frame, "prices")
    real = data.train_values
    shuffled = real.copy()
    j = data.columns.index("price")
    shuffled[:, j] = rng.permutation(real[:, j])
    assert Scorer(data.transformer, real).score(shuffled)["wd_mean"] == 0.0  # per column: identical
    same = metrics.within_label_pairs(data.transformer, real, real)
    broken = metrics.within_label_pairs(data.transformer, real, shuffled)
    assert set(broken) == {("price", "product"), ("noise", "product")}
    assert same[("price", "product")] == 0.0 and broken[("price", "product")] > 0.3
    assert broken[("noise", "product")] == 0.0  # its rows untouched
    # By hand for one label pair: label 'd' (10 %) is the most expensive; weights are real shares.
    codes = real[:, data.columns.index("product")]
    half = np.ptp(data.transformer.bounds["price"]) / 2
    by_hand = sum((codes == k).mean() * wasserstein_distance(real[codes == k, j], shuffled[codes == k, j]) / half for k in range(4))
    assert broken[("price", "product")] == pytest.approx(by_hand)


def test_within_label_distance_leaves_out_rare_labels_and_tables_without_both_kinds():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"kind": np.where(np.arange(500) < 5, "rare", rng.choice(["x", "y"], 500)), "v": rng.normal(0, 1, 500)})
    data = data_from_frame(frame, "rare")
    real = data.train_values
    fake = real.copy()
    k = data.columns.index("kind")
    rare = data.transformer.specs[k].categories.index("rare")
    fake[real[:, k] == rare, data.columns.index("v")] += 100.0  # only the 5 rare rows are wrong
    assert metrics.within_label_pairs(data.transformer, real, fake)[("v", "kind")] == 0.0  # under MIN_LABEL_ROWS
    iris = load_data("iris-setosa")
    assert metrics.within_label_pairs(iris.transformer, iris.train_values, iris.train_values) == {}
