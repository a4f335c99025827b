"""Data loading, column selection and the [-1, 1] scaler (bad inputs: tests/reliability)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from gan.data import BUILTIN_DATASETS, Scaler, load_data, read_frame
from gan.errors import GanTuneError
from tests.conftest import make_frame


@pytest.mark.parametrize(
    "name, shape",
    [("iris-setosa", (50, 4)), ("iris", (150, 4)), ("wine", (178, 13)), ("breast-cancer", (569, 30))],
)
def test_builtin_datasets_load(name, shape):
    data = load_data(name)
    assert data.raw.shape == shape
    assert data.raw.dtype == np.float64
    assert len(data.columns) == shape[1] and len(set(data.columns)) == shape[1]
    assert np.isfinite(data.raw).all()
    assert data.source == name
    assert data.describe().startswith(f"{name}: {shape[0]} rows x {shape[1]}")


def test_builtin_list_matches_parametrisation():
    assert set(BUILTIN_DATASETS) == {"iris-setosa", "iris", "wine", "breast-cancer"}


def test_iris_setosa_is_the_first_50_iris_rows():
    setosa, iris = load_data("iris-setosa"), load_data("iris")
    np.testing.assert_array_equal(setosa.raw, iris.raw[:50])
    assert setosa.columns[0] == "sepal length (cm)"


@pytest.mark.parametrize("name", ["iris-setosa", "wine", "breast-cancer"])
def test_scaled_training_rows_span_exactly_minus_one_to_one(name):
    data = load_data(name)
    z = data.train_scaled
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.min(axis=0), -1.0, atol=1e-6)
    np.testing.assert_allclose(z.max(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(data.scaler.inverse_transform(data.scaler.transform(data.raw)), data.raw, rtol=1e-12, atol=1e-12)


def test_scaler_maps_known_values():
    s = Scaler.fit(np.array([[0.0, -5.0], [10.0, 5.0], [5.0, 0.0]]))
    np.testing.assert_allclose(s.transform([[0.0, -5.0], [10.0, 5.0], [5.0, 0.0], [2.5, 2.5]]),
                               [[-1, -1], [1, 1], [0, 0], [-0.5, 0.5]])
    np.testing.assert_allclose(s.inverse_transform([[-1, 1], [0.5, -0.5]]), [[0, 5], [7.5, -2.5]])


def test_scaler_serialises_to_json_and_back():
    import json

    x = make_frame(30, 3).to_numpy()
    s = Scaler.fit(x)
    s2 = Scaler.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(s2.transform(x), s.transform(x))
    np.testing.assert_array_equal(s2.constant, s.constant)


def test_constant_column_is_kept_without_division_by_zero(tmp_path, caplog):
    frame = make_frame(40, 3)
    frame["k"] = 7.25
    path = tmp_path / "const.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (divide by zero) would fail here
        with caplog.at_level(logging.WARNING, logger="gan.data"):
            data = load_data(path)
        z = data.train_scaled
        back = data.scaler.inverse_transform(np.random.default_rng(0).uniform(-1, 1, size=(25, 4)))
    assert data.columns == ["x0", "x1", "x2", "k"]
    assert data.constant_columns == ["k"]
    assert "'k'" in caplog.text
    assert np.isfinite(z).all() and (z[:, 3] == 0).all()
    assert (back[:, 3] == 7.25).all()  # exactly the constant, for any generated value


def test_csv_and_parquet_give_the_same_data(tmp_path):
    frame = make_frame(60, 3)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    a, b = load_data(tmp_path / "t.csv"), load_data(str(tmp_path / "t.parquet"))
    assert a.columns == b.columns == ["x0", "x1", "x2"]
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-15)
    np.testing.assert_array_equal(b.raw, frame.to_numpy())


def test_columns_selection_keeps_the_given_order(csv_100):
    data = load_data(csv_100, columns=["x3", "x1"])
    frame = pd.read_csv(csv_100)
    assert data.columns == ["x3", "x1"]
    np.testing.assert_array_equal(data.raw, frame[["x3", "x1"]].to_numpy())


def test_non_numeric_columns_are_dropped_with_a_warning(tmp_path, caplog):
    frame = make_frame(40, 2)
    frame["label"] = ["a", "b"] * 20
    frame["flag"] = [True, False] * 20
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        data = load_data(path)
    assert data.columns == ["x0", "x1"]
    assert "label" in caplog.text and "flag" in caplog.text


def test_dropna_drops_exactly_the_bad_rows(tmp_path, caplog):
    frame = make_frame(30, 3)
    frame.loc[[2, 5], "x1"] = np.nan
    frame.loc[9, "x2"] = np.inf
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        data = load_data(path, dropna=True)
    assert len(data.raw) == 27
    np.testing.assert_allclose(data.raw, frame.drop(index=[2, 5, 9]).to_numpy())
    assert "dropped 3 row(s)" in caplog.text


def test_holdout_is_seeded_and_excluded_from_training():
    a = load_data("iris", holdout=0.2, seed=1)
    b = load_data("iris", holdout=0.2, seed=1)
    c = load_data("iris", holdout=0.2, seed=2)
    assert len(a.holdout_idx) == 30 and len(a.train_idx) == 120
    np.testing.assert_array_equal(a.holdout_idx, b.holdout_idx)
    assert not np.array_equal(a.holdout_idx, c.holdout_idx)
    assert not set(a.holdout_idx) & set(a.train_idx)
    # The scaler is fitted on training rows only.
    np.testing.assert_allclose(a.scaler.data_min, a.train_raw.min(axis=0))


def test_read_frame_returns_builtin_by_name():
    frame, where = read_frame("wine")
    assert where == "wine" and frame.shape == (178, 13)
