"""Generator and discriminator MLPs built from a widths tuple."""

from __future__ import annotations

import torch
from torch import nn

from gan.config import GANConfig


def _mlp(in_dim: int, widths: tuple[int, ...], out_dim: int, activation: type[nn.Module] | nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), activation() if isinstance(activation, type) else activation]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return layers


class Generator(nn.Module):
    """noise (batch, noise_dim) -> rows (batch, n_features) in [-1, 1]: Linear/ReLU stack, Tanh out."""

    def __init__(self, config: GANConfig, n_features: int) -> None:
        super().__init__()
        self.noise_dim = config.noise_dim
        self.net = nn.Sequential(*_mlp(config.noise_dim, config.g_widths, n_features, nn.ReLU), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """rows (batch, n_features) -> logits (batch, 1).

    Outputs raw logits (no Sigmoid): the losses use the log-sigmoid form, which stays finite where
    Sigmoid followed by BCELoss saturates; the WGAN-GP critic needs unbounded scores anyway.
    """

    def __init__(self, config: GANConfig, n_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*_mlp(n_features, config.d_widths, 1, nn.LeakyReLU(config.leaky_slope)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_models(config: GANConfig, n_features: int, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator]:
    """Both networks, initialised from `config.seed` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = Generator(config, n_features)
        discriminator = Discriminator(config, n_features)
    return generator.to(device), discriminator.to(device)


@torch.no_grad()
def sample_scaled(generator: Generator, n: int, seed: int, constant: "np.ndarray | None" = None) -> "np.ndarray":
    """`n` generated rows in scaled units, float64 (n, n_features).

    Noise comes from a seeded CPU generator, so the same weights give the same rows on any device.
    Constant columns (`constant` mask) are set to 0, which the scaler maps back to the constant.
    """
    import numpy as np

    device = next(generator.parameters()).device
    z = torch.randn(n, generator.noise_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = generator.training
    generator.eval()
    rows = generator(z).cpu().numpy().astype(np.float64)
    generator.train(was_training)
    if constant is not None:
        rows[:, np.asarray(constant, dtype=bool)] = 0.0
    return rows
