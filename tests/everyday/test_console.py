"""The progress display's numbers and words, without Ray (tuning/console.py)."""

from __future__ import annotations

import io
import logging
import math
import os
import types

import pytest

from tuning import console


def _opts(**kw):
    base = dict(mode="pool", num_samples=10, time_budget=None, name="run", max_copy_share=0.25, budget_attr="steps", budget=100)
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_best_is_the_lowest_score_that_passes_the_guard_at_any_report():
    p = console.Progress(total=10, time_budget=None, started=0.0)
    p.offer("#1", 0.30, 0.1, True, {"noise_dim": 4})
    p.offer("#2", 0.20, 0.5, False, {})  # a copier: never the best
    assert p.best.key == "#1" and p.best.score == 0.30
    p.offer("#3", 0.25, 0.1, True, lambda: {"noise_dim": 8, "g_depth": 2, "g_width_0": 16, "g_width_1": 32, "g_lr": 2e-4, "d_lr": 1e-3})
    assert p.best.key == "#3" and p.best.params["noise_dim"] == 8
    # Its later, worse score does not replace its best (the export retrains it to that step),
    # nor does a later report that copies rows: the best shown never rises.
    p.offer("#3", 0.40, 0.1, True, {})
    p.offer("#3", 0.10, 0.9, False, {})
    assert p.best.key == "#3" and p.best.score == 0.25
    p.offer("#1", 0.22, 0.1, True, {})
    assert p.best.key == "#1" and p.best.score == 0.22
    p.offer("#2", 0.21, 0.1, True, {})  # a copier's later report that passes counts
    assert p.best.key == "#2" and p.best.score == 0.21
    p.offer("#2", float("inf"), None, True, {})  # diverged later: the export keeps its report before
    assert p.best.key == "#2" and p.best.score == 0.21
    p.offer("#4", float("inf"), None, True, {})  # diverged before passing the guard once: never the best
    assert p.best.key == "#2" and "#4" in p.kept
    assert "noise 8, G 16-32" in console.key_params({"noise_dim": 8, "g_depth": 2, "g_width_0": 16, "g_width_1": 32})
    assert console.key_params({"g_widths": [8, 8], "g_lr": 1e-4, "d_lr": 2e-3, "batch_size": 64}) == "G 8-8, lr 0.0001/0.002, batch_size 64"


def test_rate_and_time_left():
    p = console.Progress(total=10, time_budget=None, started=0.0, budget_start=0.0)
    assert p.eta(30.0) is None and "~? left" in p.plain_line(30.0) and "0/10 configurations done, starting the workers" in p.plain_line(30.0)
    p.counts(5, 2, {"completed": 1, "stopped early": 4})
    assert p.rate_per_min(60.0) == pytest.approx(5.0)
    assert p.eta(60.0) == pytest.approx(60.0)  # 5 more at 5 a minute
    budgeted = console.Progress(total=None, time_budget=90.0, started=0.0, budget_start=0.0)
    budgeted.counts(5, 2, {})
    assert budgeted.eta(60.0) == pytest.approx(30.0) and budgeted.total is None
    assert console.Progress(total=1_000_000, time_budget=60, started=0).total is None  # --time-budget alone
    assert console.clock(3725) == "1:02:05" and console.clock(65) == "1:05" and console.clock(None) == "?"
    assert p.summary(60.0).startswith("tuned 5 configurations in 1:00 (4 stopped early, 1 completed); no configuration was scored")
    # Pool mode: configurations cut before a first score are not `done`, but the line counts every
    # configuration its breakdown names, as the export does (seen: "tuned 40" beside 53 listed).
    p.counts(40, 0, {"stopped early": 32, "cut before a first score": 13, "cut by the time budget": 7, "completed": 1})
    assert p.summary(60.0).startswith("tuned 53 configurations in 1:00 (32 stopped early, 13 cut before a first score, 7 cut")


def test_plain_lines_come_every_interval_and_a_summary_at_the_end(tmp_path):
    (tmp_path / "reports.csv").write_text("time,number,steps,wd_mean,copy_share,passes_guard,pool\n"
                                          "1.0,0,10,0.5,0.1,True,p\n1.1,1,10,0.4,0.9,False,p\n1.2,0,20,0.3,0.05,Tr")
    out = io.StringIO()
    settings = console.Settings(console="plain", every_s=30.0, stream=out, started=0.0)
    display = console.RunDisplay(_opts(), tmp_path, settings, now=0.0)
    display.tick(now=10.0)  # polled, but no line before 30 s
    assert out.getvalue() == "" and display.progress.best.score == 0.5  # the half-written last row waits
    with open(tmp_path / "reports.csv", "a") as fh:
        fh.write("ue,p\n")
    display.tick(now=31.0)
    display.tick(now=31.5)  # polled at most once a second, a line at most every 30 s
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[0:31] 0/10 configurations done") and "best wd_mean 0.3000 (#0, copy_share 0.05)" in lines[0]
    display.close()
    assert out.getvalue().splitlines()[-1].startswith("tuned 0 configurations in ")
    assert settings.displays == []


def test_per_trial_results_and_states():
    settings = console.Settings(console="plain", every_s=1e9, stream=io.StringIO(), started=0.0)
    display = console.RunDisplay(_opts(mode="trial", num_samples=3), __import__("pathlib").Path("."), settings, now=0.0)
    display.trial_result("a_1", {"noise_dim": 3, "_threads": 1}, {"wd_mean": 0.2, "copy_share": 0.1})
    display.trial_result("a_2", {"noise_dim": 5}, {"wd_mean": 0.1, "copy_share": 0.9})  # fails the guard
    display.trial_states([("TERMINATED", {"steps": 100}), ("TERMINATED", {"steps": 30}), ("RUNNING", {}), ("ERROR", {})])
    p = display.progress
    assert (p.done, p.running) == (3, 1) and p.by_status == {"completed": 1, "stopped early": 1, "failed": 1}
    assert p.summary(60.0).startswith("tuned 3 configurations in 1:00 (1 completed, 1 stopped early; 1 failed); best passing the guard: wd_mean 0.2000 (a_1")
    assert p.best.key == "a_1" and p.best.params == {"noise_dim": 3}
    display.close(final=False)


def test_session_quiets_ray_and_restores_everything(monkeypatch):
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    monkeypatch.setenv("RAY_LOGGER_LEVEL", "debug")  # a user's own setting wins
    assert console.current() is None and console.ray_verbosity() == 1 and console.ray_init_kwargs() == {"logging_level": logging.WARNING}
    before = logging.getLogger("ray").level
    with console.session(stream=io.StringIO()) as s:
        assert s.console == "plain"  # not a terminal
        assert console.ray_verbosity() == 0 and console.ray_init_kwargs() == {"logging_level": logging.ERROR, "log_to_driver": False}
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0" and os.environ["RAY_LOGGER_LEVEL"] == "debug"
        assert logging.getLogger("ray").level == logging.ERROR
    assert console.current() is None and "RAY_AIR_NEW_OUTPUT" not in os.environ and logging.getLogger("ray").level == before
    with console.session(verbose=True, stream=io.StringIO()):
        assert console.ray_verbosity() == 1 and "RAY_AIR_NEW_OUTPUT" not in os.environ


def _summary(score, gaussian=0.06, share=0.1):
    return {"best_trial": "7", "wd_mean": score, "trials": 20, "trials_by_status": {"stopped early": 17, "completed": 3},
            "references": {"gaussian": gaussian, "resample": 0.009}, "guard": {"max_copy_share": 0.25, "copy_share": share},
            "report": {"page": "index.html"}}


def test_the_outcome_says_plainly_how_the_model_compares():
    better = console.format_outcome(_summary(0.03), "best")
    assert "50% lower than a Gaussian fit of the table (0.0600)" in better and "guard   passed: 10%" in better
    assert "report  best/report/index.html" in better and "gantune sample best/model" in better
    assert "no better than a trivial generator" in console.format_outcome(_summary(0.061), "best")
    worse = console.format_outcome(_summary(0.09, share=0.3), "out")
    assert "50% higher than a Gaussian fit" in worse and "guard   FAILED: 30%" in worse
    assert all(len(line) <= 110 for line in better.splitlines())


def test_the_outcome_compares_the_fresh_score_with_the_gaussian_fit():
    """The search's own score is the lowest of many noise draws; the verdict against the Gaussian
    fit (one unselected draw) uses the export's fresh draws, and both figures are shown."""
    summary = {**_summary(0.03), "fresh": {"wd_mean": 0.07, "seeds": list(range(8)), "copy_share": 0.1}}
    text = console.format_outcome(summary, "best")
    assert "wd_mean 0.0300 as the search scored it, 0.0700 on fresh noise (8 draws it never saw)" in text
    assert "17% higher than a Gaussian fit of the table (0.0600)" in text and "lower than a Gaussian" not in text
    assert all(len(line) <= 110 for line in text.splitlines())


def test_the_outcome_sets_the_score_against_a_new_sample_of_the_population():
    """A perfect generator does not score 0: the outcome says what a new sample of the table's
    population scores, and says when the model's (fresh) score is below it."""
    floor = {"wd_mean": 0.07, "low": 0.047, "high": 0.10, "draws": 64}
    below = console.format_outcome({**_summary(0.03), "new_sample": floor, "fresh": {"wd_mean": 0.04, "seeds": [1]}}, "best")
    assert "a new sample of the table's population would score about 0.0700" in below
    assert "(5-95 %: 0.0470-0.1000, by bootstrap of the rows)" in below and "fits these rows more closely" in below
    above = console.format_outcome({**_summary(0.03), "new_sample": floor, "fresh": {"wd_mean": 0.05, "seeds": [1]}}, "best")
    assert "about 0.0700" in above and "fits these rows more closely" not in above
    assert "new sample" not in console.format_outcome(_summary(0.03), "best")  # older exports: no line
    # Level with the Gaussian fit, but below a new sample (a tiny table): no "tune longer"
    level = console.format_outcome({**_summary(0.06), "new_sample": floor}, "best")
    assert "about the same as a Gaussian fit" in level and "tune longer" not in level
    assert "more tuning would fit these rows, not their source" in level
    big = {"wd_mean": 0.02, "low": 0.016, "high": 0.023, "draws": 8}  # a large table: the advice stands
    assert "tune longer" in console.format_outcome({**_summary(0.06), "new_sample": big}, "best")
    assert all(len(line) <= 110 for line in below.splitlines())


def test_study_states_count_failed_configurations_apart(tmp_path):
    """In pool mode a failed configuration is proposed again (it does not count towards
    --num-samples), so done counts completed and stopped-early ones only."""
    import optuna

    from tuning.study import study_storage

    study = optuna.create_study(study_name="run", storage=study_storage(tmp_path))
    dist = {"noise_dim": optuna.distributions.IntDistribution(2, 64)}
    for value, state in ((0.3, optuna.trial.TrialState.COMPLETE), (None, optuna.trial.TrialState.PRUNED),
                         (None, optuna.trial.TrialState.FAIL), (None, optuna.trial.TrialState.RUNNING)):
        study.add_trial(optuna.trial.create_trial(params={"noise_dim": 8}, distributions=dist, value=value, state=state))
    # The time budget's cuts, named as the export's summary names them (tuning.records).
    # A run of an earlier gantune named the unscored cut "cut before its first score": counted
    # under today's name.
    for state, status in ((optuna.trial.TrialState.PRUNED, "cut by the time budget"), (optuna.trial.TrialState.FAIL, "cut before a first score"),
                          (optuna.trial.TrialState.FAIL, "cut before its first score")):
        study.add_trial(optuna.trial.create_trial(params={"noise_dim": 8}, distributions=dist, state=state,
                                                  user_attrs={"record": {"status": status}}))
    states = console.StudyStates(tmp_path, "run")
    done, running, by_status = states.poll()
    assert (done, running) == (3, 1)
    assert by_status == {"completed": 1, "stopped early": 1, "failed": 1, "cut by the time budget": 1, "cut before a first score": 2}
    assert states.params[0] == {"noise_dim": 8}
    assert console.StudyStates(tmp_path, "no-such-study").poll() is None  # not created yet: try later


def test_report_page_curve_keeps_each_configurations_best_guarded_report():
    """The report page's best-so-far curve follows the export's rule (tuning.records): a
    configuration's later worse, copying or diverged report does not raise the curve."""
    import pandas as pd

    from tuning.report_page import best_over_time

    reports = pd.DataFrame({"time": [1, 2, 3, 4, 5, 6], "configuration": ["a", "b", "a", "b", "a", "b"],
                            "wd_mean": [0.3, 0.2, 0.4, 0.25, 0.1, math.inf], "passes": [True, True, True, True, False, True]})
    times, bests = best_over_time(reports)
    assert list(times) == [1, 2, 3, 4, 5, 6] and list(bests) == [0.3, 0.2, 0.2, 0.2, 0.2, 0.2]


def _ray_state_sync_error() -> None:
    """What Ray Tune's experiment_state logs when its background copy fails (its own code path)."""
    logger = logging.getLogger("ray.tune.execution.experiment_state")
    try:
        raise FileNotFoundError("[Errno 2] Failed to open local file '/tmp/ray/session_x/artifacts/run/driver_artifacts/.tmp-state.json'.")
    except FileNotFoundError:
        logger.error("Saving experiment state to storage at '/runs/run' failed with exception: ", exc_info=True)


def test_a_failed_copy_of_rays_experiment_state_is_one_line_not_a_traceback():
    """Seen in a CI run: Ray's background copy of its experiment state lost a temporary file
    of its own and logged 20 lines of traceback into the quiet console; the run was unharmed
    (Ray retries). In a session it is one line; with -v, and outside a session, Ray's own."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("ray.tune.execution.experiment_state")
    logger.addHandler(handler)
    try:
        with console.session(stream=io.StringIO()):
            _ray_state_sync_error()
        lines = out.getvalue().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.getvalue(), out.getvalue()
        assert "FileNotFoundError: [Errno 2] Failed to open local file" in lines[0] and "it retries at its next save" in lines[0]
        out.truncate(0), out.seek(0)
        with console.session(verbose=True, stream=io.StringIO()):
            _ray_state_sync_error()
        _ray_state_sync_error()  # after the session: the filter is gone
        assert out.getvalue().count("Traceback") == 2
    finally:
        logger.removeHandler(handler)


def test_report_page_guard_table_shows_cond_wd_and_its_worst_pair_where_the_table_has_labels():
    """The export's page shows what summary.json holds: cond_wd beside corr_diff and the worst
    pair named, for a table with numbers and labels; nothing of it for one without (NaN)."""
    from tuning.report_page import guard_table

    fid = {"copy_share": 0.02, "dcr_ratio": 1.03, "corr_diff": 0.07, "detect_auc": 0.82, "cond_wd": 0.046,
           "cond_wd_worst": {"column": "price", "by": "product", "model": 0.122, "gaussian": 0.255, "resample": 0.007}}
    refs = {"gaussian": {"copy_share": 0.04, "dcr_ratio": 1.01, "corr_diff": 0.05, "detect_auc": 0.87, "cond_wd": 0.038},
            "resample": {"copy_share": 1.0, "dcr_ratio": 0.0, "corr_diff": 0.04, "detect_auc": 0.47, "cond_wd": 0.029}}
    page = "\n".join(guard_table({"fidelity": fid, "references_fidelity": refs}, 0.25))
    assert "<th>cond_wd</th>" in page and "0.038" in page and "0.029" in page
    assert "<b>price within each product</b>, 0.122 (gaussian 0.255, resample 0.007)" in page
    plain = "\n".join(guard_table({"fidelity": {**fid, "cond_wd": float("nan"), "cond_wd_worst": None},
                                   "references_fidelity": refs}, 0.25))
    assert "cond_wd" not in plain and "<th>corr_diff</th>" in plain
