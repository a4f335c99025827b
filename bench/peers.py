"""Peer comparison: gantune against SDV's GaussianCopula and CTGAN, judged by SDMetrics.

Needs the bench extra, in a venv of its own (sdv 2 caps pandas below 3):
    python3 -m venv /work/benchenv && . /work/benchenv/bin/activate
    pip install torch==2.13.0 && pip install -e '.[bench]'
    python bench/peers.py                                   # full run: ~3.5 h on 2 cores
    python bench/peers.py --tables iris-setosa,penguins --gantune-budget 60 --ctgan-epochs 20
    python bench/peers.py --tables large --large-source mixed --rows-large 5000 \\
        --gantune-budget 60 --ctgan-epochs 20               # short run on a generated table

Tables
    iris-setosa  sklearn's iris, target == 0: 50 rows x 4 numeric columns. 1,000 rows are
                 generated (not 50), as gantune's own evaluations do.
    penguins     gan/datasets/penguins.csv: 344 rows x 8, 3 categoricals, missing values.
    large        bench/tables.py make_large: ggplot2's diamonds (53,940 x 10, 3 categoricals)
                 from the installed plotnine, else make_mixed(60_000). --large-source picks
                 (auto, diamonds, mixed), --rows-large N shortens it (a seeded sample of diamonds,
                 or make_mixed(N)).
Every table is written to a CSV in the run directory and read back, so all tools see the same
frame that pandas parses from that CSV; each tool's rows are written to CSV and read back too.

Tools (each fit and sample timed; one that fails gets its one-line error in the table)
    gaussian_copula  SDV GaussianCopulaSynthesizer, defaults, metadata detected by SDV.
    ctgan            SDV CTGANSynthesizer, defaults (300 epochs) unless --ctgan-epochs. On the
                     full diamonds table: ~3 min of preprocessing, then ~32 s an epoch, so ~2.7 h
                     at 300 epochs (1 thread, shared 2-core machine at load ~4).
                     Runs in this process with torch.set_num_threads(--threads, default 1):
                     on this 2-core machine 2 threads took 2-7x the wall time of 1 (5,000 rows,
                     5 epochs, machine shared with other jobs).
    gantune          `gantune tune --data REAL.csv --time-budget S --out DIR` then
                     `gantune sample DIR/model -n N -o synth.csv`, in subprocesses (see
                     gantune_commands; --gantune-args adds to tune). Its fit time is the whole
                     tune command (Ray start-up, trials, export); its sample time includes the
                     CLI's start-up (~8 s of imports), where SDV samples in this process.

Scores
    SDMetrics QualityReport (overall, Column Shapes, Column Pair Trends) with the SDV-detected
    metadata as a dict (what sdv.evaluation.evaluate_quality does). When generated rows lack some
    of the real columns (a tool that left a column out) the report covers the columns both
    have, and `cols` says how many: such a score is not comparable with a full one.
    `gantune evaluate SYNTH.csv --data REAL.csv --json` (+ --gantune-eval-args): wd_mean, copy_share, passes_guard,
    detect_auc, corr_diff (gantune's own scores, over every column it models: numeric,
    integer and categorical, missing values included).

Output: a markdown table per table and an overall one on stdout; a long CSV (--out-csv, default
RUN_DIR/peers_results.csv) with every figure, the full error lines and the package versions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from tables import make_large  # noqa: E402

PENGUINS_CSV = REPO / "gan" / "datasets" / "penguins.csv"
TABLES = ("iris-setosa", "penguins", "large")
TOOLS = ("gaussian_copula", "ctgan", "gantune")
TOOL_ALIASES = {"copula": "gaussian_copula", "gc": "gaussian_copula", "gaussiancopula": "gaussian_copula"}
IRIS_SYNTH_ROWS = 1000
GANTUNE_KEYS = ("wd_mean", "copy_share", "passes_guard", "detect_auc", "corr_diff")


@dataclass
class Table:
    name: str
    real_csv: Path
    n_synth: int
    source: str


@dataclass
class Result:
    table: str
    tool: str
    real_rows: int = 0
    real_cols: int = 0
    synth_rows: int = 0
    fit_s: float = float("nan")
    sample_s: float = float("nan")
    quality: float = float("nan")
    column_shapes: float = float("nan")
    column_pair_trends: float = float("nan")
    cols_scored: str = ""
    gantune_eval: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    eval_error: str = ""
    synth_csv: str = ""


# -- gantune through its CLI ------------------------------------------------------------------
def gantune_exe(explicit: str | None) -> str:
    """The gantune console script: --gantune-exe, else the one beside this Python, else on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "gantune"
    if beside.exists():
        return str(beside)
    found = shutil.which("gantune")
    if not found:
        raise SystemExit("gantune not found: pip install -e '.[bench]' in this venv, or pass --gantune-exe")
    return found


def gantune_commands(exe: str, real_csv: Path, out_dir: Path, synth_csv: Path, *, budget: float,
                     n_rows: int, seed: int, extra: list[str]) -> list[list[str]]:
    """The commands that fit gantune and sample from it. Change the invocation here only."""
    tune = [exe, "tune", "--data", str(real_csv), "--time-budget", f"{budget:g}", "--seed", str(seed),
            "--out", str(out_dir), *extra]
    sample = [exe, "sample", str(out_dir / "model"), "-n", str(n_rows), "-o", str(synth_csv), "--seed", str(seed)]
    return [tune, sample]


def gantune_evaluate_command(exe: str, synth_csv: Path, real_csv: Path, extra: list[str]) -> list[str]:
    return [exe, "evaluate", str(synth_csv), "--data", str(real_csv), "--json", "--figure", "", *extra]


def gantune_env(extra: list[str]) -> dict[str, str]:
    """The environment for gantune's subprocesses: a Ray instance of their own.

    `ray.init()` without an address joins the cluster that the last `ray start` on this machine
    recorded in /tmp/ray/ray_current_cluster, if it still runs (someone else's, on a shared
    machine; it happened in a smoke run). RAY_ADDRESS=local makes Ray start its own instance,
    unless the caller set RAY_ADDRESS or passes --address to gantune tune.
    """
    env = dict(os.environ)
    if not env.get("RAY_ADDRESS") and not any(a == "--address" or a.startswith("--address=") for a in extra):
        env["RAY_ADDRESS"] = "local"
    return env


def one_line(text: str, limit: int = 300) -> str:
    """The line of a failed command's output that says why: gantune's own error line if any."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("gantune: error:") or ln.startswith("gantune: interrupted"):
            return ln[:limit]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln:
            return ln[:limit]
    return (lines[-1] if lines else "no output")[:limit]


def run_logged(cmd: list[str], cwd: Path, log: Path, timeout: float, env: dict[str, str] | None = None) -> tuple[int, float, str]:
    """Run a command, its stdout and stderr into `log`; (exit status, seconds, one-line error)."""
    start = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=env)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            return 124, time.perf_counter() - start, f"timed out after {timeout:.0f} s: {' '.join(cmd[:2])}"
    seconds = time.perf_counter() - start
    error = "" if rc == 0 else one_line(log.read_text()[-20000:])
    return rc, seconds, error


def fit_gantune(table: Table, work: Path, args: argparse.Namespace, exe: str) -> tuple[Path, float, float]:
    work.mkdir(parents=True, exist_ok=True)
    synth = work / "synth.csv"
    log = work / "gantune.log"
    tune, sample = gantune_commands(exe, table.real_csv, work / "best", synth, budget=args.gantune_budget,
                                    n_rows=table.n_synth, seed=args.seed, extra=args.gantune_args)
    timeout = args.gantune_timeout or max(3 * args.gantune_budget, args.gantune_budget + 900)
    env = gantune_env(args.gantune_args)
    rc, fit_s, err = run_logged(tune, work, log, timeout, env)
    if rc != 0:
        raise ToolError(f"tune: {err}", fit_s=fit_s)
    rc, sample_s, err = run_logged(sample, work, log, 600, env)
    if rc != 0:
        raise ToolError(f"sample: {err}", fit_s=fit_s, sample_s=sample_s)
    return synth, fit_s, sample_s


def gantune_evaluate(exe: str, synth_csv: Path, real_csv: Path, work: Path, extra: list[str]) -> dict[str, Any]:
    log = work / "evaluate.log"
    cmd = gantune_evaluate_command(exe, synth_csv, real_csv, extra)
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    log.write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        raise ToolError(one_line(proc.stderr + "\n" + proc.stdout))
    scores = json.loads(proc.stdout)
    return {k: scores[k] for k in GANTUNE_KEYS if k in scores}


class ToolError(Exception):
    def __init__(self, message: str, fit_s: float = float("nan"), sample_s: float = float("nan")):
        super().__init__(message)
        self.fit_s, self.sample_s = fit_s, sample_s


# -- SDV peers ---------------------------------------------------------------------------------
def detect_metadata(real: pd.DataFrame, name: str):
    from sdv.metadata import Metadata

    # SDV logs the detected metadata at INFO on a logger of its own; keep stdout for the tables.
    with contextlib.redirect_stdout(io.StringIO()):
        return Metadata.detect_from_dataframes({name: real})


def fit_sdv(tool: str, real: pd.DataFrame, metadata, name: str, n_rows: int, args: argparse.Namespace, work: Path):
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

    work.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    import torch

    torch.manual_seed(args.seed)
    if tool == "gaussian_copula":
        synth = GaussianCopulaSynthesizer(metadata)
    else:
        kwargs = {} if args.ctgan_epochs is None else {"epochs": args.ctgan_epochs}
        synth = CTGANSynthesizer(metadata, **kwargs)
    start = time.perf_counter()
    synth.fit({name: real})
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    out = synth.sample(n_rows)
    sample_s = time.perf_counter() - start
    frame = out[name] if isinstance(out, dict) else out
    path = work / "synth.csv"
    frame.to_csv(path, index=False)
    return path, fit_s, sample_s


# -- scoring -----------------------------------------------------------------------------------
def quality_scores(real: pd.DataFrame, synth: pd.DataFrame, metadata_dict: dict, name: str) -> dict[str, Any]:
    from sdmetrics.reports import QualityReport

    columns = [c for c in real.columns if c in synth.columns]
    if not columns:
        raise ValueError(f"generated rows share no column with the real table (they have {list(synth.columns)[:5]})")
    meta = json.loads(json.dumps(metadata_dict))
    table_meta = meta["tables"][name]
    table_meta["columns"] = {c: v for c, v in table_meta["columns"].items() if c in columns}
    report = QualityReport()
    report.generate({name: real[columns]}, {name: synth[columns]}, meta, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return {
        "quality": float(report.get_score()),
        "column_shapes": float(props.get("Column Shapes", np.nan)),
        "column_pair_trends": float(props.get("Column Pair Trends", np.nan)),
        "cols_scored": f"{len(columns)}/{len(real.columns)}",
    }


# -- tables ------------------------------------------------------------------------------------
def prepare_table(name: str, run_dir: Path, args: argparse.Namespace) -> Table:
    out = run_dir / name
    out.mkdir(parents=True, exist_ok=True)
    if name == "iris-setosa":
        from sklearn.datasets import load_iris

        bunch = load_iris(as_frame=True)
        frame = bunch.data[bunch.target.to_numpy() == 0].reset_index(drop=True)
        path = out / "real.csv"
        frame.to_csv(path, index=False)
        return Table(name, path, IRIS_SYNTH_ROWS, "sklearn iris, target == 0 (50 x 4); 1,000 rows generated")
    if name == "penguins":
        path = out / "real.csv"
        shutil.copyfile(PENGUINS_CSV, path)
        return Table(name, path, len(pd.read_csv(path)), "gan/datasets/penguins.csv (344 x 8)")
    frame = make_large(seed=args.seed, source=args.large_source, n_rows=args.rows_large)
    path = out / "real.csv"
    frame.to_csv(path, index=False)
    return Table(name, path, len(frame), frame.attrs.get("source", "make_large"))


# -- reporting ---------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return f"{value:.{digits}f}"
    return str(value)


def _cell(text: str, limit: int = 140) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def markdown_table(results: list[Result]) -> str:
    head = ["tool", "quality", "shapes", "pair trends", "cols", "fit s", "sample s",
            "wd_mean", "copy_share", "guard", "detect_auc", "corr_diff", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in results:
        g = r.gantune_eval
        note = r.error or (f"evaluate: {r.eval_error}" if r.eval_error else "")
        cells = [r.tool, _fmt(r.quality), _fmt(r.column_shapes), _fmt(r.column_pair_trends), r.cols_scored,
                 _fmt(r.fit_s, 1), _fmt(r.sample_s, 1), _fmt(g.get("wd_mean"), 4), _fmt(g.get("copy_share")),
                 _fmt(g.get("passes_guard")), _fmt(g.get("detect_auc")), _fmt(g.get("corr_diff")), _cell(note)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overall_table(results: list[Result], tables: list[str], tools: list[str]) -> str:
    head = ["tool", *[f"{t} quality" for t in tables], "mean (all tables scored in full)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for tool in tools:
        cells, values = [tool], []
        for t in tables:
            r = next((x for x in results if x.tool == tool and x.table == t), None)
            if r is None or np.isnan(r.quality):
                cells.append("failed" if r is not None and r.error else "")
                values.append(None)
                continue
            full = r.cols_scored.split("/")[0] == r.cols_scored.split("/")[-1]
            cells.append(_fmt(r.quality) + ("" if full else f" ({r.cols_scored} cols)"))
            values.append(r.quality if full else None)
        cells.append(_fmt(float(np.mean(values))) if values and all(v is not None for v in values) else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("gantune", "sdv", "sdmetrics", "ctgan", "rdt", "copulas", "torch", "pandas", "numpy", "ray", "optuna", "plotnine"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    try:
        out["gantune_commit"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                               capture_output=True, text=True, timeout=10).stdout.strip() or "-"
    except (OSError, subprocess.SubprocessError):
        out["gantune_commit"] = "-"
    return out


def write_csv(results: list[Result], path: Path, args: argparse.Namespace, vers: dict[str, str]) -> None:
    rows = []
    for r in results:
        row = {k: v for k, v in r.__dict__.items() if k != "gantune_eval"}
        for k in GANTUNE_KEYS:
            row[f"gantune_{k}"] = r.gantune_eval.get(k)
        row.update(gantune_budget_s=args.gantune_budget, ctgan_epochs=args.ctgan_epochs or "default",
                   gantune_args=" ".join(args.gantune_args),
                   gantune_eval_args=" ".join(args.gantune_eval_args), seed=args.seed, threads=args.threads,
                   **{f"v_{k}": v for k, v in vers.items()})
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="See the module docstring for details.")
    p.add_argument("--tables", default=",".join(TABLES), help="comma-separated: iris-setosa, penguins, large (default: all)")
    p.add_argument("--skip", default="", help="comma-separated tools to leave out: gaussian_copula (or copula), ctgan, gantune")
    p.add_argument("--gantune-budget", type=float, default=600.0, help="gantune tune --time-budget seconds (default: %(default)g)")
    p.add_argument("--gantune-args", default="", help="extra arguments for gantune tune, one string, written with = (e.g. --gantune-args=\"--dropna --epochs 2000\")")
    p.add_argument("--gantune-eval-args", default="", help="extra arguments for gantune evaluate, one string, written with = (e.g. --gantune-eval-args=--dropna)")
    p.add_argument("--gantune-exe", help="gantune executable (default: the one beside this Python, else on PATH)")
    p.add_argument("--gantune-timeout", type=float, help="seconds before gantune tune is killed (default: max(3 x budget, budget + 900))")
    p.add_argument("--ctgan-epochs", type=int, help="CTGAN epochs (default: SDV's own default, 300)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling the large table, the SDV fits and gantune (default: 0)")
    p.add_argument("--large-source", default="auto", choices=("auto", "diamonds", "mixed"), help="the large table (default: auto = diamonds when plotnine is installed)")
    p.add_argument("--rows-large", type=int, help="rows of the large table (default: all 53,940 of diamonds, or 60,000 generated)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the in-process SDV fits (default: 1)")
    p.add_argument("--workdir", default="/tmp/gantune-peers", help="where run directories go (default: %(default)s)")
    p.add_argument("--out-csv", help="results CSV (default: RUN_DIR/peers_results.csv)")
    p.add_argument("--no-gantune-evaluate", action="store_true", help="skip the gantune evaluate scores")
    args = p.parse_args(argv)
    args.tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    bad = [t for t in args.tables if t not in TABLES]
    if bad:
        p.error(f"unknown table(s) {bad}; choose from {', '.join(TABLES)}")
    skip = [TOOL_ALIASES.get(t.strip().lower(), t.strip().lower()) for t in args.skip.split(",") if t.strip()]
    bad = [t for t in skip if t not in TOOLS]
    if bad:
        p.error(f"unknown tool(s) in --skip {bad}; choose from {', '.join(TOOLS)}")
    args.tools = [t for t in TOOLS if t not in skip]
    import shlex

    args.gantune_args = shlex.split(args.gantune_args)
    args.gantune_eval_args = shlex.split(args.gantune_eval_args)
    if args.gantune_budget <= 0:
        p.error("--gantune-budget must be positive")
    return args


def run_one(table: Table, tool: str, real: pd.DataFrame, metadata, args: argparse.Namespace,
            run_dir: Path, exe: str) -> Result:
    res = Result(table.name, tool, real_rows=len(real), real_cols=real.shape[1])
    work = run_dir / table.name / tool
    key = table.name.replace("-", "_")
    try:
        if tool == "gantune":
            synth_csv, res.fit_s, res.sample_s = fit_gantune(table, work, args, exe)
        else:
            synth_csv, res.fit_s, res.sample_s = fit_sdv(tool, real, metadata, key, table.n_synth, args, work)
        res.synth_csv = str(synth_csv)
    except ToolError as exc:
        res.fit_s, res.sample_s, res.error = exc.fit_s, exc.sample_s, str(exc)
        return res
    except Exception as exc:  # a peer that fails on a table is a result, not a crash
        (work / "error.txt").write_text(traceback.format_exc())
        res.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
        return res
    try:
        synth = pd.read_csv(synth_csv)
        res.synth_rows = len(synth)
        for k, v in quality_scores(real, synth, metadata.to_dict(), key).items():
            setattr(res, k, v)
    except Exception as exc:
        (work / "score_error.txt").write_text(traceback.format_exc())
        res.error = f"QualityReport: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
    if not args.no_gantune_evaluate:
        try:
            res.gantune_eval = gantune_evaluate(exe, synth_csv, table.real_csv, work, args.gantune_eval_args)
        except Exception as exc:
            res.eval_error = str(exc)[:300] if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"[:300]
    return res


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module=r"(sdv|sdmetrics|rdt|copulas|ctgan)(\.|$)")
    logging.getLogger("sdv").setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    exe = gantune_exe(args.gantune_exe) if "gantune" in args.tools or not args.no_gantune_evaluate else ""
    run_dir = Path(args.workdir) / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=False)
    out_csv = Path(args.out_csv) if args.out_csv else run_dir / "peers_results.csv"
    vers = versions()
    print(f"# Peer comparison ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, torch threads {args.threads})\n")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"gantune tune budget {args.gantune_budget:g} s{' ' + ' '.join(args.gantune_args) if args.gantune_args else ''}; "
          f"CTGAN epochs {args.ctgan_epochs or 'SDV default (300)'}; seed {args.seed}; run directory {run_dir}\n", flush=True)

    results: list[Result] = []
    for name in args.tables:
        table = prepare_table(name, run_dir, args)
        real = pd.read_csv(table.real_csv)
        metadata = detect_metadata(real, name.replace("-", "_"))
        print(f"## {name}: {table.source}; {len(real)} rows x {real.shape[1]} columns, {table.n_synth} generated\n", flush=True)
        table_results = []
        for tool in args.tools:
            print(f"  {name} / {tool} ...", file=sys.stderr, flush=True)
            res = run_one(table, tool, real, metadata, args, run_dir, exe)
            print(f"  {name} / {tool}: quality {_fmt(res.quality)}, fit {_fmt(res.fit_s, 1)} s"
                  f"{'; ' + res.error if res.error else ''}", file=sys.stderr, flush=True)
            table_results.append(res)
            results.append(res)
            write_csv(results, out_csv, args, vers)  # keep what is done if a later step is interrupted
        print(markdown_table(table_results) + "\n", flush=True)
    print("## overall (SDMetrics quality score)\n")
    print(overall_table(results, args.tables, args.tools) + "\n")
    print(f"results written to {out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
