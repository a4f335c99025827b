"""Killing the driver mid-run (SIGKILL, or a user's Ctrl-C) and `--resume`: finished work is kept,
unfinished work continues, every configuration is told once and no Optuna trial stays RUNNING.

Each run is a `gantune tune` subprocess in its own process session (SIGKILL of the session takes
the driver and every Ray process it started). "Kept" is checked with what a re-run would change
(result lines, checkpoint directories, Optuna trials), not with seeded scores a re-run reproduces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from tests.helpers import (
    check_one_line_error,
    pool_checkpoints,
    popen_gantune,
    run_gantune,
    snapshot_statuses,
    study_trials,
    trial_results,
    wait_for,
)

pytestmark = pytest.mark.slow

# Small networks: the budgets below are about time, not quality.
SMALL_SPACE = "g_depth: 1\nd_depth: 1\ng_width: 16\nd_width: 16\nnoise_dim: 4\n"


def _interrupt(proc, sig) -> None:
    """SIGKILL: the whole session (driver and Ray); SIGINT: the driver alone, as Ctrl-C would."""
    try:
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what SIGINT left of the session, if anything
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _resume(tmp_path, name: str, out, *extra: str):
    proc = run_gantune("tune", "--resume", "--storage-path", str(tmp_path), "--name", name, "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "run interrupted" not in proc.stdout
    assert (out / "best_config.json").is_file()
    return proc


# -- per-trial mode (--pack off) ----------------------------------------------------------------
# 1,600 steps a trial, one at a time: the run is still going when two trials have finished.
TRIAL_ARGS = ["--pack", "off", "--num-samples", "4", "--steps", "1600", "--max-concurrent", "1", "--scheduler", "none",
              "--seed", "3", "--space", "{space}"]


def test_killed_trial_run_resumes_and_keeps_finished_trials(tmp_path):
    """Fault: the driver and its Ray are SIGKILLed mid-run in per-trial mode (`--pack off`).
    `gantune tune` without `--resume` then refuses to overwrite the run; `--resume` keeps the
    finished trials (no result line or checkpoint is rewritten), reruns the unfinished ones, asks
    again a configuration whose Ray trial the last snapshot lost, and exports; every configuration
    is told once and no Optuna trial stays RUNNING."""
    (tmp_path / "space.yaml").write_text(SMALL_SPACE)
    args = [a.format(space=tmp_path / "space.yaml") for a in TRIAL_ARGS]
    run_dir, log = tmp_path / "r", tmp_path / "first.log"
    proc = popen_gantune("tune", *args, "--storage-path", str(tmp_path), "--name", "r", log=log)
    try:
        # Finished in Ray's experiment snapshot, which is what --resume restores: a trial
        # finished after the last snapshot would be re-run.
        def two_finished():
            done = [t for t, status in snapshot_statuses(run_dir).items() if status == "TERMINATED"]
            return done if len(done) >= 2 else None

        done = wait_for("two trials recorded as finished", two_finished, 240, proc=proc, log=log)
        lines = {t: len(trial_results(run_dir)[t]) for t in done}
        checkpoints = {t: sorted(p.name for p in (run_dir / t).glob("checkpoint_*")) for t in done}
    finally:
        _interrupt(proc, signal.SIGKILL)
    assert all(checkpoints.values()), checkpoints

    # Running again without --resume refuses instead of overwriting.
    again = run_gantune("tune", *args, "--storage-path", str(tmp_path), "--name", "r")
    check_one_line_error(again, "already exists; pass --resume")

    # A run from before runs recorded their table (no data.json): --resume records it.
    (run_dir / "data.json").unlink()
    _resume(tmp_path, "r", out=tmp_path / "best")
    assert json.loads((run_dir / "data.json").read_text())["rows"] == 50
    results = trial_results(run_dir)
    assert len(results) == 4 and all(rs[-1]["steps"] == 1600 for rs in results.values()), {t: rs[-1]["steps"] for t, rs in results.items()}
    for t in done:  # kept, not re-run: a re-run appends its results and writes new checkpoints
        assert len(results[t]) == lines[t], t
        assert sorted(p.name for p in (run_dir / t).glob("checkpoint_*")) == checkpoints[t], t
    states = [t.state.name for t in study_trials(run_dir)]
    assert states.count("COMPLETE") == 4 and "RUNNING" not in states, states


# -- pool mode (the default) -------------------------------------------------------------------
def _told_once(trials) -> None:
    """No trial RUNNING; each configuration told once (a FAIL trial is one lost or resumed)."""
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states, states
    told = [tuple(sorted(t.params.items())) for t in trials if t.state.name != "FAIL"]
    assert len(told) == len(set(told)), "a configuration was trained twice"


def test_interrupted_pool_run_resumes_twice(tmp_path):
    """Fault: a pool run is interrupted twice, first by Ctrl-C before any pool checkpoint, then by
    SIGKILL of the driver and Ray once a checkpoint holds scored members, and the run directory
    and its table are moved before the last `--resume`. Each `--resume` keeps the
    finished configurations; members with no checkpoint are told FAIL and their budget asked again;
    members in a checkpoint continue from it (weights, Adam state, batch streams) under new Optuna
    numbers with their scores so far. The run ends with every configuration told once and nothing
    RUNNING.

    Pool mode, one worker of 2 slots, 6 configurations finishing two by two:

    1. Ctrl-C before any pool checkpoint: on --resume the worker starts over; the members it was
       training are told FAIL and their budget is asked again; finished ones are kept.
    2. That resumed run (checkpointing every round) is SIGKILLed, driver and Ray, once a pool
       checkpoint holds scored members: the next --resume continues them from it under new
       Optuna numbers (the old ones FAIL), with their scores so far. While it runs, a second
       driver's `--resume` of the same run is refused in one line (the first runs on); after
       the SIGKILL the run is free again (the lock dies with its holder).
    3. The run directory and the table move (another disk or machine): --resume without --data
       is refused in one line asking for the table's path; with --data it runs to the end
       and the run records the new path.

    The table is a CSV given by a path relative to where the run started; resumes run from
    another directory."""
    from sklearn.datasets import load_iris

    (tmp_path / "space.yaml").write_text(SMALL_SPACE)
    load_iris(as_frame=True).data.iloc[:50].to_csv(tmp_path / "setosa.csv", index=False)
    args = ["--num-samples", "6", "--steps", "3000", "--pack", "2", "--max-concurrent", "1", "--scheduler", "none",
            "--seed", "3", "--space", str(tmp_path / "space.yaml"), "--storage-path", str(tmp_path), "--name", "p"]
    run_dir, log = tmp_path / "p", tmp_path / "first.log"

    def numbers(state: str) -> set[int]:
        return {t.number for t in study_trials(run_dir) if t.state.name == state}

    # 1. Ctrl-C after two configurations finished, before a checkpoint (every 30 s).
    proc = popen_gantune("tune", "--data", "setosa.csv", *args, log=log, cwd=tmp_path)
    try:
        wait_for("two configurations finished and the next ones asked", lambda: len(numbers("COMPLETE")) >= 2 and numbers("RUNNING"),
                 240, proc=proc, log=log)
        wait_for("Ray's first experiment snapshot", lambda: snapshot_statuses(run_dir), 60, proc=proc, log=log)
        finished = {t.number: t for t in study_trials(run_dir) if t.state.name == "COMPLETE"}
        reports = (run_dir / "reports.csv").read_text().splitlines()
    finally:
        _interrupt(proc, signal.SIGINT)
    assert 2 <= len(finished) < 6 and not pool_checkpoints(run_dir)
    interrupted = numbers("RUNNING")
    assert interrupted and not numbers("FAIL")

    # 2. --resume, checkpointing every 2 s; SIGKILL once a checkpoint holds scored members and
    # Ray's experiment state records it. Not sooner: Ray deletes a trial's previous checkpoint
    # when it registers the next and saves its experiment state a moment later; a driver killed
    # in between leaves a state naming a deleted checkpoint, and Ray then refuses to restore that
    # trial ("Could not recover from checkpoint as it does not exist on storage anymore"), in
    # either mode. A Ray limitation, not what this test is about (the likely cause of one failure
    # in seven runs when this test killed right after checkpoints written at every round).
    log = tmp_path / "second.log"
    # Rounds of at least 0.5 s: members live for seconds on any machine, so a checkpoint holding
    # scored members is written and recorded before the run ends (on a fast machine these
    # 3,000-step members finished between two checkpoints).
    proc = popen_gantune("tune", "--resume", "--storage-path", str(tmp_path), "--name", "p", log=log, pool_checkpoint_every=2.0,
                         round_pause=0.5)

    def checkpoint_with_scored_members():
        trials = {t.number: t for t in study_trials(run_dir)}
        for path, held in sorted(pool_checkpoints(run_dir).items(), reverse=True):
            if held and all(n in trials and trials[n].intermediate_values and n not in interrupted for n in held):
                return path
        return None

    def recorded(checkpoint):
        written = max(p.stat().st_mtime for p in checkpoint.iterdir())
        return any(p.stat().st_mtime > written for p in run_dir.glob("experiment_state-*.json"))

    try:
        # A second driver on the live run (--resume from another terminal) is refused in one
        # line naming the one that holds it, before it starts anything.
        lock = run_dir / "driver.lock"
        wait_for("the driver to hold the run", lambda: lock.is_file() and f"pid {proc.pid} " in lock.read_text(), 120, proc=proc, log=log)
        second = run_gantune("tune", "--resume", "--storage-path", str(tmp_path), "--name", "p")
        check_one_line_error(second, f"is in use by another gantune driver (pid {proc.pid} on ", "then --resume")
        assert proc.poll() is None  # the first driver runs on
        checkpoint = wait_for("a pool checkpoint holding scored members", checkpoint_with_scored_members, 240, proc=proc, log=log)
        wait_for("Ray's experiment state to record it", lambda: recorded(checkpoint), 30, proc=proc, log=log)
    finally:
        _interrupt(proc, signal.SIGKILL)
    # What the checkpoints held at the kill (a newer one may have replaced the one seen, and the
    # kill may catch Ray between writing a new checkpoint and deleting the old).
    held = sorted({n for numbers_ in pool_checkpoints(run_dir).values() for n in numbers_})
    before = {t.number: t for t in study_trials(run_dir)}
    assert held and all(before[n].state.name == "RUNNING" for n in held)
    # The members interrupted by Ctrl-C were lost (no checkpoint) and asked again.
    assert all(before[n].state.name == "FAIL" for n in interrupted)

    # 3. The run directory and its table are moved (another disk or machine), then --resume
    # (the table's new path given) to the end, and export.
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(run_dir, moved / "p")
    shutil.move(tmp_path / "setosa.csv", moved / "setosa.csv")
    run_dir = moved / "p"
    lost = run_gantune("tune", "--resume", "--storage-path", str(moved), "--name", "p")
    check_one_line_error(lost, f"{(tmp_path / 'setosa.csv').resolve()}: the table p was tuned on is not there", "--data")
    _resume(moved, "p", tmp_path / "best", "--data", str(moved / "setosa.csv"))
    assert json.loads((run_dir / "gantune.json").read_text())["data"] == str((moved / "setosa.csv").resolve())
    trials = {t.number: t for t in study_trials(run_dir)}
    _told_once(trials.values())
    assert sum(t.state.name == "COMPLETE" for t in trials.values()) == 6
    for n, t in finished.items():  # the same Optuna trials, not new ones for the same configuration
        assert trials[n].state.name == "COMPLETE" and trials[n].values == t.values
    after = (run_dir / "reports.csv").read_text().splitlines()
    assert after[: len(reports)] == reports  # appended to, never rewritten
    for n in finished:  # no further report of a finished configuration
        assert [line for line in after if line.split(",")[1] == str(n)] == [line for line in reports if line.split(",")[1] == str(n)]
    successors = {t.user_attrs["resumed_from"]: t for t in trials.values() if "resumed_from" in t.user_attrs}
    assert sorted(successors) == held
    for old, new in successors.items():
        assert trials[old].state.name == "FAIL" and new.number > old
        assert new.state.name == "COMPLETE" and new.params == trials[old].params
        # Continued, not restarted: the scores before the kill are the new trial's first ones.
        first = dict(sorted(new.intermediate_values.items())[: len(before[old].intermediate_values)])
        assert first == pytest.approx(before[old].intermediate_values)
