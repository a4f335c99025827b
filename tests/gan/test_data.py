"""Data loading, column selection, missing values and the split (column types: test_columns.py,
the transformer: test_transform.py, bad inputs: tests/reliability)."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from gan.columns import ColumnSpec

from gan.data import BUILTIN_DATASETS, load_data, read_frame
from gan.errors import GanTuneError
from tests.conftest import make_frame


@pytest.mark.parametrize(
    "name, shape",
    [("iris-setosa", (50, 4)), ("iris", (150, 4)), ("wine", (178, 13)), ("breast-cancer", (569, 30))],
)
def test_builtin_datasets_load(name, shape):
    data = load_data(name)
    assert data.values.shape == shape
    assert data.values.dtype == np.float64
    assert len(data.columns) == shape[1] and len(set(data.columns)) == shape[1]
    assert np.isfinite(data.values).all()  # no missing cells in these tables
    assert all(s.is_numeric for s in data.specs) and data.left_out == {}
    assert data.width == data.n_columns == shape[1]
    assert data.source == name
    assert data.describe().startswith(f"{name}: {shape[0]} rows x {shape[1]} columns")


def test_builtin_list_contains_the_parametrised_datasets():
    # penguins is being added on another branch: listed, not relied on here.
    assert {"iris-setosa", "iris", "wine", "breast-cancer"} <= set(BUILTIN_DATASETS)


def test_iris_setosa_is_the_first_50_iris_rows():
    setosa, iris = load_data("iris-setosa"), load_data("iris")
    np.testing.assert_array_equal(setosa.values, iris.values[:50])
    assert setosa.columns[0] == "sepal length (cm)"
    assert [s.decimals for s in setosa.specs] == [1, 1, 1, 1]  # iris is recorded in mm


def test_wine_integer_columns_are_integers():
    data = load_data("wine")
    kinds = {s.name: s.kind for s in data.specs}
    assert kinds["magnesium"] == "integer" and kinds["proline"] == "integer"
    assert kinds["alcohol"] == "numeric"


@pytest.mark.parametrize("name", ["iris-setosa", "wine", "breast-cancer"])
@pytest.mark.parametrize("encoding", ["minmax", "quantile", "normal"])
def test_encoded_training_rows_are_in_the_heads_range_and_decode_back(name, encoding):
    data = load_data(name, encoding=encoding)
    z = data.train_encoded
    assert z.dtype == np.float32 and z.shape == (len(data.train_idx), data.width)
    linear = list(data.transformer.layout.linear)
    tanh = [i for i in range(data.width) if i not in linear]
    assert z[:, tanh].min(initial=0.0) >= -1.0 and z[:, tanh].max(initial=0.0) <= 1.0
    if encoding == "normal":  # normal scores: standard normal on every column of many values
        assert linear and np.abs(z[:, linear].mean(axis=0)).max() < 0.1
        assert np.abs(z[:, linear].std(axis=0) - 1.0).max() < 0.2
    assert (z.min(axis=0) < -0.5).all() and (z.max(axis=0) > 0.5).all()  # spread, not collapsed
    back = data.transformer.decode(z)
    # Values recorded to a precision come back exactly where float32 resolves the recording
    # cells (at most 10,000 cells per column here: see test_transform's price-column test for
    # what happens beyond); every value comes back within one recording cell (or to float32
    # resolution of the range where no precision was found).
    exact = [j for j, s in enumerate(data.specs)
             if s.decimals is not None and (s.high - s.low) * 10**s.decimals <= 10_000]
    assert exact
    # A value off its column's grid (at most 1 %: wine has one 9.899999 among colour
    # intensities recorded to 2 decimals) comes back rounded onto the grid.
    on_grid = np.column_stack([np.round(data.train_values[:, j], data.specs[j].decimals) for j in exact])
    np.testing.assert_array_equal(back[:, exact], on_grid)
    for j, spec in enumerate(data.specs):
        cell = 10.0 ** -spec.decimals if spec.decimals is not None else 0.0
        # quantile: steep CDF gaps amplify float32 rounding; normal: measured up to 1.01e-5 x range
        # on breast-cancer's concavity error (no recorded precision, many zeros)
        tol = cell * (1 + 1e-6) + (2e-5 if encoding == "normal" else 1e-5) * (spec.high - spec.low)
        assert np.abs(back[:, j] - data.train_values[:, j]).max() <= tol, spec.name


def test_minmax_encoding_of_full_precision_columns_maps_min_max_to_minus_one_one(tmp_path):
    path = tmp_path / "t.csv"
    make_frame(40, 3).to_csv(path, index=False)  # full-precision floats: no dequantisation
    data = load_data(path, encoding="minmax")
    assert [s.decimals for s in data.specs] == [None, None, None]
    lo, hi = data.values.min(axis=0), data.values.max(axis=0)
    z = data.train_encoded
    np.testing.assert_allclose(z, (data.values - lo) / (hi - lo) * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(z.min(axis=0), -1.0, atol=1e-6)
    np.testing.assert_allclose(z.max(axis=0), 1.0, atol=1e-6)


def test_constant_column_is_kept_without_division_by_zero(tmp_path, caplog):
    frame = make_frame(40, 3)
    frame["k"] = 7.25
    path = tmp_path / "const.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (divide by zero) would fail here
        for encoding in ("minmax", "quantile", "normal"):
            with caplog.at_level(logging.WARNING, logger="gan.data"):
                data = load_data(path, encoding=encoding)
            z = data.train_encoded
            back = data.transformer.decode(np.random.default_rng(0).uniform(-1, 1, size=(25, 4)))
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
    np.testing.assert_allclose(a.values, b.values, rtol=1e-15)
    np.testing.assert_array_equal(b.values, frame.to_numpy())
    assert a.specs == b.specs


def test_columns_selection_keeps_the_given_order(csv_100):
    data = load_data(csv_100, columns=["x3", "x1"])
    frame = pd.read_csv(csv_100)
    assert data.columns == ["x3", "x1"]
    np.testing.assert_array_equal(data.values, frame[["x3", "x1"]].to_numpy())


def test_text_and_bool_columns_are_modelled_as_categories(tmp_path, caplog):
    # They were dropped before real-table support; now they are categorical columns.
    frame = make_frame(40, 2)
    frame["label"] = ["a", "b"] * 20
    frame["flag"] = [True, False] * 20
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        data = load_data(path)
    assert data.columns == ["x0", "x1", "label", "flag"]
    assert [s.kind for s in data.specs] == ["numeric", "numeric", "categorical", "categorical"]
    assert data.specs[2].categories == ("a", "b") and data.specs[3].categories == (False, True)
    assert caplog.text == ""  # nothing left out, nothing to warn about
    np.testing.assert_array_equal(data.values[:, 2], [0, 1] * 20)
    out = data.frame()
    assert out["label"].tolist() == frame["label"].tolist() and out["flag"].tolist() == frame["flag"].tolist()


def test_identifier_columns_are_left_out_with_a_warning(tmp_path, caplog):
    frame = make_frame(40, 2)
    frame.insert(0, "id", np.arange(1, 41))
    frame["note"] = [f"row {i}" for i in range(40)]
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        data = load_data(path)
    assert data.columns == ["x0", "x1"]
    assert set(data.left_out) == {"id", "note"}
    assert "leaving out column 'id': identifier" in caplog.text and "'note'" in caplog.text


def test_missing_values_are_modelled_not_refused(tmp_path):
    frame = make_frame(30, 3)
    frame.loc[[2, 5], "x1"] = np.nan
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    data = load_data(path)
    assert len(data.values) == 30
    assert np.isnan(data.values[:, 1]).sum() == 2 and data.specs[1].missing == pytest.approx(2 / 30)
    assert np.isfinite(data.train_encoded).all()
    assert data.width == 3 + 2  # the missing indicator block of x1


def test_dropna_drops_exactly_the_bad_rows(tmp_path, caplog):
    frame = make_frame(30, 3)
    frame.loc[[2, 5], "x1"] = np.nan
    frame.loc[9, "x2"] = np.inf
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        data = load_data(path, dropna=True)
    assert len(data.values) == 27
    np.testing.assert_allclose(data.values, frame.drop(index=[2, 5, 9]).to_numpy())
    assert all(s.missing == 0 for s in data.specs) and data.width == 3
    assert "dropped 3 row(s)" in caplog.text


def test_holdout_is_seeded_and_excluded_from_training():
    a = load_data("iris", holdout=0.2, seed=1)
    b = load_data("iris", holdout=0.2, seed=1)
    c = load_data("iris", holdout=0.2, seed=2)
    assert len(a.holdout_idx) == 30 and len(a.train_idx) == 120
    np.testing.assert_array_equal(a.holdout_idx, b.holdout_idx)
    assert not np.array_equal(a.holdout_idx, c.holdout_idx)
    assert not set(a.holdout_idx) & set(a.train_idx)
    np.testing.assert_array_equal(a.holdout_values, a.values[a.holdout_idx])
    assert len(a.train_encoded) == 120
    # The transformer is fitted on training rows only.
    for j, name in enumerate(a.columns):
        assert a.transformer.bounds[name] == (a.train_values[:, j].min(), a.train_values[:, j].max())
    assert a.transformer.bounds != load_data("iris").transformer.bounds


def test_read_frame_returns_builtin_by_name():
    frame, where = read_frame("wine")
    assert where == "wine" and frame.shape == (178, 13)


def test_numbers_with_thousands_separators_are_read_as_numbers_and_nothing_else(tmp_path):
    """A spreadsheet's "12,345.67" was text to pandas, so the column was left out as an
    identifier. Read as numbers only when every value is a plain or a grouped-in-threes number:
    pandas' own thousands="," would turn "1,2" into 12."""
    frame = pd.DataFrame({
        "income": ["1,234.5", "12", None, " -3,000 "] * 10,
        "pair": ["1,2", "3", "4", "5"] * 10,
        "mixed": ["1,234", "abc", "1", "2"] * 10,
        "age": [20, 31, 45, 52] * 10,
    })
    frame.to_csv(tmp_path / "t.csv", index=False)
    read, _ = read_frame(tmp_path / "t.csv")
    assert read["income"].dtype.kind == "f"
    assert read["income"].tolist()[:4] == [1234.5, 12.0, pytest.approx(np.nan, nan_ok=True), -3000.0]
    assert read["pair"].tolist()[:4] == ["1,2", "3", "4", "5"] and read["mixed"].tolist()[1] == "abc"
    data = load_data(tmp_path / "t.csv", quiet=True)
    assert "income" in data.columns and next(s for s in data.specs if s.name == "income").is_numeric


@pytest.mark.parametrize("sep", ["\t", "|", ";"])
def test_tab_pipe_and_semicolon_separated_files_are_read_like_comma_separated_ones(tmp_path, sep):
    frame = make_frame(60, 3).assign(city=["Oslo", "Bergen", None] * 20)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep=sep)
    pd.testing.assert_frame_equal(read_frame(tmp_path / "t.tsv")[0], read_frame(tmp_path / "c.csv")[0])


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_comma_files_are_read_as_the_same_numbers(tmp_path, sep):
    """A spreadsheet in a decimal-comma locale saves ';' files with "3,75" (pandas'
    decimal=","): the same table as its ',' file, numbers, recorded precision and all."""
    frame = make_frame(60, 3).round(2).assign(city=["Oslo", "Bergen, Nord", None] * 20)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_csv(tmp_path / "d.csv", index=False, sep=sep, decimal=",")
    assert "," in (tmp_path / "d.csv").read_text().splitlines()[1]  # the file does hold decimal commas
    pd.testing.assert_frame_equal(read_frame(tmp_path / "d.csv")[0], read_frame(tmp_path / "c.csv")[0])
    comma, dot = load_data(tmp_path / "d.csv", quiet=True), load_data(tmp_path / "c.csv", quiet=True)
    assert [s.to_dict() for s in comma.specs] == [s.to_dict() for s in dot.specs]
    assert next(s for s in comma.specs if s.name == "x0").decimals == 2


def test_semicolon_files_read_grouped_numbers_quoted_names_and_dot_decimals(tmp_path):
    (tmp_path / "prices.csv").write_text(
        '"Preis (EUR, brutto)";Menge;Stadt;Anteil\n'
        '"1.234,50";3;Köln;1.5\n'
        '12,00;4;"Berlin, Mitte";2.25\n'
        ';5;Bonn;\n'
        '" 7,5 ";6;Köln;3\n', encoding="utf-8")
    read, _ = read_frame(tmp_path / "prices.csv")
    assert list(read.columns) == ["Preis (EUR, brutto)", "Menge", "Stadt", "Anteil"]
    assert read["Preis (EUR, brutto)"].tolist()[:2] == [1234.5, 12.0] and read["Preis (EUR, brutto)"].iloc[3] == 7.5
    assert read["Stadt"].tolist()[1] == "Berlin, Mitte"
    # a dot-decimal column in a decimal-comma file: "1.5" is no thousands grouping, so it stays text
    assert read["Anteil"].tolist()[0] == "1.5"
    (tmp_path / "dots.csv").write_text("a;b\n1.5;2\n2.25;3\n", encoding="utf-8")
    assert read_frame(tmp_path / "dots.csv")[0]["a"].tolist() == [1.5, 2.25]  # no decimal commas: dots


def test_a_tab_file_of_thousands_groupings_keeps_them(tmp_path):
    """Only a comma number that cannot be a grouping ("2,5") makes a tab file decimal-comma."""
    (tmp_path / "t.tsv").write_text("a\tb\n1,500\t2\n2,000\t3\n")
    assert read_frame(tmp_path / "t.tsv")[0]["a"].tolist() == [1500, 2000]
    (tmp_path / "u.tsv").write_text("a\tb\n1,500\t2,5\n2,000\t3\n")
    assert read_frame(tmp_path / "u.tsv")[0].to_dict("list") == {"a": [1.5, 2.0], "b": [2.5, 3.0]}


def test_windows_1252_and_utf16_files_are_read_as_their_utf8_twins(tmp_path):
    """Excel on Windows saves CSV files in Windows-1252 ("K\\xf6ln") and "Unicode Text" as
    UTF-16 with tabs; both were refused as binary content."""
    frame = make_frame(40, 2).round(2).assign(stadt=["Köln", "München", "Düsseldorf", None] * 10)
    frame.to_csv(tmp_path / "utf8.csv", index=False, sep=";", decimal=",")
    frame.to_csv(tmp_path / "ansi.csv", index=False, sep=";", decimal=",", encoding="cp1252")
    frame.to_csv(tmp_path / "unicode.txt", index=False, sep="\t", encoding="utf-16")
    assert b"K\xf6ln" in (tmp_path / "ansi.csv").read_bytes()
    want, _ = read_frame(tmp_path / "utf8.csv")
    for name, fmt in (("ansi.csv", {"sep": ";", "decimal": ",", "encoding": "cp1252"}),
                      ("unicode.txt", {"sep": "\t", "decimal": ".", "encoding": "utf-16"})):
        got, _ = read_frame(tmp_path / name)
        assert got.attrs["csv_format"] == fmt
        assert got.drop(columns="stadt").equals(want.drop(columns="stadt")) and got["stadt"].tolist()[:3] == ["Köln", "München", "Düsseldorf"]


def test_a_file_not_utf8_past_its_first_mebibyte_is_read_as_windows_1252(tmp_path):
    rows = "\n".join(f"{i};{i % 7},5;plain" for i in range(80_000))
    path = tmp_path / "late.csv"
    path.write_bytes(b"n;x;word\n" + rows.encode() + b"\n80000;1,5;K\xf6ln\n")
    assert path.stat().st_size > 1 << 20
    frame, _ = read_frame(path)
    assert frame["word"].iloc[-1] == "Köln" and frame["x"].iloc[-1] == 1.5 and frame.attrs["csv_format"]["encoding"] == "cp1252"
    # the same with a UTF-8 byte-order mark in front (read as UTF-8 first, then as Windows-1252)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame, _ = read_frame(path)
    assert list(frame.columns) == ["n", "x", "word"] and frame["word"].iloc[-1] == "Köln"


def test_a_spreadsheet_format_is_announced_once_per_run(tmp_path, caplog):
    """`gantune tune` reads the table twice (the run, then its export): the "read as ..." line
    comes with the first read only (the export's is quiet)."""
    make_frame(40, 2).round(2).to_csv(tmp_path / "s.csv", index=False, sep=";", decimal=",")
    with caplog.at_level(logging.INFO, logger="gan"):
        load_data(tmp_path / "s.csv")
        load_data(tmp_path / "s.csv", quiet=True)
    said = [r.getMessage() for r in caplog.records if "read as" in r.getMessage()]
    assert said == [f"{tmp_path / 's.csv'}: read as ';'-separated, decimal commas"]


def test_numbers_with_a_currency_or_percent_sign_are_read_as_numbers_and_keep_the_sign(tmp_path):
    """Spreadsheets export formatted cells as "$1,234.50" or "12,50 €": such a money column was
    left out as free text. Read as numbers where every value carries the same sign; the sign is
    kept for writing generated rows (ColumnSpec.written)."""
    (tmp_path / "us.csv").write_text(
        'amount,share,mixed,word\n"$1,234.50",15%,$5,$5\n-$5.00,7.5%,€5,abc\n$0.99,,$1,$2\n,100%,$2,$3\n')
    frame, _ = read_frame(tmp_path / "us.csv")
    assert frame["amount"].tolist()[:3] == [1234.5, -5.0, 0.99] and math.isnan(frame["amount"].iloc[3])
    assert frame["share"].tolist()[:2] == [15.0, 7.5] and frame["share"].iloc[3] == 100.0
    assert frame["mixed"].tolist() == ["$5", "€5", "$1", "$2"] and frame["word"].tolist()[1] == "abc"  # not one sign / not numbers
    assert frame.attrs["affixes"] == {"amount": {"prefix": "$", "suffix": "", "grouped": True, "decimal_mark": "."},
                                      "share": {"prefix": "", "suffix": "%", "grouped": False, "decimal_mark": "."}}
    (tmp_path / "de.csv").write_text("preis;n\n12,55 €;1\n1.234,01 €;2\n-3,15 €;3\n", encoding="utf-8")
    frame, _ = read_frame(tmp_path / "de.csv")
    assert frame["preis"].tolist() == [12.55, 1234.01, -3.15]
    preis = load_data(tmp_path / "de.csv", quiet=True).specs[0]
    assert preis.written(1234.5) == "1.234,50 €" and "written 1.234,01 €" in preis.describe()
    rows = pd.DataFrame({"amount": np.round(np.linspace(-50, 5000, 60), 2), "x": np.arange(60) * 1.5})
    rows.assign(amount=[f"-${-v:,.2f}" if v < 0 else f"${v:,.2f}" for v in rows["amount"]]).to_csv(tmp_path / "m.csv", index=False)
    data = load_data(tmp_path / "m.csv", quiet=True)
    spec = data.specs[0]
    assert (spec.kind, spec.decimals, spec.prefix, spec.grouped) == ("numeric", 2, "$", True)
    assert [spec.written(v) for v in (1234.5, -5, 0.5)] == ["$1,234.50", "-$5.00", "$0.50"]
    assert spec.written(1234.5, decimal=",") == "$1.234,50" and "written $5,000.00" in spec.describe()


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
def test_thousands_grouped_with_a_space_are_numbers_and_written_back_so(tmp_path, space):
    """French and SI exports group thousands with a space (Excel's fr-FR: a no-break or narrow
    no-break one): "19 687,05 €" was left out as an identifier (every value distinct). Read as
    numbers, with or without a sign; the money column writes its space back; a phone number's
    pairs of digits stay text."""
    g = space
    lines = [f"revenu;montant;tel", f"19{g}687,05 €;1{g}234{g}567,5;06 12 34 56 78", f"812,40 €;12,25;07 11 22 33 44",
             f"-1{g}000,00 €;3{g}000;06 98 76 54 32"]
    (tmp_path / "fr.csv").write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    frame, _ = read_frame(tmp_path / "fr.csv")
    assert frame["revenu"].tolist() == [19687.05, 812.4, -1000.0]
    assert frame["montant"].tolist() == [1234567.5, 12.25, 3000.0]
    assert frame["tel"].tolist()[0] == "06 12 34 56 78"
    assert frame.attrs["affixes"]["revenu"] == {"prefix": "", "suffix": " €", "grouped": True, "decimal_mark": ",", "group_mark": g}
    rows = pd.DataFrame({"revenu": np.round(np.linspace(-500, 250000, 80), 2), "n": np.arange(80) * 1.5})
    text = [f"{v:,.2f}".replace(",", "X").replace(".", ",").replace("X", g) + " €" for v in rows["revenu"]]
    rows.assign(revenu=text).to_csv(tmp_path / "m.csv", index=False, sep=";", decimal=",")
    spec = load_data(tmp_path / "m.csv", quiet=True).specs[0]
    assert (spec.kind, spec.grouped, spec.group_mark) == ("numeric", True, g)
    assert spec.written(1234567.5) == f"1{g}234{g}567,50 €"
    assert ColumnSpec.from_dict(spec.to_dict()) == spec
    # Decimal commas sniffed through the grouping: a file whose only such cells are grouped.
    (tmp_path / "big.csv").write_bytes(f"revenu;n\n19{g}687,05 €;1\n2{g}812,40 €;2\n".encode("utf-8"))
    assert read_frame(tmp_path / "big.csv")[0]["revenu"].tolist() == [19687.05, 2812.4]


def test_compressed_csv_files_are_read_as_the_plain_file(tmp_path):
    """Large tables are often kept compressed: .csv.gz, .bz2, .xz and a .zip of one file are read
    as the plain file (its separator, decimal commas and encoding sniffed through the
    decompression); a .zip of several files is one clear error."""
    import bz2, gzip, lzma, zipfile

    frame = make_frame(60, 2).round(3).assign(stadt=["Köln", "Bonn", None] * 20)
    text = frame.to_csv(index=False, sep=";", decimal=",").encode("cp1252")
    (tmp_path / "plain.csv").write_bytes(text)
    want, _ = read_frame(tmp_path / "plain.csv")
    assert want.attrs["csv_format"] == {"sep": ";", "decimal": ",", "encoding": "cp1252"}
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text))
    (tmp_path / "t.csv.bz2").write_bytes(bz2.compress(text))
    (tmp_path / "t.csv.xz").write_bytes(lzma.compress(text))
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        z.writestr("export/t.csv", text)
    for name in ("t.csv.gz", "t.csv.bz2", "t.csv.xz", "t.zip"):
        got, where = read_frame(tmp_path / name)
        assert got.equals(want) and got.attrs["csv_format"] == want.attrs["csv_format"], name
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.csv", text)
        z.writestr("b.csv", text)
    with pytest.raises(GanTuneError, match=r"two.zip: a .zip archive of 2 files; it must hold exactly one CSV file"):
        read_frame(tmp_path / "two.zip")


def test_a_list_in_a_semicolon_file_does_not_make_its_numbers_decimal_commas(tmp_path):
    """Only a currency or percent sign (and the space beside it) is looked through when sniffing
    decimal commas: "1, 2" (a list written in one cell) is not the number 1,2."""
    (tmp_path / "l.csv").write_text("a;tags\n1.5;1, 2\n2.5;3, 4\n")
    frame, _ = read_frame(tmp_path / "l.csv")
    assert frame["a"].tolist() == [1.5, 2.5] and frame["tags"].tolist() == ["1, 2", "3, 4"]
    assert frame.attrs.get("csv_format", {}).get("decimal", ".") == "."
