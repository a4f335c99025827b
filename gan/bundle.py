"""Model bundles: a directory that reloads without the training code's state.

    bundle.json       format marker and version
    config.json       GANConfig fields (loadable by `gantune train --config`)
    transformer.json  column types, labels, ranges, precision: the fitted table transformer
    data.json         data source, row count, held-out row indices, left-out columns
    generator.pt      generator state dict (torch.save; loaded with weights_only=True)
    discriminator.pt  discriminator state dict
    metrics.json      final scores, reference scores, status, score history
    histograms.png    real vs generated, per column

Version 1 bundles (numeric columns only, `scaler.json`) still load: their columns become numeric
columns with min-max scaling and no rounding, which is exactly how they were trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gan.columns import ColumnSpec
from gan.config import GANConfig
from gan.data import TabularData, data_spec
from gan.errors import GanTuneError
from gan.io import atomic_dir, write_json_atomic
from gan.models import Generator, sample_encoded
from gan.transform import TableTransformer

FORMAT = "gantune-bundle"
VERSION = 2
REQUIRED = ("bundle.json", "config.json", "generator.pt")


@dataclass
class ModelBundle:
    config: GANConfig
    generator: Generator
    transformer: TableTransformer
    metrics: dict[str, Any]
    data: dict[str, Any]
    path: Path | None = None
    # Kept by gan.fit so that save() writes what save_bundle writes (not read back by load_bundle).
    discriminator: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    train_values: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def columns(self) -> list[str]:
        return self.transformer.columns

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write this bundle to `path` atomically (`gan.load` / `gantune sample` read it back).

        The histograms need the training rows (kept by `gan.fit`); a bundle loaded from disk
        carries its figure and discriminator over from its own directory.
        """
        import shutil

        with atomic_dir(path, force=force) as tmp:
            write_json_atomic(tmp / "bundle.json", {"format": FORMAT, "version": VERSION, "n_columns": self.transformer.n_columns,
                                                    "width": self.transformer.width})
            write_json_atomic(tmp / "config.json", self.config.to_dict())
            write_json_atomic(tmp / "transformer.json", self.transformer.to_dict())
            write_json_atomic(tmp / "data.json", self.data)
            write_json_atomic(tmp / "metrics.json", self.metrics)
            torch.save({k: v.detach().cpu() for k, v in self.generator.state_dict().items()}, tmp / "generator.pt")
            if self.discriminator is not None:
                torch.save({k: v.detach().cpu() for k, v in self.discriminator.state_dict().items()}, tmp / "discriminator.pt")
            if self.train_values is not None:
                from gan.plots import histograms

                fake = self.sample_values(self.config.eval_samples, seed=self.config.eval_seed)
                histograms(self.transformer, self.train_values, fake, tmp / "histograms.png",
                           title=f"wd_mean {self.metrics.get('wd_mean', float('nan')):.4f}")
            for name in ("discriminator.pt", "histograms.png"):
                if self.path is not None and (self.path / name).is_file() and not (tmp / name).exists():
                    shutil.copy2(self.path / name, tmp / name)
        self.path = Path(path)
        return self.path

    def sample_encoded(self, n: int, seed: int = 0) -> np.ndarray:
        return sample_encoded(self.generator, n, seed)

    def sample_values(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` rows as a value matrix (see gan.transform)."""
        if n < 1:
            raise GanTuneError(f"-n must be a positive number of rows, got {n}")
        return self.transformer.decode(self.sample_encoded(n, seed))

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """`n` rows with the original column names, labels, dtypes and missing cells."""
        return self.transformer.to_frame(self.sample_values(n, seed))


def save_bundle(
    out: str | Path,
    config: GANConfig,
    generator: torch.nn.Module,
    data: TabularData,
    metrics: dict[str, Any],
    *,
    discriminator: torch.nn.Module | None = None,
    figure: bool = True,
    force: bool = False,
) -> Path:
    """Write a bundle atomically: a crash leaves either no directory or a complete one."""
    with atomic_dir(out, force=force) as tmp:
        write_json_atomic(tmp / "bundle.json", {"format": FORMAT, "version": VERSION, "n_columns": data.n_columns, "width": data.width})
        write_json_atomic(tmp / "config.json", config.to_dict())
        write_json_atomic(tmp / "transformer.json", data.transformer.to_dict())
        write_json_atomic(tmp / "data.json", data_spec(data))
        write_json_atomic(tmp / "metrics.json", metrics)
        torch.save({k: v.detach().cpu() for k, v in generator.state_dict().items()}, tmp / "generator.pt")
        if discriminator is not None:
            torch.save({k: v.detach().cpu() for k, v in discriminator.state_dict().items()}, tmp / "discriminator.pt")
        if figure:
            bundle = load_bundle(tmp)
            fake = bundle.sample_values(config.eval_samples, seed=config.eval_seed)
            from gan.plots import histograms

            histograms(data.transformer, data.train_values, fake, tmp / "histograms.png", title=f"wd_mean {metrics.get('wd_mean', float('nan')):.4f}")
    return Path(out)


def _read_json(path: Path, bundle: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise GanTuneError(f"bundle {path}: {path.name} is unreadable or corrupted; re-create the bundle with gantune train or export") from None


def _legacy_transformer(spec: Any) -> TableTransformer:
    """A version-1 bundle's scaler.json as the transformer it amounts to."""
    columns = [str(c) for c in spec["columns"]]
    lo, hi = [float(x) for x in spec["data_min"]], [float(x) for x in spec["data_max"]]
    if not (len(lo) == len(hi) == len(columns)):
        raise ValueError("one min and one max per column")
    specs = [ColumnSpec(c, "numeric", low=a, high=b, decimals=None) for c, a, b in zip(columns, lo, hi)]
    return TableTransformer(specs, encoding="minmax", round_values=False, bounds={c: (a, b) for c, a, b in zip(columns, lo, hi)})


def load_bundle(path: str | Path) -> ModelBundle:
    path = Path(path)
    if not path.is_dir():
        raise GanTuneError(f"bundle {path}: not a directory; pass the directory written by gantune train --out or gantune export --out")
    if not (path / "bundle.json").is_file() and (path / "model" / "bundle.json").is_file():
        path = path / "model"  # an export directory (gantune export --out): its model
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if not (path / "transformer.json").is_file() and not (path / "scaler.json").is_file():
        missing.append("transformer.json")
    if missing:
        raise GanTuneError(f"bundle {path}: missing {', '.join(missing)}; re-create the bundle with gantune train or export")
    meta = _read_json(path / "bundle.json", path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GanTuneError(f"bundle {path}: bundle.json is not a gantune bundle marker; re-create the bundle")
    if int(meta.get("version", 1)) > VERSION:
        raise GanTuneError(f"bundle {path}: written by a newer gantune (format {meta.get('version')}); upgrade gantune")
    config = GANConfig.from_dict(_read_json(path / "config.json", path), source=str(path / "config.json"))
    name = "transformer.json" if (path / "transformer.json").is_file() else "scaler.json"
    spec = _read_json(path / name, path)
    try:
        transformer = TableTransformer.from_dict(spec) if name == "transformer.json" else _legacy_transformer(spec)
    except (KeyError, TypeError, ValueError, GanTuneError):
        raise GanTuneError(f"bundle {path}: {name} is corrupted; re-create the bundle") from None
    generator = Generator(config, transformer.layout)
    try:
        state = torch.load(path / "generator.pt", map_location="cpu", weights_only=True)
        generator.load_state_dict(state)
    except Exception:  # unpickling errors, truncated zip, shape mismatch
        raise GanTuneError(f"bundle {path}: generator.pt is corrupted or does not match config.json; re-create the bundle") from None
    generator.eval()
    metrics = _read_json(path / "metrics.json", path) if (path / "metrics.json").is_file() else {}
    data = _read_json(path / "data.json", path) if (path / "data.json").is_file() else {}
    return ModelBundle(config, generator, transformer, metrics, data, path)
