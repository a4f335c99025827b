"""Column types (gan.columns): every inference rule, metadata overrides and every metadata error.

Inference is checked on one constructed frame that holds a column for each rule, so a rule that
breaks shows up as the one column whose kind changed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gan.columns import (
    written_values,
    MAX_INT_LEVELS,
    ColumnSpec,
    date_values,
    infer_column,
    infer_columns,
    load_metadata,
    metadata_document,
    recorded_decimals,
)
from gan.config import GANConfig
from gan.data import load_data
from gan.errors import GanTuneError

N = 40


def mixed_frame(n: int = N) -> pd.DataFrame:
    """One column per inference rule (see the module docstring of gan.columns)."""
    rng = np.random.default_rng(0)
    price = np.round(rng.uniform(0, 100, n), 2)
    price[3] = np.nan
    return pd.DataFrame({
        "flag": [True, False] * (n // 2),  # bool -> categorical
        "rating": rng.integers(1, 6, n),  # integers, 5 levels -> categorical
        "levels10": np.arange(n) % MAX_INT_LEVELS,  # exactly MAX_INT_LEVELS levels -> still categorical
        "row": np.arange(n),  # all-distinct, evenly spaced integers -> identifier
        "customer_id": rng.permutation(10_000)[:n],  # all-distinct integers named like an id -> identifier
        "count": np.arange(n) * 7 + (np.arange(n) % 3) * 2,  # many integer levels, not evenly spaced -> integer
        "price": price,  # two recorded decimals, one missing cell -> numeric, decimals 2
        "raw": rng.normal(size=n),  # full-precision floats -> numeric, no fixed precision
        "color": ["red", "green", "blue", "red"] * (n // 4),  # text -> categorical
        "name": [f"user{i}" for i in range(n)],  # a distinct text in every row -> identifier
        "day": [f"2021-03-{i % 9 + 1:02d}" for i in range(n)],  # dates as text -> date (days)
        "stamp": pd.date_range("2020-01-01 06:30", periods=n, freq="37min"),  # datetime dtype, times -> datetime (seconds)
        "answer": ["yes", None, "no", "yes"] * (n // 4),  # text with missing cells -> categorical
    })


@pytest.fixture(scope="module")
def plan():
    return infer_columns(mixed_frame(), "mixed.csv")


def spec(plan, name: str) -> ColumnSpec:
    return next(s for s in plan.specs if s.name == name)


def test_every_inference_rule_on_a_mixed_frame(plan):
    kinds = {s.name: s.kind for s in plan.specs}
    assert kinds == {
        "flag": "categorical", "rating": "categorical", "levels10": "categorical", "count": "integer",
        "price": "numeric", "raw": "numeric", "color": "categorical", "day": "integer", "stamp": "integer",
        "answer": "categorical",
    }
    # Modelled columns keep the table's order; the left-out ones carry a readable reason.
    assert plan.columns == ["flag", "rating", "levels10", "count", "price", "raw", "color", "day", "stamp", "answer"]
    assert set(plan.left_out) == {"row", "customer_id", "name"}
    for name in ("row", "customer_id", "name"):
        assert plan.left_out[name].startswith("identifier"), plan.left_out[name]
    # Dates are whole days since 1970-01-01; timestamps with times of day whole seconds.
    day, stamp = spec(plan, "day"), spec(plan, "stamp")
    assert (day.dtype, day.low, day.high) == ("date", 18687.0, 18695.0)  # 2021-03-01 .. 2021-03-09
    assert (stamp.dtype, stamp.low) == ("datetime", 1577860200.0)  # 2020-01-01 06:30:00
    assert day.describe() == "date 2021-03-01..2021-03-09" and stamp.describe().startswith("datetime 2020-01-01 06:30:00..")


def test_labels_dtypes_ranges_and_precision(plan):
    assert spec(plan, "flag").categories == (False, True) and spec(plan, "flag").dtype == "bool"
    assert spec(plan, "rating").categories == (1, 2, 3, 4, 5) and spec(plan, "rating").dtype == "int"
    assert spec(plan, "color").categories == ("blue", "green", "red") and spec(plan, "color").dtype == "str"
    assert spec(plan, "answer").categories == ("no", "yes")
    assert spec(plan, "answer").missing == pytest.approx(0.25)
    count = spec(plan, "count")
    assert (count.low, count.high, count.decimals, count.dtype) == (0.0, float(count.high), 0, "int")
    price = spec(plan, "price")
    assert price.decimals == 2 and price.dtype == "float"
    assert price.missing == pytest.approx(1 / N)
    frame = mixed_frame()
    assert (price.low, price.high) == (np.nanmin(frame["price"]), np.nanmax(frame["price"]))
    assert spec(plan, "raw").decimals is None
    assert all(s.missing == 0 for s in plan.specs if s.name not in ("price", "answer"))


def test_eleven_integer_levels_are_a_count_not_a_category():
    col = pd.Series(np.arange(44) % (MAX_INT_LEVELS + 1))
    assert infer_column("n", col, "t.csv").kind == "integer"


def test_integer_column_with_repeats_is_not_an_identifier_even_if_named_id():
    col = pd.Series(np.r_[np.arange(30), 0, 1])  # one repeat is enough: ids are all distinct
    assert infer_column("user_id", col, "t.csv").kind == "integer"
    # Few rows: any column can be all distinct by chance, so nothing is an identifier.
    assert infer_column("id", pd.Series(np.arange(12) * 13), "t.csv").kind == "integer"


def test_integers_stored_as_floats_with_missing_values():
    few = pd.Series([1.0, 2.0, np.nan] * 10)  # a CSV int column with gaps reads as float64
    s = infer_column("k", few, "t.csv")
    assert (s.kind, s.categories, s.dtype) == ("categorical", (1, 2), "int")
    assert s.missing == pytest.approx(1 / 3)
    many = pd.Series(np.r_[np.arange(0, 60, 2) ** 2, [np.nan] * 5].astype(float))
    s = infer_column("k", many, "t.csv")
    assert (s.kind, s.decimals, s.dtype) == ("integer", 0, "int")


def test_text_true_false_is_bool_and_numbers_as_text_are_numbers():
    s = infer_column("t", pd.Series(["True", "false", "TRUE"] * 10), "t.csv")
    assert (s.kind, s.categories, s.dtype) == ("categorical", (False, True), "bool")
    s = infer_column("x", pd.Series([f"{v:.1f}" for v in np.linspace(0, 9.9, 30)]), "t.csv")
    assert (s.kind, s.decimals) == ("numeric", 1)


def test_text_with_many_labels_is_left_out():
    col = pd.Series([f"w{i % 600}" for i in range(700)])
    reason = infer_column("word", col, "t.csv")
    assert isinstance(reason, str) and "600 distinct values" in reason


@pytest.mark.parametrize(
    "values, expected",
    [([4.3, 5.8, 5.0], 1), ([1.25, 2.5, 3.0], 2), ([1.0, 2.0], 0), ([0.1234567], None), ([1e-6, 2e-6], 6)],
)
def test_recorded_decimals(values, expected):
    assert recorded_decimals(np.array(values)) == expected


# -- columns inference refuses -----------------------------------------------------------------
def test_text_mixing_numbers_and_words_is_an_error_naming_the_column():
    col = pd.Series([f"{i * 1.5}" for i in range(27)] + ["unknown"] * 3)
    with pytest.raises(GanTuneError) as err:
        infer_column("dose", col, "t.csv")
    msg = str(err.value)
    assert "'dose'" in msg and "t.csv" in msg and "--na-values 'unknown'" in msg and "metadata" in msg
    assert "\n" not in msg


def test_all_missing_column_is_an_error_naming_the_column():
    with pytest.raises(GanTuneError, match=r"'empty' has no values \(all 30 missing\)"):
        infer_column("empty", pd.Series([np.nan] * 30), "t.csv")


def test_infinite_values_are_an_error():
    with pytest.raises(GanTuneError, match="'x' holds infinite values"):
        infer_column("x", pd.Series([1.0, np.inf] * 15), "t.csv")


# -- metadata files ----------------------------------------------------------------------------
def write_meta(tmp_path, doc, suffix=".yaml"):
    import yaml

    path = tmp_path / f"meta{suffix}"
    path.write_text(yaml.safe_dump(doc) if suffix == ".yaml" else json.dumps(doc))
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_metadata_overrides_every_inferred_type(tmp_path, suffix):
    frame = mixed_frame()
    doc = {"columns": {
        "rating": "integer",  # a category by inference
        "count": "categorical",  # an integer by inference
        "row": "numeric",  # an identifier by inference
        "raw": {"type": "numeric", "decimals": 2},  # no fixed precision by inference
        "price": {"type": "numeric", "decimals": None},  # 2 decimals by inference
        "color": "ignore",
        "flag": "categorical",
    }}
    meta = load_metadata(write_meta(tmp_path, doc, suffix), list(frame.columns), "mixed.csv")
    plan = infer_columns(frame, "mixed.csv", meta)
    assert spec(plan, "rating").kind == "integer" and spec(plan, "rating").dtype == "int"
    count = spec(plan, "count")
    assert count.kind == "categorical" and count.dtype == "int" and len(count.categories) == N
    assert spec(plan, "row").kind == "numeric" and "row" not in plan.left_out
    assert spec(plan, "raw").decimals == 2
    assert spec(plan, "price").decimals is None
    assert plan.left_out["color"] == "ignored by the metadata file" and "color" not in plan.columns
    assert spec(plan, "flag").dtype == "bool"
    # Columns the file does not name are still inferred.
    assert spec(plan, "answer").kind == "categorical" and "name" in plan.left_out


def test_declared_categorical_float_column_keeps_float_labels():
    plan = infer_columns(pd.DataFrame({"v": [0.5, 1.5, 2.5] * 10}), "t.csv", {"v": {"type": "categorical"}})
    assert plan.specs[0].categories == (0.5, 1.5, 2.5) and plan.specs[0].dtype == "float"


def test_written_metadata_reproduces_the_inferred_plan(tmp_path, plan):
    frame = mixed_frame()
    path = write_meta(tmp_path, metadata_document(plan))
    again = infer_columns(frame, "mixed.csv", load_metadata(path, list(frame.columns), "mixed.csv"))
    assert again.specs == plan.specs
    assert set(again.left_out) == set(plan.left_out)


@pytest.mark.parametrize(
    "doc, needles",
    [
        ({"columns": {"nope": "numeric"}}, ["'nope' is not in mixed.csv", "flag, rating"]),
        ({"columns": {"price": "float"}}, ["'price'", "numeric, integer, categorical, date, datetime, ignore"]),
        ({"columns": {"price": {"type": "numeric", "precision": 2}}}, ["'price'", "give a type"]),
        ({"columns": {"price": {"type": "numeric", "decimals": 1.5}}}, ["'price'", "decimals must be an integer 0..12"]),
        ({"columns": {"price": {"type": "numeric", "decimals": 13}}}, ["decimals must be an integer 0..12"]),
        ({"columns": {"price": {"type": "numeric", "decimals": True}}}, ["decimals must be an integer 0..12"]),
        ({"columns": {"count": {"type": "integer", "decimals": 0}}}, ["'count'", "decimals applies to numeric columns only"]),
        ({"price": "numeric"}, ["one top-level key 'columns'"]),
        ({"columns": ["price"]}, ["one top-level key 'columns'"]),
        ({"columns": {"price": "numeric"}, "extra": 1}, ["one top-level key 'columns'"]),
    ],
)
def test_every_metadata_file_error_is_one_line(tmp_path, doc, needles):
    path = write_meta(tmp_path, doc)
    with pytest.raises(GanTuneError) as err:
        load_metadata(path, list(mixed_frame().columns), "mixed.csv")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize(
    "frame, entry, needles",
    [
        (pd.DataFrame({"c": ["a", "b"] * 15}), "numeric", ["'c' is declared numeric but holds text such as 'a'"]),
        (pd.DataFrame({"c": [1.5, 2.0] * 15}), "integer", ["'c' is declared integer but holds 1.5"]),
        (pd.DataFrame({"c": [np.nan] * 30}), "categorical", ["'c' has no values"]),
        (pd.DataFrame({"c": [1.0, np.inf] * 15}), "numeric", ["'c' holds infinite values"]),
    ],
)
def test_declared_types_the_values_contradict_are_errors(frame, entry, needles):
    with pytest.raises(GanTuneError) as err:
        infer_columns(frame, "t.csv", {"c": {"type": entry}})
    msg = str(err.value)
    assert "t.csv" in msg and "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize("content, needle", [(None, "file not found"), ("columns: [a", "not valid YAML")])
def test_unreadable_metadata_file(tmp_path, content, needle):
    path = tmp_path / "meta.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(GanTuneError, match=needle):
        load_metadata(path, ["a"], "t.csv")


def test_load_data_infers_a_csv_and_takes_a_metadata_file(tmp_path):
    path = tmp_path / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    data = load_data(path, quiet=True)
    # The CSV round trip (bools and dates as text, the id as int) gives the same decisions.
    assert data.columns == ["flag", "rating", "levels10", "count", "price", "raw", "color", "day", "stamp", "answer"]
    assert set(data.left_out) == {"row", "customer_id", "name"}
    assert [s.dtype for s in data.specs if s.name in ("day", "stamp")] == ["date", "datetime"]
    meta = write_meta(tmp_path, {"columns": {"color": "ignore", "row": "integer"}})
    data = load_data(path, metadata=meta, quiet=True)
    assert "color" not in data.columns and "row" in data.columns
    assert data.specs[data.columns.index("row")].kind == "integer"


def test_spec_json_round_trip(plan):
    for s in plan.specs:
        assert ColumnSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="kind"):
        ColumnSpec.from_dict({"name": "a", "kind": "text"})


def test_dates_round_trip_through_a_model_and_back_to_dates(tmp_path):
    """Dates were left out ("not modelled yet"). A date column (missing cells included) and a
    timestamp column are modelled as whole days / seconds and generated as timestamps inside
    the real range, written to CSV as dates; metadata files name them date / datetime."""
    from gan.api import fit

    rng = np.random.default_rng(4)
    n = 200
    day = pd.Series(pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D"))
    day[::10] = pd.NaT
    frame = pd.DataFrame({"x": rng.normal(size=n), "day": day,
                          "ts": pd.Timestamp("2023-05-01 08:00") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")})
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    data = load_data(path, quiet=True)
    j = data.columns.index("day")
    # values hold days since 1970-01-01 (NaN where missing), and go back to the same timestamps
    back = data.transformer.to_frame(data.values)
    assert back["day"].dtype.kind == "M" and back["day"].isna().sum() == frame["day"].isna().sum()
    pd.testing.assert_series_equal(back["day"], frame["day"].astype(back["day"].dtype), check_names=False)
    pd.testing.assert_series_equal(back["ts"], frame["ts"].astype(back["ts"].dtype), check_names=False)
    assert np.nanmin(data.values[:, j]) == (frame["day"].min() - pd.Timestamp("1970-01-01")).days
    bundle = fit(str(path), GANConfig(epochs=2, eval_samples=100))
    rows = bundle.sample(300, seed=1)
    assert rows["day"].dtype.kind == "M" and rows["ts"].dtype.kind == "M"
    present = rows["day"].dropna()
    assert len(present) and (present == present.dt.normalize()).all()  # whole days
    assert frame["day"].min() <= present.min() and present.max() <= frame["day"].max()
    rows.to_csv(tmp_path / "s.csv", index=False)
    assert pd.read_csv(tmp_path / "s.csv")["day"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    # describe --write-metadata names them, and the file reads back to the same specs
    import yaml

    meta = write_meta(tmp_path, metadata_document(infer_columns(frame, "d.csv")))
    assert yaml.safe_load(meta.read_text())["columns"]["day"] == "date"
    assert load_data(path, metadata=meta, quiet=True).specs == data.specs


def test_date_columns_that_cannot_be_read_are_one_line_errors(tmp_path):
    days = [f"2022-01-{i % 28 + 1:02d}" for i in range(40)]
    with pytest.raises(GanTuneError, match=r"column 'd' holds dates and '2022-02-31', which is not one; .*--na-values '2022-02-31'"):
        infer_columns(pd.DataFrame({"d": days[:-1] + ["2022-02-31"]}), "t.csv")
    stamps = pd.DataFrame({"d": [f"{d} 10:{i % 60:02d}" for i, d in enumerate(days)]})
    with pytest.raises(GanTuneError, match="declared date but records times of day; declare it datetime"):
        infer_columns(stamps, "t.csv", {"d": {"type": "date"}})
    assert infer_columns(stamps, "t.csv", {"d": {"type": "datetime"}}).specs[0].dtype == "datetime"
    # pandas reads "10:30" as today at 10:30: times of day without a date stay out unless declared
    times = pd.DataFrame({"d": [f"{i % 24}:{i % 60:02d}" for i in range(40)]})
    assert "without a four-digit year" in infer_columns(times, "t.csv").left_out["d"]
    zoned = pd.DataFrame({"d": pd.date_range("2022-01-01", periods=40, tz="Europe/Oslo")})
    assert "time zone" in infer_columns(zoned, "t.csv").left_out["d"]


def test_histograms_show_date_columns_on_a_date_axis():
    """Dates are held as days / seconds since 1970; the report's panels label them as dates
    (they read 18,690 and 1.58e9 before)."""
    from gan.data import load_data
    from gan.plots import histogram_figure

    data = load_data(mixed_frame(), quiet=True)
    fig = histogram_figure(data.transformer, data.train_values, data.train_values)
    fig.canvas.draw()
    axes = {ax.get_title(): ax for ax in fig.axes}
    for name, year in (("day", "2021"), ("stamp", "2020")):
        ax = axes[name]
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        shown = " ".join(labels) + " " + ax.xaxis.get_offset_text().get_text()
        assert labels and year in shown, shown
        assert not any(lab.replace(".", "").replace(",", "").replace("\u2212", "").isdigit() and len(lab) > 4 for lab in labels), labels
    # a numeric column keeps numbers
    assert any(t.get_text() for t in axes["price"].get_xticklabels())


def test_dates_written_day_first_are_read_day_first_in_every_row(tmp_path):
    """pandas reads each value alone: "01.02.2021" became 2 January beside "13.02.2021" (13
    February). A column's order is decided once from all its values and kept in its spec."""
    frame = pd.DataFrame({
        "de": ["01.02.2021", "13.02.2021", "05.03.2021", "2021-03-04"] * 10,  # dots: day first; ISO stays ISO
        "us": ["02/01/2021", "02/13/2021", "03/05/2021", "12/31/2020"] * 10,  # 13 in the second field: month first
        "uk": ["01/02/2021", "13/02/2021", "05/03/2021", "31/12/2020"] * 10,  # 13 in the first field: day first
        "plain": ["01/02/2021", "03/04/2021", "05/06/2021", "07/08/2021"] * 10,  # undecided slashes: month first (pandas)
        "x": np.arange(40) * 1.5,
    })
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = load_data(tmp_path / "d.csv", quiet=True)
    specs = {s.name: s for s in data.specs}
    assert [specs[c].day_first for c in ("de", "us", "uk", "plain")] == [True, False, True, False]
    days = {c: [str(t.date()) for t in date_values(data.values[:4, data.columns.index(c)], "date")] for c in ("de", "us", "uk", "plain")}
    assert days["de"] == ["2021-02-01", "2021-02-13", "2021-03-05", "2021-03-04"]
    assert days["us"] == ["2021-02-01", "2021-02-13", "2021-03-05", "2020-12-31"]
    assert days["uk"] == days["us"]
    assert days["plain"] == ["2021-01-02", "2021-03-04", "2021-05-06", "2021-07-08"]
    assert ColumnSpec.from_dict(specs["de"].to_dict()).day_first and "day_first" not in specs["us"].to_dict()


def test_a_date_column_keeps_the_form_it_was_written_in(tmp_path):
    """Generated dates are written as the table wrote them ("14.10.2022", "10/14/2022 13:45"),
    where one form reads every value; a column written in several forms is written ISO."""
    frame = pd.DataFrame({
        "de": ["01.02.2021", "13.02.2021", None, "31.12.2020"] * 10,
        "us": ["02/01/2021 13:45", "02/13/2021 08:00", "03/05/2021 00:30", "12/31/2020 23:59"] * 10,
        "pm": ["09/02/2023 08:07 PM", "10/21/2023 07:49 AM", "01/09/2023 12:26 PM", "12/31/2020 11:59 PM"] * 10,
        "iso": ["2021-02-01", "2021-02-13", "2021-03-05", "2020-12-31"] * 10,
        "t": ["2021-03-04T10:00:00", "2021-03-05T11:30:00", "2021-04-01T00:00:00", "2021-05-02T09:15:00"] * 10,
        "both": ["01.02.2021", "2021-02-13", "05.03.2021", "2020-12-31"] * 10,
        "x": np.arange(40) * 1.5,
    })
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = load_data(tmp_path / "d.csv", quiet=True)
    specs = {s.name: s for s in data.specs}
    forms = {c: specs[c].date_format for c in ("de", "us", "pm", "iso", "t", "both")}
    assert forms == {"de": "%d.%m.%Y", "us": "%m/%d/%Y %H:%M", "pm": "%m/%d/%Y %I:%M %p", "iso": "%Y-%m-%d",
                     "t": "%Y-%m-%dT%H:%M:%S", "both": None}
    assert ColumnSpec.from_dict(specs["us"].to_dict()).date_format == "%m/%d/%Y %H:%M"
    # the rows read back, written in those forms, are the file's own text
    back = data.transformer.to_frame(data.values[:4])
    written = written_values(back, data.specs)
    assert written["de"].tolist()[:2] == ["01.02.2021", "13.02.2021"] and pd.isna(written["de"].iloc[2])
    assert written["us"].tolist() == frame["us"].tolist()[:4]
    assert written["pm"].tolist() == frame["pm"].tolist()[:4]
    assert written["t"].tolist() == frame["t"].tolist()[:4]
    assert pd.api.types.is_datetime64_any_dtype(written["both"]) and written["x"].equals(back["x"])
    assert pd.api.types.is_datetime64_any_dtype(back["de"])  # the frame itself keeps timestamps


def test_a_date_column_written_both_ways_is_one_clear_error():
    frame = pd.DataFrame({"when": ["13/02/2021", "02/14/2021", "01/01/2021"] * 10, "x": np.arange(30) * 1.5})
    with pytest.raises(GanTuneError, match=r"column 'when' holds dates written day first \('13/02/2021'\) and month first \('02/14/2021'\)"):
        infer_columns(frame, "mixed.csv")
