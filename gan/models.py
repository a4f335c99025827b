"""Generator and discriminator MLPs built from a widths tuple, and G's per-column output head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan.config import GANConfig

# Uniforms are clamped into (0, 1) before the Gumbel transform -log(-log(u)).
_U_EPS = 1e-10


@dataclass(frozen=True)
class OutputLayout:
    """An encoded row (see gan.transform): `n_tanh` numeric slots, then one-hot blocks.

    G's head applies tanh to the first `n_tanh` outputs (but passes the slots listed in `linear`
    through unchanged: normal-score columns) and a (Gumbel-)softmax to each block.
    """

    width: int
    n_tanh: int
    blocks: tuple[int, ...] = ()  # width of each one-hot block, in order
    linear: tuple[int, ...] = ()  # numeric slots (< n_tanh) with no tanh

    @property
    def n_soft(self) -> int:
        """Outputs under a softmax (= Gumbel uniforms a generator step needs per row)."""
        return self.width - self.n_tanh

    def to_dict(self) -> dict:
        return {"width": self.width, "n_tanh": self.n_tanh, "blocks": list(self.blocks), "linear": list(self.linear)}

    @classmethod
    def from_dict(cls, d: dict) -> "OutputLayout":
        return cls(int(d["width"]), int(d["n_tanh"]), tuple(int(b) for b in d.get("blocks", ())),
                   tuple(int(i) for i in d.get("linear", ())))

    @classmethod
    def numeric(cls, n: int) -> "OutputLayout":
        return cls(n, n, ())


LayoutLike = Union[OutputLayout, int]


def as_layout(layout: LayoutLike) -> OutputLayout:
    return OutputLayout.numeric(layout) if isinstance(layout, int) else layout


def gumbel(u: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise from uniforms. Hand-written instead of F.gumbel_softmax: that draws
    from torch's global generator, and every draw here must come from the trainer's own seeded
    stream (a packed member must reproduce a lone trainer's draws exactly)."""
    return -torch.log(-torch.log(u.clamp(_U_EPS, 1.0 - _U_EPS)))


class OutputHead(nn.Module):
    """tanh on the numeric slots (none on the linear ones), softmax((logits + Gumbel) / tau) over
    each one-hot block.

    Vectorised over blocks: the block logits are gathered into a padded (..., n_blocks, max
    width) tensor (padding -inf), one softmax runs over the last axis, and the valid entries are
    gathered back; the cost does not grow with the number of categorical columns. Works on any
    leading shape with features last. With `u` None the softmax is plain (no noise).
    """

    def __init__(self, layout: OutputLayout, tau: float) -> None:
        super().__init__()
        self.layout = layout
        self.tau = float(tau)
        self.has_linear = bool(layout.linear)
        if self.has_linear:
            mask = torch.zeros(layout.n_tanh, dtype=torch.bool)
            mask[list(layout.linear)] = True
            self.register_buffer("linear_mask", mask, persistent=False)
        widths = layout.blocks
        if widths:
            w_max = max(widths)
            pad = layout.n_soft  # index of the -inf column appended to the soft slice
            gather = np.full((len(widths), w_max), pad, dtype=np.int64)
            back = []
            pos = 0
            for b, w in enumerate(widths):
                gather[b, :w] = np.arange(pos, pos + w)
                back.extend(b * w_max + np.arange(w))
                pos += w
            self.register_buffer("gather_idx", torch.from_numpy(gather), persistent=False)
            self.register_buffer("back_idx", torch.tensor(back, dtype=torch.long), persistent=False)

    def forward(self, logits: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_saving(logits, u)[0]

    def forward_saving(self, logits: torch.Tensor, u: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The head's output (tanh for numeric columns, a Gumbel-softmax per categorical block)
        and what `backward` needs (gan.packed's hand-written backward); `forward` keeps the first."""
        lay = self.layout
        if not lay.blocks:
            out = self._numeric(logits)
            return out, (out,)
        num = self._numeric(logits[..., : lay.n_tanh])
        soft = logits[..., lay.n_tanh :]
        if u is not None:
            soft = soft + gumbel(u)
        padded = torch.cat([soft, soft.new_full((*soft.shape[:-1], 1), float("-inf"))], dim=-1)
        grouped = F.softmax(padded[..., self.gather_idx] * (1.0 / self.tau), dim=-1)  # (..., n_blocks, w_max)
        return torch.cat([num, grouped.flatten(-2)[..., self.back_idx]], dim=-1), (num, grouped)

    def _numeric(self, logits: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(logits)
        return torch.where(self.linear_mask, logits, out) if self.has_linear else out

    def _numeric_backward(self, dout: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """tanh's backward kernel (on the saved output), the gradient itself on linear slots:
        autograd's where-backward adds an exact 0 to each, so the bits agree."""
        d = torch.ops.aten.tanh_backward(dout, out)
        return torch.where(self.linear_mask, dout, d) if self.has_linear else d

    def backward(self, dout: torch.Tensor, saved: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The gradient for `logits` of sum(dout * forward(logits, u)), bit for bit as autograd
        forms it (gan.packed writes its backward passes out; tests/gan/test_packed.py compares).
        The gathers' backward only places values (each logit feeds one softmax slot; the -inf
        column, which several pad slots share, is dropped), so it is exact; the arithmetic is
        aten's tanh and softmax backward kernels and the 1 / tau, as in autograd's nodes."""
        lay = self.layout
        if not lay.blocks:
            return self._numeric_backward(dout, saved[0])
        num, grouped = saved
        d_probs = dout.new_zeros(grouped.shape).flatten(-2)
        d_probs[..., self.back_idx] = dout[..., lay.n_tanh :]
        d_grouped = torch.ops.aten._softmax_backward_data(d_probs.view(grouped.shape), grouped, -1, grouped.dtype) * (1.0 / self.tau)
        d_padded = dout.new_zeros((*dout.shape[:-1], lay.n_soft + 1))
        d_padded[..., self.gather_idx] = d_grouped
        return torch.cat([self._numeric_backward(dout[..., : lay.n_tanh], num), d_padded[..., : lay.n_soft]], dim=-1)

def _mlp(in_dim: int, widths: tuple[int, ...], out_dim: int, activation: type[nn.Module] | nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), activation() if isinstance(activation, type) else activation]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return layers


class Generator(nn.Module):
    """noise (batch, noise_dim) -> encoded rows (batch, width): a Linear/ReLU stack and the
    output head (tanh or linear numeric slots, Gumbel-softmax per one-hot block)."""

    def __init__(self, config: GANConfig, layout: LayoutLike) -> None:
        super().__init__()
        layout = as_layout(layout)
        self.noise_dim = config.noise_dim
        self.layout = layout
        self.net = nn.Sequential(*_mlp(config.noise_dim, config.g_widths, layout.width, nn.ReLU))
        self.head = OutputHead(layout, config.gumbel_tau)

    def forward(self, z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.net(z), u)


class Discriminator(nn.Module):
    """encoded rows (batch, width) -> logits (batch, 1).

    Outputs raw logits (no Sigmoid): the losses use the log-sigmoid form, which stays finite where
    Sigmoid followed by BCELoss saturates; the WGAN-GP critic needs unbounded scores anyway.
    """

    def __init__(self, config: GANConfig, layout: LayoutLike) -> None:
        super().__init__()
        self.net = nn.Sequential(*_mlp(as_layout(layout).width, config.d_widths, 1, nn.LeakyReLU(config.leaky_slope)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_models(config: GANConfig, layout: LayoutLike, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator]:
    """Both networks, initialised from `config.seed` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = Generator(config, layout)
        discriminator = Discriminator(config, layout)
    return generator.to(device), discriminator.to(device)


def sample_noise(n: int, noise_dim: int, n_soft: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Seeded CPU noise for sampling: z (n, noise_dim), then Gumbel uniforms (n, n_soft)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, noise_dim, generator=gen)
    u = torch.rand(n, n_soft, generator=gen) if n_soft else None
    return z, u


@torch.no_grad()
def sample_encoded(generator: Generator, n: int, seed: int) -> np.ndarray:
    """`n` generated rows in the encoded space, float64 (n, width).

    Noise comes from a seeded CPU generator, so the same weights give the same rows on any
    device. One-hot blocks get Gumbel noise: their argmax is a draw from softmax(logits).
    """
    device = next(generator.parameters()).device
    z, u = sample_noise(n, generator.noise_dim, generator.layout.n_soft, seed)
    was_training = generator.training
    generator.eval()
    rows = generator(z.to(device), None if u is None else u.to(device)).cpu().numpy().astype(np.float64)
    generator.train(was_training)
    return rows
