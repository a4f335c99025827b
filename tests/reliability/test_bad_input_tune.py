"""Bad input to `gantune tune` and `gantune export`: one line, exit 2, nothing left behind.

These fail before any Ray process starts. Most run `tuning.cli.main` in-process (each
`gantune` process costs ~5 s of imports on the 2-core machine); a few run the real command in a
subprocess for the process boundary (exit status, no traceback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from tests.helpers import check_one_line_error, run_gantune
from tuning.cli import main

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def gantune(capsys):
    """`gantune ARGS` in this process: (exit status, stdout, stderr) like a CompletedProcess."""

    def run(*args: str) -> SimpleNamespace:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


@pytest.fixture
def space_files(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("g_lrr: {low: 1.0e-4, high: 1.0e-3}\n")
    inverted = tmp_path / "inverted.json"
    inverted.write_text(json.dumps({"d_lr": {"low": 0.1, "high": 0.001}}))
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\x00\xff\xfe binary \x00")
    mixed = tmp_path / "mixed.csv"  # a column of numbers and a word marking missing cells
    mixed.write_text("a,dose\n" + "".join(f"{i},{i * 0.25}\n" for i in range(27)) + "1,unknown\n" * 3)
    wgan = tmp_path / "wgan.yaml"  # a loss pool mode (the default) cannot pack
    wgan.write_text("loss: {choices: [bce, wgan-gp]}\n")
    return {"typo": typo, "inverted": inverted, "garbage": garbage, "mixed": mixed, "wgan": wgan}


@dataclass
class Case:
    id: str
    args: list[str]
    needles: list[str]


# One row per bad input: the flags (placeholders name the files of `space_files`) and what the
# one error line must contain. docs/reliability.py lists these rows.
CASES = [
    Case("num-samples-0", ["--num-samples", "0"], ["--num-samples must be at least 1"]),
    Case("num-samples-negative", ["--num-samples", "-3"], ["--num-samples must be at least 1"]),
    Case("unknown-sampler", ["--sampler", "bayes"], ["--sampler 'bayes' is unknown", "tpe"]),
    Case("unknown-scheduler", ["--scheduler", "hyperband"], ["--scheduler 'hyperband' is unknown"]),
    Case("unknown-objective", ["--objective", "wd,fun"], ["--objective 'wd,fun' is unknown", "wd,detect_auc"]),
    Case("copy-share-out-of-range", ["--max-copy-share", "2"], ["--max-copy-share must be in [0, 1]"]),
    Case("gpus-without-a-gpu", ["--gpus-per-trial", "1"], ["--gpus-per-trial 1", "GPU"]),
    Case("more-cpus-than-the-machine", ["--cpus-per-trial", "512"], ["--cpus-per-trial 512", "lower --cpus-per-trial"]),
    Case("space-unknown-parameter", ["--space", "{typo}"], ["unknown parameter(s) g_lrr"]),
    Case("space-inverted-range", ["--space", "{inverted}"], ["d_lr: inverted range"]),
    Case("space-binary-garbage", ["--space", "{garbage}"], ["garbage.yaml"]),
    Case("space-file-missing", ["--space", "missing.yaml"], ["missing.yaml: file not found"]),
    Case("data-file-missing", ["--data", "no/such.csv"], ["no such file"]),
    Case("config-unknown-field", ["--config", "{typo}"], ["unknown GANConfig field(s) g_lrr"]),
    Case("steps-0", ["--steps", "0"], ["--steps must be at least 1"]),
    Case("metadata-file-missing", ["--metadata", "missing.yaml"], ["missing.yaml: file not found"]),
    Case("data-numbers-and-words", ["--data", "{mixed}"], ["'dose'", "--na-values 'unknown'"]),
    Case("pool-mode-wgan-gp", ["--space", "{wgan}"], ["loss wgan-gp", "pool mode", "--pack off"]),
    Case("config-loss-not-a-choice", ["--config", "{wgan}"], ["loss must be one of"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tune_rejects_bad_input_before_starting(tmp_path, space_files, gantune, case):
    args, needles = [a.format(**space_files) for a in case.args], case.needles
    proc = gantune("tune", *args, "--storage-path", str(tmp_path / "runs"), "--name", "x")
    check_one_line_error(proc, *needles)
    assert not (tmp_path / "runs" / "x").exists()


@pytest.mark.parametrize("args, needle", [(["--space", "{typo}"], "unknown parameter(s) g_lrr"), (["--steps", "0"], "--steps must be at least 1")])
def test_tune_command_rejects_bad_input_in_one_line(tmp_path, space_files, args, needle):
    proc = run_gantune("tune", *[a.format(**space_files) for a in args], "--storage-path", str(tmp_path / "runs"), "--name", "x", timeout=120)
    check_one_line_error(proc, needle)
    assert not (tmp_path / "runs" / "x").exists()


def test_tune_refuses_an_existing_run_without_resume(tmp_path, gantune):
    (tmp_path / "runs" / "x").mkdir(parents=True)
    proc = gantune("tune", "--storage-path", str(tmp_path / "runs"), "--name", "x")
    check_one_line_error(proc, "already exists; pass --resume")


def test_resume_of_a_missing_run(tmp_path, gantune):
    proc = gantune("tune", "--resume", "--storage-path", str(tmp_path), "--name", "nope")
    check_one_line_error(proc, "not a gantune tuning run")


@pytest.mark.parametrize("kind", ["missing", "not_a_run", "file", "corrupt_meta"])
def test_export_rejects_what_is_not_a_run(tmp_path, gantune, kind):
    target = tmp_path / "target"
    if kind == "not_a_run":
        target.mkdir()
        (target / "something.txt").write_text("hello")
    elif kind == "file":
        target.write_text("hello")
    elif kind == "corrupt_meta":
        target.mkdir()
        (target / "gantune.json").write_text("{broken")
    run = run_gantune if kind == "corrupt_meta" else gantune  # one through the real command
    proc = run("export", str(target), "--out", str(tmp_path / "out"))
    check_one_line_error(proc)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_pack_is_a_usage_error(tmp_path, gantune, value):
    proc = gantune("tune", "--pack", value, "--storage-path", str(tmp_path), "--name", "x")
    assert proc.returncode == 2 and "argument --pack" in proc.stderr and "positive integer, auto or off" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()


def test_steps_and_epochs_together_are_a_usage_error(tmp_path, gantune):
    proc = gantune("tune", "--steps", "10", "--epochs", "10", "--storage-path", str(tmp_path), "--name", "x")
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_resume_of_a_run_another_driver_holds(tmp_path, gantune):
    """Fault: `gantune tune --resume` of a run whose driver still runs (a second terminal) is
    refused in one line naming that driver (pid, host, start), before Ray starts and before the
    run's journal is touched; once the driver is gone, SIGKILL included, the run is free to resume.

    Here a process holds the run as a driver does and is then SIGKILLed; the pool interrupt test
    (tests/reliability/test_interrupt.py) does the same against a real running driver."""
    import dataclasses
    import os
    import signal
    import subprocess
    import sys

    from gan.io import write_json_atomic
    from tuning.run import META_FILE, TuneOptions, hold_run

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    write_json_atomic(run_dir / META_FILE, dataclasses.asdict(TuneOptions(name="r", storage_path=str(tmp_path))))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from tuning.run import hold_run\n"
                               f"with hold_run({str(run_dir)!r}):\n print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = gantune("tune", "--resume", "--storage-path", str(tmp_path), "--name", "r")
        check_one_line_error(proc, f"{run_dir} is in use by another gantune driver (pid {holder.pid} on ", "then --resume")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    with hold_run(run_dir):
        assert (run_dir / "driver.lock").read_text().startswith(f"pid {os.getpid()} on ")


@pytest.mark.parametrize("change", ["row added", "value changed", "column dropped", "record corrupted", "table moved", "metadata moved"])
def test_resume_or_export_on_a_changed_table(tmp_path, gantune, change):
    """Fault: the table file changes between a run and its `--resume` or `gantune export` (a
    regenerated CSV, an edited value, a dropped column). Both refuse in one line saying what
    differs (rows, columns or values) and what to do, instead of continuing or exporting models
    trained on the old table against the new one; nothing is written. A run's record of its
    table cut short or hand-edited is refused in one line too, naming the file; a table (or
    metadata file) no longer where the run was tuned with it is asked for with --data (or
    --metadata), which is checked the same."""
    import dataclasses

    from gan.io import write_json_atomic
    from tuning.run import META_FILE, TuneOptions, record_data

    csv = tmp_path / "t.csv"
    lines = ["a,b,c"] + [f"{i % 7},{(i * 37) % 11 / 10},{'xyz'[i % 3]}" for i in range(60)]
    csv.write_text("\n".join(lines) + "\n")
    meta = tmp_path / "meta.yaml"
    meta.write_text("columns: {a: categorical}\n")
    opts = TuneOptions(data=str(csv), name="r", storage_path=str(tmp_path), metadata=str(meta) if change == "metadata moved" else None)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    record_data(run_dir, opts.load_data(quiet=True))
    write_json_atomic(run_dir / META_FILE, dataclasses.asdict(opts))
    resume = ("tune", "--resume", "--storage-path", str(tmp_path), "--name", "r")
    export = ("export", str(run_dir), "--out", str(tmp_path / "best"))
    if change == "row added":
        csv.write_text("\n".join(lines + ["1,0.5,x"]) + "\n")
        what = "60 rows then, 61 now"
    elif change == "value changed":
        csv.write_text("\n".join(lines[:5] + ["4,0.9,y"] + lines[6:]) + "\n")
        what = "the same rows and columns, other values"
    elif change == "column dropped":
        csv.write_text("\n".join(",".join(line.split(",")[:2]) for line in lines) + "\n")
        what = "columns gone: c"
    elif change == "record corrupted":
        record = (run_dir / "data.json").read_text()
        for text in ("[60]", record[: len(record) // 2]):  # valid JSON of another shape; cut short
            (run_dir / "data.json").write_text(text)
            for args, action in ((resume, "continue"), (export, "export")):
                proc = gantune(*args)
                check_one_line_error(proc, f"{run_dir / 'data.json'}: unreadable record of the table this run was tuned on",
                                     f"restore it, or delete it to {action} r unchecked against {csv}")
        assert not (tmp_path / "best").exists()
        return
    elif change == "metadata moved":
        meta.rename(tmp_path / "meta2.yaml")
        for args in (resume, export):
            check_one_line_error(gantune(*args), f"{meta}: the metadata file r was tuned with is not there (moved or deleted)",
                                 "pass its path now with --metadata")
        # --metadata names its new place; one that types a column otherwise is refused as a changed table.
        (tmp_path / "meta2.yaml").write_text("columns: {a: numeric}\n")
        for args in (resume, export):
            proc = gantune(*args, "--metadata", str(tmp_path / "meta2.yaml"))
            check_one_line_error(proc, f"{csv}: not the table this run was tuned on (the same rows and columns, other values or column types")
        assert not (tmp_path / "best").exists()
        return
    else:  # table moved
        (tmp_path / "elsewhere").mkdir()
        csv.rename(tmp_path / "elsewhere" / "t.csv")
        for args in (resume, export):
            check_one_line_error(gantune(*args), f"{csv}: the table r was tuned on is not there (moved or deleted)", "pass its path now with --data")
        # --data names the table's new place; another table there is refused as above.
        csv = tmp_path / "elsewhere" / "t.csv"
        csv.write_text("\n".join(lines + ["1,0.5,x"]) + "\n")
        proc = gantune(*export, "--data", str(csv))
        check_one_line_error(proc, f"{csv}: not the table this run was tuned on (60 rows then, 61 now", "to export r, restore that table")
        assert not (tmp_path / "best").exists()
        return
    before = sorted(p.name for p in run_dir.iterdir())
    proc = gantune(*resume)
    check_one_line_error(proc, f"{csv}: not the table this run was tuned on ({what}", "restore that table",
                          "or start a new run on this one")
    proc = gantune(*export)
    check_one_line_error(proc, f"{csv}: not the table this run was tuned on ({what}", "to export r, restore that table")
    assert not (tmp_path / "best").exists() and sorted(p.name for p in run_dir.iterdir()) == before
