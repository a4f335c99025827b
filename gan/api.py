"""The Python API of the GAN: `fit`, `load`, `evaluate` (re-exported as `gan.fit` ...).

DataFrames in and out: `fit` takes a DataFrame, a CSV / Parquet path or a built-in dataset name,
`ModelBundle.sample` returns a DataFrame with the original columns, labels and dtypes, and
`evaluate` scores any generated rows (a DataFrame, a CSV or a bundle) against real ones. The
`gantune train` and `gantune evaluate` commands are thin layers over these functions. No Ray and
no Optuna here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Union

import numpy as np
import pandas as pd

from gan.bundle import ModelBundle, load_bundle
from gan.config import GANConfig, load_config
from gan.errors import GanTuneError

log = logging.getLogger(__name__)

# What `fit` and `evaluate` take as a table: a DataFrame, a CSV / Parquet path, or a built-in
# dataset name (gan.data.BUILTIN_DATASETS).
TableLike = Union[pd.DataFrame, str, "os.PathLike[str]"]
ConfigLike = Union[GANConfig, Mapping[str, Any], str, "os.PathLike[str]", None]

# load_data's keyword arguments that the API passes through (the CLI's data flags).
DATA_OPTIONS = ("columns", "metadata", "na_values", "dropna", "holdout", "encoding", "round_values", "margin")
DEFAULT_EVAL_ROWS = 1000
DEFAULT_EVAL_SEED = 12345


def as_config(config: ConfigLike, **changes: Any) -> GANConfig:
    """A GANConfig from a GANConfig, a mapping of its fields or a JSON / YAML file (None: the
    reference model), with `changes` applied."""
    if config is None:
        base = GANConfig()
    elif isinstance(config, GANConfig):
        base = config
    elif isinstance(config, Mapping):
        base = GANConfig.from_dict(config, source="config")
    else:
        base = load_config(config)
    changes = {k: v for k, v in changes.items() if v is not None}
    return base.replace(**changes) if changes else base


def _check_data_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise TypeError(f"unknown data option(s) {', '.join(unknown)}; valid: {', '.join(DATA_OPTIONS)}")


@contextlib.contextmanager
def _threads_for(device: Any) -> Iterator[None]:
    """One intra-op thread while training on the CPU, restored after.

    These networks are tiny: intra-op threads cost more in hand-off than they save (measured:
    2 threads used 1.8x the CPU time of 1 for the same wall time).
    """
    import torch

    if getattr(device, "type", str(device)) != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(
    data: TableLike = "iris-setosa",
    config: ConfigLike = None,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    progress: bool = False,
    **data_options: Any,
) -> ModelBundle:
    """Train one GAN on `data` and return it as a `ModelBundle` (`.sample(n, seed)`, `.save(path)`).

    `config`: a GANConfig, a mapping of its fields, or a JSON / YAML file such as an export's
    `best_config.json` (default: the reference model); `epochs` / `steps` / `seed` override it.
    `data_options` are the data flags of `gantune train`: columns, metadata, na_values, dropna,
    holdout, encoding ("auto", "normal", "quantile", "minmax"), round_values, margin. A diverging
    configuration raises `GanTuneError`.
    """
    from gan.data import data_spec, load_data
    from gan.models import sample_encoded
    from gan.report import evaluate_values
    from gan.train import check_batch_size, resolve_device, train

    _check_data_options(data_options)
    options = {"encoding": "auto", **data_options}
    config = as_config(config, epochs=epochs, seed=seed)
    if steps is not None:
        config = config.replace(steps=steps)
    table = load_data(data, seed=config.seed, **options)
    check_batch_size(config, table)
    dev = resolve_device(device)
    log.info("%s; training on %s for %d steps", table.describe(), dev, config.total_steps(len(table.train_idx)))
    with _threads_for(dev):
        result = train(config, table, device=dev, progress=progress)
    if result.diverged:
        raise GanTuneError(f"training {result.status} (non-finite loss); lower the learning rates (g_lr, d_lr) in the config")
    fake = table.transformer.decode(sample_encoded(result.generator, config.eval_samples, config.eval_seed))
    metrics = evaluate_values(table, fake)
    metrics.update(status=result.status, steps=result.steps_done, history=result.history)
    generator = result.generator.cpu().eval()
    return ModelBundle(config, generator, table.transformer, metrics, data_spec(table),
                       discriminator=result.discriminator.cpu(), train_values=table.train_values)


def load(path: str | os.PathLike[str]) -> ModelBundle:
    """A bundle written by `ModelBundle.save`, `gantune train` or an export's `model/`."""
    return load_bundle(path)


def _bundle_data(bundle: ModelBundle, real: TableLike | None, na_values: Any, dropna: bool):
    """The rows a bundle is scored against, in its own units and labels: `real`, else the data
    it was trained on (its recorded source and held-out rows)."""
    from gan.data import FRAME_SOURCE, data_for_transformer

    spec = bundle.data
    if real is not None:
        return data_for_transformer(real, bundle.transformer, na_values=na_values, dropna=dropna or bool(spec.get("dropna")))
    source = spec.get("source") or "iris-setosa"
    if source == FRAME_SOURCE:
        raise GanTuneError("this model was trained on a DataFrame: give the real rows to score it against (real=... in Python, --data FILE with gantune evaluate)")
    if not Path(source).exists() and spec.get("source_path"):
        source = spec["source_path"]  # trained from another working directory
    holdout = spec.get("holdout_idx")
    return data_for_transformer(source, bundle.transformer, holdout_idx=holdout, na_values=na_values,
                                dropna=dropna or bool(spec.get("dropna")))


def evaluate(
    real: TableLike | None,
    synthetic: pd.DataFrame | ModelBundle | str | os.PathLike[str],
    *,
    n: int = DEFAULT_EVAL_ROWS,
    seed: int = DEFAULT_EVAL_SEED,
    figure: str | os.PathLike[str] | None = None,
    max_copy_share: float | None = None,
    **data_options: Any,
) -> dict[str, Any]:
    """Score generated rows against real ones; returns every score as plain values.

    `synthetic`: a DataFrame or CSV / Parquet file of generated rows (any tool's), or a
    `ModelBundle` / bundle directory, which generates `n` rows with `seed`. `real`: a DataFrame,
    file or built-in name; None scores a bundle against the data it was trained on. The result
    holds `columns`, their `column_types` (numeric, integer, categorical, date, datetime: a
    datetime column's `wd_orig` is in seconds, a date's in days), per-column `wd` and
    `wd_orig`, `wd_mean` (the search metric), the guard (`copy_share`, `passes_guard`),
    `dcr_ratio`, `corr_diff`, `detect_auc`, and the same
    scores for the `references` (a Gaussian fit, a resample of the real rows). `figure`: write
    real vs generated histograms there.
    """
    from gan.data import load_data, read_frame
    from gan.plots import histograms
    from gan.report import column_types, evaluate_values

    _check_data_options(data_options)
    na_values, dropna = data_options.get("na_values"), bool(data_options.get("dropna", False))
    if isinstance(synthetic, (str, os.PathLike)) and Path(synthetic).is_dir():
        synthetic = load_bundle(synthetic)
    if isinstance(synthetic, ModelBundle):
        data = _bundle_data(synthetic, real, na_values, dropna)
        fake = synthetic.sample_values(n, seed=seed)
    else:
        options = {"encoding": "auto", **data_options}
        data = load_data("iris-setosa" if real is None else real, **options)
        frame, where = read_frame(synthetic, na_values=na_values)
        if len(frame) == 0:
            raise GanTuneError(f"{where}: no generated rows (header only?); give a CSV with at least one row")
        fake = data.transformer.values(frame, f"{where} (generated rows for {data.source})")
    metrics = evaluate_values(data, fake, max_copy_share=max_copy_share)
    if figure:
        histograms(data.transformer, data.train_values, fake, figure, title=f"wd_mean {metrics['wd_mean']:.4f}")
    return _plain({"columns": data.columns, "column_types": column_types(data.transformer.specs), **metrics})


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists (JSON-able)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


__all__ = ["ConfigLike", "TableLike", "as_config", "evaluate", "fit", "load"]
