"""What a user sees of a tuning run: the quick start's console, the report page in a real
browser, and the run read back by MLflow, TensorBoard and optuna-dashboard.

One quick-start run (`gantune tune --out best`, the README's command, plus `--log-to mlflow
--log-to tensorboard`) is shared by the tests of this module; a short per-trial run (`--pack off`,
with -v) checks the other data path of the display, the page and the trackers.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.everyday.browser import check_page, chromium
from tests.helpers import run_gantune
from tuning.options import default_num_samples

pytestmark = pytest.mark.slow

# Configurations a pool run tries when no --num-samples is given.
N = default_num_samples("auto", None)
RAY_NOISE = ("Trial status", "Trial name", "╭", "View detailed results", "WARNING", "(pool_trainable", "Checkpoint successfully",
             "Traceback", "repeated", "RAY_")


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    """`gantune tune --out best` (the README's quick start: iris-setosa, N configurations
    of 5,000 steps, pool mode) with both trackers, without a terminal, as CI and `ray job submit` run it."""
    root = tmp_path_factory.mktemp("quick-start")
    t0 = time.monotonic()
    proc = run_gantune("tune", "--out", "best", "--name", "run", "--log-to", "mlflow", "--log-to", "tensorboard", cwd=root, timeout=900)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = root / "gantune-runs" / "run"
    summary = json.loads((root / "best" / "summary.json").read_text())
    return types.SimpleNamespace(proc=proc, root=root, run_dir=run_dir, out=root / "best", summary=summary, seconds=seconds)


def test_quick_start_prints_a_short_quiet_console(quick_start):
    out, err = quick_start.proc.stdout, quick_start.proc.stderr
    lines = (out + err).splitlines()
    # the README promises about 40 lines at most (here 2 more: one per tracker)
    assert len(lines) <= 42, "\n".join(lines)
    for noise in RAY_NOISE:
        assert noise not in out + err, noise
    assert re.search(rf"^tuned {N} configurations in \d+:\d\d \(.*\); best passing the guard: wd_mean [0-9.]+ \(#\d+", err, re.M), err
    # plain progress lines every 30 s without a terminal: at most one per 30 s of the run
    progress = [ln for ln in err.splitlines() if re.match(rf"^\[\d+:\d\d\] \d+/{N} configurations done", ln)]
    assert len(progress) <= quick_start.seconds / 30 + 1
    s = quick_start.summary
    assert f"Exported the best configuration (trial {s['best_trial']} of {N}" in out
    assert f"wd_mean {s['wd_mean']:.4f} as the search scored it, {s['fresh']['wd_mean']:.4f} on fresh noise" in out
    assert "lower is better" in out and "Gaussian fit of the table" in out
    assert "guard   passed:" in out and "report  best/report/index.html" in out
    assert f"MLflow: {N} configuration(s) logged" in out and f"TensorBoard: {N} configuration(s) logged" in out


def test_report_page_renders_in_headless_chromium(quick_start, tmp_path):
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package before the tests")
        pytest.skip("headless Chromium is not installed (Debian package chromium: apt-get install chromium); .ci/run installs it")
    page = quick_start.out / "report" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "src=\"http" not in text and "href=\"http" not in text  # self-contained: nothing to fetch
    check = check_page(page)
    (tmp_path / "report.png").write_bytes(check.screenshot)
    assert check.screenshot.startswith(b"\x89PNG") and len(check.screenshot) > 50_000
    assert check.title == "gantune report: run"
    assert len(check.images) >= 4, check.images  # best over the run, histograms, associations, importances
    missing = [img["alt"] for img in check.images if not img["complete"] or img["naturalWidth"] <= 0 or img["naturalHeight"] <= 0]
    assert not missing, missing
    assert check.errors == []


def test_report_page_says_what_summary_json_holds(quick_start):
    text = (quick_start.out / "report" / "index.html").read_text(encoding="utf-8")
    s = quick_start.summary
    assert f"wd_mean {s['wd_mean']:.4f}" in text and "passes the memorisation guard" in text
    for heading in ("Summary", "Best configuration", "Best score over the run", "Real and generated rows, per column",
                    "Associations between columns", "The search", "Memorisation guard"):
        assert f"<h2>{heading}</h2>" in text, heading
    assert s["report"]["page"] == "index.html"


def _mlflow_runs(run_dir: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("run")
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def test_mlflow_reads_every_configuration_back(quick_start, monkeypatch):
    import mlflow

    client, runs = _mlflow_runs(quick_start.run_dir)
    assert len(runs) == N
    by_config = {r.data.tags["gantune.configuration"]: r for r in runs}
    assert sorted(by_config, key=int) == [str(i) for i in range(N)]
    best = by_config[quick_start.summary["best_trial"]]
    # best/...: the scores of the report the export crowned (its best that passed the guard)
    assert best.data.metrics["best/wd_mean"] == pytest.approx(quick_start.summary["wd_mean"], abs=1e-4)
    assert best.data.params["noise_dim"] == str(quick_start.summary["best_config"]["noise_dim"])
    assert best.data.tags["gantune.status"] in ("completed", "stopped early") and best.info.status == "FINISHED"
    history = client.get_metric_history(best.info.run_id, "wd_mean")
    steps = [m.step for m in history]
    assert len(history) >= 1 and steps == sorted(steps) and quick_start.summary["best_config"]["steps"] in steps
    scored = next(m for m in history if m.step == quick_start.summary["best_config"]["steps"])
    assert scored.value == pytest.approx(quick_start.summary["wd_mean"], abs=1e-4)
    assert {"copy_share", "best/copy_share", "best/dcr_ratio", "best/corr_diff", "best/passes_guard"} <= set(best.data.metrics)
    # and through mlflow.search_runs, which reads the tracking URI from the environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{quick_start.run_dir / 'mlflow.db'}")
    frame = mlflow.search_runs(experiment_names=["run"])
    assert len(frame) == N and {"params.g_lr", "metrics.wd_mean", "tags.gantune.status"} <= set(frame.columns)


def test_tensorboard_reads_every_configuration_back(quick_start):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = quick_start.run_dir / "tensorboard"
    dirs = sorted(p.name for p in root.iterdir())
    assert len(dirs) == N and all(d.startswith("configuration-") for d in dirs)
    acc = EventAccumulator(str(root / f"configuration-{quick_start.summary['best_trial']}"))
    acc.Reload()
    scalars = acc.Tags()["scalars"]
    assert {"wd_mean", "copy_share", "best/wd_mean"} <= set(scalars), scalars
    events = acc.Scalars("wd_mean")
    assert [e.step for e in events] == sorted(e.step for e in events)
    assert acc.Scalars("best/wd_mean")[-1].value == pytest.approx(quick_start.summary["wd_mean"], abs=1e-4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, deadline: float):
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
            time.sleep(0.5)
    raise TimeoutError(f"{url}: no answer ({last})")


def test_optuna_dashboard_serves_the_finished_run(quick_start):
    exe = Path(sys.executable).parent / "optuna-dashboard"
    port = _free_port()
    proc = subprocess.Popen([str(exe), str(quick_start.run_dir / "optuna.log"), "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies", deadline)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["run"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}?after=0", deadline)
        trials = detail["trials"]
        assert len(trials) == N and {t["state"] for t in trials} <= {"Complete", "Pruned", "Fail"}
        finished = [t for t in trials if t["state"] == "Complete" and t.get("values")]
        assert finished and all(math.isfinite(float(t["values"][0])) for t in finished)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_per_trial_mode_with_ray_output(tmp_path):
    """--pack off: the display reads Ray's results; -v brings Ray's own tables back; the page's
    curves come from the trials' result.json files and it shows the Pareto front of this
    multi-objective run; TensorBoard logs each Ray trial."""
    proc = run_gantune("-v", "tune", "--pack", "off", "--num-samples", "3", "--epochs", "30", "--encoding", "minmax", "--out", "best",
                       "--objective", "wd,dcr_ratio", "--name", "per-trial", "--log-to", "tensorboard", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Trial status" in proc.stdout  # Ray's table, with -v
    assert re.search(r"^tuned 3 configurations in .*best passing the guard: wd_mean", proc.stderr, re.M), proc.stderr
    page = (tmp_path / "best" / "report" / "index.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 4 and "Best score over the run" in page
    assert 'alt="Pareto front"' in page  # a multi-objective run
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dirs = sorted((tmp_path / "gantune-runs" / "per-trial" / "tensorboard").iterdir())
    assert len(dirs) == 3
    acc = EventAccumulator(str(dirs[0]))
    acc.Reload()
    assert len(acc.Scalars("wd_mean")) >= 1
