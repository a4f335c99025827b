"""Model bundles: a directory that reloads without the training code's state.

    bundle.json       format marker and version
    config.json       GANConfig fields (loadable by `gantune train --config`)
    scaler.json       column names and per-column min / max (original units)
    data.json         data source, row count and held-out row indices
    generator.pt      generator state dict (torch.save; loaded with weights_only=True)
    discriminator.pt  discriminator state dict
    metrics.json      final scores, reference scores, status, score history
    histograms.png    real vs generated, per feature
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gan.config import GANConfig
from gan.data import Scaler, TabularData, data_spec
from gan.errors import GanTuneError
from gan.io import atomic_dir, write_json_atomic
from gan.models import Generator, sample_scaled

FORMAT = "gantune-bundle"
VERSION = 1
REQUIRED = ("bundle.json", "config.json", "scaler.json", "generator.pt")


@dataclass
class ModelBundle:
    config: GANConfig
    generator: Generator
    scaler: Scaler
    columns: list[str]
    metrics: dict[str, Any]
    data: dict[str, Any]
    path: Path | None = None

    def sample_scaled(self, n: int, seed: int = 0) -> np.ndarray:
        return sample_scaled(self.generator, n, seed, self.scaler.constant)

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """`n` rows in original units with the original column names."""
        if n < 1:
            raise GanTuneError(f"-n must be a positive number of rows, got {n}")
        return pd.DataFrame(self.scaler.inverse_transform(self.sample_scaled(n, seed)), columns=self.columns)


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
        write_json_atomic(tmp / "bundle.json", {"format": FORMAT, "version": VERSION, "n_features": data.n_features})
        write_json_atomic(tmp / "config.json", config.to_dict())
        write_json_atomic(tmp / "scaler.json", {"columns": data.columns, **data.scaler.to_dict()})
        write_json_atomic(tmp / "data.json", data_spec(data))
        write_json_atomic(tmp / "metrics.json", metrics)
        torch.save({k: v.detach().cpu() for k, v in generator.state_dict().items()}, tmp / "generator.pt")
        if discriminator is not None:
            torch.save({k: v.detach().cpu() for k, v in discriminator.state_dict().items()}, tmp / "discriminator.pt")
        if figure:
            bundle = load_bundle(tmp)
            fake = bundle.sample(config.eval_samples, seed=config.eval_seed).to_numpy()
            from gan.plots import histograms

            histograms(data.train_raw, fake, data.columns, tmp / "histograms.png", title=f"wd_mean {metrics.get('wd_mean', float('nan')):.4f}")
    return Path(out)


def _read_json(path: Path, bundle: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise GanTuneError(f"bundle {bundle}: {path.name} is unreadable or corrupted; re-create the bundle with gantune train or export") from None


def load_bundle(path: str | Path) -> ModelBundle:
    path = Path(path)
    if not path.is_dir():
        raise GanTuneError(f"bundle {path}: not a directory; pass the directory written by gantune train --out or export --out")
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if missing:
        raise GanTuneError(f"bundle {path}: missing {', '.join(missing)}; re-create the bundle with gantune train or export")
    meta = _read_json(path / "bundle.json", path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GanTuneError(f"bundle {path}: bundle.json is not a gantune bundle marker; re-create the bundle")
    config = GANConfig.from_dict(_read_json(path / "config.json", path), source=str(path / "config.json"))
    scaler_spec = _read_json(path / "scaler.json", path)
    try:
        scaler = Scaler.from_dict(scaler_spec)
        columns = [str(c) for c in scaler_spec["columns"]]
        if not (scaler.data_min.shape == scaler.data_max.shape == (len(columns),)):
            raise ValueError("one min and one max per column")
    except (KeyError, TypeError, ValueError):
        raise GanTuneError(f"bundle {path}: scaler.json is corrupted; re-create the bundle") from None
    generator = Generator(config, len(columns))
    try:
        state = torch.load(path / "generator.pt", map_location="cpu", weights_only=True)
        generator.load_state_dict(state)
    except Exception:  # unpickling errors, truncated zip, shape mismatch
        raise GanTuneError(f"bundle {path}: generator.pt is corrupted or does not match config.json; re-create the bundle") from None
    generator.eval()
    metrics = _read_json(path / "metrics.json", path) if (path / "metrics.json").is_file() else {}
    data = _read_json(path / "data.json", path) if (path / "data.json").is_file() else {}
    return ModelBundle(config, generator, scaler, columns, metrics, data, path)
