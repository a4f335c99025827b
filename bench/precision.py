"""What rounding to the recorded precision does to every score.

    python bench/precision.py                       # iris-setosa and penguins, reference config
    python bench/precision.py --data wine --steps 5000

For each table one GAN is trained (the reference GANConfig unless --steps / --encoding say
otherwise) and its generated rows -- the same 1,000 rows, same seed -- are scored twice: decoded
with rounding to each column's recorded precision (gantune's default) and without (`--no-round`).
The two references are scored the same two ways (the Gaussian fit is decoded like the model; a
resample of real rows is already on the recorded grid, so rounding leaves it unchanged).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEYS = ("wd_mean", "corr_diff", "detect_auc", "dcr_ratio", "copy_share")


def main(argv: list[str] | None = None) -> int:
    import torch

    from gan.config import GANConfig
    from gan.data import load_data
    from gan.models import sample_encoded
    from gan.report import evaluate_values
    from gan.train import train

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="iris-setosa,penguins")
    p.add_argument("--encoding", default="auto")
    p.add_argument("--steps", type=int, help="budget in steps (default: the reference 10,000 epochs)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| table | generator | rounding | " + " | ".join(KEYS) + " |")
    print("|---|---|---|" + "---|" * len(KEYS))
    for name in args.data.split(","):
        rounded = load_data(name, encoding=args.encoding, round_values=True, quiet=True, seed=args.seed)
        raw = load_data(name, encoding=args.encoding, round_values=False, quiet=True, seed=args.seed)
        config = GANConfig(seed=args.seed)
        if args.steps:
            config = config.replace(steps=args.steps, eval_every=args.steps)
        t = time.perf_counter()
        result = train(config, rounded, device="cpu")
        enc = sample_encoded(result.generator, 1000, config.eval_seed)
        for label, data in (("on", rounded), ("off", raw)):
            metrics = evaluate_values(data, data.transformer.decode(enc))
            for gen, m in (("model", metrics), *metrics["references"].items()):
                print(f"| {name} | {gen} | {label} | " + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |")
        print(f"(trained in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
