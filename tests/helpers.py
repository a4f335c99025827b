"""Shared helpers for the tuning tests: `gantune` in subprocesses, polling, study reads, and the
fault-injecting trainables the reliability tests install (the product has no test hooks)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

GANTUNE = [sys.executable, "-m", "tuning.cli"]
ROOT = Path(__file__).resolve().parents[1]


def check_one_line_error(proc: Any, *needles: str) -> None:
    """`proc` (a CompletedProcess, or anything with returncode / stdout / stderr) refused its
    input as gantune must: exit status 2 and one line on stderr, "gantune: error: ..." holding
    every one of `needles`, and no traceback anywhere."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gantune: error:"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def run_gantune(*args: str, timeout: float = 600, cwd: str | Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ADDRESS": ""}
    return subprocess.run([*GANTUNE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env, **kw)


def popen_gantune(*args: str, log: Path, cwd: str | Path | None = None, pool_checkpoint_every: float | None = None,
                  round_pause: float = 0.0) -> subprocess.Popen:
    """`gantune ARGS` in the background, in a new process session (so the test can kill the
    driver with everything it started). `pool_checkpoint_every`: the driver installs
    `frequent_pool_checkpoints` first, so pool workers checkpoint that often instead of every 30 s;
    `round_pause`: and each pool turn takes at least that long (see `frequent_pool_checkpoints`)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ADDRESS": ""}
    fh = open(log, "w")
    cmd = list(GANTUNE)
    if pool_checkpoint_every is not None or round_pause:
        every = None if pool_checkpoint_every is None else float(pool_checkpoint_every)
        cmd = [sys.executable, "-c", "import sys, tuning.pool, tuning.cli; from tests.helpers import frequent_pool_checkpoints; "
               f"tuning.pool.pool_trainable = frequent_pool_checkpoints({every!r}, {float(round_pause)!r}); "
               "sys.exit(tuning.cli.main(sys.argv[1:]))"]
    return subprocess.Popen([*cmd, *args], stdout=fh, stderr=subprocess.STDOUT, cwd=cwd or ROOT, env=env, start_new_session=True)


def wait_for(what: str, check: Callable[[], Any], timeout: float, *, proc: subprocess.Popen | None = None,
             log: Path | None = None, interval: float = 0.25) -> Any:
    """Poll `check()` until it returns something truthy (returned); fail after `timeout` seconds,
    or at once when `proc` (the process expected to produce that state) has ended."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log is not None and log.is_file() else ""
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def check_export_files(out: Path) -> None:
    """An export directory holds every file it promises, and best_config.json exactly the
    GANConfig fields."""
    from gan.config import GANConfig

    for name in ("best_config.json", "best_config.yaml", "trials.csv", "summary.json",
                 "model/generator.pt", "report/histograms.png", "report/optimization_history.png"):
        assert (out / name).is_file(), name
    raw = json.loads((out / "best_config.json").read_text())
    assert set(raw) == set(GANConfig.field_names())


def study_trials(run_dir: Path) -> list:
    """The run's Optuna trials by number, read from its journal (works while a run writes it: a
    half-written last line is skipped by Optuna's reader); [] before the study exists."""
    from tuning.run import STUDY_FILE, load_study

    if not (run_dir / STUDY_FILE).is_file():
        return []
    try:
        study = load_study(run_dir, run_dir.name)
    except (KeyError, ValueError):  # the study record itself is not written yet
        return []
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def study_states(run_dir: Path) -> list[str]:
    """Optuna trial states, by trial number."""
    return [t.state.name for t in study_trials(run_dir)]


def snapshot_statuses(run_dir: Path) -> dict[str, str]:
    """Ray trial directory name -> status in the run's latest experiment-state snapshot (what
    --resume restores; a trial finished after the snapshot is re-run)."""
    states = sorted(run_dir.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    if not states:
        return {}
    try:
        raw = json.loads(states[-1].read_text())
    except (OSError, ValueError):  # being rewritten
        return {}
    out = {}
    for entry in raw.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        out[Path(trial["relative_logdir"]).name] = trial["status"]
    return out


def pool_checkpoints(run_dir: Path) -> dict[Path, list[int]]:
    """Pool-worker checkpoints in a run directory -> the live Optuna numbers each holds."""
    out = {}
    for path in run_dir.glob("*/checkpoint_*/pool.json"):
        try:
            out[path.parent] = json.loads(path.read_text())["numbers"]
        except (OSError, ValueError, KeyError):  # being written
            continue
    return out


def trial_results(run_dir: Path) -> dict[str, list[dict]]:
    """Every reported result of every Ray trial, read from Ray's per-trial result.json files."""
    out = {}
    for path in sorted(run_dir.glob("*/result.json")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name] = lines
    return out


# ---------------------------------------------------------------------------------------------
# Fault injection: trainables a test installs with monkeypatch in the driver (run.py looks the
# trainable up when it builds the Tuner). They are closures, so Ray pickles them by value; inside
# the Ray worker they import the product's own (unpatched) trainable and wrap `ray.tune.report`,
# which the product's trainables look up at each call.
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def reports_through(wrap: Callable[[Callable[..., None]], Callable[..., None]]):
    """Inside a Ray worker: `ray.tune.report` is `wrap(the real report)` until the block ends."""
    import ray.tune

    real = ray.tune.report
    ray.tune.report = wrap(real)
    try:
        yield
    finally:
        ray.tune.report = real


def failing_trial(at_epoch: float, marker: Path, when: Callable[[dict], bool] = lambda params: True):
    """A per-trial trainable (tuning.trainable.gan_trainable) where one trial raises once it is
    about to report an epoch >= `at_epoch`, on every attempt (so it ends as errored after its
    retries): the first trial to start whose parameters satisfy `when`. It writes its Ray trial
    id to `marker` (the test reads which trial it was)."""

    # Named as the product's trainable: Ray identifies a trainable by name (Tuner.restore).
    def gan_trainable(params: dict[str, Any], data: Any, space: Any) -> None:
        import os

        import ray.tune

        from tuning.trainable import gan_trainable as product  # the worker's own, unpatched

        trial_id = ray.tune.get_context().get_trial_id()
        mine = False
        if when(params):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, trial_id.encode())
                os.close(fd)
                mine = True
            except FileExistsError:
                mine = open(marker).read() == trial_id  # a retry of the chosen trial
        if not mine:
            return product(params, data, space)

        def failing(real: Callable[..., None]) -> Callable[..., None]:
            def report(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> None:
                if metrics["epoch"] >= at_epoch:
                    raise RuntimeError(f"injected failure at epoch {metrics['epoch']:g}")
                real(metrics, *args, **kwargs)
            return report

        with reports_through(failing):
            return product(params, data, space)

    return gan_trainable


def frequent_pool_checkpoints(seconds: float | None, round_pause: float = 0.0):
    """A pool trainable that checkpoints every `seconds` (None: the product's default) and, with a
    `round_pause`, reports after every turn and pauses that long after each. The pause gives a test
    that must catch members in flight (a kill while they train) a window in wall-clock time,
    whatever the machine's speed: counted in steps alone, the members of these tests finished
    before the kill on a machine three times as fast as the one the tests were written on
    (2026-11-28)."""

    def pool_trainable(params: dict[str, Any], data: Any, space: Any) -> None:  # Ray knows trainables by name
        import time

        import tuning.pool

        if seconds is not None:
            tuning.pool.CHECKPOINT_EVERY_S = seconds
        if round_pause:
            tuning.pool.REPORT_EVERY_S = 0.0

        def pausing(real: Callable[..., None]) -> Callable[..., None]:
            def report(*args: Any, **kwargs: Any) -> None:
                real(*args, **kwargs)
                time.sleep(round_pause)
            return report

        with reports_through(pausing if round_pause else lambda real: real):
            return tuning.pool.pool_trainable(params, data, space)

    return pool_trainable


def pool_worker_killed_after(checkpoints: int, marker: Path):
    """A pool trainable (tuning.pool.pool_trainable) that checkpoints at every turn and SIGKILLs
    its own process once `checkpoints` checkpoints are registered -- only on its first start, so
    Ray restarts it once, from that checkpoint. `marker` gets the kill's line:
    "<trial dir name> <Optuna numbers the checkpoint holds>"."""

    def pool_trainable(params: dict[str, Any], data: Any, space: Any) -> None:  # Ray knows trainables by name
        import json
        import os
        import signal
        from pathlib import Path

        import ray.tune

        import tuning.pool

        if Path(marker).exists():  # the restart
            return tuning.pool.pool_trainable(params, data, space)
        # A checkpoint at every turn instead of every 30 s: the kill comes after a few turns.
        tuning.pool.CHECKPOINT_EVERY_S = 0.0
        seen = []

        def killing(real: Callable[..., None]) -> Callable[..., None]:
            def report(metrics: dict[str, Any], *args: Any, checkpoint: Any = None, **kwargs: Any) -> None:
                real(metrics, *args, checkpoint=checkpoint, **kwargs)
                # report() returns once the driver has taken this result (Ray's function trainable
                # hands results over synchronously), so the checkpoint is the trial's latest now.
                if checkpoint is not None and metrics["live"]:
                    with checkpoint.as_directory() as d:
                        seen.append(json.loads((Path(d) / tuning.pool.POOL_INDEX).read_text())["numbers"])
                    if len(seen) >= checkpoints:
                        name = Path(ray.tune.get_context().get_trial_dir()).name
                        with open(marker, "a") as fh:
                            fh.write(f"{name} {json.dumps(seen[-1])}\n")
                        os.kill(os.getpid(), signal.SIGKILL)
            return report

        with reports_through(killing):
            return tuning.pool.pool_trainable(params, data, space)

    return pool_trainable


@pytest.fixture(scope="session")
def local_ray():
    """One embedded 2-CPU Ray instance shared by the in-process tuning tests."""
    import ray

    # address="local": always a new instance of its own, never a cluster another test started
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
