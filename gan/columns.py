"""Column types: what each column of a table is, inferred from the data and overridable.

A table as users bring it mixes continuous numbers, integer counts, categories (strings,
booleans, numbers with few levels), missing values, identifiers and values recorded to a fixed
number of decimals. `infer_columns` decides, per column, one of

* ``numeric``: a continuous number; `decimals` is the precision it was recorded in (None when
  no fixed precision is found), `low` / `high` its range;
* ``integer``: whole numbers (counts, years with many levels); generated as integers;
* ``categorical``: a label from a fixed set (strings, booleans, numbers with at most
  `MAX_INT_LEVELS` distinct values); `categories` holds the labels in a stable order;
* dates: an ``integer`` column of whole days since 1970-01-01 (`dtype` "date"), or of whole
  seconds where times of day are recorded ("datetime"), written back as timestamps (CTGAN and
  SDV model a date as a number the same way);

and which columns are left out, with the reason a person can read (an identifier: a distinct
value in nearly every row; free text with too many distinct values; dates with a time zone).
A metadata file (`load_metadata`) overrides any decision.

Every spec records the share of missing values (`missing`), so missing values are modelled and
generated at the real rate instead of refused. Specs are plain JSON (`to_dict` / `from_dict`)
and are stored in every bundle.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from gan.errors import GanTuneError

log = logging.getLogger(__name__)

KINDS = ("numeric", "integer", "categorical")
# Dates and timestamps: integer columns with these dtypes (days / seconds since _EPOCH).
DATE_TYPES = ("date", "datetime")
_EPOCH = pd.Timestamp("1970-01-01")
DATE_UNITS = {"date": pd.Timedelta(days=1), "datetime": pd.Timedelta(seconds=1)}
# ... in days: what a date column's number (or a distance in its units) is worth in days.
DAYS_PER_DATE_UNIT = {dtype: unit / pd.Timedelta(days=1) for dtype, unit in DATE_UNITS.items()}
# Types a metadata file may give: the three modelled kinds, date / datetime, or "ignore" to leave
# a column out.
METADATA_TYPES = (*KINDS, *DATE_TYPES, "ignore")

# An integer-valued column with at most this many distinct values is a category (0/1 flags,
# ratings, years of a study); above it, a count (modelled as a number).
MAX_INT_LEVELS = 10
# A text column with more distinct values than this is left out unless a metadata file declares
# it categorical: a one-hot block of thousands of labels is mostly noise to a GAN.
MAX_CATEGORIES = 500
# An identifier has a distinct value in (nearly) every row: at least this share, on at least
# IDENTIFIER_MIN_ROWS rows (on fewer rows any column can be all-distinct by chance).
IDENTIFIER_SHARE = 0.95
IDENTIFIER_MIN_ROWS = 20
# Recorded precision: the smallest number of decimals (up to MAX_DECIMALS) that represents all but
# at most DECIMALS_OUTLIERS of the values (one odd 9.899999 among wine's 178 colour intensities
# recorded to 2 decimals must not turn rounding off); floats further from their rounded value
# than _DECIMALS_RTOL (relative) are not on that grid.
MAX_DECIMALS = 6
DECIMALS_OUTLIERS = 0.01
_DECIMALS_RTOL = 1e-9
_YEAR = re.compile(r"(?:^|\D)(?:1[6-9]|2\d)\d\d(?:\D|$)")  # a year 1600-2999 among a value's digits
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key)$", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnSpec:
    """One modelled column. Plain data: JSON round-trips through `to_dict` / `from_dict`."""

    name: str
    kind: str  # one of KINDS
    missing: float = 0.0  # share of missing values in the fitted rows
    # numeric / integer
    low: float | None = None
    high: float | None = None
    decimals: int | None = None  # recorded precision; 0 for integers; None = none found
    # categorical: the labels (str, int, float or bool) in a stable order
    categories: tuple[Any, ...] = ()
    # how values are written back: "float", "int", "bool", "str", or "date" / "datetime" (an
    # integer column of days / seconds since 1970-01-01)
    dtype: str = "float"
    # date columns written day first ("13.02.2021", "01/02/2021" for 1 February): see `day_first`
    day_first: bool = False
    # a date column's form in the file ("%d.%m.%Y"), where one form reads every value: generated
    # rows are written the same way (`written_values`); None: ISO
    date_format: str | None = None
    # numbers read from text with a currency or percent sign ("$1,234.50", "15%"): the sign
    # before and after the number, and whether thousands were grouped; written back so
    prefix: str = ""
    suffix: str = ""
    grouped: bool = False
    decimal_mark: str = "."  # "," where the file wrote 1.234,50 €
    group_mark: str = ""  # a space where the file grouped thousands with one (1 234,50 €); "": "," or "."

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("numeric", "integer")

    @property
    def has_missing(self) -> bool:
        return self.missing > 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "missing": self.missing, "dtype": self.dtype}
        if self.is_numeric:
            out.update(low=self.low, high=self.high, decimals=self.decimals)
            if self.day_first:
                out["day_first"] = True
            if self.date_format:
                out["date_format"] = self.date_format
        else:
            out["categories"] = list(self.categories)
        if self.prefix or self.suffix:
            out.update(prefix=self.prefix, suffix=self.suffix, grouped=self.grouped, decimal_mark=self.decimal_mark)
            if self.group_mark:
                out["group_mark"] = self.group_mark
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ColumnSpec":
        d = dict(d)
        if d.get("kind") not in KINDS:
            raise ValueError(f"unknown column kind {d.get('kind')!r}")
        d["categories"] = tuple(d.get("categories", ()))
        return cls(**d)

    def describe(self) -> str:
        """A short human description: 'numeric 4.3..5.8, 1 decimal, 3% missing'."""
        if self.dtype in DATE_TYPES:
            shown = date_values(np.array([self.low, self.high]), self.dtype)
            first, last = (str(t.date()) if self.dtype == "date" else str(t) for t in shown)
            parts = [f"{self.dtype} {first}..{last}"]
        elif self.is_numeric:
            parts = [f"{self.kind} {_fmt(self.low)}..{_fmt(self.high)}"]
            if self.kind == "numeric":
                parts.append("no fixed precision" if self.decimals is None else f"{self.decimals} decimal{'s' if self.decimals != 1 else ''}")
        else:
            shown = ", ".join(map(str, self.categories[:4])) + (", ..." if len(self.categories) > 4 else "")
            parts = [f"categorical, {len(self.categories)} labels ({shown})"]
        if self.prefix or self.suffix:
            parts.append(f"written {self.written(self.high if self.is_numeric else self.categories[-1])}")
        if self.missing:
            parts.append(f"{100 * self.missing:.1f}% missing")
        return ", ".join(parts)

    def written(self, value: Any, decimal: str | None = None) -> str:
        """`value` as the table wrote this column's numbers: "$1,234.50", "-$5.00", "15%",
        "1.234,50 €", "1 234,50 €" (with `decimal`, that decimal mark instead of the file's)."""
        decimal = decimal or self.decimal_mark
        x = float(value)
        digits = self.decimals if self.decimals is not None else MAX_DECIMALS
        text = f"{abs(x):{',' if self.grouped else ''}.{digits}f}"
        if self.decimals is None and "." in text:
            text = text.rstrip("0").rstrip(".")
        group = self.group_mark or ("." if decimal == "," else ",")
        text = text.translate(str.maketrans({",": group, ".": decimal}))
        return f"{'-' if x < 0 else ''}{self.prefix}{text}{self.suffix}"


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:.6g}"


@dataclass
class ColumnPlan:
    """The result of inference: modelled specs (in table order) and left-out columns."""

    specs: list[ColumnSpec]
    left_out: dict[str, str] = field(default_factory=dict)  # column -> reason

    @property
    def columns(self) -> list[str]:
        return [s.name for s in self.specs]


# ---------------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------------
def recorded_decimals(values: np.ndarray) -> int | None:
    """Smallest d <= MAX_DECIMALS such that (all but DECIMALS_OUTLIERS of) the values are
    multiples of 10**-d, else None."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return None
    allowed = int(DECIMALS_OUTLIERS * len(v))
    for d in range(MAX_DECIMALS + 1):
        r = np.round(v, d)
        off = np.abs(r - v) > _DECIMALS_RTOL * np.maximum(1.0, np.abs(v))
        if off.sum() <= allowed:
            return d
    return None


def plain_label(value: Any) -> Any:
    """A JSON-able category label (NumPy scalars to Python ones)."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return int(f) if f.is_integer() else f
    return value if isinstance(value, (str, int)) else str(value)


def _sorted_labels(labels: Sequence[Any]) -> tuple[Any, ...]:
    # Mixed label types (an object column holding 1 and "a") sort by type name first.
    return tuple(sorted(labels, key=lambda x: (type(x).__name__, x)))


def _categorical(name: str, col: pd.Series, missing: float, dtype: str) -> ColumnSpec:
    labels = [plain_label(v) for v in pd.unique(col.dropna())]
    if dtype == "str":
        labels = [str(v) for v in labels]
    return ColumnSpec(name, "categorical", missing=missing, categories=_sorted_labels(labels), dtype=dtype)


def _numeric(name: str, values: np.ndarray, missing: float, integer: bool) -> ColumnSpec:
    low, high = float(values.min()), float(values.max())
    if integer:
        return ColumnSpec(name, "integer", missing=missing, low=low, high=high, decimals=0, dtype="int")
    return ColumnSpec(name, "numeric", missing=missing, low=low, high=high, decimals=recorded_decimals(values), dtype="float")


def _is_identifier(name: str, values: pd.Series, n_distinct: int, integer: bool) -> bool:
    n = len(values)
    if n < IDENTIFIER_MIN_ROWS or n_distinct < IDENTIFIER_SHARE * n:
        return False
    if not integer:
        return True  # text with a distinct value in nearly every row
    if n_distinct < n:
        return False
    # All-distinct whole numbers are an identifier when named like one or when they form an
    # evenly spaced sequence (1, 2, 3, ...); otherwise they are a count with wide range.
    if _ID_NAME.search(name):
        return True
    diffs = np.diff(np.sort(values.to_numpy(dtype=np.float64)))
    return bool(len(diffs) and np.all(diffs == diffs[0]))


# A date written with its day and month before the year: "13.02.2021", "02/13/2021", "1-2-2021".
_DMY_OR_MDY = re.compile(r"^\s*(\d{1,2})([./-])(\d{1,2})\2\d{4}")


def day_first(col: pd.Series) -> bool | tuple[str, str]:
    """Whether `col`'s dates put the day before the month: yes where some value's first field
    exceeds 12 ("13.02.2021"), no where some second field does ("02/13/2021"); when no value
    tells, yes for dates written with dots (dd.mm.yyyy: no locale writes mm.dd.yyyy), no
    otherwise (pandas' month-first). A column with values of both kinds gives one of each.

    Why by hand: pandas' format="mixed" reads each value alone, so in one column "01.02.2021"
    became 2 January and "13.02.2021" 13 February; with dayfirst=True it also turns the ISO
    "2021-03-04" into 3 April."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return False
    text = col.dropna().astype(str)
    parts = text.str.extract(_DMY_OR_MDY).dropna(subset=[0])
    if parts.empty:
        return False
    day, month = parts[0].astype(int) > 12, parts[2].astype(int) > 12
    if day.any() and month.any():
        return text[day.idxmax()], text[month.idxmax()]  # the first of each kind
    if day.any() or month.any():
        return bool(day.any())
    return bool((parts[1] == ".").all())


def parse_dates(col: pd.Series, day_first: bool = False) -> pd.Series:
    """Timestamps of `col`: NaT where a cell is missing or not a date. `day_first`: values
    written day / month / year are read day first (ISO dates, year first, stay as they are)."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(col, errors="coerce", format="mixed")
        if day_first:
            dmy = col.astype(str).str.match(_DMY_OR_MDY) & col.notna()
            if dmy.any():
                stamps[dmy] = pd.to_datetime(col[dmy], errors="coerce", format="mixed", dayfirst=True)
    return stamps


def date_numbers(stamps: pd.Series, dtype: str) -> np.ndarray:
    """Days ("date") or seconds ("datetime") since 1970-01-01 of time-zone-naive timestamps; NaN
    for NaT."""
    return ((stamps - _EPOCH) / DATE_UNITS[dtype]).to_numpy(dtype=np.float64, na_value=np.nan)


def date_values(numbers: np.ndarray, dtype: str) -> pd.Series:
    """Timestamps of days / seconds since 1970-01-01 (rounded to whole units); NaT for NaN."""
    unit = "D" if dtype == "date" else "s"
    return pd.Series(_EPOCH + pd.to_timedelta(np.round(np.asarray(numbers, dtype=np.float64)), unit=unit))


def _dates(name: str, col: pd.Series, missing: float, where: str, dtype: str | None = None) -> ColumnSpec | str:
    """An integer spec of days (or seconds, where times of day are recorded) for a date column;
    `dtype` as a metadata file declares it, else inferred."""
    if dtype is None and not pd.api.types.is_datetime64_any_dtype(col.dtype):
        # Text read as dates only where every value holds a four-digit year: pandas would also
        # read "10:30" (today at 10:30) or a version number "1.2.3" as a timestamp.
        if not col.dropna().astype(str).str.contains(_YEAR).all():
            return "dates or times without a four-digit year (not modelled); declare it date or datetime in a metadata file to model it"
    first = day_first(col)
    if isinstance(first, tuple):
        raise GanTuneError(
            f"{where}: column {name!r} holds dates written day first ({first[0]!r}) and month first ({first[1]!r}); "
            "write them one way (e.g. year first, 2021-02-13)"
        )
    stamps = parse_dates(col, first)
    if getattr(stamps.dt, "tz", None) is not None:
        return "dates with a time zone (not modelled yet)"
    unreadable = col.notna() & stamps.isna()
    if unreadable.any():
        bad = col[unreadable].iloc[0]
        raise GanTuneError(
            f"{where}: column {name!r} holds dates and {bad!r}, which is not one; fix or blank that value (or pass "
            f"--na-values {bad!r} if it marks a missing one), or declare the column in a metadata file ({name}: categorical or ignore)"
        )
    present = stamps.dropna()
    if dtype is None:
        dtype = "date" if bool((present == present.dt.normalize()).all()) else "datetime"
    values = date_numbers(present, dtype)
    if dtype == "date" and not np.all(values == np.round(values)):
        raise GanTuneError(f"{where}: column {name!r} is declared date but records times of day; declare it datetime")
    return ColumnSpec(name, "integer", missing=missing, low=float(values.min()), high=float(values.max()), decimals=0, dtype=dtype,
                      day_first=first, date_format=date_format(col, stamps, first))


def date_format(col: pd.Series, stamps: pd.Series, day_first: bool = False) -> str | None:
    """The strftime form ("%d.%m.%Y") that reads every written value of `col` as `stamps` holds
    it, or None (timestamps rather than text, or values written in several forms).

    pandas guesses a form from one value (`guess_datetime_format`); the guess is kept only
    where, parsed with it, every value gives the timestamp it was read as (a guess from
    "1.2.2021" may be month first, and with dayfirst pandas turns "2021-03-04T10:00" into a
    year-day-month form)."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return None
    from pandas.tseries.api import guess_datetime_format

    text = col[stamps.notna()].astype(str).str.strip()
    if text.empty:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guesses = [guess_datetime_format(text.iloc[0], dayfirst=first) for first in (day_first, not day_first)]
        for form in dict.fromkeys([g for g in guesses if g] + list(_TWELVE_HOUR_FORMS)):
            # on the first values first: most forms fail there, and a million rows parse slowly
            if all(bool((pd.to_datetime(t, format=form, errors="coerce") == stamps[t.index]).all()) for t in (text.iloc[:1000], text)):
                return form
    return None


# pandas guesses no form for times on a 12-hour clock ("09/02/2023 08:07 PM", as US spreadsheets
# write them): tried after its guesses (each still has to read every value as it was read).
_TWELVE_HOUR_FORMS = tuple(f"{d} {t}" for d in ("%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y")
                           for t in ("%I:%M %p", "%I:%M:%S %p"))


def written_values(frame: pd.DataFrame, specs: Sequence[ColumnSpec]) -> pd.DataFrame:
    """`frame` as the table it was fitted on wrote its cells: each date column that has a
    `date_format` in that form, numbers read with a currency or percent sign with it again
    (`ColumnSpec.written`, in the file's decimal mark); missing cells stay missing, other columns
    as they are."""
    out = frame.copy()
    for s in specs:
        if s.name not in frame.columns:
            continue
        col = frame[s.name]
        if s.date_format and pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[s.name] = col.dt.strftime(s.date_format)
        elif s.prefix or s.suffix:
            out[s.name] = pd.Series([None if pd.isna(v) else s.written(v) for v in col], index=col.index, dtype=object)
    return out


def _looks_like_dates(col: pd.Series) -> bool:
    sample = col.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).all():
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def infer_column(name: str, col: pd.Series, where: str) -> ColumnSpec | str:
    """A ColumnSpec, or the reason (str) the column is left out. Raises for unusable columns."""
    n = len(col)
    present = col.dropna()
    if present.empty:
        raise GanTuneError(
            f"{where}: column {name!r} has no values (all {n} missing); remove it from the file, "
            f"or leave it out with --columns or a metadata file ({name}: ignore)"
        )
    missing = float(1.0 - len(present) / n) if n else 0.0
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _categorical(name, col, missing, "bool")
    if isinstance(dtype, pd.PeriodDtype):
        return "periods (not modelled yet)"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _dates(name, col, missing, where)
    if pd.api.types.is_numeric_dtype(dtype):
        values = present.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise GanTuneError(
                f"{where}: column {name!r} holds infinite values; replace them (or mark them missing) in the file"
            )
        # Whole numbers beyond 2**53 are float artefacts, not counts or labels.
        integer = bool(np.all(values == np.round(values)) and np.abs(values).max() < 2.0**53)
        n_distinct = int(pd.Series(values).nunique())
        if integer and n_distinct <= MAX_INT_LEVELS:
            return _categorical(name, col, missing, "int")
        if integer and _is_identifier(name, present, n_distinct, integer=True):
            return f"identifier ({n_distinct} distinct values in {len(present)} rows)"
        return _numeric(name, values, missing, integer)
    # Text, mixed objects, pandas categoricals.
    as_text = present.astype(str)
    if set(as_text.str.lower().unique()) <= {"true", "false"}:
        return _categorical(name, present.map(lambda v: str(v).lower() == "true").reindex(col.index), missing, "bool")
    numbers = pd.to_numeric(present, errors="coerce")
    n_distinct = int(as_text.nunique())
    if numbers.notna().all():  # numbers stored as text (e.g. a Parquet object column)
        return infer_column(name, pd.to_numeric(col, errors="coerce"), where)
    if numbers.notna().any() and n_distinct > MAX_INT_LEVELS and numbers.notna().mean() >= 0.5:
        text = as_text[numbers.isna()].iloc[0]
        number = as_text[numbers.notna()].iloc[0]
        raise GanTuneError(
            f"{where}: cannot infer the type of column {name!r}: it mixes numbers (e.g. {number!r}) and text "
            f"(e.g. {text!r}); if the text marks missing values pass --na-values {text!r}, otherwise declare the "
            f"column in a metadata file ({name}: categorical or {name}: ignore)"
        )
    if _looks_like_dates(present):
        return _dates(name, col, missing, where)
    if _is_identifier(name, present, n_distinct, integer=False):
        return f"identifier ({n_distinct} distinct values in {len(present)} rows)"
    if n_distinct > MAX_CATEGORIES:
        return f"text with {n_distinct} distinct values (more than {MAX_CATEGORIES}); declare it categorical in a metadata file to model it"
    return _categorical(name, col, missing, "str")


def _declared(name: str, col: pd.Series, kind: str, where: str, decimals: Any = "auto") -> ColumnSpec:
    """A spec for a column whose type a metadata file declares."""
    present = col.dropna()
    if present.empty:
        raise GanTuneError(f"{where}: column {name!r} has no values (all {len(col)} missing); remove it or declare it ignore")
    missing = float(1.0 - len(present) / len(col))
    if kind in DATE_TYPES:
        spec = _dates(name, col, missing, where, kind)
        if isinstance(spec, str):  # a declared column is left out only for its time zone (`_dates`)
            raise GanTuneError(f"{where}: column {name!r} is declared {kind} but holds dates with a time zone; declare it ignore")
        return spec
    if kind == "categorical":
        if pd.api.types.is_bool_dtype(col.dtype):
            dtype = "bool"
        elif pd.api.types.is_numeric_dtype(col.dtype):
            dtype = "int" if np.all(np.mod(present.to_numpy(dtype=np.float64), 1) == 0) else "float"
        else:
            dtype = "str"
        return _categorical(name, col, missing, dtype)
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        bad = present[numbers.isna()].iloc[0]
        raise GanTuneError(f"{where}: column {name!r} is declared {kind} but holds text such as {bad!r}; declare it categorical or fix the values")
    values = numbers.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise GanTuneError(f"{where}: column {name!r} holds infinite values; replace them (or mark them missing) in the file")
    if kind == "integer" and not np.all(values == np.round(values)):
        bad = float(values[values != np.round(values)][0])
        raise GanTuneError(f"{where}: column {name!r} is declared integer but holds {bad!r}; declare it numeric")
    spec = _numeric(name, values, missing, integer=kind == "integer")
    if kind == "numeric" and decimals != "auto":
        spec = ColumnSpec(**{**spec.__dict__, "decimals": None if decimals is None else int(decimals)})
    return spec


def infer_columns(frame: pd.DataFrame, where: str, metadata: Mapping[str, Any] | None = None) -> ColumnPlan:
    """Decide every column's type (see the module docstring); `metadata` overrides by name."""
    metadata = dict(metadata or {})
    specs: list[ColumnSpec] = []
    left_out: dict[str, str] = {}
    for name in frame.columns:
        col = frame[name]
        entry = metadata.get(str(name))
        if entry is not None:
            kind, decimals = entry["type"], entry.get("decimals", "auto")
            if kind == "ignore":
                left_out[str(name)] = "ignored by the metadata file"
                continue
            specs.append(_declared(str(name), col, kind, where, decimals))
            continue
        result = infer_column(str(name), col, where)
        if isinstance(result, str):
            left_out[str(name)] = result
        else:
            specs.append(result)
    return ColumnPlan(specs, left_out)


# ---------------------------------------------------------------------------------------------
# Metadata files
# ---------------------------------------------------------------------------------------------
def load_metadata(path: str | Path, columns: Sequence[str], where: str) -> dict[str, dict[str, Any]]:
    """Read a metadata file and check it against the table's `columns`.

    Format (YAML or JSON)::

        columns:
          age: integer                      # numeric | integer | categorical | ignore
          zip_code: categorical
          customer_id: ignore
          price: {type: numeric, decimals: 2}   # decimals: recorded precision, null = none
          signup: date                      # or datetime: dates / timestamps

    Returns {column: {"type": ..., ["decimals": ...]}}.
    """
    from gan.config import read_mapping

    raw = read_mapping(path)
    if set(raw) - {"columns"} or not isinstance(raw.get("columns"), Mapping):
        raise GanTuneError(f"{path}: a metadata file needs one top-level key 'columns' mapping column names to types ({', '.join(METADATA_TYPES)})")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in raw["columns"].items():
        name = str(name)
        if name not in columns:
            raise GanTuneError(f"{path}: column {name!r} is not in {where}; its columns are {', '.join(map(str, columns))}")
        if isinstance(entry, str):
            entry = {"type": entry}
        if not isinstance(entry, Mapping) or entry.get("type") not in METADATA_TYPES or set(entry) - {"type", "decimals"}:
            raise GanTuneError(f"{path}: column {name!r}: give a type ({', '.join(METADATA_TYPES)}), optionally with decimals, e.g. {{type: numeric, decimals: 2}}")
        decimals = entry.get("decimals", "auto")
        if decimals not in ("auto", None) and (isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12):
            raise GanTuneError(f"{path}: column {name!r}: decimals must be an integer 0..12 or null, got {decimals!r}")
        if "decimals" in entry and entry["type"] != "numeric":
            raise GanTuneError(f"{path}: column {name!r}: decimals applies to numeric columns only")
        out[name] = dict(entry)
    return out


def metadata_document(plan: ColumnPlan) -> dict[str, Any]:
    """The metadata file that reproduces `plan` (for `gantune describe --write-metadata`)."""
    cols: dict[str, Any] = {}
    for s in plan.specs:
        cols[s.name] = {"type": "numeric", "decimals": s.decimals} if s.kind == "numeric" else s.dtype if s.dtype in DATE_TYPES else s.kind
    for name in plan.left_out:
        cols[name] = "ignore"
    return {"columns": cols}


__all__ = [
    "ColumnPlan",
    "ColumnSpec",
    "DATE_TYPES",
    "DATE_UNITS",
    "DAYS_PER_DATE_UNIT",
    "KINDS",
    "MAX_CATEGORIES",
    "MAX_INT_LEVELS",
    "date_format",
    "date_numbers",
    "date_values",
    "infer_column",
    "infer_columns",
    "load_metadata",
    "metadata_document",
    "day_first",
    "parse_dates",
    "recorded_decimals",
    "written_values",
]
