"""Search quality at an equal trial budget: TPE vs random search vs the reference defaults.

For each of S search seeds and each sampler, Optuna proposes N configurations over gantune's
default search space (tuning.space.SearchSpace), asked in rounds of K (as parallel workers would,
TPE with constant_liar) and trained with the packed trainer (gan.packed, equivalent to training each
alone). The reference defaults are trained for the same epochs. Printed: every search's best
wd_mean, the median per sampler, and the memorisation guard / fidelity of each best.

The run uses Optuna and gantune in-process, not Ray: Ray schedules trials but does not change
which configurations a sampler proposes, and the in-process loop makes 10 searches affordable on
2 cores. bench/tune_overhead.py measures what Ray adds.

    python bench/search_quality.py [--trials 24] [--round 8] [--epochs 1000] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import optuna
import torch

from gan.config import GANConfig
from gan.data import load_data
from gan.fidelity import DEFAULT_MAX_COPY_SHARE, fidelity, passes_guard
from gan.models import sample_scaled
from gan.packed import train_packed
from gan.train import train
from tuning.run import _sampler
from tuning.space import SearchSpace


def search(sampler: str, seed: int, trials: int, round_size: int, base: GANConfig, data) -> tuple[float, dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(base=base)
    study = optuna.create_study(direction="minimize", sampler=_sampler(sampler, seed))
    best = (float("inf"), None)
    while len(study.trials) < trials:
        asked = [study.ask() for _ in range(min(round_size, trials - len(study.trials)))]
        fixed = [space(t) for t in asked]  # suggest first: t.params fills as space(t) runs
        configs = [space.to_config({**t.params, **f}) for t, f in zip(asked, fixed)]
        results = train_packed(configs, data, max_pack=round_size)
        for t, r in zip(asked, results):
            study.tell(t, r.metrics["wd_mean"])
            if r.metrics["wd_mean"] < best[0]:
                best = (r.metrics["wd_mean"], r)
    _, result = best
    real = data.train_scaled
    fake = sample_scaled(result.generator(), result.config.eval_samples, result.config.eval_seed, data.scaler.constant)
    return best[0], fidelity(real, fake, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--round", type=int, default=8, help="configurations asked and trained at once")
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--samplers", default="tpe,random")
    args = ap.parse_args()
    # TPE proposes at random until 10 trials have completed (Optuna's n_startup_trials), and a
    # round is asked before any of its trials completes: with fewer than 10 + round trials, TPE
    # and random search propose the very same configurations.
    if args.trials < 10 + 2 * args.round:
        print(f"note: with {args.trials} trials in rounds of {args.round}, TPE has at most "
              f"{max(0, args.trials - 10 - args.round)} guided proposals; use more trials or smaller rounds")
    torch.set_num_threads(1)
    data = load_data("iris-setosa")
    base = GANConfig(epochs=args.epochs, eval_every=max(1, args.epochs // 10))
    t0 = time.perf_counter()
    ref = train(base, data, device="cpu").metrics["wd_mean"]
    print(f"reference defaults, {args.epochs} epochs: wd_mean {ref:.4f}")
    medians = {}
    for sampler in args.samplers.split(","):
        scores = []
        for seed in range(args.seeds):
            wd, fid = search(sampler, seed, args.trials, args.round, base, data)
            scores.append(wd)
            print(f"{sampler:6s} seed {seed}: best wd_mean {wd:.4f}  copy_share {fid['copy_share']:.3f} "
                  f"(guard {'pass' if passes_guard(fid) else 'FAIL'} at {DEFAULT_MAX_COPY_SHARE})  "
                  f"dcr_ratio {fid['dcr_ratio']:.2f}  corr_diff {fid['corr_diff']:.3f}  detect_auc {fid['detect_auc']:.3f}", flush=True)
        medians[sampler] = statistics.median(scores)
    print(f"\n{args.trials} trials x {args.epochs} epochs per search, rounds of {args.round}, {args.seeds} seeds "
          f"({time.perf_counter() - t0:.0f} s)")
    for sampler, med in medians.items():
        print(f"median best wd_mean {sampler:6s}: {med:.4f}  (vs reference defaults {ref:.4f}: {ref / med:.2f}x better)")
    if "tpe" in medians and "random" in medians:
        print(f"TPE vs random (median): {medians['random'] / medians['tpe']:.2f}x  ({'TPE better' if medians['tpe'] < medians['random'] else 'TPE NOT better'})")


if __name__ == "__main__":
    main()
