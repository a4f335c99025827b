"""Ray Tune overhead per trial: N trials through `gantune`'s Ray path vs the ideal.

The ideal is the same N trainings run back to back in one process, divided by the number of
trials Ray ran at once. Every trial trains the same reference config (every field fixed), so the
compute is identical on both sides; only scheduling, actor start-up, reporting and checkpointing
differ. Printed: wall times and the ratio, with and without `reuse_actors`, and with `--pack auto`
(the same configurations trained as packs, one Ray trial per pack; in-pack halving is off here
because the scheduler is `none`, so every configuration trains its full epochs as in the ideal).

    python bench/tune_overhead.py [--trials 8] [--epochs 1000] [--concurrent 2]
(1000 epochs on iris-setosa = 2000 steps: 50 rows in batches of 32.)
"""

from __future__ import annotations

import argparse
import tempfile
import time

import ray
import torch

from gan.config import GANConfig
from gan.data import load_data
from gan.train import train
from tuning.run import TuneOptions, run_tuning

FIXED = {k: v for k, v in GANConfig().to_dict().items() if k in ("noise_dim", "g_widths", "d_widths", "g_lr", "d_lr", "beta1", "beta2")}


def ideal(trials: int, config: GANConfig) -> float:
    torch.set_num_threads(1)
    data = load_data("iris-setosa")
    t0 = time.perf_counter()
    for _ in range(trials):
        train(config, data, device="cpu")
    return time.perf_counter() - t0


def through_ray(trials: int, epochs: int, concurrent: int, reuse: bool, pack: str | None = None) -> float:
    """Wall time of the run through Ray: one trial per configuration (pack None) or pool mode."""
    with tempfile.TemporaryDirectory() as tmp:
        opts = TuneOptions(epochs=epochs, num_samples=trials, scheduler="none", sampler="random", space=FIXED,
                           storage_path=tmp, name="bench", reuse_actors=reuse, max_concurrent=concurrent, pack=pack)
        t0 = time.perf_counter()
        run_tuning(opts)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--concurrent", type=int, default=2)
    args = ap.parse_args()
    config = TuneOptions(epochs=args.epochs, space=FIXED).search_space().to_config({})
    ray.init(num_cpus=args.concurrent, include_dashboard=False, logging_level="ERROR")
    # Warm-up run so both sides start with imports done and Ray's workers started once.
    through_ray(args.concurrent, 10, args.concurrent, True)
    rows = []
    base = ideal(args.trials, config) / args.concurrent
    for reuse in (True, False):
        wall = through_ray(args.trials, args.epochs, args.concurrent, reuse)
        rows.append((f"--pack off, reuse_actors={reuse}", wall))
    # Pool mode (the default): the same N configurations over `concurrent` pool workers.
    rows.append(("--pack auto (pool)", through_ray(args.trials, args.epochs, args.concurrent, True, pack="auto")))
    ideal_again = ideal(args.trials, config) / args.concurrent  # the machine is noisy: bracket
    base = min(base, ideal_again)
    print(f"\n{args.trials} trials x {args.epochs} epochs, {args.concurrent} at once")
    print(f"ideal (in-process, serial / {args.concurrent}): {base:7.2f} s")
    for label, wall in rows:
        print(f"ray tune, {label:34s}: {wall:7.2f} s  ratio {wall / base:.2f}x")


if __name__ == "__main__":
    main()
