"""Best guarded `wd_mean` against wall-clock time: pool mode vs one Ray trial per configuration.

    python bench/anytime.py                                  # the issue's protocol: 60 minutes
    python bench/anytime.py --minutes 2 --cases iris-setosa:0   # a smoke run
    python bench/anytime.py --cases mixed.csv:0 --steps 5000    # a larger table at the tool's default budget

For each case (dataset:seed) the two modes run back to back through the real CLI
(`gantune tune --epochs 10000 --time-budget ...`, or `--steps N` with --steps; default search space,
2 CPUs, embedded Ray):

* pool:  `--pack auto` (the default): pool workers, Optuna's successive-halving pruner;
* trial: `--pack off`: one Ray trial per configuration, ASHA.

The curve is the best `wd_mean` among reports that pass the memorisation guard (copy_share <=
0.25), against seconds since the `gantune tune` process started (Ray's start-up included):
pool reports come from the run's `reports.csv`, per-trial reports from Ray's result files.
Printed: the best at 1 / 2 / 5 / 10 minutes (or the fractions of a shorter budget), the time
each mode needs to reach the per-trial mode's final best, configurations ended per minute, and
what `gantune export` of the run then writes (its wd_mean: a configuration is exported at its
best guarded report, so this is the curve's last point) and that model's wd_mean on the export's fresh noise
draws (`summary.json` "fresh": the crowned score is the lowest of many draws, so biased low; the
fresh one is not, and is the fair figure to compare across modes, whose numbers of reports
differ ten-fold), and what a new sample of the table's population would score (`summary.json`
"new_sample": a perfect generator; a model below it fits the table's rows more closely than new
rows from their source would, so on iris-setosa's 50 rows the race below ~0.05 is one of fitting
those rows); and written: `anytime.csv` (every curve point) and
`anytime.png` under --out.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GUARD = 0.25


def run_mode(mode: str, data: str, seed: int, seconds: float, budget: list[str], storage: Path, extra: list[str]) -> dict:
    name = f"{mode}-{Path(data).stem}-{seed}"
    cmd = [sys.executable, "-m", "tuning.cli", "tune", "--data", data, *budget, "--seed", str(seed),
           "--num-samples", "100000", "--time-budget", str(seconds), "--storage-path", str(storage), "--name", name, *extra]
    if mode == "trial":
        cmd += ["--pack", "off"]
    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    run_dir = storage / name
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    points = pool_points(run_dir, t0) if mode == "pool" else trial_points(run_dir, t0)
    return {"mode": mode, "data": data, "seed": seed, "wall": wall, "points": points, "ended": ended(mode, run_dir, name),
            "rc": proc.returncode, "exported": exported(run_dir, storage / f"{name}-export", env)}


def exported(run_dir: Path, out: Path, env: dict) -> tuple[float, float, float]:
    """wd_mean of what `gantune export` writes for the run, as the search scored it and on the
    export's fresh noise draws, and what a new sample of the table's population would score
    (the export's bootstrap estimate: a perfect generator; nan when the export refuses)."""
    proc = subprocess.run([sys.executable, "-m", "tuning.cli", "export", str(run_dir), "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-1000:], file=sys.stderr)
        return math.nan, math.nan, math.nan
    summary = json.loads((out / "summary.json").read_text())
    return float(summary["wd_mean"]), float(summary["fresh"]["wd_mean"]), float((summary.get("new_sample") or {}).get("wd_mean", math.nan))


def pool_points(run_dir: Path, t0: float) -> list[tuple[float, float]]:
    out = []
    path = run_dir / "reports.csv"
    if not path.is_file():
        return out
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["passes_guard"] == "True" and math.isfinite(float(row["wd_mean"])):
                out.append((float(row["time"]) - t0, float(row["wd_mean"])))
    return sorted(out)


def trial_points(run_dir: Path, t0: float) -> list[tuple[float, float]]:
    out = []
    for path in run_dir.glob("*/result.json"):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            share = r.get("copy_share")
            if share is not None and share <= GUARD and math.isfinite(r.get("wd_mean", math.inf)):
                out.append((float(r["timestamp"]) - t0, float(r["wd_mean"])))
    return sorted(out)


def ended(mode: str, run_dir: Path, name: str) -> int:
    from tuning.study import load_study

    try:
        study = load_study(run_dir, name)
    except Exception:
        return 0
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))


def best_at(points: list[tuple[float, float]], t: float) -> float:
    vals = [v for s, v in points if s <= t]
    return min(vals) if vals else math.nan


def time_to(points: list[tuple[float, float]], target: float) -> float:
    for s, v in points:
        if v <= target:
            return s
    return math.nan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="iris-setosa:0,iris-setosa:1,wine:0", help="dataset:seed, comma-separated")
    p.add_argument("--minutes", type=float, default=10.0)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=10_000, help="passes over the rows per configuration (default: 10000)")
    budget.add_argument("--steps", type=int, default=None, help="optimisation steps per configuration instead of --epochs "
                        "(gantune tune's own default is 5000: a table of thousands of rows)")
    p.add_argument("--modes", default="pool,trial")
    p.add_argument("--extra", default="", help="extra gantune tune arguments for both modes (e.g. a --space file)")
    p.add_argument("--out", default=None, help="directory for anytime.csv / anytime.png (default: a temp dir)")
    p.add_argument("--keep", default=None, help="keep the runs (reports.csv, the study, the exports) under this directory "
                   "(default: a temp dir, removed at the end)")
    args = p.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="anytime-"))
    out.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60
    budget, per = (["--steps", str(args.steps)], f"{args.steps} steps") if args.steps else (["--epochs", str(args.epochs)], f"{args.epochs} epochs")
    marks = [m for m in (1, 2, 5, 10) if m <= args.minutes] or [args.minutes / 4, args.minutes / 2, args.minutes]
    results = []
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory() as storage:
        for case in args.cases.split(","):
            data, seed = case.rsplit(":", 1)
            for mode in args.modes.split(","):
                print(f"{case} {mode}: {args.minutes:g} min ...", file=sys.stderr, flush=True)
                results.append(run_mode(mode, data, int(seed), seconds, budget, Path(storage), args.extra.split()))
    with open(out / "anytime.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "mode", "seconds", "wd_mean"])
        for r in results:
            for s, v in r["points"]:
                w.writerow([f"{r['data']}:{r['seed']}", r["mode"], f"{s:.1f}", v])
    print(f"\nbest guarded wd_mean (copy_share <= {GUARD}) by wall-clock time, {per} per configuration, 2 CPUs")
    head = "| case | mode | " + " | ".join(f"{m:g} min" for m in marks) + " | time to trial's final best | configs ended/min | end of curve | exported | exported, fresh draws | a new sample of the population |"
    print(head)
    print("|" + "---|" * (len(marks) + 8))
    finals = {}
    for r in results:
        if r["mode"] == "trial":
            finals[(r["data"], r["seed"])] = best_at(r["points"], seconds + 1e9)
    for r in results:
        target = finals.get((r["data"], r["seed"]), math.nan)
        tt = time_to(r["points"], target) if math.isfinite(target) else math.nan
        cells = [f"{best_at(r['points'], m * 60):.4f}" for m in marks]
        rate = r["ended"] / (r["wall"] / 60)
        print(f"| {r['data']}:{r['seed']} | {r['mode']} | " + " | ".join(cells) + f" | {tt:.0f} s | {rate:.1f} | {best_at(r['points'], math.inf):.4f} | {r['exported'][0]:.4f} | {r['exported'][1]:.4f} | {r['exported'][2]:.4f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cases = sorted({(r["data"], r["seed"]) for r in results})
        fig, axes = plt.subplots(1, len(cases), figsize=(5 * len(cases), 3.6), squeeze=False)
        for ax, case in zip(axes[0], cases):
            for r in results:
                if (r["data"], r["seed"]) != case or not r["points"]:
                    continue
                xs, ys, best = [], [], math.inf
                for s, v in r["points"]:
                    best = min(best, v)
                    xs.append(s / 60)
                    ys.append(best)
                ax.step(xs, ys, where="post", label=r["mode"])
            floors = [r["exported"][2] for r in results if (r["data"], r["seed"]) == case and math.isfinite(r["exported"][2])]
            if floors:  # a perfect generator's score: below it, a model fits these rows more than their population
                ax.axhline(floors[0], color="grey", linestyle=":", label="a new sample of the population")
            ax.set_title(f"{case[0]} seed {case[1]}", fontsize=9)
            ax.set_xlabel("minutes")
            ax.set_ylabel("best guarded wd_mean (log)")
            ax.set_yscale("log")  # the curves differ at 0.03-0.1, after a start near 1
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "anytime.png", dpi=100)
    except Exception as exc:  # the figure is a convenience
        print(f"(no figure: {exc})", file=sys.stderr)
    print(f"\ncurves: {out / 'anytime.csv'}, {out / 'anytime.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
