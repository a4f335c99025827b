"""The study server's journal (tuning/journal.py): the study it writes is the one Optuna's own
journal backend would write, proposal for proposal; Optuna's reader reads it; a killed writer
loses nothing it wrote; a second writer is refused instead of forking the study."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from gan.errors import GanTuneError
from tuning.space import SearchSpace
from tuning.study import STUDY_FILE, StudyServer, load_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
RUNGS = (185, 555, 1665)
REPO = Path(__file__).resolve().parents[2]


def _server(run_dir: Path, optuna_backend: bool = False) -> StudyServer:
    run_dir.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / STUDY_FILE))) if optuna_backend else None
    return StudyServer(run_dir, "s", space=SearchSpace(), rungs=RUNGS, num_samples=10**6, seed=3, storage=storage)


def _drive(server: StudyServer, n: int, seed: int = 0) -> list:
    """Pool-like traffic: 8 members live, each reporting at the rungs until pruned or complete,
    some failing, the TPE past its random start-up. Returns what the server answered."""
    rng = random.Random(seed)
    seen: list = []
    live: list[int] = []
    for _ in range(n):
        number, params = server.ask("pool-a")
        seen.append((number, params))
        live.append(number)
        if len(live) < 8:
            continue
        number = live.pop(rng.randrange(len(live)))
        if rng.random() < 0.1:
            server.tell(number, None, "fail", {"status": "errored", "error": "boom"})
            seen.append(("fail", number))
            continue
        stopped = False
        for step in RUNGS:
            value = rng.random()
            stopped = server.report(number, step, value, {"wd_mean": value, "copy_share": 0.0, "passes_guard": True, "pool": "a"})
            seen.append(("report", number, step, stopped))
            if stopped:
                break
        if stopped:
            server.tell(number, None, "pruned")
        else:
            server.tell(number, value, "complete", {"wd_mean": value, "steps": RUNGS[-1], "status": "completed"})
    return seen


def _study_content(run_dir: Path | None = None, study: optuna.Study | None = None) -> list[tuple]:
    study = study or load_study(run_dir, "s")  # by default: the file through Optuna's own reader
    return [(t.number, t.state, t.params, t.values, t.intermediate_values, t.user_attrs,
             dict(t.system_attrs)) for t in study.get_trials(deepcopy=False)]


def test_the_server_journal_writes_the_study_optunas_backend_would(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    server = _server(ours)
    got = _drive(server, 40)
    expected = _drive(_server(theirs, optuna_backend=True), 40)
    assert got == expected  # every proposal and every pruning decision
    assert any(step == ("report", *step[1:3], True) for step in got if step[0] == "report")  # the pruner did prune
    content = _study_content(ours)
    assert content == _study_content(theirs)
    assert _study_content(study=server.study) == content  # the server's own view is the file's
    assert len(content) == 40 and {t[1] for t in content} >= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                                                             optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING}
    # A new server over the same journal (a --resume) reads it back and goes on where it was.
    again = _server(ours)
    assert again.asked == len([t for t in content if t[1] != optuna.trial.TrialState.FAIL])
    number, _ = again.ask("pool-b")
    assert number == 40 and len(_study_content(ours)) == 41


def test_a_killed_server_loses_nothing_it_wrote_and_its_torn_line_is_cut(tmp_path):
    """Fault: the study server's process is SIGKILLed in the middle of writing a journal line
    (its journal is not fsync'd). Every configuration, report and result it wrote before is read
    back by Optuna's own reader, and a new server over the run (a --resume) cuts the torn line and
    goes on numbering where the run left off."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from tuning.space import SearchSpace
        from tuning.study import StudyServer
        server = StudyServer(Path({str(run_dir)!r}), "s", space=SearchSpace(), rungs={RUNGS!r}, num_samples=100)
        for _ in range(5):
            number, _ = server.ask()
            server.report(number, 185, 0.5, {{"wd_mean": 0.5}})
        server.tell(0, 0.25, "complete", {{"wd_mean": 0.25, "steps": 185}})
        # A write cut in the middle of a line, then the process is killed: no close, no flush.
        os.write(server.study._storage._backend._fd, b'{{"op_code":4,"worker_id":"x","tri')
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    run_dir.mkdir()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (run_dir / STUDY_FILE).read_bytes().endswith(b"\n")
    server = _server(run_dir)  # cuts the torn line, reads the rest
    assert (run_dir / STUDY_FILE).read_bytes().endswith(b"\n")
    trials = load_study(run_dir, "s").get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] + ["RUNNING"] * 4
    assert trials[0].value == 0.25 and all(t.intermediate_values == {185: 0.5} for t in trials)
    assert server.asked == 5 and server.ask()[0] == 5


def test_a_second_writer_is_refused_not_forked(tmp_path):
    """Fault: another process writes to a run's study while its study server runs (e.g. a second
    driver on the same run directory). The server's next write is refused with one line naming
    the journal and the fix (one gantune driver per run directory, or another --name), and
    nothing is half-written: the journal stays a study Optuna reads."""
    run_dir = tmp_path / "run"
    server = _server(run_dir)
    number, _ = server.ask()
    other = load_study(run_dir, "s")  # another process's view, through Optuna's backend
    other.tell(number, state=optuna.trial.TrialState.FAIL)
    before = (run_dir / STUDY_FILE).read_bytes()
    with pytest.raises(GanTuneError, match=r"optuna\.log: another process wrote to this run's study.*one gantune driver per run"):
        server.ask()
    assert (run_dir / STUDY_FILE).read_bytes() == before  # nothing half-written
    assert [t.state.name for t in load_study(run_dir, "s").get_trials()] == ["FAIL"]
