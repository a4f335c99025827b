"""The export's report page: `OUT/report/index.html`, one self-contained file.

Every figure is embedded as a base64 PNG and the style is inline, so the page can be mailed,
attached to a ticket or opened from any disk without the files beside it. It shows:

* the run's summary: data, mode, configurations by status, the exported model's score beside the
  Gaussian-fit and resample references, the memorisation guard's verdict;
* the best configuration (every GANConfig field);
* the best score so far (among reports that pass the guard) against time and against
  configurations -- from RUN/reports.csv in pool mode, from each trial's result.json per trial;
* real vs generated rows per column (histograms for numbers, label shares for categories) and
  the per-column distances beside the references;
* the association matrices of the real and generated rows side by side, and their difference;
* Optuna's parameter importances and optimisation history (and the Pareto front of a
  multi-objective run), drawn by the export;
* the guard's figures for the model and the two references (copy_share, dcr_ratio, corr_diff,
  detect_auc), and the best configurations of the run.

`tuning.export.export_run` calls `write_report_page` last, inside its atomic export directory.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PAGE = "index.html"
ASSOCIATION_ROWS = 5000  # rows sampled (seeded) for the association matrices
ASSOCIATION_COLUMNS = 40  # at most this many columns in the matrices
TOP_CONFIGURATIONS = 10


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain_style():
    """Matplotlib's default style: Optuna's plots (drawn by the export before the page) switch
    the global style to ggplot."""
    return _pyplot().style.context("default")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _png_file(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return base64.b64encode(data).decode("ascii") if data.startswith(b"\x89PNG") else None


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "--"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "--" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:.{digits}g}" if (abs(v) < 1e-3 or abs(v) >= 1e4) and v != 0 else f"{v:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    return str(value)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# -- the best score over the run ---------------------------------------------------------------------
def reports_frame(run_dir: Path, opts: Any, max_copy_share: float) -> pd.DataFrame:
    """Every scored report of the run: time (unix s), configuration, steps, wd_mean, passes."""
    from gan.fidelity import passes_guard

    rows: list[dict[str, Any]] = []
    if opts.mode == "pool":
        from tuning.study import read_reports

        for r in read_reports(run_dir):
            try:  # a copy share that is empty or no number: the report was not guarded
                share = float(r.get("copy_share"))
            except (TypeError, ValueError):
                share = math.nan
            try:
                rows.append({"time": float(r["time"]), "configuration": str(int(r["number"])), "steps": int(r["steps"]),
                             "wd_mean": float(r["wd_mean"]), "passes": bool(r.get("passes_guard") == "True" and not math.isnan(share))})
            except (KeyError, TypeError, ValueError):
                continue  # a line torn by a killed driver
    else:
        for path in sorted(run_dir.glob("*/result.json")):
            trial_id = path.parent.name.split("_", 1)[-1]
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "wd_mean" not in result or result.get("timestamp") is None:
                    continue
                ok = result.get("copy_share") is not None and passes_guard(result, max_copy_share)
                rows.append({"time": float(result["timestamp"]), "configuration": trial_id, "steps": int(result.get("steps") or 0),
                             "wd_mean": float(result["wd_mean"]), "passes": bool(ok)})
    frame = pd.DataFrame(rows, columns=["time", "configuration", "steps", "wd_mean", "passes"])
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _run_start(run_dir: Path, reports: pd.DataFrame) -> float:
    from tuning.options import META_FILE

    starts = [float(reports["time"].min())] if len(reports) else []
    try:
        starts.append((run_dir / META_FILE).stat().st_mtime)
    except OSError:
        pass
    return min(starts) if starts else time.time()


def best_over_time(reports: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """What an export would have crowned at each report: the lowest score among the
    configurations' best reports that pass the guard (tuning.records; one that diverges later
    keeps its best from before, as the export does). Returns (times, best scores) where a best
    exists."""
    import heapq

    from tuning.console import replaces_kept

    kept: dict[str, tuple[float, bool]] = {}
    heap: list[tuple[float, str]] = []
    times, bests = [], []
    for r in reports.itertuples(index=False):
        key, value = str(r.configuration), float(r.wd_mean)
        ok = bool(r.passes) and math.isfinite(value)
        if replaces_kept(kept.get(key), value, ok):
            kept[key] = (value, ok)
            if ok:
                heapq.heappush(heap, (value, key))
        while heap and kept[heap[0][1]] != (heap[0][0], True):  # stale: replaced since
            heapq.heappop(heap)
        if heap:
            times.append(float(r.time))
            bests.append(heap[0][0])
    return np.asarray(times), np.asarray(bests)


def progress_figure(reports: pd.DataFrame, records: Sequence[Any], start: float, summary: Mapping[str, Any], max_copy_share: float) -> str | None:
    """Best guarded wd_mean so far against time (every report) and against configurations (each
    configuration's scored report, in the order they were proposed)."""
    from gan.fidelity import passes_guard

    plt = _pyplot()
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(11, 3.8))
    times, bests = best_over_time(reports)
    drawn = False
    if len(times):
        t = (times - start) / 60.0
        ax_t.step(t, bests, where="post", color="tab:blue", label="best so far (passing the guard)")
        ok = reports[reports["passes"] & np.isfinite(reports["wd_mean"])]
        ax_t.scatter((ok["time"] - start) / 60.0, ok["wd_mean"], s=6, color="tab:blue", alpha=0.25, label="reports")
        drawn = True
    else:
        ax_t.text(0.5, 0.5, "no report passed the guard", ha="center", va="center", transform=ax_t.transAxes)
    ax_t.set_xlim(left=0)
    ax_t.set_xlabel("minutes since the run started")
    ax_t.set_ylabel("wd_mean (lower is better)")
    ax_t.set_title("best score against time", fontsize=10)

    def key(r: Any) -> tuple[int, str]:
        number = r.last.get("optuna_number")
        return (int(number), "") if number is not None else (10**9, str(r.trial_id))

    ordered = sorted(records, key=key)
    xs, ys, best = [], [], math.inf
    for i, r in enumerate(ordered, start=1):
        score = r.score
        share = r.scored.get("copy_share")
        if share is not None and math.isfinite(score) and passes_guard({"copy_share": share}, max_copy_share):
            best = min(best, score)
        if math.isfinite(best):
            xs.append(i)
            ys.append(best)
    if xs:
        ax_c.step(xs, ys, where="post", color="tab:blue", label="best so far (passing the guard)")
        drawn = True
    else:
        ax_c.text(0.5, 0.5, "no configuration passed the guard", ha="center", va="center", transform=ax_c.transAxes)
    ax_c.set_xlabel("configurations (in the order proposed)")
    ax_c.set_title("best score against configurations", fontsize=10)
    refs = summary.get("references", {})
    for ax in (ax_t, ax_c):
        for name, style in (("gaussian", ":"), ("resample", "--")):
            if name in refs and math.isfinite(float(refs[name])):
                ax.axhline(float(refs[name]), color="gray", linestyle=style, linewidth=1, label=f"{name} reference")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if drawn:
        ax_t.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


# -- the model against the real rows ---------------------------------------------------------------
def association_figure(data: Any, fake: np.ndarray, seed: int = 0) -> tuple[str, str]:
    """Real and generated association matrices side by side, and |difference|; (png, note)."""
    from gan.fidelity import association_matrix

    plt = _pyplot()
    specs = list(data.specs)[:ASSOCIATION_COLUMNS]
    d = len(specs)
    rng = np.random.default_rng(seed)
    real = data.train_values
    if len(real) > ASSOCIATION_ROWS:
        real = real[np.sort(rng.choice(len(real), ASSOCIATION_ROWS, replace=False))]
    gen = fake if len(fake) <= ASSOCIATION_ROWS else fake[np.sort(rng.choice(len(fake), ASSOCIATION_ROWS, replace=False))]
    a_real = association_matrix(real[:, :d], specs)
    a_fake = association_matrix(gen[:, :d], specs)
    names = [str(s.name)[:14] for s in specs]
    size = max(3.2, min(7.0, 0.35 * d + 1.8))
    fig, axes = plt.subplots(1, 3, figsize=(3 * size + 1.2, size))
    for ax, m, title, cmap, lo in ((axes[0], a_real, "real rows", "RdBu_r", -1), (axes[1], a_fake, "generated rows", "RdBu_r", -1),
                                   (axes[2], np.abs(a_real - a_fake), "|real - generated|", "Reds", 0)):
        im = ax.imshow(np.nan_to_num(m), cmap=cmap, vmin=lo, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(d), names, rotation=90, fontsize=7)
        ax.set_yticks(range(d), names if ax is axes[0] else [""] * d, fontsize=7)
        if d <= 8:
            for i in range(d):
                for j in range(d):
                    if np.isfinite(m[i, j]):
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(m[i, j]) > 0.6 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    note = "Pearson r for two numeric columns, Cramer's V for two categorical ones, the correlation ratio for a mixed pair"
    if len(data.specs) > d:
        note += f"; the first {d} of {len(data.specs)} columns"
    if len(data.train_values) > ASSOCIATION_ROWS:
        note += f"; {ASSOCIATION_ROWS:,} sampled rows of each"
    return _png(fig), note


def _column_rows(data: Any, metrics: Mapping[str, Any]) -> list[list[Any]]:
    refs = metrics.get("references", {})
    rows = []
    for j, s in enumerate(data.specs):
        row = [s.name, s.kind, metrics["wd"][j]]
        row += [refs[name]["wd"][j] if name in refs else None for name in ("gaussian", "resample")]
        rows.append(row)
    return rows


# -- the search -------------------------------------------------------------------------------------
def importances_figure(run_dir: Path, opts: Any, records: Sequence[Any]) -> tuple[str | None, str]:
    """Optuna's parameter importances over every configuration's last score, those stopped early
    included (the export's figure uses finished configurations only, which in pool mode may be
    one or two); (png or None, caption or why not)."""
    import warnings

    import optuna

    from tuning.study import load_study

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = load_study(run_dir, opts.name or run_dir.name)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    view = optuna.create_study(direction="minimize")
    for r in records:
        t = by_number.get(r.last.get("optuna_number"))
        if t is not None and t.params and math.isfinite(r.score):
            view.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=r.score))
    if len(view.trials) < 3:
        return None, f"needs at least 3 configurations with a finite score, found {len(view.trials)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importances = optuna.importance.get_param_importances(view, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    if not importances:
        return None, "no parameter varied"
    plt = _pyplot()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance for wd_mean (fANOVA)")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig), (f"parameter importances over {len(view.trials)} configurations' last scores, those stopped early "
                       "included (each at the step it stopped)")


# -- the page ---------------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left} img{max-width:100%;height:auto;display:block;margin:.6em 0}
.pass{color:#176f2c;font-weight:600} .fail{color:#b00020;font-weight:600} .muted{color:#666;font-size:.9em}
.kv td{text-align:left} .verdict{font-size:1.05em;margin:.5em 0}
"""


def _figure_or_note(report_dir: Path, notes: Mapping[str, Any], key: str, alt: str) -> str:
    name = notes.get(key)
    if name and not str(name).startswith("skipped"):
        b64 = _png_file(report_dir / str(name))
        if b64:
            return _img(b64, alt)
    why = str(name) if name else "not drawn"
    return f'<p class="muted">{html.escape(alt)}: {html.escape(why)}</p>'


def build_page(*, summary: Mapping[str, Any], run_dir: Path, opts: Any, data: Any, fake: np.ndarray, records: Sequence[Any],
               metrics: Mapping[str, Any], report_dir: Path) -> str:
    from gan.fidelity import passes_guard
    from tuning.records import trials_table

    guard = summary.get("guard", {})
    limit = float(guard.get("max_copy_share", opts.max_copy_share))
    share = guard.get("copy_share")
    passed = share is not None and passes_guard({"copy_share": share}, limit)
    refs = summary.get("references", {})
    reports = reports_frame(run_dir, opts, limit)
    start = _run_start(run_dir, reports)
    ran_for = (float(reports["time"].max()) - start) if len(reports) else None
    name = opts.name or run_dir.name
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>gantune report: {html.escape(name)}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>gantune report: {html.escape(name)}</h1>",
             f'<p class="muted">exported {html.escape(time.strftime("%Y-%m-%d %H:%M:%S"))} from {html.escape(str(run_dir))}</p>']

    # summary
    verdict = ('<span class="pass">passes the memorisation guard</span>' if passed else '<span class="fail">FAILS the memorisation guard</span>')
    parts.append("<h2>Summary</h2>")
    fresh = summary.get("fresh") or {}
    # The search's score is the lowest of many draws; fresh draws estimate the model without that bias.
    fresh_text = (f"; {_fmt(fresh.get('wd_mean'))} on {len(fresh.get('seeds', []))} fresh noise draws the search never saw, "
                  "the figure to compare with the references") if fresh else ""
    fresh_cell = f" (fresh draws: {_fmt(fresh.get('wd_mean'))})" if fresh else ""
    parts.append(f'<p class="verdict">The exported model (configuration {html.escape(str(summary.get("best_trial")))}) scores '
                 f'<b>wd_mean {_fmt(summary.get("wd_mean"))}</b> (lower is better{fresh_text}) and {verdict}: '
                 f'{float(share) if share is not None else math.nan:.0%} of its rows are near-copies of training rows '
                 f'(at most {limit:.0%} allowed).</p>')
    by_status = summary.get("trials_by_status", {})
    kv = [
        ("data", data.describe()),
        ("mode", "pool (many configurations per Ray trial)" if opts.mode == "pool" else "one Ray trial per configuration"),
        ("configurations", f"{summary.get('trials')} ({', '.join(f'{v} {k}' for k, v in by_status.items())})"),
        ("budget per configuration", f"{opts.budget:,} {opts.budget_attr}"),
        ("objective", opts.objective),
        ("run time", _clock(ran_for) if ran_for is not None else "--"),
        ("wd_mean: model / gaussian / resample", f"{_fmt(summary.get('wd_mean'))}{fresh_cell} / {_fmt(refs.get('gaussian'))} / {_fmt(refs.get('resample'))}"),
    ]
    floor = summary.get("new_sample")
    if floor:
        kv.append(("wd_mean of a new sample of the population (a perfect generator)",
                   f"{_fmt(floor.get('wd_mean'))} (5-95 %: {_fmt(floor.get('low'))}-{_fmt(floor.get('high'))}, by bootstrap of the rows)"))
    parts.append('<table class="kv">' + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in kv) + "</table>")
    parts.append('<p class="muted">wd_mean: the mean over columns of the 1-D Wasserstein distance (numbers, scaled to [-1, 1]) '
                 "or the total variation distance (categories) between generated and real rows. gaussian: a Gaussian fitted to the "
                 "encoded rows; resample: real rows drawn again (lower still, but a copy); a new sample of the population: what a perfect generator scores.</p>")

    # best configuration
    parts.append("<h2>Best configuration</h2>")
    config = summary.get("best_config", {})
    parts.append(_table(["field", "value"], [[k, v] for k, v in config.items()], "kv"))
    parts.append('<p class="muted">best_config.json / best_config.yaml beside this report hold it; '
                 "<code>gantune train --config best_config.json</code> retrains this model.</p>")

    # progress
    parts.append("<h2>Best score over the run</h2>")
    with _plain_style():
        png = progress_figure(reports, records, start, summary, limit)
    if png:
        parts.append(_img(png, "best score so far against time and configurations"))
    parts.append('<p class="muted">The best is what an export would have crowned then: the lowest wd_mean among the configurations\' '
                 "latest scores that pass the guard (a configuration scored worse later is judged by its later score). Dotted and "
                 "dashed: the Gaussian-fit and resample references.</p>")
    notes = summary.get("report", {}) or {}

    # columns
    parts.append("<h2>Real and generated rows, per column</h2>")
    hist = _png_file(report_dir / "histograms.png")
    if hist is None:
        from gan.plots import histograms

        histograms(data.transformer, data.train_values, fake, report_dir / "histograms.png")
        hist = _png_file(report_dir / "histograms.png")
    if hist:
        parts.append(_img(hist, "histograms and label shares, real vs generated"))
    if "wd" in metrics:
        parts.append(_table(["column", "type", "wd model", "wd gaussian", "wd resample"], _column_rows(data, metrics)))

    # associations
    parts.append("<h2>Associations between columns</h2>")
    if data.n_columns >= 2:
        with _plain_style():
            png, note = association_figure(data, fake)
        parts.append(_img(png, "association matrices, real and generated"))
        parts.append(f'<p class="muted">{html.escape(note)}. corr_diff, the mean |difference|: {_fmt(summary.get("fidelity", {}).get("corr_diff"))}.</p>')
    else:
        parts.append('<p class="muted">one column: no associations.</p>')

    # search
    parts.append("<h2>The search</h2>")
    drawn = notes.get("param_importances")
    if drawn and not str(drawn).startswith("skipped"):
        parts.append(_figure_or_note(report_dir, notes, "param_importances", "Optuna's parameter importances"))
    elif opts.mode == "pool":  # few finished configurations: every configuration's last score instead
        with _plain_style():
            png, caption = importances_figure(run_dir, opts, records)
        parts.append(_img(png, "parameter importances") if png else "")
        parts.append(f'<p class="muted">{html.escape(caption if png else "parameter importances: " + caption)}</p>')
    else:
        parts.append(_figure_or_note(report_dir, notes, "param_importances", "Optuna's parameter importances"))
    if "pareto_front" in notes:
        parts.append(_figure_or_note(report_dir, notes, "pareto_front", "Pareto front"))
    table = trials_table(list(records)).head(TOP_CONFIGURATIONS)
    cols = [c for c in ("trial_id", "status", "wd_mean", "copy_share", "steps", "noise_dim", "g_lr", "d_lr", "beta1", "beta2") if c in table]
    if len(table):
        parts.append(f"<p>The {len(table)} best configurations by wd_mean (every one is in trials.csv):</p>")
        parts.append(_table(cols, table[cols].values.tolist()))

    # guard
    parts.append("<h2>Memorisation guard</h2>")
    parts.append(f'<p class="verdict">Verdict: {verdict} (copy_share {_fmt(share)} against --max-copy-share {_fmt(limit)}).</p>')
    parts += guard_table(summary, limit)
    parts.append("</body></html>")
    return "\n".join(parts)


def guard_table(summary: Mapping[str, Any], limit: float) -> list[str]:
    """The guard's and the cross-column scores' table for the model and the references, with
    cond_wd (numbers within labels) and its worst pair where the table has numbers and labels."""
    from gan.fidelity import passes_guard

    fid = [("model", summary.get("fidelity", {}))] + list((summary.get("references_fidelity") or {}).items())
    cond = fid[0][1].get("cond_wd")
    with_cond = isinstance(cond, (int, float)) and math.isfinite(cond)
    rows = []
    for label, f in fid:
        s = f.get("copy_share")
        rows.append([label, s, f.get("dcr_ratio"), f.get("corr_diff"), *([f.get("cond_wd")] if with_cond else []), f.get("detect_auc"),
                     "pass" if s is not None and passes_guard({"copy_share": s}, limit) else "FAIL"])
    head = ["rows", "copy_share", "dcr_ratio", "corr_diff", *(["cond_wd"] if with_cond else []), "detect_auc", "guard"]
    out = [_table(head, rows)]
    cond_text = ""
    if with_cond:
        cond_text = ("cond_wd: how numbers follow the labels that set them, the mean over pairs of a numeric and a "
                     "categorical column of the numeric one's wd within each label (0 the same); ")
        worst = fid[0][1].get("cond_wd_worst") or {}
        if worst.get("column") is not None:
            out.append(f'<p>cond_wd\'s worst pair: <b>{html.escape(str(worst["column"]))} within each {html.escape(str(worst["by"]))}</b>, '
                       f'{_fmt(worst.get("model"), 3)} (gaussian {_fmt(worst.get("gaussian"), 3)}, resample {_fmt(worst.get("resample"), 3)}).</p>')
    out.append('<p class="muted">copy_share: share of generated rows closer to a training row than real rows are to each other '
               "(the guard); dcr_ratio: median distance to the closest training row over the real rows' own (1 like real data, 0 "
               f"copying); corr_diff: mean |difference| of the association matrices; {cond_text}detect_auc: a classifier telling "
               "real from generated rows (0.5 indistinguishable, below 0.5 copies). A resample of the real rows fails the guard by design.</p>")
    return out


def _clock(seconds: float) -> str:
    from tuning.console import clock

    return clock(seconds)


def write_report_page(report_dir: Path, *, summary: Mapping[str, Any], run_dir: Path, opts: Any, data: Any, fake: np.ndarray,
                      records: Sequence[Any], metrics: Mapping[str, Any]) -> str:
    """Write report_dir/index.html; returns its name, or 'skipped: <why>' when it could not be
    made (the export itself still succeeds, and says so in summary.json and a warning)."""
    report_dir = Path(report_dir)
    try:
        page = build_page(summary=summary, run_dir=Path(run_dir), opts=opts, data=data, fake=fake, records=records,
                          metrics=metrics, report_dir=report_dir)
    except Exception as exc:  # a figure that cannot be drawn must not lose the export
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]
        log.warning("report page not written: %s: %s", exc.__class__.__name__, first)
        return f"skipped: {exc.__class__.__name__}: {first}"
    from gan.io import write_text_atomic

    write_text_atomic(report_dir / PAGE, page)
    return PAGE


__all__ = ["PAGE", "build_page", "guard_table", "reports_frame", "write_report_page"]
