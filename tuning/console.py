"""What a tuning run prints: one live progress display for the whole run, and Ray kept quiet.

`gantune tune` and `tuning.tune` run inside a `session(...)`: it decides the display (a live
tqdm display on a terminal; a plain line every 30 s without one, as under CI or `ray job
submit`), Ray's verbosity (0, no trial tables or per-trial boxes, unless -v) and Ray's log levels
(ERROR unless -v, on the driver and on the workers of an embedded Ray). `tuning/run.py` asks this
module for those settings (`ray_verbosity`, `ray_init_kwargs`, `driver_callbacks`); outside a
session (a library call of `run_tuning`, the tests, the benchmarks) Ray prints what it always did.

Where the numbers come from (`RunDisplay`): in pool mode the study server appends every member
report to `RUN/reports.csv` (best guarded score) and the study journal `RUN/optuna.log` knows
every configuration's state (done, running) and parameters; in per-trial mode Ray Tune's results
(`on_trial_result`) carry the scores and Ray's trials their states. The Ray Tune callback that
drives the display lives in `tuning/callbacks.py` (it imports Ray); nothing here does.

Why tqdm and not rich: tqdm is already a dependency (rich is not installed with Ray Tune here),
it redraws a line in place on any terminal, clears it for log lines (`logging_redirect_tqdm`),
and the display is two lines, which needs nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TextIO

from tuning.options import CUT_STATUS, UNLIMITED_SAMPLES, UNSCORED_STATUS, status_name

log = logging.getLogger(__name__)

PLAIN_EVERY_S = 30.0  # a plain progress line this often without a terminal
POLL_EVERY_S = 1.0  # read reports.csv and the journal at most this often
CONSOLE_MODES = ("auto", "live", "plain", "off")


@dataclass
class Settings:
    verbose: bool = False  # Ray's own trial tables and logs (gantune -v)
    console: str = "live"  # "live" (tqdm on a terminal), "plain" (a line every every_s) or "off"
    every_s: float = PLAIN_EVERY_S
    stream: TextIO | None = None  # default: sys.stderr
    started: float = field(default_factory=time.time)
    displays: list["RunDisplay"] = field(default_factory=list)

    @property
    def out(self) -> TextIO:
        return self.stream or sys.stderr


_SESSION: Settings | None = None


def current() -> Settings | None:
    """The settings of the session in force, or None (a library call: Ray's defaults)."""
    return _SESSION


@contextlib.contextmanager
def session(*, verbose: bool = False, console: str = "auto", every_s: float = PLAIN_EVERY_S,
            stream: TextIO | None = None) -> Iterator[Settings]:
    """Run a tuning run's driver under these display settings (see the module docstring).

    console "auto": live on a terminal, plain lines otherwise (and with -v, where Ray prints its
    own tables). Ray's log levels go to ERROR unless `verbose`; everything is restored after.
    """
    global _SESSION
    if console not in CONSOLE_MODES:
        raise ValueError(f"console must be one of {', '.join(CONSOLE_MODES)}, got {console!r}")
    out = stream or sys.stderr
    if console == "auto":
        console = "live" if (not verbose and _is_terminal(out)) else "plain"
    settings = Settings(verbose=verbose, console=console, every_s=every_s, stream=stream)
    previous = _SESSION
    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    saved_levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    state_logger = logging.getLogger(_STATE_LOGGER)
    if not verbose:
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)  # a user's own setting wins
        for name in _QUIET_LOGGERS:  # also where Ray was initialised before (a notebook)
            logging.getLogger(name).setLevel(logging.ERROR)
        state_logger.addFilter(_one_line_state_error)
    _SESSION = settings
    try:
        yield settings
    finally:
        for display in list(settings.displays):  # interrupted runs: put the terminal back
            display.close(final=False)
        _SESSION = previous
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        state_logger.removeFilter(_one_line_state_error)


# Worker processes of an embedded Ray inherit the driver's environment: their "ray" loggers then
# log at ERROR too (Ray reads RAY_LOGGER_LEVEL when a worker starts), so "Checkpoint successfully
# created" and other INFO lines never reach the driver.
# RAY_AIR_NEW_OUTPUT=0: Ray Tune's newer console output prints an experiment box and "View
# detailed results here" even at verbose=0; its older one prints nothing at verbose=0.
_QUIET_ENV = {"RAY_LOGGER_LEVEL": "error", "RAY_AIR_NEW_OUTPUT": "0"}
_QUIET_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.data")


# Ray Tune's driver copies its experiment state into the run directory in a background thread;
# when that copy fails it logs an ERROR with the whole traceback, and retries at its next save
# (seen once in a CI run: a temporary file of its own renamed under pyarrow's copy,
# FileNotFoundError, the run unharmed). Outside -v that record becomes one line.
_STATE_LOGGER = "ray.tune.execution.experiment_state"


def _one_line_state_error(record: logging.LogRecord) -> bool:
    if record.exc_info and str(record.msg).startswith("Saving experiment state to storage"):
        exc = record.exc_info[1]
        first = (str(exc).splitlines() or [""])[0]
        record.msg = (f"Ray could not copy its experiment state into the run directory this time "
                      f"({type(exc).__name__}: {first}); it retries at its next save, the run goes on")
        record.args, record.exc_info, record.exc_text = (), None, None
    return True


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


# -- what tuning/run.py asks --------------------------------------------------------------------
def ray_verbosity(default: int = 1) -> int:
    """RunConfig(verbose=...): 0 in a session unless -v (no trial tables, no per-trial boxes)."""
    s = current()
    return default if s is None else (1 if s.verbose else 0)


def ray_init_kwargs(default_level: int = logging.WARNING) -> dict[str, Any]:
    """ray.init's logging keyword arguments: ERROR on the driver in a session unless -v, and
    the workers' output not forwarded to the driver (their INFO lines are nothing a user acts
    on; a failing trial is reported by the display with its error, and Ray keeps every worker's
    log in its session directory)."""
    s = current()
    if s is None or s.verbose:
        return {"logging_level": default_level}
    return {"logging_level": logging.ERROR, "log_to_driver": False}


def driver_callbacks(opts: Any, run_dir: Path) -> list[Any]:
    """Ray Tune callbacks of a run: the progress display (inert outside a session)."""
    from tuning.callbacks import RunConsoleCallback

    return [RunConsoleCallback(opts, run_dir)]


# -- formatting ----------------------------------------------------------------------------------
def clock(seconds: float | None) -> str:
    """h:mm:ss or m:ss; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _widths(params: Mapping[str, Any], net: str) -> str | None:
    if f"{net}_widths" in params:
        widths = params[f"{net}_widths"]
        widths = widths if isinstance(widths, (list, tuple)) else [widths]
    elif f"{net}_depth" in params:
        widths = [params.get(f"{net}_width_{i}", "?") for i in range(int(params[f"{net}_depth"]))]
    else:
        return None
    return "-".join(str(w) for w in widths)


def key_params(params: Mapping[str, Any]) -> str:
    """The parameters that tell configurations apart, compactly: noise, widths, learning rates."""
    parts = []
    if "noise_dim" in params:
        parts.append(f"noise {params['noise_dim']}")
    for net in ("g", "d"):
        widths = _widths(params, net)
        if widths is not None:
            parts.append(f"{net.upper()} {widths}")
    lrs = [params[k] for k in ("g_lr", "d_lr") if isinstance(params.get(k), (int, float))]
    if len(lrs) == 2:
        parts.append(f"lr {lrs[0]:.2g}/{lrs[1]:.2g}")
    elif lrs:
        parts.append(f"lr {lrs[0]:.2g}")
    for name in ("batch_size", "loss"):
        if name in params:
            parts.append(f"{name} {params[name]}")
    return ", ".join(parts)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# -- the numbers -----------------------------------------------------------------------------------
@dataclass
class Best:
    score: float
    key: str
    copy_share: float | None
    params: dict[str, Any]


def replaces_kept(kept: tuple[float, bool] | None, value: float, ok: bool) -> bool:
    """Whether a configuration's new report (score `value`, passing the guard: `ok`) replaces the
    one kept for it, (score, ok) or None: the export's rule (tuning.records) for a run's best so
    far, which the console and the report page's curve both follow. A report replaces one that
    did not pass, or a higher passing one. A non-finite score (diverged) replaces only one that
    did not pass: the export keeps a configuration's passing report from before its failure."""
    return kept is None or not kept[1] or (ok and value < kept[0])


class Progress:
    """Counts, the best score that passes the guard, rate and time left. No I/O, no Ray.

    The best is what an export would crown now: the lowest score among the configurations'
    best reports that pass the guard (the export judges a configuration by that report and
    retrains it to that step, tuning.records), so the best shown never rises.
    """

    def __init__(self, *, total: int | None, time_budget: float | None, started: float, budget_start: float | None = None) -> None:
        self.total = total if total and total < UNLIMITED_SAMPLES else None
        self.time_budget = time_budget
        self.started = started  # the session's start: what the user waited for
        self.budget_start = budget_start or started  # when the run's clock (the budget) began
        self.done = 0
        self.running = 0
        self.by_status: dict[str, int] = {}
        self.reports = 0
        # key -> (score, copy_share, passes) of its best report that passes the guard, else its latest
        self.kept: dict[str, tuple[float, float | None, bool]] = {}
        self._params: dict[str, Callable[[], Mapping[str, Any]] | Mapping[str, Any]] = {}

    def counts(self, done: int, running: int, by_status: Mapping[str, int]) -> None:
        self.done, self.running, self.by_status = int(done), int(running), dict(by_status)

    def offer(self, key: str, score: Any, copy_share: Any, passes: bool, params: Callable[[], Mapping[str, Any]] | Mapping[str, Any]) -> None:
        """A configuration's new report: it replaces the one kept unless that passed the guard
        with a score at least as low (so a later divergence does not take back a passing one:
        the export crowns it from before the failure)."""
        self.reports += 1
        value, share = _float(score), _float(copy_share)
        value = value if value is not None else math.nan
        ok = bool(passes and math.isfinite(value))
        old = self.kept.get(str(key))
        if replaces_kept(None if old is None else (old[0], old[2]), value, ok):
            self.kept[str(key)] = (value, share, ok)
        self._params[str(key)] = params

    @property
    def best(self) -> Best | None:
        passing = [(v[0], k) for k, v in self.kept.items() if v[2]]
        if not passing:
            return None
        score, key = min(passing)
        params = self._params.get(key, {})
        return Best(score, key, self.kept[key][1], dict(params() if callable(params) else params))

    def elapsed(self, now: float) -> float:
        return now - self.started

    def rate_per_min(self, now: float) -> float:
        minutes = (now - self.budget_start) / 60.0
        return self.done / minutes if minutes > 0 else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds left: the rest of the time budget, or what the rate so far needs for the rest
        of the configurations, whichever ends first; None when neither is known yet."""
        left = []
        if self.time_budget:
            left.append(max(0.0, self.budget_start + self.time_budget - now))
        if self.total is not None and self.done:
            rate = self.done / max(1e-9, now - self.budget_start)
            left.append(max(0.0, (self.total - self.done) / rate))
        return min(left) if left else None

    def running_text(self) -> str:
        if not (self.running or self.done or self.reports):
            return "starting the workers"
        return f"{self.running} running"

    def count_text(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        return f"{self.done}{total} configurations done, {self.running_text()}"

    def best_text(self, label: str = "best") -> str:
        b = self.best
        if b is None:
            return f"{label}: none passes the guard yet" if self.reports else f"{label}: no score yet"
        share = f", copy_share {b.copy_share:.2f}" if b.copy_share is not None else ""
        params = key_params(b.params)
        return f"{label} wd_mean {b.score:.4f} ({b.key}{share})" + (f": {params}" if params else "")

    def time_text(self, now: float) -> str:
        return f"{self.rate_per_min(now):.1f}/min, {clock(self.elapsed(now))} elapsed, ~{clock(self.eta(now))} left"

    def plain_line(self, now: float) -> str:
        return f"[{clock(self.elapsed(now))}] {self.count_text()}, {self.rate_per_min(now):.1f}/min, ~{clock(self.eta(now))} left; {self.best_text()}"

    def summary(self, now: float) -> str:
        states = ", ".join(f"{v} {k}" for k, v in sorted(self.by_status.items(), key=lambda kv: -kv[1]) if v and k != "failed")
        if self.by_status.get("failed"):
            states += f"{'; ' if states else ''}{self.by_status['failed']} failed"
        # Every configuration the breakdown names: pool mode's `done` leaves out those cut before
        # a first score (they do not count towards --num-samples), the breakdown and export do not.
        n = max(self.done, sum(v for k, v in self.by_status.items() if k != "failed"))
        head = f"tuned {n} configuration{'s' if n != 1 else ''} in {clock(self.elapsed(now))}"
        if states:
            head += f" ({states})"
        if not any(v[2] for v in self.kept.values()):
            return f"{head}; " + ("no configuration passed the memorisation guard" if self.reports else "no configuration was scored")
        return f"{head}; {self.best_text('best passing the guard:')}"


# -- the sources -------------------------------------------------------------------------------------
class ReportsTail:
    """New complete rows of RUN/reports.csv since the last read (the study server appends them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.columns: list[str] | None = None

    def rows(self) -> list[dict[str, str]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for line in chunk[: end + 1].decode("utf-8", "replace").splitlines():
            cells = line.split(",")
            if self.columns is None:
                self.columns = cells
                continue
            if len(cells) == len(self.columns):
                out.append(dict(zip(self.columns, cells)))
        return out


_STATE_NAMES = {"COMPLETE": "completed", "PRUNED": "stopped early", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


class StudyStates:
    """States and parameters of the run's configurations, read from its Optuna journal (which
    Optuna reads incrementally; a half-written last line is left for the next read)."""

    def __init__(self, run_dir: Path, name: str) -> None:
        self.run_dir, self.name = run_dir, name
        self.storage: Any = None
        self.study_id: int | None = None
        self.params: dict[int, dict[str, Any]] = {}

    def poll(self) -> tuple[int, int, dict[str, int]] | None:
        from tuning.study import STUDY_FILE

        if not (self.run_dir / STUDY_FILE).is_file():
            return None
        try:
            if self.storage is None:
                from tuning.study import study_storage

                self.storage = study_storage(self.run_dir)
            if self.study_id is None:
                self.study_id = self.storage.get_study_id_from_name(self.name)
            trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
        except Exception:  # the study not created yet, a torn read: try again next time
            return None
        by_status: dict[str, int] = {}
        for t in trials:
            name = _STATE_NAMES.get(t.state.name, t.state.name.lower())
            # The time budget's cuts are no fault: named as the export's summary names them.
            status = status_name(t.user_attrs.get("record", {}).get("status"))
            if name in ("failed", "stopped early") and status in (UNSCORED_STATUS, CUT_STATUS):
                name = status
            by_status[name] = by_status.get(name, 0) + 1
            if t.number not in self.params and t.params:
                self.params[t.number] = dict(t.params)
        running = by_status.pop("running", 0) + by_status.pop("waiting", 0)
        # A failed configuration does not count towards --num-samples: the study server proposes
        # another in its place (a member lost with a killed driver, one cut before its first score).
        done = by_status.get("completed", 0) + by_status.get("stopped early", 0) + by_status.get(CUT_STATUS, 0)
        return done, running, by_status


# -- the display -------------------------------------------------------------------------------------
class RunDisplay:
    """The live display of one run (driven by tuning.callbacks.RunConsoleCallback)."""

    def __init__(self, opts: Any, run_dir: Path, settings: Settings, *, now: float | None = None) -> None:
        from gan.fidelity import DEFAULT_MAX_COPY_SHARE

        now = time.time() if now is None else now
        self.opts, self.run_dir, self.settings = opts, Path(run_dir), settings
        self.pool = getattr(opts, "mode", "pool") == "pool"
        self.max_copy_share = float(getattr(opts, "max_copy_share", DEFAULT_MAX_COPY_SHARE))
        self.progress = Progress(total=getattr(opts, "num_samples", None), time_budget=getattr(opts, "time_budget", None),
                                 started=settings.started, budget_start=now)
        self.reports = ReportsTail(self.run_dir / "reports.csv")
        self.study = StudyStates(self.run_dir, getattr(opts, "name", None) or self.run_dir.name)
        self.last_poll = 0.0
        self.last_line = now
        self.closed = False
        self.bars: list[Any] = []
        self._stack = contextlib.ExitStack()
        if settings.console == "live":
            self._open_live()
        settings.displays.append(self)

    # live: two tqdm lines (counts with a bar; the best so far), redrawn in place
    def _open_live(self) -> None:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        out = self.settings.out
        total = self.progress.total or (int(self.progress.time_budget) if self.progress.time_budget else None)
        # Sizes from shutil (it falls back to 100 x 24 where a terminal reports 0 x 0, as a pty
        # without a size does; tqdm would then draw nothing).
        columns = _columns()
        common = dict(file=out, leave=False, ncols=columns, nrows=max(4, shutil.get_terminal_size((100, 24)).lines), mininterval=0.2)
        self.bars = [tqdm(total=total, bar_format="{desc}|{bar}| {unit}", position=0, **common),
                     tqdm(total=None, bar_format="{desc}", position=1, **common)]
        self._stack.enter_context(logging_redirect_tqdm())  # log lines print above the display

    def note(self, text: str) -> None:
        """A line above the display (an error, a failed worker)."""
        if self.bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.settings.out)
        else:
            print(text, file=self.settings.out, flush=True)

    # inputs --------------------------------------------------------------------------------------
    def trial_result(self, key: str, params: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """A per-trial-mode result (Ray Tune's on_trial_result)."""
        from gan.fidelity import passes_guard

        if "wd_mean" not in result:
            return
        passes = result.get("copy_share") is not None and passes_guard(result, self.max_copy_share)
        clean = {k: v for k, v in params.items() if not str(k).startswith("_")}
        self.progress.offer(key, result.get("wd_mean"), result.get("copy_share"), passes, clean)

    def trial_states(self, states: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Per-trial mode: (Ray status, last result) of every trial."""
        budget_attr = getattr(self.opts, "budget_attr", "steps")
        budget = getattr(self.opts, "budget", None)
        by_status: dict[str, int] = {}
        running = 0
        for status, last in states:
            if status in ("RUNNING", "PENDING", "PAUSED"):
                running += status == "RUNNING"
                continue
            if status == "ERROR":
                name = "failed"
            elif budget is not None and float(last.get(budget_attr, 0) or 0) >= budget - 1e-9:
                name = "completed"
            else:
                name = "stopped early"
            by_status[name] = by_status.get(name, 0) + 1
        self.progress.counts(sum(by_status.values()), running, by_status)

    def poll(self) -> None:
        """Pool mode: new member reports and the study's states."""
        if not self.pool:
            return
        for row in self.reports.rows():
            number = row.get("number", "")
            self.progress.offer(f"#{number}", row.get("wd_mean"), _none(row.get("copy_share")), row.get("passes_guard") == "True",
                                lambda n=number: self.study.params.get(int(n), {}) if n.isdigit() else {})
        states = self.study.poll()
        if states is not None:
            self.progress.counts(*states)

    def tick(self, states: Sequence[tuple[str, Mapping[str, Any]]] | None = None, *, now: float | None = None) -> None:
        """Called often (every Ray Tune loop step): poll and redraw at most every POLL_EVERY_S."""
        if self.closed:
            return
        now = time.time() if now is None else now
        if now - self.last_poll < POLL_EVERY_S:
            return
        self.last_poll = now
        if states is not None and not self.pool:
            self.trial_states(states)
        self.poll()
        self.render(now)

    # output ----------------------------------------------------------------------------------
    def render(self, now: float) -> None:
        p = self.progress
        if self.bars:
            columns = _columns()
            bar, info = self.bars
            bar.ncols = info.ncols = columns
            total = f"/{p.total}" if p.total is not None else ""
            desc = f"tuning {p.done}{total} "
            post = _fit(f"{p.running_text()}, {p.time_text(now)}", max(10, columns - len(desc) - 14))
            if p.total is not None:
                bar.n = min(p.done, p.total)
            elif p.time_budget:
                bar.n = min(int(now - p.budget_start), int(p.time_budget))
            bar.set_description_str(desc, refresh=False)
            bar.unit = post
            bar.refresh()
            info.set_description_str(_fit("  " + p.best_text(), columns - 1), refresh=True)
        elif now - self.last_line >= self.settings.every_s:
            self.last_line = now
            print(p.plain_line(now), file=self.settings.out, flush=True)

    def close(self, *, final: bool = True, states: Sequence[tuple[str, Mapping[str, Any]]] | None = None) -> None:
        """End the display; with `final`, read the last reports and print the run's summary."""
        if self.closed:
            return
        self.closed = True
        now = time.time()
        if final:
            if states is not None and not self.pool:
                self.trial_states(states)
            self.poll()
        for bar in self.bars:
            bar.close()
        self._stack.close()
        if final:
            print(self.progress.summary(now), file=self.settings.out, flush=True)
        if self in self.settings.displays:
            self.settings.displays.remove(self)


# -- the end of a run --------------------------------------------------------------------------------
def _versus_gaussian(score: float, gaussian: float, new_sample: float = math.nan) -> list[str]:
    """The score against a Gaussian fit of the table, and the advice that follows. No "tune
    longer" when both score below `new_sample` (what new rows from the population would): a tiny
    table (iris-setosa: the Gaussian fit 0.0629 against ~0.071), where more tuning fits these
    rows, not their source."""
    if not (math.isfinite(score) and math.isfinite(gaussian)) or gaussian <= 0:
        return [f"a Gaussian fit of the table scores {gaussian:.4f}"]
    change = (score - gaussian) / gaussian
    if change <= -0.05:
        return [f"{-change:.0%} lower than a Gaussian fit of the table ({gaussian:.4f}),",
                "so the GAN learned more than the columns' means and correlations"]
    first = (f"{change:.0%} higher than" if change >= 0.05 else "about the same as") + f" a Gaussian fit of the table ({gaussian:.4f}),"
    if max(score, gaussian) < new_sample:
        return [first, "but both beat a new sample of the population: more tuning would fit these rows, not their source"]
    return [first, "so no better than a trivial generator yet: tune longer (--time-budget)"]


def format_outcome(summary: Mapping[str, Any], out: str | Path) -> str:
    """What an export amounts to, in plain words: the score against the two references, the
    memorisation guard's verdict, where the report page is, and what to run next."""
    from gan.fidelity import passes_guard
    from gan.report import new_sample_lines

    out = Path(out)
    score = float(summary.get("wd_mean", math.nan))
    refs = summary.get("references", {})
    gaussian, resample = float(refs.get("gaussian", math.nan)), float(refs.get("resample", math.nan))
    guard = summary.get("guard", {})
    share, limit = guard.get("copy_share"), float(guard.get("max_copy_share", math.nan))
    ok = share is not None and passes_guard({"copy_share": share}, limit)
    # The search crowned the lowest of many scores, each on one noise draw, so its own score is
    # biased low; the comparison with the Gaussian fit (an unselected draw) uses the export's
    # fresh draws when it has them (gan.report.fresh_scores).
    fresh = summary.get("fresh") or {}
    judged = float(fresh.get("wd_mean", score))
    floor = summary.get("new_sample")
    first, second = (_versus_gaussian(judged, gaussian, float(floor["wd_mean"]) if floor else math.nan) + [""])[:2]
    if fresh:
        head = [f"  score   wd_mean {score:.4f} as the search scored it, {judged:.4f} on fresh noise "
                f"({len(fresh.get('seeds', []))} draws it never saw),", f"          lower is better: {first}"]
    else:
        head = [f"  score   wd_mean {score:.4f}, lower is better: {first}"]
    lines = [
        f"Exported the best configuration (trial {summary.get('best_trial')} of {summary.get('trials')}: "
        f"{_counts(summary.get('trials_by_status', {}))}) to {out}/",
        *head,
        f"          {second}" if second else "",
        f"          (resampling the real rows scores {resample:.4f}, lower still, but only by copying them)",
        *(f"          {line}" for line in (new_sample_lines(floor, judged) if floor else [])),
        f"  guard   {'passed' if ok else 'FAILED'}: {float(share) if share is not None else math.nan:.0%} of generated rows are "
        f"near-copies of training rows ({limit:.0%} allowed; a resample: 100%)",
    ]
    page = (summary.get("report") or {}).get("page")
    if page and not str(page).startswith("skipped"):
        lines.append(f"  report  {out / 'report' / Path(page).name} (open it in a browser)")
    lines.append(f"  next    gantune sample {out / 'model'} -n 1000 -o synthetic.csv")
    return "\n".join(line for line in lines if line)


def _counts(by_status: Mapping[str, Any]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(by_status.items(), key=lambda kv: -int(kv[1]))) or "none"


def _columns() -> int:
    columns = shutil.get_terminal_size((100, 24)).columns
    return columns if columns > 20 else 100


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _none(text: str | None) -> str | None:
    return None if text in (None, "", "None", "nan") else text


__all__ = ["Progress", "RunDisplay", "Settings", "clock", "current", "driver_callbacks", "format_outcome", "key_params", "ray_init_kwargs",
           "ray_verbosity", "replaces_kept", "session"]
