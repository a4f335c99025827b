"""Generator and discriminator MLPs built from a widths tuple, and G's per-column output head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

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

    Works on any leading shape with features last (in and out). Vectorised over blocks: blocks
    are grouped by width rounded up to a power of two, each group's logits are gathered into a
    padded (..., n_blocks, width, rows) tensor (padding -inf) and one softmax runs over the width
    axis, rows last. With `u` None the softmax is plain (no noise).

    Why rows last and by width group: gan.packed's native layout is (members, features, rows),
    so the head then costs no transposed copies, and a softmax over a short inner axis with rows
    last is vectorised across rows. The earlier head (one group padded to the widest block,
    features last, advanced indexing) on `bench/tables.py`'s 8,000-row table (11 blocks of 2..30
    levels: 330 padded slots for 76) took 835 us forward and backward for one member at batch 256
    and 12.6 ms for 16, against 339 us and 3.0 ms this way: a whole pack step of 64-wide members
    1.28x (one member) to 1.56x (4) faster, a lone trainer's step (autograd) 1.21x at batch 256
    and 1.32x at 1,024 but 6 % slower at batch 32, where its per-op cost dominates (`python
    bench/head_speed.py --lone`, one core). A lone trainer and a pack still compute every row
    alike (the gathers only place values; the softmax runs on the same contiguous shape per
    member), so gan.packed's exactness contract holds; against the earlier head, outputs move by
    ~1e-7 (the softmax sums fewer -inf pads).
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
        # groups: (blocks, width) per power-of-two width, narrowest first. gather_idx: every
        # group's padded slots in turn, each a soft column or the -inf column (index n_soft)
        # as padding; back_idx: soft column -> its slot there; inv_idx: the reverse (n_soft, a
        # zero column, for padding slots). One gather and one scaling for all groups, not one
        # per group: a lone trainer's autograd pays per op (at batch 32 on that table, its step
        # took 1,259 us with a gather and a product per group, 1,114 us without, against 1,064
        # with the earlier head).
        self.groups: list[tuple[int, int]] = []
        if layout.blocks:
            n_soft = layout.n_soft
            starts = np.cumsum([0, *layout.blocks])[:-1]
            by_width: dict[int, list[int]] = {}
            for b, w in enumerate(layout.blocks):
                by_width.setdefault(1 << max(0, int(w - 1).bit_length()), []).append(b)
            back = np.empty(n_soft, dtype=np.int64)
            gathers, offset = [], 0
            for i, (wg, members) in enumerate(sorted(by_width.items())):
                gather = np.full((len(members), wg), n_soft, dtype=np.int64)
                for j, b in enumerate(members):
                    w = layout.blocks[b]
                    gather[j, :w] = np.arange(starts[b], starts[b] + w)
                    back[starts[b] : starts[b] + w] = offset + j * wg + np.arange(w)
                gathers.append(gather.reshape(-1))
                self.groups.append((len(members), wg))
                offset += len(members) * wg
            inv = np.full(offset, n_soft, dtype=np.int64)
            inv[back] = np.arange(n_soft)
            self.register_buffer("gather_idx", torch.from_numpy(np.concatenate(gathers)), persistent=False)
            self.register_buffer("back_idx", torch.from_numpy(back), persistent=False)
            self.register_buffer("inv_idx", torch.from_numpy(inv), persistent=False)

    def forward(self, logits: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_saving(logits, u)[0]

    def forward_saving(self, logits: torch.Tensor, u: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The head's output (tanh for numeric columns, a Gumbel-softmax per categorical block)
        and what `backward` needs (gan.packed's hand-written backward); `forward` keeps the first."""
        lay = self.layout
        if not lay.blocks:
            out = self._numeric(logits)
            return out, (out,)
        x = logits.transpose(-1, -2)  # (..., features, rows)
        rows = x.shape[-1]
        num = self._numeric(logits[..., : lay.n_tanh]).transpose(-1, -2)
        soft = x[..., lay.n_tanh :, :]
        if u is not None:
            soft = soft + gumbel(u.transpose(-1, -2))
        soft = soft * (1.0 / self.tau)
        padded = torch.cat([soft, soft.new_full((*soft.shape[:-2], 1, rows), float("-inf"))], dim=-2)
        chunks = padded.index_select(-2, self.gather_idx).split([n * w for n, w in self.groups], dim=-2)
        parts = tuple(F.softmax(c.view(*soft.shape[:-2], n, w, rows), dim=-2)
                      for c, (n, w) in zip(chunks, self.groups))  # (..., n_blocks, width, rows) each
        return torch.cat([num, self._join(parts).index_select(-2, self.back_idx)], dim=-2).transpose(-1, -2), (num, *parts)

    @staticmethod
    def _join(parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """The groups' (..., n_blocks, width, rows) tensors as one (..., slots, rows), in group
        order (`gather_idx`'s); one group needs no copy."""
        flat = [p.flatten(-3, -2) for p in parts]
        return torch.cat(flat, dim=-2) if len(flat) > 1 else flat[0]

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
        num, *parts = saved
        d = dout.transpose(-1, -2)  # (..., features, rows)
        ds = d[..., lay.n_tanh :, :]
        d_flat = torch.cat([ds, ds.new_zeros((*ds.shape[:-2], 1, ds.shape[-1]))], dim=-2).index_select(-2, self.inv_idx)
        chunks = d_flat.split([p.shape[-3] * p.shape[-2] for p in parts], dim=-2)
        grads = [torch.ops.aten._softmax_backward_data(c.view(p.shape), p, -2, p.dtype) for c, p in zip(chunks, parts)]
        d_soft = self._join(grads).index_select(-2, self.back_idx) * (1.0 / self.tau)
        d_num = self._numeric_backward(dout[..., : lay.n_tanh], num.transpose(-1, -2)).transpose(-1, -2)
        # Features last in memory, as autograd's gradient is laid out (the bits of the matmuls
        # that take it depend on its strides).
        return torch.cat([d_num, d_soft], dim=-2).transpose(-1, -2).contiguous()

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
    """encoded rows (batch, width) -> logits (batch / pac, 1).

    With `config.pac` > 1 (PacGAN) each logit judges `pac` consecutive rows, their encodings
    side by side: rows (batch, width) are read as (batch / pac, pac * width).
    Outputs raw logits (no Sigmoid): the losses use the log-sigmoid form, which stays finite where
    Sigmoid followed by BCELoss saturates; the WGAN-GP critic needs unbounded scores anyway.
    """

    def __init__(self, config: GANConfig, layout: LayoutLike) -> None:
        super().__init__()
        self.pac = config.pac
        self.in_dim = as_layout(layout).width * config.pac
        self.net = nn.Sequential(*_mlp(self.in_dim, config.d_widths, 1, nn.LeakyReLU(config.leaky_slope)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, self.in_dim) if self.pac > 1 else x)


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
