"""Shared helpers for tests that drive `gantune` in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GANTUNE = [sys.executable, "-m", "tuning.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run_gantune(*args: str, timeout: float = 600, cwd: str | Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ADDRESS": ""}
    return subprocess.run([*GANTUNE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env, **kw)


def popen_gantune(*args: str, log: Path, cwd: str | Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ADDRESS": ""}
    fh = open(log, "w")
    # A new session so the test can kill the driver with everything it started.
    return subprocess.Popen([*GANTUNE, *args], stdout=fh, stderr=subprocess.STDOUT, cwd=cwd or ROOT, env=env, start_new_session=True)


def study_states(run_dir: Path) -> list[str]:
    """Optuna trial states read from the run's journal (works while a run writes it: a
    half-written last line is skipped by Optuna's reader)."""

    from tuning.run import STUDY_FILE, load_study

    if not (run_dir / STUDY_FILE).is_file():
        return []
    try:
        study = load_study(run_dir, run_dir.name)
    except (KeyError, ValueError):  # the study record itself is not written yet
        return []
    return [t.state.name for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


def trial_results(run_dir: Path) -> dict[str, list[dict]]:
    """Every reported result of every trial, read from Ray's per-trial result.json files."""
    out = {}
    for path in sorted(run_dir.glob("*/result.json")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name] = lines
    return out


@pytest.fixture(scope="session")
def local_ray():
    """One embedded 2-CPU Ray instance shared by the in-process tuning tests."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
