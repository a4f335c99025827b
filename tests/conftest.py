"""Shared fixtures for the GAN-core, CLI and bad-input tests.

Budgets are tiny on purpose (a few epochs): these tests check behaviour, not quality. The one
quality check (defaults reach wd_mean < 0.09 on iris-setosa) is marked `slow`.
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
