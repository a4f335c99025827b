"""`GANConfig`: the single source of hyperparameters.

The search space suggests exactly these field names, exports write ``asdict(config)``, and
``GANConfig.from_dict`` turns an unknown key (a typo) into an error instead of a silent default.
Defaults reproduce the reference model: an MLP GAN on Iris setosa.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from gan.errors import GanTuneError

LOSSES = ("bce", "wgan-gp")


def _is_int(value: Any) -> bool:
    """An integer (Python or NumPy), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of one GAN training. Frozen: derive variants with ``replace``."""

    noise_dim: int = 10
    g_widths: tuple[int, ...] = (16, 32)
    d_widths: tuple[int, ...] = (32, 16)
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 32
    # Budget: `epochs` passes over the training rows, or, when `steps` is set, that many
    # optimisation steps (one D step and one G step each) whatever the table's size. Epochs suit
    # small tables (the reference: 10,000 epochs of 50 rows = 20,000 steps); steps keep the
    # cost of a trial the same on 50 rows and on 1,000,000.
    epochs: int = 10_000
    steps: int | None = None
    loss: str = "bce"
    leaky_slope: float = 0.2
    # PacGAN (Lin et al. 2018; CTGAN's default pac=10): D judges `pac` rows at a time, their
    # encodings side by side (its input is pac x the row width), so a G that puts too little
    # variety into a batch is caught. 1 is the reference's D. Why: on tables of thousands of rows
    # tuned Gs came out under-dispersed (numeric columns too narrow, tails missing); pac 8 lowered
    # the best wd_mean of 12 of 12 configurations by 25 % (docs/measured.md, "PacGAN").
    # batch_size must be a multiple of pac.
    pac: int = 1
    # Temperature of the Gumbel-softmax over each categorical block of G's output (CTGAN: 0.2).
    gumbel_tau: float = 0.2
    # Exponential moving average of G's weights (0: off, the reference). With decay d > 0 the
    # model that is scored, exported and sampled is the average, updated after every step t
    # (1, 2, ...) as ema += (G - ema) * (1 - min(d, (1 + t) / (10 + t))): the warm-up keeps the
    # average close to G early on, so a member scored after a few hundred steps is not judged by
    # its initial weights. Why: G's weights oscillate under the adversarial game and its score with
    # them (gan.train.ema_weight has the figures).
    g_ema: float = 0.0
    # wgan-gp only: critic steps per generator step and gradient-penalty weight.
    n_critic: int = 5
    gp_weight: float = 10.0
    # Evaluation: every `eval_every` epochs (steps, when `steps` sets the budget), score
    # `eval_samples` generated rows drawn from a generator seeded with `eval_seed`, so a score is
    # repeatable for the same weights.
    eval_every: int = 500
    eval_samples: int = 1000
    eval_seed: int = 12345
    seed: int = 0

    def __post_init__(self) -> None:
        # Normalise lists (from JSON/YAML) to tuples so configs stay hashable and comparable, and
        # NumPy scalars (e.g. from a results table) to Python numbers. Anything else is left as
        # given for `validate` to reject with a message (not a bare TypeError / ValueError).
        for name in ("g_widths", "d_widths"):
            value = getattr(self, name)
            if _is_int(value):
                value = (value,)
            if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
                object.__setattr__(self, name, tuple(int(v) for v in value))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "int | None") and _is_int(value):
                object.__setattr__(self, f.name, int(value))
            elif f.type == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> GanTuneError:
            return GanTuneError(f"invalid GANConfig: {msg}")

        for name in ("noise_dim", "batch_size", "epochs", "eval_every", "eval_samples", "n_critic", "pac"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size % self.pac:
            raise bad(f"batch_size {self.batch_size} must be a multiple of pac {self.pac} (D judges pac rows at a time); change one of them")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1):
            raise bad(f"steps must be a positive integer or null, got {self.steps!r}")
        for name in ("seed", "eval_seed"):
            value = getattr(self, name)
            # NumPy's default_rng refuses negative seeds.
            if not _is_int(value) or value < 0:
                raise bad(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("g_widths", "d_widths"):
            widths = getattr(self, name)
            if not isinstance(widths, tuple) or not widths or any(w < 1 for w in widths):
                raise bad(f"{name} must be a non-empty list of positive integer widths, got {widths!r}")

        def number(name: str) -> float:
            value = getattr(self, name)
            if not (isinstance(value, float) and math.isfinite(value)):
                hint = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(value, str) and _parses_as_float(value) else ""
                raise bad(f"{name} must be a finite number, got {value!r}{hint}")
            return value

        for name in ("g_lr", "d_lr"):
            if not number(name) > 0:
                raise bad(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ("beta1", "beta2", "leaky_slope", "g_ema"):
            if not 0 <= number(name) < 1:
                raise bad(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.loss not in LOSSES:
            raise bad(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if number("gp_weight") < 0:
            raise bad(f"gp_weight must be >= 0, got {self.gp_weight!r}")
        if not number("gumbel_tau") > 0:
            raise bad(f"gumbel_tau must be a positive number, got {self.gumbel_tau!r}")

    # -- budget in steps -------------------------------------------------------------------------
    # Batches are always `batch_size` rows: the rows run through one seeded permutation per
    # epoch, and a batch that reaches an epoch's end continues into the next permutation. An
    # epoch is therefore n_rows / batch_size steps (50 rows, batch 32: 1.5625 steps), and
    # 10,000 epochs show every row 10,000 times, as with a short last batch per epoch.
    def steps_per_epoch(self, n_rows: int) -> float:
        return n_rows / self.batch_size

    def total_steps(self, n_rows: int) -> int:
        """Optimisation steps of the whole run on a table of `n_rows` training rows."""
        return self.steps if self.steps is not None else max(1, math.ceil(self.epochs * n_rows / self.batch_size - 1e-9))

    def eval_interval(self, n_rows: int) -> int:
        """Steps between evaluations (`eval_every` epochs, or steps under a steps budget)."""
        return self.eval_every if self.steps is not None else max(1, round(self.eval_every * n_rows / self.batch_size))

    # -- conversion -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["g_widths"] = list(self.g_widths)
        out["d_widths"] = list(self.d_widths)
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> "GANConfig":
        """Build from a mapping; unknown keys are an error that names them and the valid ones."""
        if not isinstance(data, Mapping):
            raise GanTuneError(f"{source}: expected a mapping of GANConfig fields, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise GanTuneError(
                f"{source}: unknown GANConfig field(s) {', '.join(unknown)}; "
                f"valid fields are {', '.join(cls.field_names())}"
            )
        try:
            return cls(**dict(data))
        except TypeError as exc:  # wrong value types that __post_init__ could not normalise
            raise GanTuneError(f"{source}: {exc}") from None

    def replace(self, **changes: Any) -> "GANConfig":
        return GANConfig.from_dict({**self.to_dict(), **changes})


def load_config(path: str | Path) -> GANConfig:
    """Load a GANConfig from a JSON or YAML file (fields not given keep their defaults)."""
    return GANConfig.from_dict(read_mapping(path), source=str(path))


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping with a one-line error on every failure."""
    p = Path(path)
    if not p.exists():
        raise GanTuneError(f"{p}: file not found; check the path")
    if p.is_dir():
        raise GanTuneError(f"{p}: is a directory; pass a .json or .yaml file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GanTuneError(f"{p}: cannot read as text ({exc.__class__.__name__}); pass a .json or .yaml file") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise GanTuneError(f"{p}: not valid {'YAML' if p.suffix.lower() in ('.yaml', '.yml') else 'JSON'} ({first})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GanTuneError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


__all__ = ["GANConfig", "LOSSES", "load_config", "read_mapping"]
