"""Packed training: K GAN configurations trained at once as one vectorised model.

Why: the reference-size tabular GAN does a few kFLOP per step, so a step of `gan.train.Trainer`
is ~1 ms of framework overhead (op dispatch, autograd bookkeeping, optimiser) and almost no
arithmetic. Stacking K members' weights as (K, in, out) tensors and running one `torch.baddbmm`
per layer for all of them pays that overhead once per step instead of K times.

Exactness contract: a member trained inside a pack ends with the same weights (to float rounding)
as the same config trained alone by `gan.train.Trainer`, whatever else rides in the pack, because

* weights start from `gan.models.build_models(config, layout)` (seeded by `config.seed`);
* every member owns a `gan.train.BatchStream` -- the very object a lone Trainer draws its rows,
  noise and Gumbel uniforms from -- and takes its batches in the same order, so its stream does
  not depend on the pack, on when it joined, or on how the run is cut into segments;
* G's output head is `gan.models.OutputHead` (tanh or linear slots, Gumbel-softmax blocks), applied to the
  stacked logits;
* heterogeneous shapes are zero-padded to the pack maximum and masked (see `_StackedMLP`);
* the optimiser is Adam with per-member lr / betas and a per-member step count (bias
  correction), written out by hand (`_adam_step`), following torch.optim.Adam's formulas
  (eps=1e-8, bias correction, no weight decay, no amsgrad);
* members never interact: the pack's loss is the sum of the members' losses, so the gradient for
  member k's weights is exactly the gradient of member k's loss.

Every member keeps its own step count, budget (`GANConfig.total_steps`) and evaluation points, so
members may start at different times (`add`) and leave at any step (`drop`); a segment of steps
runs up to the nearest evaluation point of any live member.

Public API: `PackedTrainer`, `MemberResult`, `Halving`, `bucket_configs`, `train_packed`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan.config import GANConfig
from gan.data import TabularData
from gan.errors import GanTuneError
from gan.models import Discriminator, Generator, OutputHead, OutputLayout, build_models, sample_noise
from gan.train import BatchStream, StopTraining, as_tensor, diverged_metrics, ema_weight

# Adam's eps: torch.optim.Adam's default, which Trainer uses.
_ADAM_EPS = 1e-8
# Upper bound on the numbers held in the pack's per-segment batch buffers (rows + noise +
# uniforms for all members); a segment is cut shorter than an evaluation interval when the pack
# is large.
_SEGMENT_NUMBERS = 1 << 22

PackReportFn = Callable[[int, int, dict[str, Any]], Any]
"""`report(steps, member_index, metrics)`; raise `gan.train.StopTraining` to stop that member."""


# ---------------------------------------------------------------------------------------------
# Stacked networks
# ---------------------------------------------------------------------------------------------
class _StackedMLP:
    """The parameters of K MLPs of (possibly) different shapes as one (K, P) tensor.

    Layout: one flat (K, P) buffer per network holds every layer's weight (K, out, in) (nn.Linear's
    own layout) and bias (K, out, 1) as views, so the optimiser is a handful of ops on one
    tensor, not ~10 per layer. Activations are kept feature-major, (K, features, batch), and a
    layer is `baddbmm(bias, W, h)`: the matmul's output then has `batch` columns (32-64) rather
    than `out` columns (1 for D's last layer, n_features for G's), which CPU GEMM kernels handle
    2-3x faster for these shapes (measured with torch 2.13 / MKL on one core).

    Width padding: layer `l` is padded to the widest member at that position. A member's padded
    weights and biases are zero and stay zero because their gradients are multiplied by `mask`
    (0 there), so Adam's moments stay 0 and its update is 0 / (0 + eps) = 0. A padded unit's
    pre-activation is therefore exactly 0, its activation 0 (ReLU, LeakyReLU), and it feeds the
    next layer through zero weights: it never changes the member's outputs or gradients.

    Depth padding: a member with fewer hidden layers than the pack gets identity layers
    (weight I on its last width, bias 0, mask 0 so they never train) after its last hidden layer.
    For the generator (ReLU) that is exact: the input x = ReLU(h) >= 0, so ReLU(I x) = x, and the
    backward pass is also unchanged (where x = 0 the earlier ReLU already zeroes the gradient).
    For the discriminator (LeakyReLU) x can be negative, so identity layers use slope 1.0 via a
    per-member, per-layer slope tensor: where(h > 0, h, h * slope) is LeakyReLU's exact forward
    and backward (gradient 1 or slope), and with slope 1 it is the identity. We chose this over
    forcing depth buckets because it costs two elementwise ops per layer only in layers where
    slopes actually differ (uniform layers keep F.leaky_relu); `bucket_configs` still groups by
    depth so that packs rarely pay the identity layers' matmuls.
    """

    def __init__(self, dims: list[tuple[int, int]], k: int, device: torch.device, *, ema: bool = False) -> None:
        self.dims = dims  # per layer (in, out), padded
        self.sizes = [i * o + o for i, o in dims]
        p = sum(self.sizes)
        self.flat = torch.zeros(k, p, device=device)  # (K, P)
        self.mask = torch.zeros(k, p, device=device)  # (K, P): 1 where a member's weight is real
        self.exp_avg = torch.zeros(k, p, device=device)  # Adam first moment, (K, P)
        self.exp_avg_sq = torch.zeros(k, p, device=device)  # Adam second moment, (K, P)
        # Per-member state buffers, (K, P) each; `ema` (the moving average of the weights,
        # GANConfig.g_ema) only for the generator. A member without an average keeps its row
        # equal to its weights at joining, unused.
        self.state_names: tuple[str, ...] = ("flat", "exp_avg", "exp_avg_sq") + (("ema",) if ema else ())
        self.ema = torch.zeros(k, p, device=device) if ema else None
        self._make_views()

    def _make_views(self) -> None:
        """(Re)create the per-layer weight/bias views of `flat`."""
        k = self.flat.shape[0]
        # Padded entries exist only in heterogeneous packs; a homogeneous pack skips the mask.
        # (PackedTrainer._set_hyper sets it once the members' masks are loaded.)
        self.padded = True
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.weight_masks: list[torch.Tensor] = []
        self.bias_masks: list[torch.Tensor] = []
        off = 0
        for (i, o) in self.dims:
            w = self.flat[:, off : off + i * o].view(k, o, i)  # (K, out, in)
            wm = self.mask[:, off : off + i * o].view(k, o, i)
            off += i * o
            b = self.flat[:, off : off + o].view(k, o, 1)  # (K, out, 1)
            bm = self.mask[:, off : off + o].view(k, o, 1)
            off += o
            # Views, so the optimiser's in-place update of `flat` updates them for free. They
            # need no grad: a step's backward is written out (`_d_backward`, `_g_backward`).
            self.weights.append(w)
            self.biases.append(b)
            self.weight_masks.append(wm)
            self.bias_masks.append(bm)
        # The same views of the moving average (a packed generator's scored weights).
        views = [self._layer_view(self.ema, pos) for pos in range(len(self.dims))] if self.ema is not None else []
        self.ema_weights = [w for w, _ in views]
        self.ema_biases = [b.unsqueeze(2) for _, b in views]

    @property
    def params(self) -> list[torch.Tensor]:
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def layers(self, ema: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(weights, biases) per layer: the trained ones, or their moving average (`ema`)."""
        return (self.ema_weights, self.ema_biases) if ema else (self.weights, self.biases)

    def select(self, slots: torch.Tensor) -> None:
        """Keep only the members at `slots` (compaction after drops)."""
        for name in ("mask", *self.state_names):
            setattr(self, name, getattr(self, name).index_select(0, slots).contiguous())
        self._make_views()

    def grow(self, n: int = 1) -> None:
        """Append `n` empty member rows (zero weights, mask and moments)."""
        for name in ("mask", *self.state_names):
            t = getattr(self, name)
            setattr(self, name, torch.cat([t, t.new_zeros(n, t.shape[1])]))
        self._make_views()

    def _layer_view(self, buf: torch.Tensor, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (K, out, in), bias (K, out)) views of layer `pos` in buffer `buf`."""
        k = buf.shape[0]
        off = sum(self.sizes[:pos])
        i, o = self.dims[pos]
        return buf[:, off : off + i * o].view(k, o, i), buf[:, off + i * o : off + i * o + o]

    @torch.no_grad()
    def export_buffers(self, slot: int, positions: list[int], dims: list[tuple[int, int]]) -> dict[str, list[torch.Tensor]]:
        """A member's weights, Adam moments (and moving average) in its own (unpadded) layer shapes."""
        out: dict[str, list[torch.Tensor]] = {}
        for name in self.state_names:
            tensors = []
            for pos, (i, o) in zip(positions, dims):
                w, b = self._layer_view(getattr(self, name), pos)
                tensors += [w[slot, :o, :i].cpu().clone(), b[slot, :o].cpu().clone()]
            out[name] = tensors
        return out

    @torch.no_grad()
    def import_buffers(self, slot: int, positions: list[int], state: dict[str, list[torch.Tensor]]) -> None:
        """Inverse of `export_buffers` (the mask and identity layers are set by load_member).
        A state without a moving average (saved before GANConfig.g_ema existed) starts it at the
        weights."""
        for name in self.state_names:
            tensors = state.get(name, state["flat"]) if name == "ema" else state[name]
            for j, pos in enumerate(positions):
                w, b = self._layer_view(getattr(self, name), pos)
                ws, bs = tensors[2 * j], tensors[2 * j + 1]
                w[slot, : ws.shape[0], : ws.shape[1]] = ws.to(w.device)
                b[slot, : bs.shape[0]] = bs.to(b.device)

    def flat_grad(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per-layer gradients -> one masked (K, P) tensor in `flat`'s layout."""
        k = self.flat.shape[0]
        g = torch.cat([t.reshape(k, -1) for t in grads], dim=1)  # (K, P)
        return g.mul_(self.mask) if self.padded else g

    @torch.no_grad()
    def load_member(self, slot: int, linears: list[nn.Linear], positions: list[int], identity: dict[int, int]) -> None:
        """Copy a member's nn.Linear layers into the pack at layer `positions`; identity layers."""
        for lin, pos in zip(linears, positions):
            out_f, in_f = lin.weight.shape
            self.weights[pos][slot, :out_f, :in_f] = lin.weight
            self.weight_masks[pos][slot, :out_f, :in_f] = 1.0
            self.biases[pos][slot, :out_f, 0] = lin.bias
            self.bias_masks[pos][slot, :out_f, 0] = 1.0
        for pos, width in identity.items():
            self.weights[pos][slot, :width, :width] = torch.eye(width, device=self.flat.device)

    @torch.no_grad()
    def export_member(self, slot: int, positions: list[int], dims: list[tuple[int, int]], *,
                      ema: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A member's real layers (or their moving average) as nn.Linear-shaped (weight (out,
        in), bias (out,)) pairs."""
        weights, biases = self.layers(ema)
        out = []
        for pos, (i, o) in zip(positions, dims):
            out.append((weights[pos][slot, :o, :i].clone(), biases[pos][slot, :o, 0].clone()))
        return out


def _padded_dims(first_in: int, widths: list[tuple[int, ...]], last_out: int) -> list[tuple[int, int]]:
    """Pack layer dims: position l is as wide as its widest member; short members repeat their
    last width (their identity layers)."""
    depth = max(len(w) for w in widths)
    hidden = [max((w[l] if l < len(w) else w[-1]) for w in widths) for l in range(depth)]
    dims, prev = [], first_in
    for h in hidden:
        dims.append((prev, h))
        prev = h
    dims.append((prev, last_out))
    return dims


def _member_plan(in_dim: int, widths: tuple[int, ...], out_dim: int, depth: int) -> tuple[list[int], list[tuple[int, int]], dict[int, int]]:
    """Where a member's real layers sit in a pack of hidden depth `depth`, and its identity layers.

    Returns (positions of its Linear layers, their (in, out) dims, {position: identity width}).
    """
    positions = list(range(len(widths))) + [depth]
    dims, prev = [], in_dim
    for w in (*widths, out_dim):
        dims.append((prev, w))
        prev = w
    identity = {pos: widths[-1] for pos in range(len(widths), depth)}
    return positions, dims, identity


# ---------------------------------------------------------------------------------------------
# Members and results
# ---------------------------------------------------------------------------------------------
@dataclass
class MemberResult:
    """What one member of a pack ended with; mirrors `gan.train.TrainResult`."""

    index: int  # position in the configs list given to PackedTrainer (or the id given to add)
    config: GANConfig
    layout: OutputLayout
    status: str = "pending"  # "running", "completed", "diverged at step N", "stopped at step N"
    steps: int = 0
    epoch: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    generator_state: dict[str, torch.Tensor] | None = None
    discriminator_state: dict[str, torch.Tensor] | None = None

    @property
    def diverged(self) -> bool:
        return self.status.startswith("diverged")

    def generator(self) -> Generator:
        """The member as a regular `Generator` (e.g. for `gan.bundle.save_bundle`)."""
        if self.generator_state is None:
            raise GanTuneError(f"member {self.index} has no exported weights yet (status {self.status!r})")
        g = Generator(self.config, self.layout)
        g.load_state_dict(self.generator_state)
        return g

    def discriminator(self) -> Discriminator:
        if self.discriminator_state is None:
            raise GanTuneError(f"member {self.index} has no exported weights yet (status {self.status!r})")
        d = Discriminator(self.config, self.layout)
        d.load_state_dict(self.discriminator_state)
        return d


@dataclass
class _Member:
    """Per-member training state that is not part of the stacked tensors."""

    result: MemberResult
    stream: BatchStream
    total_steps: int
    eval_interval: int
    g_plan: tuple[list[int], list[tuple[int, int]], dict[int, int]]
    d_plan: tuple[list[int], list[tuple[int, int]], dict[int, int]]

    @property
    def config(self) -> GANConfig:
        return self.result.config

    @property
    def steps(self) -> int:
        return self.stream.step

    def next_stop(self) -> int:
        """The step of this member's next evaluation (or its last step)."""
        return min((self.steps // self.eval_interval + 1) * self.eval_interval, self.total_steps)


@dataclass(frozen=True)
class Halving:
    """Successive halving inside a pack: at each rung (a step count) keep the best 1/eta by
    `wd_mean`.

    Rungs must be evaluation points of the members (multiples of their `eval_interval`).
    Dropped members end with status "stopped at step N" and their weights are exported there.
    """

    rungs: tuple[int, ...]
    eta: float = 2.0
    min_keep: int = 1

    def __post_init__(self) -> None:
        if self.eta <= 1:
            raise GanTuneError(f"Halving.eta must be > 1, got {self.eta}")
        if self.min_keep < 1:
            raise GanTuneError(f"Halving.min_keep must be >= 1, got {self.min_keep}")


# ---------------------------------------------------------------------------------------------
# Compatibility and bucketing
# ---------------------------------------------------------------------------------------------
# Fields every member of one pack must share: batches are formed per step for all members at
# once (batch_size), one loss function, one output head (gumbel_tau).
_SHARED_FIELDS = ("batch_size", "loss", "gumbel_tau", "pac")
SUPPORTED_LOSSES = ("bce",)


def check_packable(configs: Sequence[GANConfig]) -> None:
    """Raise GanTuneError naming the field if `configs` cannot share one pack."""
    if not configs:
        raise GanTuneError("PackedTrainer needs at least one GANConfig")
    for c in configs:
        if c.loss not in SUPPORTED_LOSSES:
            raise GanTuneError(
                f"packed training supports loss {', '.join(SUPPORTED_LOSSES)} only, got {c.loss!r}; "
                f"train wgan-gp configs with gan.train.train"
            )
    for name in _SHARED_FIELDS:
        values = sorted({getattr(c, name) for c in configs}, key=str)
        if len(values) > 1:
            raise GanTuneError(
                f"configs in one pack must share {name}, got {', '.join(map(repr, values))}; "
                f"use bucket_configs() to split them into compatible packs"
            )


def _shape_cost(c: GANConfig, n_features: int = 1) -> int:
    """Multiply-adds of one G + D step row: a proxy for a member's compute."""
    g = [c.noise_dim, *c.g_widths, n_features]
    d = [n_features, *c.d_widths, 1]
    return sum(a * b for a, b in zip(g, g[1:])) + 2 * sum(a * b for a, b in zip(d, d[1:]))


def _pack_cost(configs: Sequence[GANConfig], n_features: int = 1) -> int:
    nz = max(c.noise_dim for c in configs)
    g = [(d[0], d[1]) for d in _padded_dims(nz, [c.g_widths for c in configs], n_features)]
    d = [(x[0], x[1]) for x in _padded_dims(n_features, [c.d_widths for c in configs], 1)]
    return len(configs) * (sum(a * b for a, b in g) + 2 * sum(a * b for a, b in d))


def bucket_configs(configs: Sequence[GANConfig], max_pack: int = 64, max_waste: float = 1.5) -> list[list[int]]:
    """Group config indices into packs of compatible, similarly shaped members.

    Padding makes every member pay for the pack's widest layer, so packs are formed from configs
    sorted by (shared fields, depths, size) and a pack is closed when it is full, when the next
    config is incompatible, or when adding it would make the pack's padded compute exceed
    `max_waste` times its members' own compute.
    """
    if max_pack < 1:
        raise GanTuneError(f"max_pack must be >= 1, got {max_pack}")
    if not configs:
        return []
    for c in configs:
        check_packable([c])  # unsupported loss: fail before any work

    def key(i: int) -> tuple:
        c = configs[i]
        return (tuple(str(getattr(c, f)) for f in _SHARED_FIELDS), len(c.g_widths), len(c.d_widths), _shape_cost(c), i)

    order = sorted(range(len(configs)), key=key)
    packs: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur:
            same = key(cur[0])[:3] == key(i)[:3]
            trial = [configs[j] for j in (*cur, i)]
            own = sum(_shape_cost(c) for c in trial)
            if not same or len(cur) >= max_pack or _pack_cost(trial) > max_waste * own:
                packs.append(cur)
                cur = []
        cur.append(i)
    packs.append(cur)
    return packs


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------
class PackedTrainer:
    """Train K compatible GAN configs at once; each member reproduces `gan.train.train`.

    Members may differ in noise_dim, g_widths, d_widths (width and depth), g_lr, d_lr, beta1,
    beta2, leaky_slope, seed, budget (epochs / steps), eval_every, eval_samples and eval_seed.
    They must share batch_size, loss (bce) and gumbel_tau (see `check_packable`).

    Usage::

        trainer = PackedTrainer(configs, data)
        results = trainer.run(report=lambda steps, i, m: print(steps, i, m["wd_mean"]))
        save_bundle(out, results[0].config, results[0].generator(), data, results[0].metrics)
    """

    def __init__(self, configs: Sequence[GANConfig], data: TabularData, device: torch.device | str = "cpu", *,
                 envelope: GANConfig | None = None) -> None:
        """`envelope`: a config whose noise_dim and widths give the pack's padded shape (members
        added later must fit it, see `fits`); default: the largest of `configs`. `configs` may be
        empty when an envelope is given."""
        configs = list(configs)
        if configs:
            check_packable(configs)
        elif envelope is None:
            raise GanTuneError("PackedTrainer needs at least one GANConfig or an envelope")
        self.device = torch.device(device)
        first = configs[0] if configs else envelope
        assert first is not None
        real = data.train_encoded  # (n_rows, width) float32
        n = len(real)
        if n < first.batch_size:
            raise GanTuneError(
                f"{data.source}: {n} training rows but batch_size is {first.batch_size}; "
                f"lower batch_size in the configs to at most {n} or use more rows"
            )
        self.data = data
        self.n_rows = n
        self.real = as_tensor(real, self.device)  # (n, W)
        self.layout = data.transformer.layout
        self.width = w = self.layout.width
        self.n_soft = self.layout.n_soft
        self.batch_size = first.batch_size
        self.loss = first.loss
        self.gumbel_tau = first.gumbel_tau
        self.pac = first.pac  # PacGAN: D reads pac rows side by side (see _d_forward)
        shapes = [envelope] if envelope is not None else configs
        self.noise_dim = max(c.noise_dim for c in shapes)
        self.head = OutputHead(self.layout, first.gumbel_tau).to(self.device)
        self.g_depth = max(len(c.g_widths) for c in shapes)
        self.d_depth = max(len(c.d_widths) for c in shapes)
        self.G = _StackedMLP(_padded_dims(self.noise_dim, [c.g_widths for c in shapes], w), 0, self.device, ema=True)
        self.D = _StackedMLP(_padded_dims(w * self.pac, [c.d_widths for c in shapes], 1), 0, self.device)
        self.members: list[_Member] = []  # one per slot, in slot order
        self.results: list[MemberResult] = []  # one per member ever added, in order
        self._slopes = torch.ones(self.d_depth, 0, device=self.device)  # (depth, K): D's LeakyReLU slopes
        self.steps = 0  # segment steps the pack has run
        self._signs: dict[int, torch.Tensor] = {}
        self._clock: dict[int, tuple[float, int]] = {}  # member index -> (time, steps) at its last report
        for index, c in enumerate(configs):
            self.add(c, index)

    # -- membership: joining -------------------------------------------------------------------
    def shares(self, config: GANConfig) -> bool:
        """Does `config` have this pack's shared fields (batch_size, loss, gumbel_tau, pac)?"""
        return all(getattr(config, name) == getattr(self, name) for name in _SHARED_FIELDS)

    def fits(self, config: GANConfig) -> bool:
        """Can `config` join this pack (shared fields equal, shapes within the padded shape)?"""
        if not self.shares(config):
            return False
        if config.noise_dim > self.noise_dim or len(config.g_widths) > self.g_depth or len(config.d_widths) > self.d_depth:
            return False
        g_hidden = [o for _, o in self.G.dims[:-1]]
        d_hidden = [o for _, o in self.D.dims[:-1]]
        # A shallower member repeats its last width in identity layers: those must fit too.
        g_need = [config.g_widths[min(l, len(config.g_widths) - 1)] for l in range(self.g_depth)]
        d_need = [config.d_widths[min(l, len(config.d_widths) - 1)] for l in range(self.d_depth)]
        return all(a <= b for a, b in zip(g_need, g_hidden)) and all(a <= b for a, b in zip(d_need, d_hidden))

    def add(self, config: GANConfig, index: int, state: dict[str, Any] | None = None) -> MemberResult:
        """Add a member (its `index` names it in reports) to the running pack.

        It starts from `build_models(config)` and its own fresh stream, exactly as a lone Trainer
        would, or from `state` (`member_state`, e.g. from a checkpoint), continuing exactly.
        """
        check_packable([config])
        if not self.fits(config):
            raise GanTuneError(f"member {index} does not fit this pack's shape or shared fields; open another pack")
        if any(m.result.index == index for m in self.members):
            raise GanTuneError(f"member {index} is already training in this pack")
        slot = len(self.members)
        self.G.grow(1)
        self.D.grow(1)
        g_plan = _member_plan(config.noise_dim, config.g_widths, self.width, self.g_depth)
        d_plan = _member_plan(self.width * self.pac, config.d_widths, 1, self.d_depth)
        g_mod, d_mod = build_models(config, self.layout, "cpu")
        self.G.load_member(slot, [m for m in g_mod.net if isinstance(m, nn.Linear)], g_plan[0], g_plan[2])
        self.G.ema[slot] = self.G.flat[slot]  # the average starts at the initial weights
        self.D.load_member(slot, [m for m in d_mod.net if isinstance(m, nn.Linear)], d_plan[0], d_plan[2])
        slopes = torch.ones(self.d_depth, 1, device=self.device)
        slopes[: len(config.d_widths)] = config.leaky_slope
        self._slopes = torch.cat([self._slopes, slopes], dim=1)
        stream = BatchStream(config, self.n_rows, self.n_soft, self.device)
        result = MemberResult(index, config, self.layout, status="running")
        if state is not None:
            if config.g_ema > 0 and "ema" not in state["G"]:
                raise GanTuneError(f"member {index}: its saved state has no moving average of G but its config has g_ema {config.g_ema}; resume it with the config it was saved with")
            self.G.import_buffers(slot, g_plan[0], state["G"])
            self.D.import_buffers(slot, d_plan[0], state["D"])
            stream.load_state_dict(state["stream"])
            result.metrics, result.history = dict(state.get("metrics", {})), list(state.get("history", []))
            result.steps = stream.step
            result.epoch = stream.step * config.batch_size / self.n_rows
        member = _Member(result, stream, config.total_steps(self.n_rows), config.eval_interval(self.n_rows), g_plan, d_plan)
        self.members.append(member)
        self.results.append(result)
        self._set_hyper()
        return result

    def member_state(self, index: int) -> dict[str, Any]:
        """Everything needed to continue member `index` exactly in another pack (`add(state=)`):
        weights and Adam moments in its own layer shapes, its stream position, its history."""
        slot = self._slot(index)
        m = self.members[slot]
        return {
            "config": m.config.to_dict(),
            "G": self.G.export_buffers(slot, m.g_plan[0], m.g_plan[1]),
            "D": self.D.export_buffers(slot, m.d_plan[0], m.d_plan[1]),
            "stream": m.stream.state_dict(),
            "metrics": dict(m.result.metrics),
            "history": list(m.result.history),
        }

    # -- per-member hyperparameters ------------------------------------------------------------
    def _set_hyper(self) -> None:
        """Per-slot optimiser constants.

        torch.optim takes one lr / betas per parameter group, and a group cannot cover one row of
        a stacked tensor, so Adam is written out in `_adam_step` with (K, 1) per-member columns.
        Where every member shares a beta, a python float is used instead (one op fewer).
        """
        cfgs = [m.config for m in self.members]
        if not cfgs:
            return
        col = lambda xs: torch.tensor(xs, dtype=torch.float32, device=self.device).unsqueeze(1)  # noqa: E731  (K, 1)
        self._beta1 = np.array([c.beta1 for c in cfgs], dtype=np.float64)
        self._beta2 = np.array([c.beta2 for c in cfgs], dtype=np.float64)
        self._g_lr = np.array([c.g_lr for c in cfgs], dtype=np.float64)
        self._d_lr = np.array([c.d_lr for c in cfgs], dtype=np.float64)
        self._g_ema = np.array([c.g_ema for c in cfgs], dtype=np.float64)
        uniform = lambda a: len(set(a.tolist())) == 1  # noqa: E731
        self._w1: float | torch.Tensor = float(1.0 - self._beta1[0]) if uniform(self._beta1) else col(1.0 - self._beta1)
        self._b2: float | torch.Tensor = float(self._beta2[0]) if uniform(self._beta2) else col(self._beta2)
        self._w2: float | torch.Tensor = float(1.0 - self._beta2[0]) if uniform(self._beta2) else col(1.0 - self._beta2)
        # LeakyReLU per D hidden layer: a python float where the whole layer shares one slope
        # (fast F.leaky_relu), else a (K, 1, 1) tensor (identity layers or mixed leaky_slope).
        self._act: list[float | torch.Tensor] = []
        for row in self._slopes:
            if bool((row == row[0]).all()):
                self._act.append(float(row[0]))
            else:
                self._act.append(row.view(-1, 1, 1))
        for net in (self.G, self.D):
            net.padded = not bool(net.mask.all())

    def _adam_tables(self, n_steps: int) -> None:
        """Bias-corrected step sizes for the next `n_steps` steps, computed once per segment.

        Each member's Adam step count t is its own step count, so members that joined at
        different times keep torch's bias correction. Per step this is a row lookup, not ~8
        tiny ops. float64 like torch's python-float bias corrections, then cast.
        """
        t0 = np.array([m.steps for m in self.members], dtype=np.float64)  # (K,)
        t = t0[None, :] + np.arange(1, n_steps + 1, dtype=np.float64)[:, None]  # (n, K)
        bc1 = 1.0 - self._beta1[None, :] ** t  # (n, K)
        bc2_sqrt = np.sqrt(1.0 - self._beta2[None, :] ** t)  # (n, K)
        as_rows = lambda a: list(torch.from_numpy(a.astype(np.float32)).to(self.device).unsqueeze(2).unbind(0))  # noqa: E731
        self._d_step_size = as_rows(-self._d_lr[None, :] / bc1)  # n x (K, 1)
        self._g_step_size = as_rows(-self._g_lr[None, :] / bc1)
        self._bc2_sqrt = as_rows(bc2_sqrt)
        # Moving-average weights (gan.train.ema_weight); 0 for members without one, whose
        # `ema` row then stays as it is (ema + 0 * diff).
        self._ema_w = None
        if (self._g_ema > 0).any():
            w = np.where(self._g_ema[None, :] > 0, ema_weight(self._g_ema[None, :], t), np.float32(0.0))  # (n, K)
            self._ema_w = as_rows(w)

    @property
    def live(self) -> list[int]:
        """Indices (into the configs list) of members still training, in slot order."""
        return [m.result.index for m in self.members]

    def __len__(self) -> int:
        return len(self.members)

    # -- forward passes (feature-major: activations are (K, features, batch)) -------------------
    def _generate(self, z: torch.Tensor, u: torch.Tensor | None, sl: slice | None = None, *, ema: bool = False) -> torch.Tensor:
        """noise (K, noise_dim, b), uniforms (K, n_soft, b) -> encoded rows (K, width, b); `sl`
        picks members (K = its length); `ema`: through the moving averages of the weights."""
        return self._g_forward(z, u, sl, ema=ema)[0]

    # -- optimiser -----------------------------------------------------------------------------
    @torch.no_grad()
    def _adam_step(self, net: _StackedMLP, grads: Sequence[torch.Tensor], step_size: torch.Tensor, bc2_sqrt: torch.Tensor) -> None:
        """torch.optim.Adam (eps 1e-8, bias-corrected, no weight decay) with per-member lr/betas.

        Same formulas and order as torch's single-tensor / fused Adam:
            m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
            p += -lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        `step_size` (K, 1) is -lr / (1 - beta1^t) for this step (see `_adam_tables`).
        """
        g = net.flat_grad(grads)  # (K, P), masked in padded packs
        net.exp_avg.lerp_(g, self._w1)
        if isinstance(self._w2, float):
            net.exp_avg_sq.mul_(self._b2).addcmul_(g, g, value=self._w2)
        else:
            net.exp_avg_sq.mul_(self._b2).addcmul_(g, g * self._w2)
        denom = net.exp_avg_sq.sqrt().div_(bc2_sqrt).add_(_ADAM_EPS)
        net.flat.addcdiv_(net.exp_avg * step_size, denom)

    # -- the passes a step needs, backward written out ------------------------------------------
    # Why by hand: for these small networks a step was mostly autograd's bookkeeping (graph
    # nodes, the engine's queue) around a few tiny matmuls. Each backward below is the op
    # autograd itself runs for that node (aten's *_backward kernels, the same bmm / sum forms as
    # BaddbmmBackward and MulBackward), in the same order, so the gradients are bitwise
    # autograd's (tests/gan/test_packed.py compares both on uniform and padded packs and a table
    # with categorical columns) and a member still matches a lone Trainer as before (to 1e-6 over
    # the first 1,000 steps). The output head's backward (tanh or linear, Gumbel-softmax blocks) is
    # gan.models.OutputHead.backward. Measured on one core, 2026-11-28, reference-size members,
    # ms a step before -> after: iris-setosa 1 member 1.91 -> 1.30, 4: 2.05 -> 1.60, 16: 3.21 ->
    # 2.76, 64: 5.82 -> 4.85; penguins (3 categorical columns, batch 64) 1: 2.66 -> 1.99, 4:
    # 3.56 -> 2.92.
    def _d_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """rows (K, width, b) -> logits (K, 1, b / pac), with each layer's input and pre-activation.

        PacGAN (pac > 1): column g of D's input holds rows g * pac .. g * pac + pac - 1 stacked,
        row p's features at p * width + f, as a lone Discriminator reads (b, width) rows as
        (b / pac, pac * width)."""
        if self.pac > 1:
            k, w, b = x.shape
            x = x.view(k, w, b // self.pac, self.pac).permute(0, 3, 1, 2).reshape(k, self.pac * w, b // self.pac)
        ins: list[torch.Tensor] = []
        pres: list[torch.Tensor] = []
        last = len(self.D.weights) - 1
        for l, (w, b) in enumerate(zip(self.D.weights, self.D.biases)):
            ins.append(x)
            if l == last:
                # One output unit: a broadcast multiply-and-sum. As a bmm its backward is a
                # (K, width, 1) @ (K, 1, b) outer product, which MKL runs ~2x slower.
                return (w.transpose(1, 2) * x).sum(dim=1, keepdim=True) + b, ins, pres  # (K, 1, b)
            pre = torch.baddbmm(b, w, x)  # (K, out, b)
            pres.append(pre)
            slope = self._act[l]
            # exact LeakyReLU, with a per-member slope where members differ (1.0 = identity layer)
            x = F.leaky_relu(pre, slope) if isinstance(slope, float) else torch.where(pre > 0, pre, pre * slope)
        raise AssertionError("D has an output layer")

    def _d_backward(self, dlogits: torch.Tensor, ins: list[torch.Tensor], pres: list[torch.Tensor], *,
                    params: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Gradients of sum(dlogits * logits): D's parameters (`params`, in `params` order) or
        its input rows (K, width, b) (not both: a step never needs both; with pac > 1 the input
        gradient is put back in rows, the reverse of `_d_forward`'s grouping)."""
        grads: list[torch.Tensor] = []
        last = len(self.D.weights) - 1
        if params:
            grads = [(dlogits * ins[last]).sum(dim=2).unsqueeze(1), dlogits.sum(dim=2, keepdim=True)]
        dx = self.D.weights[last].transpose(1, 2) * dlogits  # (K, in, b)
        for l in range(last - 1, -1, -1):
            slope, pre = self._act[l], pres[l]
            if isinstance(slope, float):
                dpre = torch.ops.aten.leaky_relu_backward(dx, pre, slope, False)
            else:
                dpre = torch.where(pre > 0, dx, dx * slope)
            if params:
                grads = [torch.bmm(dpre, ins[l].transpose(1, 2)), dpre.sum(dim=2, keepdim=True), *grads]
            if l > 0 or not params:
                dx = torch.bmm(self.D.weights[l].transpose(1, 2), dpre)
        if not params and self.pac > 1:
            k, pw, g = dx.shape
            dx = dx.view(k, self.pac, pw // self.pac, g).permute(0, 2, 3, 1).reshape(k, pw // self.pac, g * self.pac)
        return grads, None if params else dx

    def _g_forward(self, z: torch.Tensor, u: torch.Tensor | None, sl: slice | None = None, *,
                   ema: bool = False) -> tuple[torch.Tensor, tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]]:
        """noise (K, noise_dim, b), uniforms (K, n_soft, b) -> encoded rows (K, width, b), with
        each layer's input (the ReLU outputs) and what the output head's backward needs."""
        ins: list[torch.Tensor] = []
        x = z
        last = len(self.G.weights) - 1
        for l, (w, b) in enumerate(zip(*self.G.layers(ema))):
            if sl is not None:
                w, b = w[sl], b[sl]
            ins.append(x)
            x = torch.baddbmm(b, w, x)
            if l < last:
                x = torch.relu(x)
        out, head = self.head.forward_saving(x.transpose(1, 2), None if u is None else u.transpose(1, 2))
        return out.transpose(1, 2), (ins, head)

    def _g_backward(self, dout: torch.Tensor, saved: tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
        """Gradients of sum(dout * rows) for G's parameters (`params` order)."""
        ins, head = saved
        grads: list[torch.Tensor] = []
        d = self.head.backward(dout.transpose(1, 2), head).transpose(1, 2)
        for l in range(len(self.G.weights) - 1, -1, -1):
            grads = [torch.bmm(d, ins[l].transpose(1, 2)), d.sum(dim=2, keepdim=True), *grads]
            if l > 0:  # ReLU's backward from its output, as autograd's ReluBackward0
                d = torch.ops.aten.threshold_backward(torch.bmm(self.G.weights[l].transpose(1, 2), d), ins[l], 0)
        return grads

    # -- one step for all members --------------------------------------------------------------
    def _sign(self, b: int) -> torch.Tensor:
        """(1, 1, 2b): -1 for the b real columns, +1 for the b fake ones (cached per b)."""
        sign = self._signs.get(b)
        if sign is None:
            sign = torch.cat([-torch.ones(b), torch.ones(b)]).view(1, 1, 2 * b).to(self.device)
            self._signs[b] = sign
        return sign

    def _step(self, real: torch.Tensor, z: torch.Tensor, u: torch.Tensor | None, i: int) -> torch.Tensor:
        """One D step and one G step for every member, in Trainer._bce_step's order.

        real (K, W, b): each member's own batch; z (K, noise_dim_max, b), zero beyond a member's
        noise_dim; u (K, n_soft, b) Gumbel uniforms; `i` the step's row in the Adam tables.
        Returns each member's D loss (K,) (the divergence check).
        """
        b = real.shape[2] // self.pac  # logits per side (PacGAN: one per pac rows)
        with torch.no_grad():
            fake, g_saved = self._g_forward(z, u)  # (K, W, batch)
            # softplus(-l_real).mean() + softplus(l_fake).mean() == sum(softplus(sign * l)) / b.
            # Summing over members makes member k's gradient its own loss's.
            sign = self._sign(b)
            logits, ins, pres = self._d_forward(torch.cat([real, fake], dim=2))  # (K, 1, 2b)
            signed = logits * sign
            terms = F.softplus(signed)  # (K, 1, 2b)
            dlogits = torch.ops.aten.softplus_backward(torch.full_like(signed, 1.0 / b), signed, 1.0, 20.0) * sign
            d_grads, _ = self._d_backward(dlogits, ins, pres, params=True)
            self._adam_step(self.D, d_grads, self._d_step_size[i], self._bc2_sqrt[i])
            # Generator: non-saturating loss sum(softplus(-D(fake))) / b through the *updated* D.
            logits, ins, pres = self._d_forward(fake)
            dlogits = -torch.ops.aten.softplus_backward(torch.full_like(logits, 1.0 / b), -logits, 1.0, 20.0)
            _, dfake = self._d_backward(dlogits, ins, pres, params=False)
            self._adam_step(self.G, self._g_backward(dfake, g_saved), self._g_step_size[i], self._bc2_sqrt[i])
            if self._ema_w is not None:  # Trainer._update_ema's three ops, per member
                self.G.ema.add_(torch.sub(self.G.flat, self.G.ema).mul_(self._ema_w[i]))
        return terms.sum(dim=(1, 2))

    # -- random batches ------------------------------------------------------------------------
    def _fill(self, seg: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The next `seg` batches of every member, from its own stream: rows (seg, K, bs),
        z (seg, K, noise_dim_max, bs) (zero beyond a member's noise_dim), uniforms
        (seg, K, n_soft, bs)."""
        k, bs = len(self.members), self.batch_size
        idx_buf = torch.empty(seg, k, bs, dtype=torch.long, device=self.device)
        z_buf = torch.zeros(seg, k, self.noise_dim, bs, device=self.device)
        u_buf = torch.empty(seg, k, self.n_soft, bs, device=self.device) if self.n_soft else None
        for slot, m in enumerate(self.members):
            idx, z, u = m.stream.take(seg)
            idx_buf[:, slot] = idx
            z_buf[:, slot, : m.config.noise_dim] = z.transpose(1, 2)
            if u_buf is not None and u is not None:
                u_buf[:, slot] = u.transpose(1, 2)
        return idx_buf, z_buf, u_buf

    def _run_segment(self, seg: int) -> torch.Tensor:
        """Train `seg` steps for all live members; returns their D losses (seg, K)."""
        idx_buf, z_buf, u_buf = self._fill(seg)
        # Adam tables from the step counts *before* the segment; the streams have advanced.
        for m in self.members:
            m.stream.step -= seg
        self._adam_tables(seg)
        for m in self.members:
            m.stream.step += seg
        losses = []
        for i in range(seg):
            real = self.real[idx_buf[i]].transpose(1, 2)  # (K, W, b)
            losses.append(self._step(real, z_buf[i], None if u_buf is None else u_buf[i], i))
        self.steps += seg
        return torch.stack(losses)  # (seg, K)

    # -- membership ----------------------------------------------------------------------------
    def _slot(self, index: int) -> int:
        for slot, m in enumerate(self.members):
            if m.result.index == index:
                return slot
        raise GanTuneError(f"member {index} is not training in this pack (live: {self.live})")

    def _export(self, slot: int) -> None:
        """Store a member's current weights as Generator/Discriminator state dicts."""
        m = self.members[slot]
        for net, plan, attr in ((self.G, m.g_plan, "generator_state"), (self.D, m.d_plan, "discriminator_state")):
            layers = net.export_member(slot, plan[0], plan[1], ema=net is self.G and m.config.g_ema > 0)
            state = {}
            for j, (w, b) in enumerate(layers):
                state[f"net.{2 * j}.weight"] = w.cpu()
                state[f"net.{2 * j}.bias"] = b.cpu()
            setattr(m.result, attr, state)

    def generator_state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """Member `index`'s current weights as a `gan.models.Generator` state dict."""
        slot = self._slot(index)
        self._export(slot)
        return self.members[slot].result.generator_state  # type: ignore[return-value]

    def drop(self, indices: Iterable[int], status: str | None = None) -> None:
        """Stop members (by config index): export their weights and shrink the stacked tensors.

        The compute of later steps falls with the pack size: all stacked tensors and optimiser
        moments are compacted to the remaining members.
        """
        drop_slots = sorted({self._slot(i) for i in indices})
        if not drop_slots:
            return
        for slot in drop_slots:
            m = self.members[slot]
            self._export(slot)
            m.result.status = status or f"stopped at step {m.steps}"
        keep = [s for s in range(len(self.members)) if s not in set(drop_slots)]
        self.members = [self.members[s] for s in keep]
        slots = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.G.select(slots)
        self.D.select(slots)
        self._slopes = self._slopes.index_select(1, slots)
        self._set_hyper()

    # -- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_encoded(self, index: int, n: int, seed: int) -> np.ndarray:
        """Like gan.models.sample_encoded for member `index`: same seeded CPU noise."""
        slot = self._slot(index)
        m = self.members[slot]
        z, u = sample_noise(n, m.config.noise_dim, self.n_soft, seed)
        zp = torch.zeros(1, self.noise_dim, n)  # (1, noise_dim_max, n)
        zp[0, : m.config.noise_dim] = z.T
        up = None if u is None else u.T.unsqueeze(0).to(self.device)
        rows = self._generate(zp.to(self.device), up, sl=slice(slot, slot + 1), ema=m.config.g_ema > 0)[0].T  # (n, W)
        return rows.cpu().numpy().astype(np.float64)

    def evaluate(self, index: int) -> dict[str, Any]:
        """Member `index`'s score, as Trainer.evaluate would give it."""
        m = self.members[self._slot(index)]
        c = m.config
        metrics = self.data.scorer.score_encoded(self.sample_encoded(index, c.eval_samples, c.eval_seed))
        metrics.update(epoch=m.steps * self.batch_size / self.n_rows, steps=m.steps)
        return metrics

    # -- driver --------------------------------------------------------------------------------
    def _segment_length(self, limit: int) -> int:
        per_step = len(self.members) * self.batch_size * (self.noise_dim + self.n_soft + 1)
        return max(1, min(limit, _SEGMENT_NUMBERS // per_step))

    def advance(self, limit: int, report: PackReportFn | None = None) -> int:
        """Train one segment of at most `limit` steps; members that diverge are dropped.

        Returns the steps trained: fewer than `limit` when the pack is large (a segment holds at
        most _SEGMENT_NUMBERS pre-drawn numbers), so a caller that budgets steps counts these."""
        seg = self._segment_length(limit)
        starts = [m.steps for m in self.members]
        losses = self._run_segment(seg)  # (seg, K)
        finite = torch.isfinite(losses).cpu().numpy()  # one sync per segment
        bad = [slot for slot in range(finite.shape[1]) if not finite[:, slot].all()]
        if bad:
            self._diverge([(slot, starts[slot] + int(np.argmin(finite[:, slot])) + 1) for slot in bad], report)
        return seg

    def run(self, report: PackReportFn | None = None, halving: Halving | None = None) -> list[MemberResult]:
        """Train every member to its budget (or divergence / stop); results in config order.

        Like gan.train.train: members are scored at their evaluation points and at their last
        step, `report(steps, member_index, metrics)` is called each time, and a member whose D
        loss goes non-finite ends as "diverged at step N" with infinite scores (and is removed
        from the pack, so it costs nothing afterwards). Raise `gan.train.StopTraining` in
        `report` to stop that member.
        """
        for m in self.members:
            self._clock.setdefault(m.result.index, (time.perf_counter(), m.steps))
        while self.members:
            stop = min(m.next_stop() - m.steps for m in self.members)
            self.advance(stop, report)
            done = [m for m in self.members if m.steps % m.eval_interval == 0 or m.steps >= m.total_steps]
            if done:
                self._evaluate_and_report(done, report)
            if halving is not None and self.members:
                self._halve(halving)
        return self.results

    def run_steps(self, n_steps: int) -> None:
        """Train every live member `n_steps` more steps, without evaluation (the counterpart of
        `Trainer.run_steps`); members that diverge are dropped as in `run`."""
        target = {m.result.index: m.steps + n_steps for m in self.members}
        while self.members:
            left = min(target[m.result.index] - m.steps for m in self.members)
            if left <= 0:
                break
            self.advance(left, None)

    def _diverge(self, bad: list[tuple[int, int]], report: PackReportFn | None) -> None:
        """Members at `bad` slots went non-finite at the given step: score them inf and drop."""
        marked = []
        for slot, at in bad:
            m = self.members[slot]
            epoch = at * self.batch_size / self.n_rows
            m.result.metrics = diverged_metrics(self.data, at, epoch)
            m.result.steps, m.result.epoch = at, epoch
            m.result.history.append({"steps": at, "epoch": epoch, "wd_mean": math.inf})
            marked.append((m.result.index, at))
        for index, at in marked:
            self.drop([index], status=f"diverged at step {at}")
        if report is not None:
            for index, at in marked:
                try:
                    report(at, index, self.results_by_index(index).metrics)
                except StopTraining:
                    pass

    def results_by_index(self, index: int) -> MemberResult:
        for r in self.results:
            if r.index == index:
                return r
        raise KeyError(index)

    def _evaluate_and_report(self, done: list[_Member], report: PackReportFn | None) -> None:
        stop: list[int] = []
        finished: list[int] = []
        now = time.perf_counter()
        for m in done:
            r = m.result
            metrics = self.evaluate(r.index)
            t_prev, s_prev = self._clock.get(r.index, (now, m.steps))
            metrics["steps_per_s"] = (m.steps - s_prev) / (now - t_prev) if now > t_prev else math.nan
            self._clock[r.index] = (now, m.steps)
            metrics["diverged"] = not math.isfinite(metrics["wd_mean"])
            metrics["pack_size"] = len(self.members)
            r.metrics, r.steps, r.epoch = metrics, m.steps, metrics["epoch"]
            r.history.append({"steps": m.steps, "epoch": metrics["epoch"], "wd_mean": metrics["wd_mean"]})
            if metrics["diverged"]:  # the interval's last step made the weights non-finite
                self.drop([r.index], status=f"diverged at step {m.steps}")
                if report is not None:
                    try:
                        report(m.steps, r.index, metrics)
                    except StopTraining:
                        pass
                continue
            if report is not None:
                try:
                    report(m.steps, r.index, metrics)
                except StopTraining:
                    stop.append(r.index)
                    continue
            if m.steps >= m.total_steps:
                finished.append(r.index)
        if finished:
            self.drop(finished, status="completed")
        if stop:
            self.drop(stop)

    def _halve(self, halving: Halving) -> None:
        steps = {m.steps for m in self.members}
        if len(steps) != 1 or next(iter(steps)) not in halving.rungs:
            return
        ranked = sorted(self.members, key=lambda m: (m.result.metrics.get("wd_mean", math.inf), m.result.index))
        keep = max(halving.min_keep, math.ceil(len(ranked) / halving.eta))
        self.drop([m.result.index for m in ranked[keep:]])


def train_packed(
    configs: Sequence[GANConfig],
    data: TabularData,
    *,
    device: torch.device | str = "cpu",
    max_pack: int = 64,
    report: PackReportFn | None = None,
    halving: Halving | None = None,
) -> list[MemberResult]:
    """Train many configs in shape buckets (`bucket_configs`), one PackedTrainer per bucket.

    `report` receives indices into `configs`; results come back in `configs` order.
    """
    results: list[MemberResult | None] = [None] * len(configs)
    for pack in bucket_configs(configs, max_pack):
        def pack_report(steps: int, i: int, metrics: dict[str, Any], pack: list[int] = pack) -> Any:
            return report(steps, pack[i], metrics) if report is not None else None

        trainer = PackedTrainer([configs[i] for i in pack], data, device)
        for local, r in enumerate(trainer.run(pack_report if report else None, halving)):
            r.index = pack[local]
            results[pack[local]] = r
    return results  # type: ignore[return-value]


__all__ = ["Halving", "MemberResult", "PackedTrainer", "bucket_configs", "check_packable", "train_packed"]
