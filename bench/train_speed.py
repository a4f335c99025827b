"""Training-step speed: gantune's trainer against a faithful copy of the reference notebook's loop.

Both train the same model sizes (the reference defaults) on iris-setosa, in this process, one
after the other, repeated; the script prints per-step times and their ratio. The reference loop
runs `--epochs` passes of a DataLoader (short last batch); gantune's trainer runs the same
number of rows in full batches (`GANConfig.total_steps`), so the comparison is per step.
`--data` times gantune's trainer alone on another table (e.g. a CSV with categorical columns,
whose Gumbel-softmax heads cost extra per step).
    python bench/train_speed.py [--epochs 1000] [--repeats 3] [--threads 1] [--data iris-setosa]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan.config import GANConfig
from gan.data import load_data
from gan.train import Trainer


def reference_loop(real: torch.Tensor, epochs: int) -> int:
    """The reference notebook: DataLoader, Sigmoid + BCELoss, batch 32, Adam 2e-4 (0.5, 0.999)."""
    noise_dim = 10
    generator = nn.Sequential(
        nn.Linear(noise_dim, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, real.shape[1]), nn.Tanh()
    )
    discriminator = nn.Sequential(
        nn.Linear(real.shape[1], 32), nn.LeakyReLU(0.2), nn.Linear(32, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid()
    )
    criterion = nn.BCELoss()
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(real), batch_size=32, shuffle=True)
    steps = 0
    for _ in range(epochs):
        for (batch,) in loader:
            b = batch.size(0)
            ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
            opt_d.zero_grad()
            z = torch.randn(b, noise_dim)
            fake = generator(z)
            d_loss = criterion(discriminator(batch), ones) + criterion(discriminator(fake.detach()), zeros)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = criterion(discriminator(fake), ones)
            g_loss.backward()
            opt_g.step()
            steps += 1
    return steps


def gantune_loop(data, epochs: int) -> int:
    config = GANConfig(epochs=epochs)
    trainer = Trainer(config, data, "cpu")
    trainer.run_steps(config.total_steps(len(data.train_idx)))
    return trainer.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 core, as in the target)")
    ap.add_argument("--data", default="iris-setosa", help="table for gantune's trainer; the reference loop runs on iris-setosa only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data(args.data, quiet=True)
    cases = {"gantune": lambda: gantune_loop(data, args.epochs)}
    if args.data == "iris-setosa":
        # The reference model's own min-max scaling of the raw values (no dequantisation).
        setosa = load_data("iris-setosa", encoding="minmax", round_values=False)
        lo, hi = setosa.values.min(axis=0), setosa.values.max(axis=0)
        real = torch.as_tensor((setosa.values - lo) / (hi - lo) * 2 - 1, dtype=torch.float32)
        cases = {"reference": lambda: reference_loop(real, args.epochs), **cases}
    best = {name: float("inf") for name in cases}
    # Warm-up: the first calls pay for lazy initialisation (torch's optimiser imports, MKL).
    gantune_loop(data, 2)
    if "reference" in cases:
        reference_loop(real, 2)
    for _ in range(args.repeats):  # interleaved, best of N: the machines are shared and noisy
        for name, fn in cases.items():
            t0 = time.perf_counter()
            steps = fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / steps)
    print(f"{data.describe()}; encoded width {data.width}")
    for name, sec in best.items():
        print(f"{name:10s} {sec * 1e6:8.1f} us/step")
    if "reference" in best:
        print(f"speed-up: {best['reference'] / best['gantune']:.2f}x per step (threads={args.threads}, epochs={args.epochs})")


if __name__ == "__main__":
    main()
