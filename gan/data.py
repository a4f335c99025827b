"""Loading, validating and scaling tabular data.

Sources are the built-in datasets (scikit-learn's bundled copies, no network) or CSV / Parquet
files read with pandas. Every problem a user can fix raises `GanTuneError` naming the file, the
column and the fix.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import logging
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np
import pandas as pd

from gan.columns import ColumnPlan, ColumnSpec, infer_columns, load_metadata
from gan.errors import GanTuneError
from gan.transform import TableTransformer

log = logging.getLogger(__name__)

DEFAULT_DATA = "iris-setosa"
BUILTIN_DATASETS = ("iris-setosa", "iris", "wine", "breast-cancer", "penguins")
PARQUET_SUFFIXES = (".parquet", ".pq")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def _load_builtin(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name in ("iris", "iris-setosa"):
        bunch = datasets.load_iris(as_frame=True)
        frame = bunch.data
        if name == "iris-setosa":
            frame = frame[bunch.target.to_numpy() == 0]
    elif name == "penguins":
        # Palmer penguins (Horst, Hill & Gorman, CC0): 344 rows, numeric, integer and
        # categorical columns with missing values. Ships with the package (gan/datasets/).
        from importlib.resources import files

        with files("gan").joinpath("datasets", "penguins.csv").open("rb") as fh:
            return pd.read_csv(fh)
    elif name == "wine":
        frame = datasets.load_wine(as_frame=True).data
    else:
        frame = datasets.load_breast_cancer(as_frame=True).data
    return frame.reset_index(drop=True)


@dataclass
class TabularData:
    """A table ready for the GAN: the value matrix of every row, its transformer, the split.

    `values` (rows x columns, float64) holds every row, training and held out; numeric cells are
    the values themselves, categorical cells the label's index, missing cells NaN (see
    `gan.transform`). The transformer was fitted on the training rows.
    """

    source: str
    transformer: TableTransformer
    values: np.ndarray  # (n_rows, n_columns)
    holdout_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    left_out: dict[str, str] = field(default_factory=dict)
    seed: int = 0  # seeds the dequantisation and missing fill of the encoded training rows
    options: dict[str, Any] = field(default_factory=dict)  # load_data's options, for the record
    csv_format: dict[str, str] = field(default_factory=dict)  # a CSV's separator and decimal mark when not ',' / '.'
    _encoded: np.ndarray | None = field(default=None, repr=False, compare=False)
    _scorer: Any = field(default=None, repr=False, compare=False)
    _reference: Any = field(default=None, repr=False, compare=False)
    _new_sample: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def columns(self) -> list[str]:
        return self.transformer.columns

    @property
    def specs(self) -> list[ColumnSpec]:
        return self.transformer.specs

    @property
    def n_columns(self) -> int:
        return self.transformer.n_columns

    @property
    def width(self) -> int:
        """Width of an encoded row (G's output, D's input)."""
        return self.transformer.width

    @property
    def n_rows(self) -> int:
        return len(self.values)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the table a model is trained on: its rows and columns, a SHA-256 of
        every value, the held-out rows and the column types as fitted (so a changed metadata
        file counts too). A tuning run records it, and `--resume` / export refuse another table."""
        import hashlib
        import json

        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.values, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.holdout_idx, dtype=np.int64).tobytes())
        h.update(json.dumps([s.to_dict() for s in self.specs], sort_keys=True, default=str).encode())
        return {"rows": int(self.n_rows), "columns": list(self.columns), "sha256": h.hexdigest()}

    @property
    def train_idx(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.values)), self.holdout_idx)

    @property
    def train_values(self) -> np.ndarray:
        return self.values[self.train_idx] if len(self.holdout_idx) else self.values

    @property
    def holdout_values(self) -> np.ndarray:
        return self.values[self.holdout_idx]

    @property
    def train_encoded(self) -> np.ndarray:
        """Training rows encoded, float32 (n_train, width): what the GAN learns from."""
        if self._encoded is None:
            self._encoded = self.transformer.encode(self.train_values, seed=self.seed)
        return self._encoded

    @property
    def scorer(self):
        """`gan.metrics.Scorer` against the training rows (built once, then reused)."""
        if self._scorer is None:
            from gan.metrics import Scorer

            self._scorer = Scorer(self.transformer, self.train_values)
        return self._scorer

    @property
    def reference(self):
        """`gan.fidelity.RealReference` of the training (and held-out) rows, built once."""
        if self._reference is None:
            from gan.fidelity import RealReference

            holdout = self.holdout_values if len(self.holdout_idx) else None
            self._reference = RealReference(self.transformer, self.train_values, holdout, seed=0)
        return self._reference

    def new_sample(self, n: int) -> dict[str, Any]:
        """What a new sample of the table's population scores against the training rows, `n`
        generated rows a draw (`gan.metrics.new_sample_scores`: mean, 5 and 95 % points, draws);
        computed once per `n` (an export scores several candidates against it)."""
        if n not in self._new_sample:
            from gan.metrics import new_sample_scores

            floor = new_sample_scores(self.transformer, self.train_values, n, seed=0)
            self._new_sample[n] = {"wd_mean": float(floor.mean()), "low": float(np.percentile(floor, 5)),
                                   "high": float(np.percentile(floor, 95)), "draws": len(floor)}
        return dict(self._new_sample[n])

    @property
    def constant_columns(self) -> list[str]:
        t = self.transformer
        return [s.name for j, s in enumerate(t.specs) if s.is_numeric and t.bounds[s.name][0] == t.bounds[s.name][1]]

    def frame(self, values: np.ndarray | None = None) -> pd.DataFrame:
        """A value matrix (default: every row) as a frame with the original labels and dtypes."""
        return self.transformer.to_frame(self.values if values is None else values)

    def describe(self) -> str:
        kinds: dict[str, int] = {}
        for s in self.specs:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        text = f"{self.source}: {self.n_rows} rows x {self.n_columns} columns ({', '.join(f'{v} {k}' for k, v in kinds.items())})"
        if len(self.holdout_idx):
            text += f", {len(self.holdout_idx)} rows held out"
        return text


SEPARATORS = (",", ";", "\t", "|")


# Compressed CSV files, as large tables are often kept ("orders.csv.gz"): pandas reads them by
# their suffix; the sniffing below reads them through the same decompression.
COMPRESSED_SUFFIXES = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _open_raw(path: Path) -> IO[bytes]:
    """`path`'s bytes, decompressed by its suffix (.gz, .bz2, .xz, or a .zip of one file)."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:
        return COMPRESSED_SUFFIXES[suffix](path, "rb")
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            archive.close()
            raise GanTuneError(f"{path}: a .zip archive of {len(names)} files; it must hold exactly one CSV file")
        return archive.open(names[0])
    return path.open("rb")


def _open_text(path: Path, encoding: str) -> IO[str]:
    return io.TextIOWrapper(_open_raw(path), encoding=encoding, newline="")


def _separator(path: Path, encoding: str = "utf-8") -> str:
    """The separator that splits the header line into the most fields (quotes honoured, so a
    ';' header with a comma inside a quoted name is still ';'); ',' on a tie or a header of
    one field."""
    try:
        with _open_text(path, encoding) as fh:
            header = fh.readline()
    except (UnicodeDecodeError, OSError):
        return ","  # reported by the parser
    counts = {}
    for sep in SEPARATORS:
        try:
            counts[sep] = len(next(csv.reader([header], delimiter=sep), []))
        except csv.Error:
            counts[sep] = 0
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # first (',') on a tie
    return best if counts[best] > 1 else ","


# Decimal commas ("3,75"), as spreadsheets write numbers in locales whose CSV files separate
# fields with ';'. A ';' file whose first lines hold such a number is read with pandas'
# decimal=","; a tab or '|' file only when some such number cannot be a thousands grouping
# ("3,75", not "3,750", which stays 3750 as in a ',' file's quoted cells).
# (The integer part may be grouped with spaces, as French exports write: "19 687,05".)
# Spaces that group thousands: a plain one, and the no-break (U+00A0) and narrow no-break
# (U+202F) ones of Excel's French exports.
_SPACES = " \u00a0\u202f"
_COMMA_NUMBER = re.compile(rf"\s*[+-]?(?:\d{{1,3}}(?:[{_SPACES}]\d{{3}})+|\d*),\d+\s*")
_COMMA_DECIMAL = re.compile(rf"\s*[+-]?(?:\d{{1,3}}(?:[{_SPACES}]\d{{3}})+|\d*),(?:\d{{1,2}}|\d{{4,}})\s*")
DECIMAL_SNIFF_LINES = 1000


# Currency signs a number may carry before it ("$1,234.50"; "€" also after it, "12,50 €").
_CURRENCY = "$\u20ac\u00a3\u00a5"
# A currency or percent sign and the space beside it: "12,50 €" is a decimal comma too (other
# spaces stay: "1, 2" is not one).
_SIGNS = re.compile(rf"\s?[{_CURRENCY}%]\s?")


def _decimal_mark(path: Path, sep: str, encoding: str = "utf-8") -> str:
    """',' when the file (judged on its first DECIMAL_SNIFF_LINES lines) writes decimal commas,
    else '.'."""
    if sep == ",":
        return "."
    pattern = _COMMA_NUMBER if sep == ";" else _COMMA_DECIMAL
    try:
        with _open_text(path, encoding) as fh:
            for i, row in enumerate(csv.reader(fh, delimiter=sep)):
                if i and any(pattern.fullmatch(_SIGNS.sub("", cell)) for cell in row):
                    return ","
                if i >= DECIMAL_SNIFF_LINES:
                    break
    except (UnicodeDecodeError, OSError, csv.Error):
        pass  # reported by the parser
    return "."


def csv_format_text(sep: str, decimal: str, encoding: str = "utf-8") -> str:
    """A CSV format in words: "';'-separated, decimal commas, Windows-1252 text"."""
    words = [f"{'tab' if sep == chr(9) else repr(sep)}-separated"] + (["decimal commas"] if decimal == "," else [])
    return ", ".join(words + ([ENCODING_NAMES.get(encoding, encoding + " text")] if encoding != "utf-8" else []))


# Text encodings a CSV is read in: UTF-8, UTF-8 with a byte-order mark (Excel's "CSV UTF-8";
# kept, so that generated rows carry it too and Excel reads their umlauts), UTF-16 with its mark
# (Excel's "Unicode Text"), and Windows-1252 for any other text that is not UTF-8 (Excel on
# Windows saves CSV files in it: "K\xf6ln" for "Köln").
ENCODING_NAMES = {"utf-8": "UTF-8 text", "utf-8-sig": "UTF-8 text with a byte-order mark", "utf-16": "UTF-16 text",
                  "cp1252": "Windows-1252 text"}


def _text_encoding(path: Path) -> str:
    """The encoding to read `path` in, judged on its first MiB; GanTuneError for binary content."""
    with _open_raw(path) as fh:
        head = fh.read(1 << 20)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    bom = head.startswith(codecs.BOM_UTF8)
    if b"\x00" in head:
        raise GanTuneError(f"{path}: not a text CSV file (binary content?); pass a CSV or .parquet file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _read_csv(path: Path, encoding: str, na_values: Sequence[str] | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """pandas' read_csv with the separator and decimal mark the file uses, and that format."""
    sep = _separator(path, encoding)
    _check_duplicate_header(path, sep, encoding)
    decimal = _decimal_mark(path, sep, encoding)
    frame = pd.read_csv(path, sep=sep, decimal=decimal, encoding=encoding, na_values=list(na_values) if na_values else None,
                        low_memory=False)
    return _grouped_numbers(frame, decimal), {"sep": sep, "decimal": decimal, "encoding": encoding}


# Numbers written with thousands separators ("12,345.67", as spreadsheets export them; "12.345,67"
# in a decimal-comma file) are text to pandas, and such a column would be left out as an
# identifier. pandas' own `thousands=","` reads "1,2" as 12 without a word; by hand, a text column
# is read as numbers only when every value is a plain number or one grouped in threes, and at
# least one is grouped.
# The grouping mark is the other one than the decimal mark (1,234.50 / 1.234,50), or one of
# _SPACES (French and SI style write 1 234,50); one mark throughout a value.
_NUMBER_FORMS = {  # decimal mark -> (grouped, plain)
    ".": (re.compile(rf"[+-]?\d{{1,3}}([,{_SPACES}])\d{{3}}(?:\1\d{{3}})*(?:\.\d+)?"), re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")),
    ",": (re.compile(rf"[+-]?\d{{1,3}}([.{_SPACES}])\d{{3}}(?:\1\d{{3}})*(?:,\d+)?"), re.compile(r"[+-]?(?:\d+(?:,\d*)?|,\d+)")),
}


def _number_kinds(text: pd.Series, decimal: str = ".") -> pd.Series | None:
    """Per value of `text`: True where a number grouped in threes, False where a plain number;
    None when some value is neither (or not a string)."""
    if not all(isinstance(v, str) for v in text):
        return None
    grouped_form, plain_form = _NUMBER_FORMS[decimal]
    text = text.str.strip()
    grouped = text.str.fullmatch(grouped_form.pattern)
    return grouped if bool((grouped | text.str.fullmatch(plain_form.pattern)).all()) else None


# Numbers written with a currency or percent sign ("$1,234.50", "-$5.00", "12,50 €", "15%"), as
# spreadsheets export formatted cells, are text to pandas: a money column was left out as free
# text ("text with 2734 distinct values"). Read as numbers where every value carries the same
# sign in the same place; the sign is kept (ColumnSpec.prefix / suffix, frame.attrs["affixes"]),
# so that generated rows are written the same way (gan.columns.written_values).
_AFFIXED = re.compile(rf"(?P<neg>[-\u2212]?)(?P<pre>[{_CURRENCY}]?)\s?(?P<num>[-+]?\d[\d.,{_SPACES}]*\d|[-+]?[\d.,]+)(?P<suf>\s?[%\u20ac]?)")


def _affixed_numbers(text: pd.Series, decimal: str = ".") -> tuple[pd.Series, dict[str, Any]] | None:
    """The numbers of `text` (str values, none missing) and how they were written ({"prefix",
    "suffix", "grouped", "decimal_mark"}, and "group_mark" where a space grouped them: the
    ColumnSpec fields of the same names), where every value is a number with the same currency
    or percent sign; else None."""
    if not all(isinstance(v, str) for v in text):
        return None
    parts = text.str.strip().str.extract(f"^{_AFFIXED.pattern}$")
    if parts["num"].isna().any():
        return None
    pre, suf = set(parts["pre"]), set(parts["suf"])
    if len(pre) != 1 or len(suf) != 1 or pre == suf == {""}:
        return None
    kinds = _number_kinds(parts["num"], decimal)
    if kinds is None:
        return None
    numbers = _plain_numbers(parts["num"], decimal)
    numbers[parts["neg"] != ""] *= -1
    how = {"prefix": pre.pop(), "suffix": suf.pop(), "grouped": bool(kinds.any()), "decimal_mark": decimal}
    if kinds.any():  # a space as the grouping mark is written back as it was (1 234,50 €)
        mark = _NUMBER_FORMS[decimal][0].fullmatch(parts["num"][kinds].iloc[0].strip()).group(1)
        if mark in _SPACES:
            how["group_mark"] = mark
    return numbers, how


def _plain_numbers(text: pd.Series, decimal: str) -> pd.Series:
    """Numbers of `text` whose values `_number_kinds` accepted: thousands groupings dropped,
    a decimal comma read as a point."""
    plain = text.str.strip().str.replace(f"[{',' if decimal == '.' else '.'}{_SPACES}]", "", regex=True)
    return pd.to_numeric(plain.str.replace(",", ".", regex=False) if decimal == "," else plain)


def _grouped_numbers(frame: pd.DataFrame, decimal: str = ".") -> pd.DataFrame:
    """`frame` with its text columns of thousands-grouped numbers, or numbers with a currency or
    percent sign, read as numbers (the signs kept in frame.attrs["affixes"])."""
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind in "biufcmM":
            continue
        text = col.dropna()
        if len(text) and _affixed_numbers(text.iloc[:1000], decimal) is not None:
            got = _affixed_numbers(text, decimal)
            if got is not None:
                frame[name] = pd.Series(np.nan, index=frame.index).where(col.isna(), got[0].reindex(frame.index))
                frame.attrs.setdefault("affixes", {})[name] = got[1]
                continue
        if not len(text) or _number_kinds(text.iloc[:1000], decimal) is None:  # most text columns fail on their first rows
            continue
        kinds = _number_kinds(text, decimal)
        if kinds is not None and kinds.any():
            frame[name] = _plain_numbers(col, decimal)
    return frame


def _check_duplicate_header(path: Path, sep: str = ",", encoding: str = "utf-8") -> None:
    # pandas renames duplicated CSV headers to "a.1"; read the raw header to catch them.
    try:
        with _open_text(path, encoding) as fh:
            header = next(csv.reader(fh, delimiter=sep), [])
    except (UnicodeDecodeError, csv.Error):
        return  # reported by the parser below
    seen, dups = set(), []
    for name in header:
        if name in seen and name not in dups:
            dups.append(name)
        seen.add(name)
    if dups:
        raise GanTuneError(f"{path}: duplicated column name(s) {', '.join(map(repr, dups))}; rename them so each column is unique")


def read_frame(source: str | Path | pd.DataFrame, *, na_values: Sequence[str] | None = None,
               quiet: bool = False) -> tuple[pd.DataFrame, str]:
    """Read a built-in dataset name or a CSV/Parquet path into a DataFrame (a DataFrame is
    taken as it is, copied, and named "DataFrame" in messages).

    `na_values`: extra strings that mark a missing cell in a CSV (pandas' defaults -- empty,
    NA, NaN, null, ... -- always count).
    `quiet`: no "read as ';'-separated ..." line (a second read of a table already announced).
    """
    if isinstance(source, pd.DataFrame):  # the Python API (gan.fit, tuning.tune) passes frames
        return _own_frame(source), FRAME_SOURCE
    name = str(source)
    if name in BUILTIN_DATASETS:
        return _load_builtin(name), name
    path = Path(name)
    if not path.exists():
        raise GanTuneError(
            f"data {name!r}: no such file and not a built-in dataset ({', '.join(BUILTIN_DATASETS)}); check the path"
        )
    if path.is_dir():
        raise GanTuneError(f"data {name!r}: is a directory; pass a CSV or Parquet file")
    if path.suffix.lower() in WORKBOOK_SUFFIXES:  # a zip of XML to the sniffers: "no data rows", misleadingly
        raise GanTuneError(f"{path}: a spreadsheet workbook, not a CSV file; save the sheet as CSV (Excel: File > Save As > "
                           "CSV UTF-8) and pass that file")
    if not path.is_file():  # a pipe (`--data <(zcat t.csv.gz)`) reads as empty and cannot be read twice
        raise GanTuneError(f"{path}: not a regular file (a pipe or a device?); save the table to a file and pass its path "
                           "(.csv.gz, .bz2, .xz and .zip files are read as they are)")
    if path.stat().st_size == 0:
        raise GanTuneError(f"{path}: file is empty; it needs a header row and data rows")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            encoding = _text_encoding(path)
            try:
                frame, fmt = _read_csv(path, encoding, na_values)
            except UnicodeDecodeError:
                if encoding not in ("utf-8", "utf-8-sig"):
                    raise
                # Not UTF-8 past the first MiB that _text_encoding judged.
                frame, fmt = _read_csv(path, "cp1252", na_values)
                if encoding == "utf-8-sig":  # its byte-order mark read as Windows-1252 text
                    frame = frame.rename(columns={frame.columns[0]: str(frame.columns[0]).removeprefix("\u00ef\u00bb\u00bf")})
            if fmt != {"sep": ",", "decimal": ".", "encoding": "utf-8"}:
                if not quiet:
                    log.info("%s: read as %s", path, csv_format_text(**fmt))
                frame.attrs["csv_format"] = fmt  # `gantune sample` writes generated rows the same way
    except GanTuneError:
        raise
    except UnicodeDecodeError:
        raise GanTuneError(f"{path}: neither UTF-8 nor Windows-1252 text; save it as UTF-8 CSV, or pass a .parquet file") from None
    except pd.errors.EmptyDataError:
        raise GanTuneError(f"{path}: file is empty; it needs a header row and data rows") from None
    except Exception as exc:  # pandas/pyarrow parser errors, OSError
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        kind = "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"
        raise GanTuneError(f"{path}: cannot be read as {kind} ({first}); check the file's format") from None
    if frame.columns.duplicated().any():
        dups = sorted(set(frame.columns[frame.columns.duplicated()].astype(str)))
        raise GanTuneError(f"{path}: duplicated column name(s) {', '.join(map(repr, dups))}; rename them so each column is unique")
    frame.columns = [str(c) for c in frame.columns]
    return frame, str(path)


FRAME_SOURCE = "DataFrame"


def _own_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A caller's DataFrame as read_frame returns a file's: a copy, unique string column names."""
    if frame.columns.duplicated().any():
        dups = sorted(set(frame.columns[frame.columns.duplicated()].astype(str)))
        raise GanTuneError(f"{FRAME_SOURCE}: duplicated column name(s) {', '.join(map(repr, dups))}; rename them so each column is unique")
    frame = frame.reset_index(drop=True)  # a copy; a filtered frame's index would not start at 0
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():  # e.g. 1 and "1"
        raise GanTuneError(f"{FRAME_SOURCE}: column names are not unique once written as text; rename them")
    return frame


def _split_by(frame: pd.DataFrame) -> str | None:
    """A separator gantune does not read (':' or ' ') that a one-column frame's name and first
    values all hold equally often: a file of several columns, read as one."""
    name = str(frame.columns[0])
    values = [str(v) for v in frame.iloc[:20, 0].dropna()]
    for sep in (":", " "):
        n = name.count(sep)
        if n and values and all(v.count(sep) == n for v in values):
            return sep
    return None


def select_columns(frame: pd.DataFrame, where: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """The named columns (any type), or all of them; checks the table has data rows."""
    if len(frame) == 0:
        raise GanTuneError(f"{where}: no data rows (header only?); the file needs at least 2 rows")
    if not columns:
        if len(frame.columns) == 1 and _split_by(frame):
            raise GanTuneError(f"{where}: one column named {frame.columns[0]!r}: the file seems to use a separator gantune does "
                               "not read; save it with ',', ';', tab or '|' between the values")
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GanTuneError(
            f"{where}: column(s) {', '.join(map(repr, missing))} not found; available: {', '.join(map(str, frame.columns))}"
        )
    return frame[list(columns)]


def plan_columns(frame: pd.DataFrame, where: str, metadata: str | Path | None = None) -> ColumnPlan:
    """Column types of `frame` (inferred, overridden by a metadata file); left-out columns noted.
    Numbers read from text with a currency or percent sign keep that sign in their spec."""
    meta = load_metadata(metadata, list(frame.columns), where) if metadata else None
    plan = infer_columns(frame, where, meta)
    affixes = frame.attrs.get("affixes") or {}
    plan.specs = [replace(s, **affixes[s.name]) if s.name in affixes else s for s in plan.specs]
    return plan


def load_data(
    source: str | Path | pd.DataFrame = DEFAULT_DATA,
    *,
    columns: Sequence[str] | None = None,
    metadata: str | Path | None = None,
    dropna: bool = False,
    holdout: float = 0.0,
    seed: int = 0,
    min_rows: int = 2,
    encoding: str = "auto",
    margin: float = 0.0,
    round_values: bool = True,
    na_values: Sequence[str] | None = None,
    quiet: bool = False,
) -> TabularData:
    """Load a table, decide its column types, split off a seeded holdout, fit the transformer.

    Missing values are modelled; `dropna` drops rows with a missing (or infinite) value in a
    modelled column instead. `holdout` keeps a seeded fraction of rows out of training.
    """
    frame, where = read_frame(source, na_values=na_values, quiet=quiet)
    csv_format = dict(frame.attrs.get("csv_format") or {})
    frame = select_columns(frame, where, columns)
    if dropna:
        numeric = frame.select_dtypes("number").columns
        if len(numeric):
            frame = frame.copy()
            frame[numeric] = frame[numeric].replace([np.inf, -np.inf], np.nan)
    plan = plan_columns(frame, where, metadata)
    if dropna and plan.specs:
        keep = frame[plan.columns].notna().all(axis=1).to_numpy()
        dropped = int((~keep).sum())
        if dropped:
            if keep.sum() < min_rows:  # one error, not a warning followed by an error
                raise GanTuneError(
                    f"{where}: only {int(keep.sum())} usable row(s) after --dropna removed {dropped} with missing "
                    f"values; the GAN needs at least {min_rows}"
                )
            frame = frame[keep].reset_index(drop=True)
            if not quiet:
                log.warning("%s: dropped %d row(s) with missing values (--dropna)", where, dropped)
            plan = plan_columns(frame, where, metadata)
    if not plan.specs:  # one error naming every reason, not a warning per column first
        reasons = "; ".join(f"{k}: {v}" for k, v in plan.left_out.items())
        raise GanTuneError(f"{where}: no column left to model ({reasons}); declare column types in a metadata file (--metadata)")
    if not quiet:
        for name, reason in plan.left_out.items():
            log.warning("%s: leaving out column %r: %s", where, name, reason)
    if len(frame) < min_rows:
        raise GanTuneError(f"{where}: only {len(frame)} usable row(s); the GAN needs at least {min_rows}")
    values = TableTransformer(plan.specs).values(frame, where)
    for j, s in enumerate(plan.specs):
        if s.is_numeric:
            # max - min must be finite for the scaler (values near +-1.8e308 overflow it).
            with np.errstate(over="ignore"):
                span = np.nanmax(values[:, j]) - np.nanmin(values[:, j])
            if not np.isfinite(span):
                raise GanTuneError(f"{where}: column {s.name!r} spans too wide a range to scale in float64; rescale it (e.g. divide by 1e300)")
    if not (0.0 <= holdout < 1.0):
        raise GanTuneError(f"holdout must be in [0, 1), got {holdout}")
    n = len(values)
    n_hold = int(round(holdout * n))
    rng = np.random.default_rng(seed)
    holdout_idx = np.sort(rng.permutation(n)[:n_hold]) if n_hold else np.zeros(0, dtype=np.int64)
    if n - n_hold < min_rows:
        raise GanTuneError(f"{where}: holdout {holdout} leaves {n - n_hold} training row(s); lower --holdout")
    train = np.delete(values, holdout_idx, axis=0)
    for j, s in enumerate(plan.specs):
        if s.is_numeric and np.isnan(train[:, j]).all():
            raise GanTuneError(f"{where}: column {s.name!r} has no values in the training rows; lower --holdout or leave the column out")
    transformer = TableTransformer.fit(plan.specs, train, encoding=encoding, margin=margin, round_values=round_values)
    options = {"columns": list(columns) if columns else None, "metadata": str(metadata) if metadata else None, "dropna": dropna,
               "holdout": holdout, "encoding": encoding, "margin": margin, "round_values": round_values,
               "na_values": list(na_values) if na_values else None}
    data = TabularData(where, transformer, values, holdout_idx, plan.left_out, seed=seed, options=options, csv_format=csv_format)
    if data.constant_columns and not quiet:
        log.warning("%s: constant column(s) %s are kept and generated as their constant value", where, ", ".join(map(repr, data.constant_columns)))
    return data


def data_for_transformer(
    source: str | Path | pd.DataFrame,
    transformer: TableTransformer,
    *,
    holdout_idx: Sequence[int] | None = None,
    na_values: Sequence[str] | None = None,
    dropna: bool = False,
) -> TabularData:
    """A table read with an already fitted transformer (a bundle's): same columns, labels and
    units as the model. A missing column or an unseen label is an error naming it."""
    frame, where = read_frame(source, na_values=na_values)
    values = transformer.values(frame, where)
    if dropna:
        values = values[~np.isnan(values).any(axis=1)]
    hold = np.asarray(holdout_idx if holdout_idx else [], dtype=np.int64)
    if len(hold) and hold.max() >= len(values):
        hold = np.zeros(0, dtype=np.int64)  # the file changed since training: score on every row
    if len(values) - len(hold) < 2:
        raise GanTuneError(f"{where}: only {len(values) - len(hold)} usable row(s) to score against; it needs at least 2")
    return TabularData(where, transformer, values, hold, options={"dropna": dropna, "na_values": list(na_values) if na_values else None})


def data_spec(data: TabularData) -> dict[str, Any]:
    """What a bundle records about its data: enough to reload it and reproduce the split."""
    spec = {"source": data.source, "columns": data.columns, "n_rows": data.n_rows, "holdout_idx": data.holdout_idx.tolist(),
            "left_out": data.left_out, **{k: v for k, v in data.options.items() if k in ("dropna", "na_values", "metadata")}}
    if data.csv_format:
        spec["csv_format"] = dict(data.csv_format)
    if data.source not in BUILTIN_DATASETS and Path(data.source).is_file():
        # The absolute path too: `evaluate BUNDLE` may run from another working directory.
        spec["source_path"] = str(Path(data.source).resolve())
    return spec
