"""Shared fixtures for the GAN-core, CLI and bad-input tests.

Budgets are tiny on purpose (a few epochs or steps): these tests check behaviour, not quality.
The quality checks (defaults reach the reference wd_mean on iris-setosa; a packed member equals a
lone trainer over the full reference run) are marked `slow`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# A fast config for behaviour tests: the reference networks, a few epochs, cheap evaluation.
TINY = dict(epochs=4, eval_every=2, eval_samples=200)


@pytest.fixture
def one_thread():
    """The networks are tiny: one intra-op thread is faster and keeps 2-core machines responsive."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def restore_logging():
    """`tuning.cli.main` installs a root handler on the current (captured) stderr; remove it after
    the test so later tests do not log into a closed capture stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def tiny_config():
    from gan.config import GANConfig

    return GANConfig(**TINY)


@pytest.fixture(scope="session")
def setosa():
    from gan.data import load_data

    return load_data("iris-setosa")


def make_frame(n: int = 100, d: int = 4, seed: int = 0) -> pd.DataFrame:
    """A numeric table with distinct ranges per column (so scaling matters)."""
    rng = np.random.default_rng(seed)
    cols = {f"x{j}": rng.normal(loc=10.0 * j, scale=1.0 + j, size=n) for j in range(d)}
    return pd.DataFrame(cols)


def make_mixed_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A real-looking table: every column kind, missing cells in three of them (shares 0.58,
    0.12, 0.32 at the defaults), one category tied to a numeric column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "x": np.round(x * 2 + 10, 1),  # numeric, 1 decimal
        "y": np.round(rng.uniform(0, 5, n), 2),  # numeric, 2 decimals, mostly missing
        "k": rng.integers(0, 200, n).astype(float),  # integer with missing cells
        "c": np.where(x > 0, "hi", "lo"),  # categorical, determined by x
        "d": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),  # categorical with missing cells
        "flag": rng.random(n) < 0.3,  # bool
    })
    frame.loc[rng.random(n) < 0.6, "y"] = np.nan
    frame.loc[rng.random(n) < 0.1, "k"] = np.nan
    frame.loc[rng.random(n) < 0.3, "d"] = None
    frame["k"] = frame["k"].astype("Int64")
    return frame


def data_from_frame(frame: pd.DataFrame, source: str = "synthetic", **fit_kw):
    """TabularData for an in-memory frame (inferred columns, every row training), no file."""
    from gan.columns import infer_columns
    from gan.data import TabularData
    from gan.transform import TableTransformer

    plan = infer_columns(frame, source)
    values = TableTransformer(plan.specs).values(frame, source)
    return TabularData(source, TableTransformer.fit(plan.specs, values, **fit_kw), values, left_out=plan.left_out)


@pytest.fixture(scope="session")
def normal_data():
    """The mixed table with normal-encoded numeric columns (G's linear slots) beside one of few
    values encoded minmax (a tanh slot): a layout with both kinds of numeric slot."""
    frame = make_mixed_frame()
    frame["few"] = np.round(np.random.default_rng(5).uniform(0, 3, len(frame)), 1)  # 31 values
    from gan.data import TabularData
    from gan.transform import TableTransformer

    data = data_from_frame(frame, "mixed-normal", encoding="normal")
    state = data.transformer.to_dict()
    state["column_encoding"]["few"] = "minmax"
    return TabularData("mixed-normal", TableTransformer.from_dict(state), data.values)


@pytest.fixture(scope="session")
def mixed_data():
    """`make_mixed_frame()` as TabularData, quantile-encoded (tanh slots; `normal_data` has the
    default's linear ones)."""
    return data_from_frame(make_mixed_frame(), "mixed", encoding="quantile")


@pytest.fixture
def csv_100(tmp_path) -> Path:
    path = tmp_path / "table.csv"
    make_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A bundle trained for a few epochs on iris-setosa, shared read-only by many tests."""
    import torch

    from gan.bundle import save_bundle
    from gan.config import GANConfig
    from gan.data import load_data
    from gan.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data("iris-setosa")
        config = GANConfig(**TINY)
        result = train(config, data, device="cpu")
        out = tmp_path_factory.mktemp("bundles") / "tiny"
        save_bundle(out, config, result.generator, data, result.metrics, discriminator=result.discriminator)
    finally:
        torch.set_num_threads(threads)
    return out


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`gantune ARGS` in a new process (the installed console script's code path)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    script = Path(sys.executable).parent / "gantune"
    if script.is_file():
        cmd = [str(script)]
    else:  # not installed as a console script: same entry point through the interpreter
        cmd = [sys.executable, "-c", "from tuning.cli import main_entry; main_entry()"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env)


# One embedded 2-CPU Ray instance shared by every in-process tuning test (tests/tuning,
# tests/reliability): starting Ray costs seconds, and a process can hold only one.
from tests.helpers import local_ray  # noqa: E402,F401
