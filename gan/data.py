"""Loading, validating and scaling tabular data.

Sources are the built-in datasets (scikit-learn's bundled copies, no network) or CSV / Parquet
files read with pandas. Every problem a user can fix raises `GanTuneError` naming the file, the
column and the fix.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan.errors import GanTuneError

log = logging.getLogger(__name__)

DEFAULT_DATA = "iris-setosa"
BUILTIN_DATASETS = ("iris-setosa", "iris", "wine", "breast-cancer")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _load_builtin(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name in ("iris", "iris-setosa"):
        bunch = datasets.load_iris(as_frame=True)
        frame = bunch.data
        if name == "iris-setosa":
            frame = frame[bunch.target.to_numpy() == 0]
    elif name == "wine":
        frame = datasets.load_wine(as_frame=True).data
    else:
        frame = datasets.load_breast_cancer(as_frame=True).data
    return frame.reset_index(drop=True)


class Scaler:
    """Per-feature min-max scaling to [-1, 1].

    Hand-written rather than sklearn's MinMaxScaler for two reasons: it serialises to plain JSON
    (bundles load without unpickling), and a constant column round-trips to exactly its constant
    (sklearn's inverse maps generated values back to a spread around it).
    """

    def __init__(self, data_min: np.ndarray, data_max: np.ndarray) -> None:
        self.data_min = np.asarray(data_min, dtype=np.float64)
        self.data_max = np.asarray(data_max, dtype=np.float64)
        self.constant = self.data_max == self.data_min
        # Half-range; 1 for constant columns so transform never divides by zero.
        self.half_range = np.where(self.constant, 1.0, (self.data_max - self.data_min) / 2.0)

    @classmethod
    def fit(cls, x: np.ndarray) -> "Scaler":
        return cls(np.min(x, axis=0), np.max(x, axis=0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.data_min) / self.half_range - 1.0
        return np.where(self.constant, 0.0, z)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        x = (np.asarray(z, dtype=np.float64) + 1.0) * self.half_range + self.data_min
        return np.where(self.constant, self.data_min, x)

    def to_dict(self) -> dict[str, Any]:
        return {"data_min": self.data_min.tolist(), "data_max": self.data_max.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scaler":
        return cls(np.array(d["data_min"]), np.array(d["data_max"]))


@dataclass
class TabularData:
    """Real rows in original units and scaled to [-1, 1], with the scaler that links them."""

    columns: list[str]
    raw: np.ndarray  # (n_rows, n_features), original units, float64
    scaler: Scaler
    source: str
    holdout_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def train_idx(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.raw)), self.holdout_idx)

    @property
    def train_raw(self) -> np.ndarray:
        return self.raw[self.train_idx]

    @property
    def train_scaled(self) -> np.ndarray:
        """Training rows in scaled units, float32: what the GAN learns from."""
        return self.scaler.transform(self.train_raw).astype(np.float32)

    @property
    def holdout_raw(self) -> np.ndarray:
        return self.raw[self.holdout_idx]

    @property
    def n_features(self) -> int:
        return self.raw.shape[1]

    @property
    def constant_columns(self) -> list[str]:
        return [c for c, k in zip(self.columns, self.scaler.constant) if k]

    def describe(self) -> str:
        text = f"{self.source}: {len(self.raw)} rows x {self.n_features} numeric columns"
        if len(self.holdout_idx):
            text += f" ({len(self.holdout_idx)} held out)"
        return text


def _check_duplicate_header(path: Path) -> None:
    # pandas renames duplicated CSV headers to "a.1"; read the raw header to catch them.
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
    except (UnicodeDecodeError, csv.Error):
        return  # reported by the parser below
    seen, dups = set(), []
    for name in header:
        if name in seen and name not in dups:
            dups.append(name)
        seen.add(name)
    if dups:
        raise GanTuneError(f"{path}: duplicated column name(s) {', '.join(map(repr, dups))}; rename them so each column is unique")


def read_frame(source: str | Path) -> tuple[pd.DataFrame, str]:
    """Read a built-in dataset name or a CSV/Parquet path into a DataFrame."""
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
    if path.stat().st_size == 0:
        raise GanTuneError(f"{path}: file is empty; it needs a header row and data rows")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            _check_duplicate_header(path)
            frame = pd.read_csv(path)
    except GanTuneError:
        raise
    except UnicodeDecodeError:
        raise GanTuneError(f"{path}: not a text CSV file (binary content?); pass a CSV or .parquet file") from None
    except pd.errors.EmptyDataError:
        raise GanTuneError(f"{path}: file is empty; it needs a header row and data rows") from None
    except Exception as exc:  # pandas/pyarrow parser errors, OSError
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        kind = "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"
        raise GanTuneError(f"{path}: cannot be read as {kind} ({first}); check the file's format") from None
    if frame.columns.duplicated().any():
        dups = sorted(set(frame.columns[frame.columns.duplicated()].astype(str)))
        raise GanTuneError(f"{path}: duplicated column name(s) {', '.join(map(repr, dups))}; rename them so each column is unique")
    return frame, str(path)


def select_columns(frame: pd.DataFrame, where: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """Choose the numeric columns to model: the named ones, or all numeric ones."""
    if len(frame) == 0:
        raise GanTuneError(f"{where}: no data rows (header only?); the file needs at least 2 rows")
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise GanTuneError(
                f"{where}: column(s) {', '.join(map(repr, missing))} not found; available: {', '.join(map(str, frame.columns))}"
            )
        non_numeric = [c for c in columns if c not in numeric]
        if non_numeric:
            raise GanTuneError(
                f"{where}: column(s) {', '.join(map(repr, non_numeric))} are not numeric; choose numeric columns with --columns"
            )
        return frame[list(columns)]
    if not numeric:
        hint = ""
        if len(frame.columns) == 1 and any(sep in str(frame.columns[0]) for sep in ";\t|"):
            hint = " (the file seems to use a separator other than ','; save it as comma-separated)"
        raise GanTuneError(
            f"{where}: no numeric columns (found {', '.join(map(str, frame.columns))}); the GAN models numeric columns only{hint}"
        )
    dropped = [str(c) for c in frame.columns if c not in numeric]
    if dropped:
        log.warning("%s: ignoring non-numeric column(s) %s", where, ", ".join(dropped))
    return frame[numeric]


def load_data(
    source: str | Path = DEFAULT_DATA,
    *,
    columns: Sequence[str] | None = None,
    dropna: bool = False,
    holdout: float = 0.0,
    seed: int = 0,
    min_rows: int = 2,
) -> TabularData:
    """Load, validate and scale a dataset. `holdout` keeps a seeded fraction of rows out of training."""
    frame, where = read_frame(source)
    frame = select_columns(frame, where, columns)
    values = frame.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        if not dropna:
            counts = bad.sum(axis=0)
            detail = ", ".join(f"{frame.columns[i]!r}: {int(counts[i])}" for i in np.flatnonzero(counts))
            raise GanTuneError(f"{where}: NaN or infinite values in column(s) {detail}; fix the file or pass --dropna")
        keep = ~bad.any(axis=1)
        dropped = int((~keep).sum())
        values = values[keep]
        if len(values) < min_rows:  # one error, not a warning followed by an error
            raise GanTuneError(
                f"{where}: only {len(values)} usable row(s) after --dropna removed {dropped} with NaN or infinite "
                f"values; the GAN needs at least {min_rows}"
            )
        log.warning("%s: dropped %d row(s) with NaN or infinite values (--dropna)", where, dropped)
    if len(values) < min_rows:
        raise GanTuneError(f"{where}: only {len(values)} usable row(s); the GAN needs at least {min_rows}")
    # max - min must be finite for the scaler (values near +-1.8e308 overflow it).
    with np.errstate(over="ignore"):
        span = values.max(axis=0) - values.min(axis=0)
    if not np.isfinite(span).all():
        wide = ", ".join(repr(str(frame.columns[i])) for i in np.flatnonzero(~np.isfinite(span)))
        raise GanTuneError(f"{where}: column(s) {wide} span too wide a range to scale in float64; rescale them (e.g. divide by 1e300)")
    if not (0.0 <= holdout < 1.0):
        raise GanTuneError(f"holdout must be in [0, 1), got {holdout}")
    n_hold = int(round(holdout * len(values)))
    rng = np.random.default_rng(seed)
    holdout_idx = np.sort(rng.permutation(len(values))[:n_hold]) if n_hold else np.zeros(0, dtype=np.int64)
    if len(values) - n_hold < min_rows:
        raise GanTuneError(f"{where}: holdout {holdout} leaves {len(values) - n_hold} training row(s); lower --holdout")
    train = np.delete(values, holdout_idx, axis=0)
    scaler = Scaler.fit(train)
    data = TabularData([str(c) for c in frame.columns], values, scaler, where, holdout_idx)
    if data.constant_columns:
        log.warning(
            "%s: constant column(s) %s are kept and generated as their constant value",
            where,
            ", ".join(map(repr, data.constant_columns)),
        )
    return data


def data_spec(data: TabularData) -> dict[str, Any]:
    """What a bundle records about its data: enough to reload it and reproduce the split."""
    spec = {"source": data.source, "columns": data.columns, "n_rows": len(data.raw), "holdout_idx": data.holdout_idx.tolist()}
    if data.source not in BUILTIN_DATASETS and Path(data.source).is_file():
        # The absolute path too: `evaluate BUNDLE` may run from another working directory.
        spec["source_path"] = str(Path(data.source).resolve())
    return spec

