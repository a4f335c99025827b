"""End-to-end tuning throughput: `--pack auto` against one Ray trial per configuration.

Both sides go through the real Ray path (`tuning.run.run_tuning`, embedded Ray with --cpus CPUs,
TPE, the default ASHA / in-pack halving), on iris-setosa:

  1. pack:   `--pack auto`, --pack-samples configurations; wall time W -> configurations/minute.
  2. single: one trial per configuration with `--time-budget W` (the same wall time) and an
             unbounded number of samples; configurations that finished (completed or stopped by
             ASHA) per minute. Trials cut off by the budget count as stopped early too, which
             flatters this side slightly.
Printed: both rates, their ratio, and the best wd_mean each side found in the same wall time.

Spaces: `reference` (default) searches lr / betas around the reference network (noise 10,
G (16, 32), D (32, 16)); `default` is gantune's default space (widths 8..128, depths 1..3).

    python bench/pack_tuning.py                       # 2,000 epochs, ~4-5 minutes on 2 cores
    python bench/pack_tuning.py --epochs 10000 --pack-samples 128
    python bench/pack_tuning.py --space default --pack-samples 64
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from pathlib import Path

import optuna
import ray

from tuning.export import collect_trials
from tuning.run import load_study, TuneOptions, read_options, run_tuning

REFERENCE_SPACE = {"noise_dim": 10, "g_widths": [16, 32], "d_widths": [32, 16]}


def _best(run_dir: Path) -> float:
    study = load_study(run_dir, run_dir.name)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
            and t.user_attrs.get("status") not in ("interrupted", "errored")]
    return min((t.value for t in done if math.isfinite(t.value)), default=math.inf)


def run(tmp: str, name: str, epochs: int, space: dict | None, cpus: int, **kw) -> tuple[float, list, Path]:
    opts = TuneOptions(epochs=epochs, space=space, storage_path=tmp, name=name, **kw)
    t0 = time.perf_counter()
    _, run_dir = run_tuning(opts, num_cpus=cpus)
    wall = time.perf_counter() - t0
    return wall, collect_trials(run_dir, read_options(run_dir)), run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--pack-samples", type=int, default=128, help="configurations in the pack run (default: %(default)s)")
    ap.add_argument("--space", choices=("reference", "default"), default="reference")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.getLogger("ray").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = REFERENCE_SPACE if args.space == "reference" else None
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        run(tmp, "warmup", 10, space, args.cpus, num_samples=2, seed=args.seed)  # imports, workers
        wall_p, recs_p, dir_p = run(tmp, "pack", args.epochs, space, args.cpus, num_samples=args.pack_samples,
                                    pack="auto", seed=args.seed)
        done_p = [r for r in recs_p if r.status in ("completed", "stopped early", "diverged")]
        wall_s, recs_s, dir_s = run(tmp, "single", args.epochs, space, args.cpus, num_samples=100_000,
                                    time_budget=wall_p, seed=args.seed)
        done_s = [r for r in recs_s if r.status in ("completed", "stopped early", "diverged")]
        rate_p, rate_s = len(done_p) / wall_p * 60, len(done_s) / wall_s * 60
        best_p, best_s = _best(dir_p), _best(dir_s)
        print(f"\niris-setosa, {args.epochs} epochs, space={args.space}, {args.cpus} CPUs, seed {args.seed}")
        print(f"{'mode':<22}{'configs':>8}{'wall s':>9}{'configs/min':>13}{'best wd_mean':>14}")
        print(f"{'pack auto':<22}{len(done_p):>8}{wall_p:>9.1f}{rate_p:>13.1f}{best_p:>14.4f}")
        print(f"{'one trial per config':<22}{len(done_s):>8}{wall_s:>9.1f}{rate_s:>13.1f}{best_s:>14.4f}")
        print(f"throughput ratio pack/single: {rate_p / rate_s if rate_s else math.inf:.1f}x; "
              f"best wd_mean pack {'<=' if best_p <= best_s else '>'} single in the same wall time")
        print(f"(statuses pack: {_counts(recs_p)}; single: {_counts(recs_s)})")
    ray.shutdown()


def _counts(records: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[r.status] = out.get(r.status, 0) + 1
    return out


if __name__ == "__main__":
    main()
