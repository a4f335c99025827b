"""PacGAN against a plain discriminator: the same configurations trained alone at several `pac`.

For each of `--configs` configurations drawn from gantune's default search space (a seeded
random sampler, so unbiased towards either side; batch size the one `gantune tune` fixes for
the table in pool mode), train a lone `gan.train.Trainer` for `--steps` steps once per pac value,
one after the other, and score it every `--eval-every` steps. Prints each configuration's best
and last wd_mean per pac, then the mean best, how often each pac was best, and the ratio of
mean bests. Quality, not speed: the machine's load does not move these figures (same seed, same
numbers), only the wall time printed beside them.

    python bench/pac.py --data my.csv [--pacs 1,8] [--configs 6] [--steps 3000] [--eval-every 250] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import optuna
import torch

from gan.data import load_data
from gan.errors import GanTuneError
from gan.train import Trainer
from tuning.space import SearchSpace, default_batch


def configs_from_space(n_rows: int, count: int, seed: int, steps: int, eval_every: int) -> list:
    space = SearchSpace(n_rows=n_rows, search_batch=False)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(count):
        trial = study.ask()
        out.append(space.suggest_config(trial, steps=steps, eval_every=eval_every, seed=seed))
        study.tell(trial, 0.0)
    return out


def curve(config, data, steps: int, eval_every: int) -> list[float]:
    trainer = Trainer(config, data, "cpu")
    scores = []
    while trainer.steps < steps and trainer.diverged_at is None:
        trainer.run_steps(min(eval_every, steps - trainer.steps))
        scores.append(float("inf") if trainer.diverged_at is not None else trainer.evaluate()["wd_mean"])
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="penguins")
    ap.add_argument("--pacs", default="1,8")
    ap.add_argument("--configs", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pacs = [int(p) for p in args.pacs.split(",")]
    data = load_data(args.data, quiet=True)
    n_rows = len(data.train_idx)
    print(f"{args.data}: {n_rows} training rows, batch {default_batch(n_rows)}, {args.steps} steps, scored every {args.eval_every}")
    best: dict[int, list[float]] = {p: [] for p in pacs}
    header = "config                                  " + "".join(f"  pac {p}: best / last" for p in pacs)
    print(header)
    for i, config in enumerate(configs_from_space(n_rows, args.configs, args.seed, args.steps, args.eval_every)):
        line = f"{i}: noise {config.noise_dim:2d} G {'-'.join(map(str, config.g_widths)):11s} D {'-'.join(map(str, config.d_widths)):11s}"
        for p in pacs:
            try:
                c = config.replace(pac=p)
            except GanTuneError as exc:
                raise SystemExit(f"pac {p}: {exc}") from None
            t0 = time.perf_counter()
            scores = curve(c, data, args.steps, args.eval_every)
            best[p].append(min(scores))
            line += f"  {min(scores):7.4f} / {scores[-1]:7.4f} ({time.perf_counter() - t0:4.0f} s)"
        print(line, flush=True)
    print()
    finite = [i for i in range(args.configs) if all(best[p][i] < float("inf") for p in pacs)]
    wins = {p: sum(1 for i in finite if best[p][i] == min(best[q][i] for q in pacs)) for p in pacs}
    for p in pacs:
        mean = statistics.mean(best[p][i] for i in finite) if finite else float("nan")
        print(f"pac {p}: mean best wd_mean {mean:.4f} over {len(finite)} configurations, best of the pacs in {wins[p]}")
    if len(pacs) > 1 and finite:
        base = statistics.mean(best[pacs[0]][i] for i in finite)
        for p in pacs[1:]:
            print(f"mean best, pac {p} / pac {pacs[0]}: {statistics.mean(best[p][i] for i in finite) / base:.2f}")


if __name__ == "__main__":
    main()
