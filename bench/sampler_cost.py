"""What one proposal costs as a run's study grows: Optuna's TPESampler against gantune's windowed
one (`tuning/sampler.py`), on the same study, asks interleaved, in one process.

The study is grown the way a pool run grows it: gantune's default search space (conditional
widths), the run's journal file, 64 members running at any time, each reporting at the pool's
rungs and ending pruned after one to four of them (8 % completed); values are random, so only
cost is measured here (search quality: the pool runs in docs/measured.md). At each size it times `--asks`
asks of each sampler (ask + the space's suggestions, as the study server does), told FAIL after,
so the study is the same for both.

    python bench/sampler_cost.py [--sizes 300,1000,3000,10000] [--asks 10]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import optuna

from tuning.sampler import WINDOW, WindowedTPESampler
from tuning.space import SearchSpace
from tuning.study import make_pruner, study_storage

RUNGS = (185, 555, 1665, 5000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="300,1000,3000,10000", help="finished trials at which to time asks")
    ap.add_argument("--asks", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rng = random.Random(args.seed)
    space = SearchSpace()
    tpe = dict(seed=args.seed, constant_liar=True, multivariate=True)
    full, windowed = optuna.samplers.TPESampler(**tpe), WindowedTPESampler(**tpe)
    grow = optuna.samplers.RandomSampler(seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        study = optuna.create_study(storage=study_storage(Path(tmp)), study_name="cost", sampler=grow, pruner=make_pruner(RUNGS))
        live: list = []
        done = 0
        print(f"window: {WINDOW} finished trials; {args.asks} asks each, interleaved")
        print(f"{'finished trials':>16} {'Optuna TPE ms/ask':>18} {'windowed ms/ask':>16} {'ratio':>6}")
        for size in sizes:
            while done < size:  # grow the study with cheap random proposals
                trial = study.ask()
                space(trial)
                live.append(trial)
                if len(live) > 64:
                    trial = live.pop(rng.randrange(len(live)))
                    completed = rng.random() < 0.08
                    for step in RUNGS[: 4 if completed else rng.randint(1, 3)]:
                        trial.report(rng.random(), step)
                    if completed:
                        study.tell(trial, rng.random())
                    else:
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    done += 1
            spent = {"full": 0.0, "windowed": 0.0}
            for i in range(args.asks + 1):  # the first round warms both up (untimed)
                for name, sampler in (("full", full), ("windowed", windowed)):
                    study.sampler = sampler
                    t = time.perf_counter()
                    trial = study.ask()
                    space(trial)
                    if i:
                        spent[name] += time.perf_counter() - t
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            study.sampler = grow
            a, b = (spent[k] / args.asks * 1000 for k in ("full", "windowed"))
            print(f"{done:>16,} {a:>18.1f} {b:>16.1f} {a / b:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
