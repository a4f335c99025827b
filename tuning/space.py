"""The Optuna define-by-run search space over `GANConfig` fields.

A space is a mapping from parameter name to a spec:

    noise_dim: {low: 2, high: 64, log: true}      # integer range (ints in, ints out)
    g_lr:      {low: 1.0e-5, high: 1.0e-2, log: true}
    batch_size: {choices: [16, 32, 64]}           # categorical
    loss: bce                                     # a fixed value

Names are `GANConfig` fields, plus four that shape the networks: `g_depth` / `d_depth` (number of
hidden layers) and `g_width` / `d_width` (what each hidden layer's width is drawn from; by
default powers of two, so the shapes a pool packs together stay few, tuning.pool). A
name that is neither is an error at start-up, as is an inverted range. A user file overrides the
defaults entry by entry (`--space FILE`).

`SearchSpace` is picklable (Ray stores it with the searcher's state so `--resume` works) and its
`__call__` is pure: it only asks the Optuna trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from gan.config import GANConfig, read_mapping
from gan.errors import GanTuneError

SHAPE_PARAMS = ("g_depth", "g_width", "d_depth", "d_width")
MAX_DEPTH = 4

# Default ranges: each contains the reference model (noise 10, G (16, 32), D (32, 16),
# lr 2e-4, betas (0.5, 0.999)). One fixed value departs from it: every configuration is scored
# and exported through a moving average of G's weights (GANConfig.g_ema; the reference has
# none, and a --space file with `g_ema: 0.0` restores that). Fixed, not searched: in-process pool
# runs (one worker, 4 minutes, 2026-11-29) found better or level bests with it on wine and
# on `bench/tables.py` tables of 10,000 and 15,000 rows (docs/measured.md, "Moving average of G"), while
# searching it over {0, 0.99, 0.999} was worse on one of two 10,000-row runs (0.0592 against
# 0.0350 without an average).
DEFAULT_SPACE: dict[str, Any] = {
    "noise_dim": {"low": 2, "high": 64, "log": True},
    "g_depth": {"low": 1, "high": 3},
    "g_width": {"choices": [8, 16, 32, 64, 128]},
    "d_depth": {"low": 1, "high": 3},
    "d_width": {"choices": [8, 16, 32, 64, 128]},
    "g_lr": {"low": 1e-5, "high": 1e-2, "log": True},
    "d_lr": {"low": 1e-5, "high": 1e-2, "log": True},
    "beta1": {"low": 0.0, "high": 0.95},
    "beta2": {"low": 0.9, "high": 0.9999},
    "g_ema": 0.995,
}

# Fields a space may not touch: they define the trial budget and scoring, not the model.
NOT_SEARCHABLE = ("epochs", "steps", "eval_every", "eval_samples", "eval_seed", "seed")
# Batch sizes searched by default, scaled to the table: two choices, MAX_BATCH (or the largest
# power of two <= the training rows) and a quarter of it, at least MIN_BATCH. 50 rows -> 16, 32
# (the reference is 32); 344 -> 64, 256; 2,000 and up -> 256, 1,024. Two, not more: members of
# one sub-pack share a batch size, so every extra choice splits the pool's packs.
MIN_BATCH, MAX_BATCH = 16, 1024
# PacGAN (GANConfig.pac): fixed to PAC on tables of PAC_MIN_ROWS training rows or more, when
# every batch size the space offers holds at least PAC_MIN_GROUPS groups of PAC rows; 1 (the
# reference's D) otherwise. Measured (docs/measured.md, "PacGAN"): lone trainings of the same
# configurations, pac 8 against 1, best wd_mean 25 % lower on three 10,000- and 12,000-row
# tables (12 of 12 better), 80 % on penguins (344 rows, 4 of 4) and 25 % on 2,000 rows (3 of 4),
# pac 4 as good, pac 16 worse; on iris-setosa (50 rows, batch 32) level (0.0564 against 0.0557):
# there it stays off, as on the other small built-in tables.
PAC, PAC_MIN_ROWS, PAC_MIN_GROUPS = 8, 300, 8


def default_batch(n_rows: int) -> int:
    """One batch size for a table of `n_rows` rows: the power of two nearest 4 x sqrt(rows),
    within MIN_BATCH .. MAX_BATCH and at most the rows. 50 rows -> 32 (the reference); 344 ->
    64; 2,000 -> 128; 54,000 -> 1,024. Pool mode fixes batch_size to it by default: members of a
    sub-pack share their batch size, so searching it would split every pack."""
    b = 1 << round(math.log2(4.0 * math.sqrt(max(1, n_rows))))
    b = min(MAX_BATCH, max(MIN_BATCH, b))
    while b > n_rows and b > 1:
        b //= 2
    return b


def default_pac(n_rows: int, batch_sizes: Sequence[int]) -> int:
    """GANConfig.pac for a table of `n_rows` rows trained at `batch_sizes` (see PAC)."""
    if n_rows >= PAC_MIN_ROWS and batch_sizes and all(b % PAC == 0 and b >= PAC * PAC_MIN_GROUPS for b in batch_sizes):
        return PAC
    return 1


def default_batch_choices(n_rows: int) -> list[int]:
    """The batch sizes the default space offers for a table of `n_rows` training rows."""
    hi = MAX_BATCH
    while hi > n_rows and hi > 1:
        hi //= 2
    if hi < MIN_BATCH:
        return [max(1, min(n_rows, MIN_BATCH))]
    return sorted({max(MIN_BATCH, hi // 4), hi})


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "float", "categorical", "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None


def _parse_param(name: str, spec: Any, where: str) -> Param:
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "log", "step", "choices"}
        if unknown:
            raise GanTuneError(f"{where}: {name}: unknown key(s) {', '.join(sorted(unknown))}; use low/high/log/step or choices")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, (list, tuple)) or not choices:
                raise GanTuneError(f"{where}: {name}: choices must be a non-empty list")
            return Param(name, "categorical", choices=tuple(tuple(c) if isinstance(c, list) else c for c in choices))
        if "low" not in spec or "high" not in spec:
            raise GanTuneError(f"{where}: {name}: a range needs both low and high (or give choices, or a fixed value)")
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise GanTuneError(f"{where}: {name}: low and high must be numbers, got {low!r} and {high!r}")
        if low > high:
            raise GanTuneError(f"{where}: {name}: inverted range, low {low} > high {high}; swap them")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise GanTuneError(f"{where}: {name}: a log range needs low > 0, got {low}")
        is_int = isinstance(low, int) and isinstance(high, int) and name not in ("g_lr", "d_lr", "beta1", "beta2", "gp_weight", "leaky_slope")
        return Param(name, "int" if is_int else "float", low=low, high=high, log=log, step=spec.get("step"))
    return Param(name, "fixed", value=tuple(spec) if isinstance(spec, list) else spec)


class SearchSpace:
    """Define-by-run space: `space(trial)` suggests parameters; `to_config` builds a GANConfig."""

    def __init__(self, spec: Mapping[str, Any] | None = None, *, base: GANConfig | None = None, where: str = "search space",
                 n_rows: int | None = None, search_batch: bool = True, pac_rows: int | None = None) -> None:
        merged = dict(DEFAULT_SPACE)
        # `n_rows`: batch_size suited to the table unless `spec` sets it -- searched over
        # default_batch_choices(n_rows), or fixed to default_batch(n_rows) without `search_batch`.
        if n_rows is not None and "batch_size" not in (spec or {}):
            merged["batch_size"] = {"choices": default_batch_choices(n_rows)} if search_batch else default_batch(n_rows)
        merged.update(spec or {})
        self.base = base or GANConfig()
        valid = set(GANConfig.field_names()) | set(SHAPE_PARAMS)
        unknown = sorted(set(merged) - valid)
        if unknown:
            raise GanTuneError(
                f"{where}: unknown parameter(s) {', '.join(unknown)}; valid names are GANConfig fields "
                f"({', '.join(n for n in GANConfig.field_names() if n not in NOT_SEARCHABLE)}) and {', '.join(SHAPE_PARAMS)}"
            )
        frozen = sorted(set(merged) & set(NOT_SEARCHABLE))
        if frozen:
            raise GanTuneError(f"{where}: {', '.join(frozen)} set the trial budget, not the model; use --epochs / --seed instead")
        self.params = {name: _parse_param(name, s, where) for name, s in merged.items()}
        # `pac_rows`: the table's training rows; pac fixed to default_pac for the batch sizes the
        # space offers (the base config's when it searches none) unless `spec` sets it.
        if pac_rows is not None and "pac" not in (spec or {}):
            batch = self.params.get("batch_size")
            sizes = self._values(batch) if batch is not None else (self.base.batch_size,)
            self.params["pac"] = Param("pac", "fixed", value=default_pac(pac_rows, [b for b in sizes if isinstance(b, int)]))
        # A fixed width list overrides depth/width ranges for that network.
        for net in ("g", "d"):
            if f"{net}_widths" in merged:
                self.params.pop(f"{net}_depth", None)
                self.params.pop(f"{net}_width", None)
        for net in ("g", "d"):
            depth = self.params.get(f"{net}_depth")
            if depth is not None and depth.kind in ("int", "float") and not (1 <= depth.low and depth.high <= MAX_DEPTH):
                raise GanTuneError(f"{where}: {net}_depth must lie within 1..{MAX_DEPTH}, got {depth.low}..{depth.high}")
        # Check the space can produce valid configs: build one from the midpoint of every range,
        # and every batch size against every pac (a midpoint sees only the first of each).
        self.midpoint_config()
        sizes, pacs = (self._values(self.params.get(n)) for n in ("batch_size", "pac"))
        for b in sizes:
            for p in pacs:
                if isinstance(b, int) and isinstance(p, int) and p > 0 and b % p:
                    raise GanTuneError(f"{where}: batch_size {b} is not a multiple of pac {p} (D judges pac rows at a time); change the batch sizes or pac")

    def _values(self, p: Param | None) -> tuple[Any, ...]:
        """The values a fixed or categorical parameter takes (none for a range)."""
        if p is None:
            return ()
        return (p.value,) if p.kind == "fixed" else p.choices if p.kind == "categorical" else ()

    @classmethod
    def from_file(cls, path: str | None, *, base: GANConfig | None = None) -> "SearchSpace":
        if path is None:
            return cls(base=base)
        return cls(read_mapping(path), base=base, where=str(path))

    def midpoint_config(self) -> GANConfig:
        """The config at the middle of every range (first choice, fixed values): a typical
        member, e.g. for the budget in steps at the batch size the space fixes."""
        return self.to_config(self._midpoint())

    def _midpoint(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.params.values():
            if p.kind == "fixed":
                out[p.name] = p.value
            elif p.kind == "categorical":
                out[p.name] = p.choices[0]
            else:
                mid = math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2
                out[p.name] = int(round(mid)) if p.kind == "int" else mid
        return out

    def __call__(self, trial: Any) -> dict[str, Any]:
        """Suggest every searched parameter on an Optuna trial; return the fixed ones."""
        fixed: dict[str, Any] = {}
        for p in self.params.values():
            if p.name in ("g_width", "d_width"):
                continue  # suggested per layer below, once depth is known
            if p.kind == "fixed":
                fixed[p.name] = list(p.value) if isinstance(p.value, tuple) else p.value
            elif p.kind == "categorical":
                trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
            else:
                trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log, step=p.step)
        for net in ("g", "d"):
            depth_p = self.params.get(f"{net}_depth")
            width_p = self.params.get(f"{net}_width")
            if depth_p is None:
                continue
            depth = int(fixed.get(f"{net}_depth", trial.params.get(f"{net}_depth", 0)))
            for i in range(depth):
                name = f"{net}_width_{i}"
                if width_p is None or width_p.kind == "fixed":
                    fixed[name] = int(width_p.value if width_p else self.base.g_widths[0])
                elif width_p.kind == "categorical":
                    trial.suggest_categorical(name, list(width_p.choices))
                else:
                    trial.suggest_int(name, int(width_p.low), int(width_p.high), log=width_p.log)
        return fixed

    def suggest_config(self, trial: Any, **overrides: Any) -> GANConfig:
        """Suggest on an Optuna `trial` and return its whole config (searched and fixed values;
        `overrides` on top): what an in-process search trains."""
        fixed = self(trial)  # suggests first: trial.params fills as it runs
        return self.to_config({**trial.params, **fixed}, **overrides)

    def to_config(self, params: Mapping[str, Any], **overrides: Any) -> GANConfig:
        """Turn suggested + fixed parameters (flat, as Ray Tune sees them) into a GANConfig."""
        fields = {k: v for k, v in params.items() if k in GANConfig.field_names()}
        for net in ("g", "d"):
            if f"{net}_depth" in params:
                depth = int(params[f"{net}_depth"])
                if f"{net}_width_0" in params or depth == 0:  # one width per hidden layer
                    fields[f"{net}_widths"] = [int(params[f"{net}_width_{i}"]) for i in range(depth)]
                else:  # a single width given for every hidden layer of the network
                    fields[f"{net}_widths"] = [int(params[f"{net}_width"])] * depth
        merged = {**self.base.to_dict(), **fields, **overrides}
        return GANConfig.from_dict(merged, source="search space")

    def describe(self) -> str:
        parts = []
        for p in self.params.values():
            if p.kind == "fixed":
                parts.append(f"{p.name}={p.value}")
            elif p.kind == "categorical":
                parts.append(f"{p.name} in {list(p.choices)}")
            else:
                parts.append(f"{p.name} in [{p.low}, {p.high}]{' log' if p.log else ''}")
        return "; ".join(parts)
