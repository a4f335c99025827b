"""Packed training speed: per-trial-step time of gan.packed.PackedTrainer at several pack sizes.

Measured side by side in one process, interleaved, best of N (the machines are shared and noisy):
  * reference: the reference notebook loop (`reference_loop` from bench/train_speed.py),
  * trainer:   the single-model `gan.train.Trainer`,
  * packed K:  K reference-size members in one PackedTrainer (per trial-step = pack step / K),
plus one line on the cost of padding a heterogeneous pack (widths 32/64/128 mixed in one pack
vs three shape buckets).

`--data` runs the trainer and pack cases on another table (e.g. a CSV with categorical columns:
Gumbel-softmax heads and per-member uniforms); the reference loop runs on iris-setosa only.
`--batch` and `--width` change the members from the reference's size (batch 32, G 16/32, D 32/16)
to the given batch and two layers of the given width in both networks: e.g. the batch size
`gantune tune` picks for a table of 10,000 rows (`--batch 512`), where a step is arithmetic more
than fixed overhead and packing gains far less.

    python bench/packed.py [--ks 1,16,64,256] [--steps 600] [--repeats 3] [--threads 1] [--data iris-setosa]
                           [--batch B] [--width W]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import reference_loop  # noqa: E402  (bench/ is not a package)

from gan.config import GANConfig  # noqa: E402
from gan.data import load_data  # noqa: E402
from gan.packed import PackedTrainer  # noqa: E402
from gan.train import Trainer  # noqa: E402


def time_per_step(fn: Callable[[], tuple[float, int]]) -> float:
    """Seconds per (pack) step: `fn` returns (seconds spent training, steps run)."""
    seconds, steps = fn()
    return seconds / steps


def timed(fn: Callable[[], int]) -> Callable[[], tuple[float, int]]:
    def run() -> tuple[float, int]:
        t0 = time.perf_counter()
        steps = fn()
        return time.perf_counter() - t0, steps

    return run


def packed_fn(data, configs: list[GANConfig], steps: int) -> Callable[[], tuple[float, int]]:
    def fn() -> tuple[float, int]:
        trainer = PackedTrainer(configs, data, "cpu")  # weight init (K build_models) not timed
        t0 = time.perf_counter()
        trainer.run_steps(steps)
        return time.perf_counter() - t0, trainer.steps

    return fn


def reference_rows() -> torch.Tensor:
    """iris-setosa min-max scaled as the reference model scales it (no dequantisation)."""
    setosa = load_data("iris-setosa", encoding="minmax", round_values=False)
    lo, hi = setosa.values.min(axis=0), setosa.values.max(axis=0)
    return torch.as_tensor((setosa.values - lo) / (hi - lo) * 2 - 1, dtype=torch.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", default="1,16,64,256", help="pack sizes, comma-separated")
    ap.add_argument("--steps", type=int, default=600, help="trial-steps of work per measurement (x K for packs, min 10 epochs)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best is kept")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 core, as in the target)")
    ap.add_argument("--no-hetero", action="store_true", help="skip the heterogeneous padding line")
    ap.add_argument("--data", default="iris-setosa", help="table for the trainer and pack cases (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=None, help="members' batch size (default: the reference's 32)")
    ap.add_argument("--width", type=int, default=None, help="members' G and D widths, two layers each (default: the reference's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size: dict[str, object] = {}
    if args.batch is not None:
        size["batch_size"] = args.batch
    if args.width is not None:
        size.update(g_widths=(args.width, args.width), d_widths=(args.width, args.width))
    data = load_data(args.data, quiet=True)
    real = reference_rows()
    ks = [int(k) for k in args.ks.split(",")]
    # Work per measurement in steps (batches are always full: 50 rows at batch 32 is 1.5625
    # steps per epoch). The reference loop counts epochs of 2 batches each (one short).
    single_steps = max(16, args.steps)
    ref_epochs = max(8, -(-single_steps // 2))

    def trainer_fn() -> tuple[float, int]:
        trainer = Trainer(GANConfig(steps=single_steps, **size), data, "cpu")
        t0 = time.perf_counter()
        trainer.run_steps(single_steps)
        return time.perf_counter() - t0, trainer.steps

    cases: dict[str, tuple[Callable[[], tuple[float, int]], int]] = {
        "reference": (timed(lambda: reference_loop(real, ref_epochs)), 1),
        "trainer": (trainer_fn, 1),
    }
    for k in ks:
        steps = max(8, args.steps // k + 1)
        cases[f"packed K={k}"] = (packed_fn(data, [GANConfig(seed=i, **size) for i in range(k)], steps), k)
    if not args.no_hetero:
        widths = (32, 64, 128)
        mixed = [GANConfig(g_widths=(w, w), d_widths=(w, w), seed=i, batch_size=int(size.get("batch_size", 32))) for i, w in enumerate(widths * 22)][:64]
        steps = max(8, args.steps // 64 + 1)
        cases["hetero K=64 one pack"] = (packed_fn(data, mixed, steps), 64)
        for w in widths:
            group = [c for c in mixed if c.g_widths[0] == w]
            cases[f"hetero bucket w={w} K={len(group)}"] = (packed_fn(data, group, steps), len(group))

    best = {name: float("inf") for name in cases}
    # Warm-up: first calls pay for lazy initialisation (MKL, allocator, torch's optimiser imports).
    reference_loop(real, 2)
    packed_fn(data, [GANConfig(seed=i, **size) for i in range(4)], 2)()
    trainer_fn()
    for _ in range(args.repeats):  # interleaved so that load changes hit every case alike
        for name, (fn, k) in cases.items():
            best[name] = min(best[name], time_per_step(fn) / k)  # seconds per trial-step

    ref, single = best["reference"], best["trainer"]
    members = ", ".join(f"{k} {v}" for k, v in size.items()) or "reference-size members"
    print(f"per-trial-step time, {data.describe()} (reference loop: iris-setosa), {members}, "
          f"threads={args.threads}, best of {args.repeats}")
    print(f"{'case':28s} {'us/trial-step':>14s} {'vs trainer':>11s} {'vs reference':>13s}")
    for name in ("reference", "trainer", *[f"packed K={k}" for k in ks]):
        sec = best[name]
        print(f"{name:28s} {sec * 1e6:14.1f} {single / sec:10.1f}x {ref / sec:12.1f}x")
    if not args.no_hetero:
        padded = best["hetero K=64 one pack"]
        # Bucketed: the three buckets run one after another; per trial-step = total / 64.
        groups = {w: sum(1 for c in mixed if c.g_widths[0] == w) for w in (32, 64, 128)}
        bucketed = sum(best[f"hetero bucket w={w} K={n}"] * n for w, n in groups.items()) / 64
        print(
            f"heterogeneous K=64, widths 32/64/128 mixed: one padded pack {padded * 1e6:.1f} us/trial-step, "
            f"3 shape buckets {bucketed * 1e6:.1f} us/trial-step -> padding costs {padded / bucketed:.2f}x"
        )


if __name__ == "__main__":
    main()
