"""Packed training: K GAN configurations trained at once as one vectorised model.

Why: the reference-size tabular GAN does a few kFLOP per step, so a step of `gan.train.Trainer`
is ~1 ms of framework overhead (op dispatch, autograd bookkeeping, optimiser) and almost no
arithmetic. Stacking K members' weights as (K, in, out) tensors and running one `torch.baddbmm`
per layer for all of them pays that overhead once per step instead of K times.

Exactness contract: a member trained inside a pack ends with the same weights (to float rounding)
as the same config trained alone by `gan.train.Trainer`, whatever else rides in the pack, because

* weights start from `gan.models.build_models(config, n_features)` (seeded by `config.seed`);
* every member owns a `torch.Generator` seeded with `config.seed` and makes exactly Trainer's
  calls on it (same shapes, same order, same `block_epochs` rule, same run_epochs chunking at
  every `eval_every` epochs), so its permutations and noise do not depend on the pack;
* heterogeneous shapes are zero-padded to the pack maximum and masked (see `_StackedMLP`);
* the optimiser is Adam with per-member lr / betas written out by hand (`_adam_step`), following
  torch.optim.Adam's formulas (eps=1e-8, bias correction, no weight decay, no amsgrad);
* members never interact: the pack's loss is the sum of the members' losses, so the gradient for
  member k's weights is exactly the gradient of member k's loss.

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
from gan.metrics import score
from gan.models import Discriminator, Generator, build_models

# Keep the block rule identical to Trainer's: the random stream of a member depends on it.
from gan.train import _BLOCK_NUMBERS, StopTraining

# Adam's eps: torch.optim.Adam's default, which Trainer uses.
_ADAM_EPS = 1e-8
# Upper bound on the numbers held in the pack's per-segment batch buffers (perms + noise for all
# members); a segment is cut shorter than an eval chunk when the pack is large.
_SEGMENT_NUMBERS = 1 << 22

PackReportFn = Callable[[int, int, dict[str, Any]], Any]
"""`report(epoch, member_index, metrics)`; raise `gan.train.StopTraining` to stop that member."""


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

    def __init__(self, dims: list[tuple[int, int]], k: int, device: torch.device) -> None:
        self.dims = dims  # per layer (in, out), padded
        self.sizes = [i * o + o for i, o in dims]
        p = sum(self.sizes)
        self.flat = torch.zeros(k, p, device=device)  # (K, P)
        self.mask = torch.zeros(k, p, device=device)  # (K, P): 1 where a member's weight is real
        self.exp_avg = torch.zeros(k, p, device=device)  # Adam first moment, (K, P)
        self.exp_avg_sq = torch.zeros(k, p, device=device)  # Adam second moment, (K, P)
        self._make_views()

    def _make_views(self) -> None:
        """(Re)create the per-layer weight/bias views of `flat` as autograd leaves."""
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
            # Views of a buffer that does not require grad are leaves: autograd.grad can target
            # them, and the optimiser's in-place update of `flat` updates them for free.
            self.weights.append(w.requires_grad_())
            self.biases.append(b.requires_grad_())
            self.weight_masks.append(wm)
            self.bias_masks.append(bm)

    @property
    def params(self) -> list[torch.Tensor]:
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def select(self, slots: torch.Tensor) -> None:
        """Keep only the members at `slots` (compaction after drops)."""
        for name in ("flat", "mask", "exp_avg", "exp_avg_sq"):
            setattr(self, name, getattr(self, name).index_select(0, slots).contiguous())
        self._make_views()

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
    def export_member(self, slot: int, positions: list[int], dims: list[tuple[int, int]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A member's real layers as nn.Linear-shaped (weight (out, in), bias (out,)) pairs."""
        out = []
        for pos, (i, o) in zip(positions, dims):
            out.append((self.weights[pos][slot, :o, :i].clone(), self.biases[pos][slot, :o, 0].clone()))
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

    index: int  # position in the configs list given to PackedTrainer
    config: GANConfig
    n_features: int
    status: str = "pending"  # "completed", "diverged at epoch N", "stopped at epoch N"
    epochs_done: int = 0
    steps: int = 0
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
        g = Generator(self.config, self.n_features)
        g.load_state_dict(self.generator_state)
        return g

    def discriminator(self) -> Discriminator:
        if self.discriminator_state is None:
            raise GanTuneError(f"member {self.index} has no exported weights yet (status {self.status!r})")
        d = Discriminator(self.config, self.n_features)
        d.load_state_dict(self.discriminator_state)
        return d


@dataclass
class _Member:
    """Per-member training state that is not part of the stacked tensors."""

    result: MemberResult
    rng: torch.Generator
    block_epochs: int
    g_plan: tuple[list[int], list[tuple[int, int]], dict[int, int]]
    d_plan: tuple[list[int], list[tuple[int, int]], dict[int, int]]
    epoch: int = 0
    chunk_left: int = 0  # epochs left in the current Trainer.run_epochs-equivalent call
    # The current random block, exactly as Trainer draws it, and how much of it is used.
    perms: torch.Tensor | None = None  # (block, n) int64
    noise: torch.Tensor | None = None  # (block, steps_per_epoch, batch, noise_dim)
    offset: int = 0

    @property
    def config(self) -> GANConfig:
        return self.result.config


@dataclass(frozen=True)
class Halving:
    """Successive halving inside a pack: at each rung epoch keep the best 1/eta by `wd_mean`.

    Rungs must be multiples of `eval_every` (members are only scored there). Dropped members
    end with status "stopped at epoch N" and their weights are exported at that point.
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
# once (batch_size; the last, shorter batch of an epoch must line up), one loss function, and
# evaluation/chunking (eval_every decides where Trainer restarts its random blocks).
_SHARED_FIELDS = ("batch_size", "loss", "eval_every")
_SUPPORTED_LOSSES = ("bce",)


def check_packable(configs: Sequence[GANConfig]) -> None:
    """Raise GanTuneError naming the field if `configs` cannot share one pack."""
    if not configs:
        raise GanTuneError("PackedTrainer needs at least one GANConfig")
    for c in configs:
        if c.loss not in _SUPPORTED_LOSSES:
            raise GanTuneError(
                f"packed training supports loss {', '.join(_SUPPORTED_LOSSES)} only, got {c.loss!r}; "
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
    beta2, leaky_slope, seed, epochs, eval_samples and eval_seed. They must share batch_size,
    loss (bce) and eval_every (see `check_packable`).

    Usage::

        trainer = PackedTrainer(configs, data)
        results = trainer.run(report=lambda epoch, i, m: print(epoch, i, m["wd_mean"]))
        save_bundle(out, results[0].config, results[0].generator(), data, results[0].metrics)
    """

    def __init__(self, configs: Sequence[GANConfig], data: TabularData, device: torch.device | str = "cpu") -> None:
        configs = list(configs)
        check_packable(configs)
        self.device = torch.device(device)
        first = configs[0]
        real = data.train_scaled  # (n_rows, n_features) float32
        n = len(real)
        if n < first.batch_size:
            raise GanTuneError(
                f"{data.source}: {n} training rows but batch_size is {first.batch_size}; "
                f"lower batch_size in the configs to at most {n} or use more rows"
            )
        self.data = data
        self.real_np = real
        self.real = torch.as_tensor(real, device=self.device)  # (n, F)
        self.n_features = nf = data.n_features
        self.batch_size = bs = first.batch_size
        self.eval_every = first.eval_every
        self.steps_per_epoch = math.ceil(n / bs)
        self.noise_dim = nz = max(c.noise_dim for c in configs)
        k = len(configs)

        g_depth = max(len(c.g_widths) for c in configs)
        d_depth = max(len(c.d_widths) for c in configs)
        self.G = _StackedMLP(_padded_dims(nz, [c.g_widths for c in configs], nf), k, self.device)
        self.D = _StackedMLP(_padded_dims(nf, [c.d_widths for c in configs], 1), k, self.device)

        self.members: list[_Member] = []  # one per slot, in slot order
        self.results: list[MemberResult] = []  # one per config, in the given order
        slopes = torch.ones(d_depth, k)  # (depth, K): LeakyReLU slope per D hidden layer
        for slot, c in enumerate(configs):
            g_mod, d_mod = build_models(c, nf, "cpu")
            g_plan = _member_plan(c.noise_dim, c.g_widths, nf, g_depth)
            d_plan = _member_plan(nf, c.d_widths, 1, d_depth)
            self.G.load_member(slot, [m for m in g_mod.net if isinstance(m, nn.Linear)], g_plan[0], g_plan[2])
            self.D.load_member(slot, [m for m in d_mod.net if isinstance(m, nn.Linear)], d_plan[0], d_plan[2])
            slopes[: len(c.d_widths), slot] = c.leaky_slope
            rng = torch.Generator(device=self.device)
            rng.manual_seed(c.seed)
            per_epoch = n + self.steps_per_epoch * bs * c.noise_dim  # Trainer's block rule
            result = MemberResult(slot, c, nf, status="running")
            self.results.append(result)
            self.members.append(_Member(result, rng, max(1, _BLOCK_NUMBERS // per_epoch), g_plan, d_plan))
        self._slopes = slopes.to(self.device)
        self._set_hyper()
        self.steps = 0  # pack steps done (every live member has done this many)
        self._signs: dict[int, torch.Tensor] = {}
        self._perm_buf: torch.Tensor | None = None
        self._noise_buf: torch.Tensor | None = None

    # -- per-member hyperparameters ------------------------------------------------------------
    def _set_hyper(self) -> None:
        """Per-slot optimiser constants.

        torch.optim takes one lr / betas per parameter group, and a group cannot cover one row of
        a stacked tensor, so Adam is written out in `_adam_step` with (K, 1) per-member columns.
        Where every member shares a beta, a python float is used instead (one op fewer).
        """
        cfgs = [m.config for m in self.members]
        col = lambda xs: torch.tensor(xs, dtype=torch.float32, device=self.device).unsqueeze(1)  # noqa: E731  (K, 1)
        self._beta1 = np.array([c.beta1 for c in cfgs], dtype=np.float64)
        self._beta2 = np.array([c.beta2 for c in cfgs], dtype=np.float64)
        self._g_lr = np.array([c.g_lr for c in cfgs], dtype=np.float64)
        self._d_lr = np.array([c.d_lr for c in cfgs], dtype=np.float64)
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

        All live members share the step count t, so per step this is a row lookup, not ~8 tiny
        ops. float64 like torch's python-float bias corrections, then cast.
        """
        t = np.arange(self.steps + 1, self.steps + n_steps + 1, dtype=np.float64)[:, None]  # (n, 1)
        bc1 = 1.0 - self._beta1[None, :] ** t  # (n, K)
        bc2_sqrt = np.sqrt(1.0 - self._beta2[None, :] ** t)  # (n, K)
        as_rows = lambda a: list(torch.from_numpy(a.astype(np.float32)).to(self.device).unsqueeze(2).unbind(0))  # noqa: E731
        self._d_step_size = as_rows(-self._d_lr[None, :] / bc1)  # n x (K, 1)
        self._g_step_size = as_rows(-self._g_lr[None, :] / bc1)
        self._bc2_sqrt = as_rows(bc2_sqrt)
        self._table_start = self.steps

    @property
    def live(self) -> list[int]:
        """Indices (into the configs list) of members still training, in slot order."""
        return [m.result.index for m in self.members]

    def __len__(self) -> int:
        return len(self.members)

    # -- forward passes (feature-major: activations are (K, features, batch)) -------------------
    def _generate(self, z: torch.Tensor, sl: slice | None = None) -> torch.Tensor:
        """noise (K, noise_dim, b) -> rows (K, n_features, b); `sl` runs a subset of slots."""
        x = z
        last = len(self.G.weights) - 1
        for l, (w, b) in enumerate(zip(self.G.weights, self.G.biases)):
            if sl is not None:
                w, b = w[sl], b[sl]
            x = torch.baddbmm(b, w, x)  # (K, out, b)
            x = torch.relu(x) if l < last else torch.tanh(x)
        return x

    def _discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """rows (K, n_features, b) -> logits (K, 1, b)."""
        last = len(self.D.weights) - 1
        for l, (w, b) in enumerate(zip(self.D.weights, self.D.biases)):
            if l == last:
                # One output unit: a broadcast multiply-and-sum. As a bmm its backward is a
                # (K, width, 1) @ (K, 1, b) outer product, which MKL runs ~2x slower.
                return (w.transpose(1, 2) * x).sum(dim=1, keepdim=True) + b  # (K, 1, b)
            x = torch.baddbmm(b, w, x)  # (K, out, b)
            if l < last:
                slope = self._act[l]
                if isinstance(slope, float):
                    x = F.leaky_relu(x, slope)
                else:  # exact LeakyReLU with a per-member slope (1.0 = identity layer)
                    x = torch.where(x > 0, x, x * slope)
        return x

    # -- optimiser -----------------------------------------------------------------------------
    @torch.no_grad()
    def _adam_step(self, net: _StackedMLP, grads: Sequence[torch.Tensor], step_size: torch.Tensor) -> None:
        """torch.optim.Adam (eps 1e-8, bias-corrected, no weight decay) with per-member lr/betas.

        Same formulas and order as torch's single-tensor / fused Adam:
            m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
            p += -lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        `step_size` (K, 1) is -lr / (1 - beta1^t) for this step (see `_adam_tables`).
        """
        i = self.steps - 1 - self._table_start
        g = net.flat_grad(grads)  # (K, P), masked in padded packs
        net.exp_avg.lerp_(g, self._w1)
        if isinstance(self._w2, float):
            net.exp_avg_sq.mul_(self._b2).addcmul_(g, g, value=self._w2)
        else:
            net.exp_avg_sq.mul_(self._b2).addcmul_(g, g * self._w2)
        denom = net.exp_avg_sq.sqrt().div_(self._bc2_sqrt[i]).add_(_ADAM_EPS)
        net.flat.addcdiv_(net.exp_avg * step_size, denom)

    # -- one step for all members --------------------------------------------------------------
    def _sign(self, b: int) -> torch.Tensor:
        """(1, 1, 2b): -1 for the b real columns, +1 for the b fake ones (cached per b)."""
        sign = self._signs.get(b)
        if sign is None:
            sign = torch.cat([-torch.ones(b), torch.ones(b)]).view(1, 1, 2 * b).to(self.device)
            self._signs[b] = sign
        return sign

    def _step(self, real: torch.Tensor, z: torch.Tensor, want_loss: bool) -> torch.Tensor | None:
        """One D step and one G step for every member, in Trainer._bce_step's order.

        real (K, F, b): each member's own batch; z (K, noise_dim_max, b), zero beyond a member's
        noise_dim. Returns the per-member D loss (K,) when `want_loss` (the divergence check
        needs it once per epoch).
        """
        b = real.shape[2]
        self.steps += 1
        i = self.steps - 1 - self._table_start
        fake = self._generate(z)  # (K, F, b)
        logits = self._discriminate(torch.cat([real, fake.detach()], dim=2))  # (K, 1, 2b)
        # softplus(-l_real).mean() + softplus(l_fake).mean() == sum(softplus(sign * l)) / b,
        # in one fused chain. Summing over members makes member k's gradient its own loss's.
        terms = F.softplus(logits * self._sign(b))  # (K, 1, 2b)
        d_total = terms.sum() * (1.0 / b)
        self._adam_step(self.D, torch.autograd.grad(d_total, self.D.params), self._d_step_size[i])
        # Generator: non-saturating loss through the *updated* D, gradients for G only.
        g_total = F.softplus(-self._discriminate(fake)).sum() * (1.0 / b)
        self._adam_step(self.G, torch.autograd.grad(g_total, self.G.params), self._g_step_size[i])
        return terms.detach().sum(dim=(1, 2)) if want_loss else None

    # -- random batches ------------------------------------------------------------------------
    def _fill(self, seg: int) -> None:
        """Fill the pack buffers with the next `seg` epochs of every member's own draws.

        Each member draws blocks exactly as Trainer.run_epochs does (block = min(block_epochs,
        epochs left in this chunk)) from its own generator, so its stream ignores the pack.
        """
        k, n, spe, bs = len(self.members), len(self.real), self.steps_per_epoch, self.batch_size
        shape_p, shape_z = (seg, k, n), (seg, spe, k, self.noise_dim, bs)
        if self._perm_buf is None or self._perm_buf.shape != shape_p:
            self._perm_buf = torch.empty(shape_p, dtype=torch.long, device=self.device)  # (seg, K, n)
            # zeros: noise dims beyond a member's noise_dim must be 0 (they meet zero weights).
            self._noise_buf = torch.zeros(shape_z, device=self.device)  # (seg, spe, K, nz, bs)
        for slot, m in enumerate(self.members):
            e = 0
            nz = m.config.noise_dim
            while e < seg:
                if m.perms is None or m.offset == len(m.perms):
                    block = min(m.block_epochs, m.chunk_left)
                    m.perms = torch.rand(block, n, generator=m.rng, device=self.device).argsort(dim=1)  # (block, n)
                    m.noise = torch.randn(block, spe, bs, nz, generator=m.rng, device=self.device)
                    m.offset = 0
                take = min(seg - e, len(m.perms) - m.offset)
                self._perm_buf[e : e + take, slot] = m.perms[m.offset : m.offset + take]
                self._noise_buf[e : e + take, :, slot, :nz, :] = m.noise[m.offset : m.offset + take].transpose(-1, -2)
                m.offset += take
                m.chunk_left -= take
                e += take
            if m.offset == len(m.perms):
                m.perms = m.noise = None  # free the block early

    def _run_segment(self, seg: int) -> torch.Tensor:
        """Train `seg` epochs for all live members; returns last-step D losses (seg, K)."""
        self._fill(seg)
        self._adam_tables(seg * self.steps_per_epoch)
        bs, spe = self.batch_size, self.steps_per_epoch
        last_losses = []
        for e in range(seg):
            for s in range(spe):
                idx = self._perm_buf[e, :, s * bs : (s + 1) * bs]  # (K, b)
                b = idx.shape[1]
                real = self.real[idx].transpose(1, 2)  # (K, F, b)
                loss = self._step(real, self._noise_buf[e, s, :, :, :b], want_loss=s == spe - 1)
            last_losses.append(loss)  # Trainer checks the last step's loss of each epoch
        return torch.stack(last_losses)  # (seg, K)

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
            layers = net.export_member(slot, plan[0], plan[1])
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

        The compute of later steps falls with the pack size: all stacked tensors, optimiser
        moments and batch buffers are compacted to the remaining members.
        """
        drop_slots = sorted({self._slot(i) for i in indices})
        if not drop_slots:
            return
        for slot in drop_slots:
            m = self.members[slot]
            self._export(slot)
            m.result.status = status or f"stopped at epoch {m.epoch}"
            m.perms = m.noise = None
        keep = [s for s in range(len(self.members)) if s not in set(drop_slots)]
        self.members = [self.members[s] for s in keep]
        if not keep:
            return
        slots = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.G.select(slots)
        self.D.select(slots)
        self._slopes = self._slopes.index_select(1, slots)
        self._set_hyper()
        if self._perm_buf is not None:
            self._perm_buf = self._perm_buf.index_select(1, slots)
            self._noise_buf = self._noise_buf.index_select(2, slots)  # type: ignore[union-attr]

    # -- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def _sample_scaled(self, slot: int, n: int, seed: int) -> np.ndarray:
        """Like gan.models.sample_scaled: same seeded CPU noise, constant columns set to 0."""
        m = self.members[slot]
        z = torch.randn(n, m.config.noise_dim, generator=torch.Generator().manual_seed(seed))
        zp = torch.zeros(1, self.noise_dim, n)  # (1, noise_dim_max, n)
        zp[0, : m.config.noise_dim] = z.T
        rows = self._generate(zp.to(self.device), sl=slice(slot, slot + 1))[0].T.cpu().numpy().astype(np.float64)  # (n, F)
        rows[:, np.asarray(self.data.scaler.constant, dtype=bool)] = 0.0
        return rows

    def evaluate(self, index: int) -> dict[str, Any]:
        """Member `index`'s score, as Trainer.evaluate would give it."""
        slot = self._slot(index)
        m = self.members[slot]
        c = m.config
        metrics = score(self.real_np, self._sample_scaled(slot, c.eval_samples, c.eval_seed), self.data.scaler)
        metrics.update(epoch=m.epoch, steps=m.epoch * self.steps_per_epoch)
        return metrics

    # -- driver --------------------------------------------------------------------------------
    def run(self, report: PackReportFn | None = None, halving: Halving | None = None) -> list[MemberResult]:
        """Train every member to its `epochs` (or divergence / stop); results in config order.

        Like gan.train.train: members are scored every `eval_every` epochs and at their last
        epoch, `report(epoch, member_index, metrics)` is called each time, and a member whose
        D loss goes non-finite ends as "diverged at epoch N" with infinite scores (and is removed
        from the pack, so it costs nothing afterwards). Raise `gan.train.StopTraining` in
        `report` to stop that member.
        """
        if halving is not None:
            bad = [r for r in halving.rungs if r % self.eval_every]
            if bad:
                raise GanTuneError(f"halving rungs {bad} are not multiples of eval_every={self.eval_every}")
        while self.members:
            # One Trainer.run_epochs call per member: up to the next evaluation or its last epoch.
            self._start_chunk({m.result.index: min(self.eval_every, m.config.epochs - m.epoch) for m in self.members})
            t0, steps0 = time.perf_counter(), self.steps
            while self.members and any(m.chunk_left > 0 for m in self.members):
                done = self._advance(report)
                if done:
                    self._evaluate_and_report(done, report, t0, steps0)
            if halving is not None and self.members:
                self._halve(halving)
        return self.results

    def run_epochs(self, n_epochs: int) -> None:
        """Train every live member `n_epochs` more epochs, without evaluation.

        The counterpart of `Trainer.run_epochs(n_epochs)` (same draws for each member); members
        that diverge are frozen and dropped as in `run`. Used by benchmarks and tests.
        """
        self._start_chunk({m.result.index: n_epochs for m in self.members})
        while self.members and any(m.chunk_left > 0 for m in self.members):
            self._advance(None)

    def _start_chunk(self, lengths: dict[int, int]) -> None:
        for m in self.members:
            m.chunk_left = lengths[m.result.index]
            m.perms = m.noise = None  # Trainer draws a fresh block at each run_epochs call

    def _advance(self, report: PackReportFn | None) -> list[_Member]:
        """Train one segment (up to the nearest chunk end); returns members whose chunk ended."""
        per_epoch_numbers = self.steps_per_epoch * self.batch_size * self.noise_dim + len(self.real)
        seg_cap = max(1, _SEGMENT_NUMBERS // (len(self.members) * per_epoch_numbers))
        seg = min(seg_cap, min(m.chunk_left for m in self.members))
        epoch0 = self.members[0].epoch
        # A member whose chunk has ended must not ride along (it would draw past its chunk);
        # run() evaluates and removes such members before the next segment.
        assert all(m.chunk_left > 0 for m in self.members), "member with an ended chunk left in the pack"
        losses = self._run_segment(seg)  # (seg, K)
        for m in self.members:
            m.epoch += seg
        # One sync per segment: which members went non-finite, and at which epoch.
        finite = torch.isfinite(losses).cpu().numpy()  # (seg, K)
        bad = [slot for slot in range(finite.shape[1]) if not finite[:, slot].all()]
        if bad:
            self._diverge(bad, epoch0, finite, report)
        return [m for m in self.members if m.chunk_left == 0]

    def _diverge(self, bad_slots: list[int], epoch0: int, finite: np.ndarray, report: PackReportFn | None) -> None:
        nf = self.n_features
        indices = []
        for slot in bad_slots:
            m = self.members[slot]
            at = epoch0 + int(np.argmin(finite[:, slot])) + 1  # Trainer's "diverged at epoch N"
            m.epoch = at
            m.result.epochs_done = at
            m.result.steps = at * self.steps_per_epoch
            metrics = {"wd_mean": math.inf, "wd": [math.inf] * nf, "wd_orig": [math.inf] * nf, "wd_orig_mean": math.inf}
            metrics.update(epoch=at, steps=m.result.steps, diverged=True)
            m.result.metrics = metrics
            m.result.history.append({"epoch": at, "wd_mean": math.inf})
            indices.append((m.result.index, at))
        for index, at in indices:
            self.drop([index], status=f"diverged at epoch {at}")
        if report is not None:
            for index, at in indices:
                try:
                    report(at, index, self.results[index].metrics)
                except StopTraining:
                    pass

    def _evaluate_and_report(self, done: list[_Member], report: PackReportFn | None, t0: float, steps0: int) -> None:
        elapsed = time.perf_counter() - t0
        stop: list[int] = []
        finished: list[int] = []
        for m in list(done):
            r = m.result
            metrics = self.evaluate(r.index)
            # Pack throughput: each member advanced this many steps in the elapsed time.
            metrics["steps_per_s"] = (self.steps - steps0) / elapsed if elapsed > 0 else math.nan
            metrics["diverged"] = False
            metrics["pack_size"] = len(self.members)
            r.metrics, r.epochs_done, r.steps = metrics, m.epoch, metrics["steps"]
            r.history.append({"epoch": m.epoch, "wd_mean": metrics["wd_mean"]})
            if report is not None:
                try:
                    report(m.epoch, r.index, metrics)
                except StopTraining:
                    stop.append(r.index)
                    continue
            if m.epoch >= m.config.epochs:
                finished.append(r.index)
        if finished:
            self.drop(finished, status="completed")
        if stop:
            self.drop(stop)

    def _halve(self, halving: Halving) -> None:
        epoch = self.members[0].epoch
        if epoch not in halving.rungs:
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
        def pack_report(epoch: int, i: int, metrics: dict[str, Any], pack: list[int] = pack) -> Any:
            return report(epoch, pack[i], metrics) if report is not None else None

        trainer = PackedTrainer([configs[i] for i in pack], data, device)
        for local, r in enumerate(trainer.run(pack_report if report else None, halving)):
            r.index = pack[local]
            results[pack[local]] = r
    return results  # type: ignore[return-value]


__all__ = ["Halving", "MemberResult", "PackedTrainer", "bucket_configs", "check_packable", "train_packed"]
