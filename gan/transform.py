"""The table transformer: a mixed table <-> the float matrix the GAN learns from.

Kept apart from the model, as CTGAN does (fit / transform / inverse_transform). Three
representations of the same rows:

* a **frame** (pandas): the user's labels and dtypes, missing values as NaN / None;
* **values** (NumPy float64, rows x columns): one number per cell -- the value itself for numeric
  and integer columns, the label's index in `ColumnSpec.categories` for categorical ones, NaN for
  a missing cell. Scores (`gan.metrics`, `gan.fidelity`) work on this form;
* **encoded** (NumPy float32, rows x `width`): what G emits and D reads. Per column a block:

  ======================  ============================================  ======================
  column                  block(s)                                      G's output head
  ======================  ============================================  ======================
  numeric / integer       1 value: in [-1, 1], or a normal score        tanh, or linear
  ... with missing cells  + 2 one-hot (present, missing)                softmax (Gumbel)
  categorical             one-hot over the labels (+1 slot: missing)    softmax (Gumbel)
  ======================  ============================================  ======================

Numeric encodings (`encoding`, per column):

* ``minmax``: (x - low) / (high - low) * 2 - 1, the reference model's scaling;
* ``quantile``: 2 F(x) - 1 with F the column's empirical CDF (a randomised probability integral
  transform): every column arrives uniform on [-1, 1], so G only has to learn how columns move
  together, and the inverse (the empirical quantile function) puts generated values where the
  real ones are;
* ``normal``: the quantile code's normal score, Phi^-1(F(x)) (F as for quantile, the level
  kept inside [NORMAL_EPS, 1 - NORMAL_EPS]): every column arrives standard normal and G's slot for
  it is linear, not tanh. Why: a tanh slot must push its input far out to put the mass a uniform
  column has near -1 and 1, where tanh's gradient vanishes; on a 10,000-row table trained past its
  best, half of such a slot's generated values sat at |z| > 0.98 (real: 2 %) and the score drifted
  from 0.048 to 0.19 by step 5,000. A linear slot cannot saturate (README, "Model");
* ``auto`` (the default): normal for a column with at least AUTO_CDF_DISTINCT distinct
  values, minmax for one with fewer. On a column of few recorded values the quantile inverse
  reproduces the real value frequencies exactly, and whole generated rows then coincide with
  training rows far more often than fresh real rows do: the memorisation guard fails honest
  generators there (iris-setosa: a Gaussian fit's copy_share 0.23-0.25 under quantile, 0.10-0.12
  under minmax, threshold 0.25; tests/gan/test_fidelity.py).

Values recorded to a fixed precision (`ColumnSpec.decimals`; integers: 0) are *dequantised*
when encoded: each real value is spread uniformly over its own rounding cell (its level range,
for quantile and normal), seeded, so D never sees a lattice that a continuous G output could not hit;
`decode` rounds generated values back onto the recorded precision (`round_values`) and clips
them to the real range (widened by `margin` x range on each side when asked).

Missing numeric cells are encoded with a value drawn from the column's observed values (seeded):
D then sees only plausible values in the value slot, and the indicator block carries
missingness, so G can emit missing cells at the real rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from gan.columns import DATE_TYPES, ColumnSpec, date_numbers, date_values, parse_dates, plain_label
from gan.errors import GanTuneError
from gan.models import OutputLayout

ENCODINGS = ("auto", "minmax", "quantile", "normal")
# The encodings that go through the column's empirical CDF (stored in `quantiles`).
CDF_ENCODINGS = ("quantile", "normal")
# `auto`: normal for columns with at least this many distinct values (see the module docstring).
AUTO_CDF_DISTINCT = 50
# Dequantisation spreads a value over this share of its cell, not all of it: at the very edge,
# float32 rounding of the encoded value could land it in the neighbouring cell (seen on a column
# of cents from 0 to 1,000). Cells narrower than MIN_CELL in [-1, 1] units (more than float32
# can tell apart reliably) are not dequantised at all.
_JITTER_SHARE = 0.98
_MIN_CELL = 1e-4
# Points of the stored empirical CDF per numeric column (quantile encoding). Enough that
# interpolation error is far below sampling noise; fitted rows beyond this are summarised.
N_QUANTILES = 1000
# The normal encoding keeps levels inside [NORMAL_EPS, 1 - NORMAL_EPS]: normal scores within
# +-5.2, so a level of exactly 0 or 1 (the column's extremes) maps to a finite value, and levels
# apart by more than ~1e-7 (the rows of a 10M-row table) stay apart after float32 rounding.
NORMAL_EPS = 1e-7


@dataclass(frozen=True)
class Block:
    """A slice of the encoded row: `role` value (1 wide, tanh or linear), missing (2 wide) or category."""

    column: int  # index into the transformer's specs
    role: str  # "value", "missing" or "category"
    start: int
    width: int

    @property
    def softmax(self) -> bool:
        return self.role != "value"


class TableTransformer:
    """Fitted per-column encoders; plain JSON state (`to_dict` / `from_dict`), no pickles."""

    def __init__(
        self,
        specs: Sequence[ColumnSpec],
        *,
        encoding: str = "auto",
        margin: float = 0.0,
        round_values: bool = True,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        quantiles: Mapping[str, Sequence[float]] | None = None,
        column_encoding: Mapping[str, str] | None = None,
    ) -> None:
        if encoding not in ENCODINGS:
            raise GanTuneError(f"numeric encoding {encoding!r} is unknown; use one of {', '.join(ENCODINGS)}")
        if not 0 <= margin <= 1:
            raise GanTuneError(f"range margin must be in [0, 1], got {margin}")
        self.specs = list(specs)
        self.encoding = encoding
        self.column_encoding = dict(column_encoding or {})
        self.margin = float(margin)
        self.round_values = bool(round_values)
        self.bounds = {k: (float(a), float(b)) for k, (a, b) in (bounds or {}).items()}
        self.quantiles = {k: np.asarray(v, dtype=np.float64) for k, v in (quantiles or {}).items()}
        # Layout: every numeric value slot first (G's tanh or linear outputs, one contiguous slice), then
        # the one-hot blocks (softmax outputs), each group in column order.
        self.blocks: list[Block] = []
        pos = 0
        for j, s in enumerate(self.specs):
            if s.is_numeric:
                self.blocks.append(Block(j, "value", pos, 1))
                pos += 1
        for j, s in enumerate(self.specs):
            if s.is_numeric and s.has_missing:
                self.blocks.append(Block(j, "missing", pos, 2))
                pos += 2
            elif not s.is_numeric:
                width = len(s.categories) + (1 if s.has_missing else 0)
                self.blocks.append(Block(j, "category", pos, width))
                pos += width
        self.width = pos
        self._lookup = [self._label_lookup(s) if not s.is_numeric else None for s in self.specs]

    # -- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, specs: Sequence[ColumnSpec], values: np.ndarray, *, encoding: str = "auto", margin: float = 0.0,
            round_values: bool = True) -> "TableTransformer":
        """Fit numeric bounds (and CDFs) on `values` (the training rows' value matrix)."""
        if encoding not in ENCODINGS:
            raise GanTuneError(f"numeric encoding {encoding!r} is unknown; use one of {', '.join(ENCODINGS)}")
        bounds, quantiles, per_column = {}, {}, {}
        for j, s in enumerate(specs):
            if not s.is_numeric:
                continue
            col = values[:, j]
            present = col[~np.isnan(col)]
            bounds[s.name] = (float(present.min()), float(present.max()))
            chosen = encoding
            if encoding == "auto":
                chosen = "normal" if len(np.unique(present)) >= AUTO_CDF_DISTINCT else "minmax"
            per_column[s.name] = chosen
            if chosen in CDF_ENCODINGS:
                levels = np.linspace(0.0, 1.0, min(N_QUANTILES, len(present)))
                quantiles[s.name] = np.quantile(present, levels, method="linear")
        return cls(specs, encoding=encoding, margin=margin, round_values=round_values, bounds=bounds, quantiles=quantiles,
                   column_encoding=per_column)

    def encoding_of(self, j: int) -> str:
        """Column j's numeric encoding (minmax, quantile or normal)."""
        name = self.specs[j].name
        return self.column_encoding.get(name, "quantile" if name in self.quantiles else "minmax")

    @property
    def columns(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def n_columns(self) -> int:
        return len(self.specs)

    def range(self, j: int) -> tuple[float, float]:
        """Column j's generated range: the fitted bounds, widened by `margin` x range per side."""
        lo, hi = self.bounds[self.specs[j].name]
        pad = self.margin * (hi - lo)
        return lo - pad, hi + pad

    # -- output heads --------------------------------------------------------------------------
    @property
    def layout(self) -> OutputLayout:
        """What G's output head needs: the numeric slice (which of its slots are linear) and the
        one-hot blocks."""
        values = [b for b in self.blocks if not b.softmax]
        linear = tuple(i for i, b in enumerate(values) if self.encoding_of(b.column) == "normal")
        return OutputLayout(self.width, len(values), tuple(b.width for b in self.blocks if b.softmax), linear)

    # -- frame <-> values ----------------------------------------------------------------------
    @staticmethod
    def _label_lookup(spec: ColumnSpec) -> dict[Any, int]:
        table: dict[Any, int] = {}
        for i, lab in enumerate(spec.categories):
            table[lab] = i
            table[str(lab)] = i
            if isinstance(lab, bool):
                table[str(lab).lower()] = i
        return table

    def values(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Frame -> value matrix (rows x columns). Unseen labels and text in numeric columns are
        errors naming the column: a table that does not match the model is no silent zero."""
        missing_cols = [c for c in self.columns if c not in frame.columns]
        if missing_cols:
            raise GanTuneError(f"{where}: lacks column(s) {', '.join(map(repr, missing_cols))}; its columns are {', '.join(map(str, frame.columns))}")
        out = np.empty((len(frame), self.n_columns), dtype=np.float64)
        for j, s in enumerate(self.specs):
            col = frame[s.name]
            na = col.isna().to_numpy()
            if s.dtype in DATE_TYPES:
                nums = date_numbers(parse_dates(col, s.day_first), s.dtype)
                bad = np.isnan(nums) & ~na
                if bad.any():
                    raise GanTuneError(f"{where}: column {s.name!r} holds {col[bad].iloc[0]!r} where dates are expected; fix the file")
                out[:, j] = nums
            elif s.is_numeric:
                nums = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                bad = np.isnan(nums) & ~na
                if bad.any():
                    raise GanTuneError(f"{where}: column {s.name!r} holds text such as {col[bad].iloc[0]!r} where numbers are expected; fix the file")
                if np.isinf(nums).any():
                    raise GanTuneError(f"{where}: column {s.name!r} holds infinite values; replace them (or mark them missing)")
                out[:, j] = nums
            else:
                lookup = self._lookup[j]
                present = col[~na]
                keys = pd.unique(present)
                codes_of: dict[Any, int] = {}
                unseen = []
                for key in keys:
                    code = lookup.get(plain_label(key), lookup.get(str(key)))
                    if code is None:
                        unseen.append(key)
                    else:
                        codes_of[key] = code
                if unseen:
                    shown = ", ".join(repr(plain_label(u)) for u in unseen[:3]) + (", ..." if len(unseen) > 3 else "")
                    raise GanTuneError(
                        f"{where}: column {s.name!r} has value(s) {shown} not among its {len(s.categories)} known labels; "
                        f"check that the file matches the model's data (labels: {', '.join(map(str, s.categories[:6]))}{', ...' if len(s.categories) > 6 else ''})"
                    )
                codes = np.full(len(frame), np.nan)
                codes[~na] = present.map(codes_of).to_numpy(dtype=np.float64)
                out[:, j] = codes
        return out

    def to_frame(self, values: np.ndarray) -> pd.DataFrame:
        """Value matrix -> frame with the original labels and dtypes (missing as NaN / <NA>)."""
        cols: dict[str, Any] = {}
        for j, s in enumerate(self.specs):
            v = values[:, j]
            na = np.isnan(v)
            if s.dtype in DATE_TYPES:
                cols[s.name] = date_values(v, s.dtype).to_numpy()
                continue
            if s.is_numeric:
                if s.kind == "integer":
                    ints = pd.array(np.where(na, 0, np.round(v)).astype(np.int64), dtype="Int64")
                    ints[na] = pd.NA
                    cols[s.name] = ints if na.any() else ints.astype(np.int64)
                else:
                    cols[s.name] = v
                continue
            labels = np.empty(len(v), dtype=object)
            cats = np.array(list(s.categories) + [None], dtype=object)
            labels[:] = cats[np.where(na, len(s.categories), v).astype(np.int64)]
            if s.dtype == "bool":
                arr = pd.array(labels, dtype="boolean")
                cols[s.name] = arr if na.any() else arr.astype(bool)
            elif s.dtype == "int":
                arr = pd.array(labels, dtype="Int64")
                cols[s.name] = arr if na.any() else arr.astype(np.int64)
            elif s.dtype == "float":
                cols[s.name] = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=np.float64)
            else:
                labels[na] = np.nan
                cols[s.name] = labels
        return pd.DataFrame(cols)

    # -- values <-> encoded --------------------------------------------------------------------
    def _cell(self, j: int) -> float:
        """Half the width of column j's recording cell (0: none known or rounding off)."""
        s = self.specs[j]
        return 0.0 if s.decimals is None else 0.5 * 10.0 ** (-s.decimals)

    def encode(self, values: np.ndarray, seed: int = 0) -> np.ndarray:
        """Value matrix -> encoded float32 matrix. Seeded: dequantisation and missing fill."""
        rng = np.random.default_rng(seed)
        n = len(values)
        out = np.zeros((n, self.width), dtype=np.float32)
        for b in self.blocks:
            col = values[:, b.column]
            na = np.isnan(col)
            if b.role == "value":
                x = col.copy()
                if na.any():
                    observed = col[~na]
                    x[na] = observed[rng.integers(0, len(observed), size=int(na.sum()))]
                out[:, b.start] = self._to_unit(b.column, x, rng)
            elif b.role == "missing":
                out[np.arange(n), b.start + na.astype(np.int64)] = 1.0
            else:
                codes = np.where(na, b.width - 1, col).astype(np.int64)
                out[np.arange(n), b.start + codes] = 1.0
        return out

    def _cdf(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Column j's empirical CDF as (values, levels) points; with a margin, the levels of the
        real range shrink to [d, 1 - d] and the margin takes d = margin / (1 + 2 margin) each side."""
        q = self.quantiles[self.specs[j].name]
        levels = np.linspace(0.0, 1.0, len(q))
        if self.margin > 0 and len(q) > 1:
            lo, hi = self.range(j)
            d = self.margin / (1.0 + 2.0 * self.margin)
            return np.concatenate([[lo], q, [hi]]), np.concatenate([[0.0], d + (1.0 - 2.0 * d) * levels, [1.0]])
        return q, levels

    def _to_unit(self, j: int, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Numeric column j -> [-1, 1], or a normal score for the normal encoding (dequantised
        within the recording cell)."""
        lo, hi = self.range(j)
        cell = self._cell(j) * _JITTER_SHARE
        if cell:  # a value off the grid (a rare outlier, see gan.columns) is dequantised around its grid point
            x = np.round(x, self.specs[j].decimals)
        enc = self.encoding_of(j)
        if enc in CDF_ENCODINGS:
            q, levels = self._cdf(j)
            if len(q) < 2 or q[-1] == q[0]:
                return np.zeros(len(x))
            # Each value's level range [F(x-), F(x+)] (a tie spans several levels); a seeded
            # uniform draw inside it makes the encoded column exactly uniform (randomised PIT).
            left = np.interp(x - cell, q, levels) if cell else np.interp(x, q, levels)
            right = np.interp(x + cell, q, levels) if cell else left
            lo_lv = np.minimum(left, right)
            u = lo_lv + (np.maximum(left, right) - lo_lv) * rng.random(len(x))
            if enc == "normal":
                return ndtri(np.clip(u, NORMAL_EPS, 1.0 - NORMAL_EPS))
            return 2.0 * u - 1.0
        if hi == lo:
            return np.zeros(len(x))
        if cell and 2.0 * cell / (hi - lo) >= _MIN_CELL:
            x = np.clip(x + rng.uniform(-cell, cell, size=len(x)), lo, hi)
        return (x - lo) / (hi - lo) * 2.0 - 1.0

    def _from_unit(self, j: int, z: np.ndarray) -> np.ndarray:
        lo, hi = self.range(j)
        enc = self.encoding_of(j)
        # G's normal slots are unbounded: Phi maps any value to a level; the other slots clip.
        u = ndtr(z) if enc == "normal" else (np.clip(z, -1.0, 1.0) + 1.0) / 2.0
        if enc in CDF_ENCODINGS:
            q, levels = self._cdf(j)
            if len(q) < 2 or q[-1] == q[0]:
                return np.full(len(z), q[0] if len(q) else lo)
            x = np.interp(u, levels, q)
        else:
            x = lo + u * (hi - lo) if hi > lo else np.full(len(z), lo)
        return x

    def decode(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded rows (G's output, soft or hard one-hots) -> value matrix.

        Blocks decode by argmax; numeric values are clipped to the column's range and rounded
        to its recorded precision (unless `round_values` is off); a 'missing' argmax gives NaN.
        """
        enc = np.asarray(encoded, dtype=np.float64)
        n = len(enc)
        out = np.empty((n, self.n_columns), dtype=np.float64)
        for b in self.blocks:
            j = b.column
            if b.role == "value":
                s = self.specs[j]
                x = self._from_unit(j, enc[:, b.start])
                lo, hi = self.range(j)
                x = np.clip(x, lo, hi)
                if self.round_values and s.decimals is not None:
                    x = np.round(x, s.decimals)
                out[:, j] = x
            elif b.role == "missing":
                missing = enc[:, b.start + 1] > enc[:, b.start]
                out[missing, j] = np.nan
            else:
                codes = enc[:, b.start : b.start + b.width].argmax(axis=1).astype(np.float64)
                if self.specs[j].has_missing:
                    codes[codes == b.width - 1] = np.nan
                out[:, j] = codes
        return out

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "margin": self.margin,
            "round_values": self.round_values,
            "columns": [s.to_dict() for s in self.specs],
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "quantiles": {k: v.tolist() for k, v in self.quantiles.items()},
            "column_encoding": dict(self.column_encoding),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TableTransformer":
        specs = [ColumnSpec.from_dict(c) for c in d["columns"]]
        return cls(specs, encoding=d.get("encoding", "minmax"), margin=float(d.get("margin", 0.0)),
                   round_values=bool(d.get("round_values", True)), bounds=d.get("bounds"), quantiles=d.get("quantiles"),
                   column_encoding=d.get("column_encoding"))

    def describe(self) -> str:
        lines = []
        for s in self.specs:
            lines.append(f"  {s.name}: {s.describe()}")
        return "\n".join(lines)


__all__ = ["Block", "ENCODINGS", "TableTransformer"]
