"""Training: `train(config, data, report=...) -> TrainResult`.

The encoded table stays on the device as one tensor (no DataLoader: for in-memory tables its
per-batch collation costs more than the step itself). Each epoch is a seeded permutation of the
training rows, cut into batches of `batch_size` (a batch at an epoch's end continues into the
next epoch's permutation, so every batch is full); per batch one
discriminator step and one generator step (BCE), or a critic step with gradient penalty and a
generator step every `n_critic` batches (WGAN-GP).

Budget and cadence are counted in optimisation steps (`GANConfig.total_steps`,
`GANConfig.eval_interval`), so a run may end or be scored in the middle of an epoch: on a
1,000,000-row table the first score arrives after `eval_every` steps, not after an epoch of
31,250 batches.

Randomness (`BatchStream`): two `torch.Generator`s derived from `config.seed`, one for the
permutations (one `randperm` per epoch) and one for the noise (z, and the uniforms behind the
Gumbel noise of categorical outputs), drawn in fixed chunks of `chunk_steps` steps. Both are
consumed strictly in step order, so the stream does not depend on how the run is cut into
evaluation intervals or checkpoints, and a packed member (gan.packed) reproduces it exactly.
Weights are initialised from the same seed. Same seed, same device -> same samples.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from gan.config import GANConfig
from gan.data import TabularData
from gan.errors import GanTuneError
from gan.models import Discriminator, Generator, build_models, sample_encoded

log = logging.getLogger(__name__)

# Noise is drawn for chunks of steps at once (one RNG call per chunk instead of per step); a
# chunk holds at most this many random numbers so big batches do not exhaust memory.
_CHUNK_NUMBERS = 1 << 20
# Fused Adam: one kernel for all parameters instead of ~10 small ops each. For these tiny
# networks the optimiser step was half of the step time (torch.profiler, see bench/train_speed.py).
_ADAM_KW = {"fused": True}


def as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """The table as a tensor without a copy. Arrays from Ray's object store are read-only, and
    torch warns about that on every trial; the table is never written to."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, device=device)


def stream_seeds(seed: int) -> tuple[int, int]:
    """(permutation seed, noise seed): two independent streams from one config seed."""
    a, b = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1))  # torch seeds are < 2**63


def chunk_steps(batch_size: int, noise_dim: int, n_soft: int) -> int:
    """Steps per noise draw: the chunking rule both trainers share (it shapes the stream)."""
    return max(1, _CHUNK_NUMBERS // (batch_size * (noise_dim + n_soft)))


class BatchStream:
    """The seeded sequence of (row indices, z, Gumbel uniforms) batches of one training run.

    Rows: one `randperm` per epoch; batch k takes rows k*bs .. (k+1)*bs - 1 of the endless
    concatenation of the permutations, so every batch is full and every row is seen once per
    epoch. Noise: chunks of `chunk` steps of z (chunk, bs, noise_dim) and uniforms (chunk, bs,
    n_soft), in that order, from the noise generator.
    """

    def __init__(self, config: GANConfig, n_rows: int, n_soft: int, device: torch.device) -> None:
        self.n, self.bs, self.nz, self.n_soft = n_rows, config.batch_size, config.noise_dim, n_soft
        self.device = device
        self.chunk = chunk_steps(self.bs, self.nz, n_soft)
        perm_seed, noise_seed = stream_seeds(config.seed)
        self.rng_perm = torch.Generator(device=device)
        self.rng_perm.manual_seed(perm_seed)
        self.rng_noise = torch.Generator(device=device)
        self.rng_noise.manual_seed(noise_seed)
        self.step = 0  # index of the next batch
        self.perm: torch.Tensor | None = None
        self._perm_epoch = -1  # epoch whose permutation `perm` is
        self.z: torch.Tensor | None = None  # (chunk, bs, noise_dim)
        self.u: torch.Tensor | None = None  # (chunk, bs, n_soft)
        # Generator states before the current permutation / noise chunk were drawn (checkpoints).
        self._perm_state = self.rng_perm.get_state()
        self._noise_state = self.rng_noise.get_state()

    def _draw_perm(self) -> None:
        self._perm_state = self.rng_perm.get_state()
        self.perm = torch.randperm(self.n, generator=self.rng_perm, device=self.device)
        self._perm_epoch += 1

    def _draw_noise(self) -> None:
        self._noise_state = self.rng_noise.get_state()
        self.z = torch.randn(self.chunk, self.bs, self.nz, generator=self.rng_noise, device=self.device)
        self.u = torch.rand(self.chunk, self.bs, self.n_soft, generator=self.rng_noise, device=self.device) if self.n_soft else None

    def _rows(self, first: int, count: int) -> torch.Tensor:
        """Rows `first` .. `first + count - 1` of the endless concatenation of permutations
        (one permutation per epoch, drawn in epoch order as the rows reach it)."""
        parts = []
        while count:
            epoch, pos = divmod(first, self.n)
            if epoch > self._perm_epoch:
                self._draw_perm()
            take = min(count, self.n - pos)
            parts.append(self.perm[pos : pos + take])  # type: ignore[index]
            first += take
            count -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        idx = self._rows(self.step * self.bs, self.bs)
        r = self.step % self.chunk
        if r == 0 or self.z is None:
            self._draw_noise()
        self.step += 1
        return idx, self.z[r], (self.u[r] if self.u is not None else None)  # type: ignore[index]

    def take(self, n_steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The next `n_steps` batches at once: rows (S, bs), z (S, bs, noise_dim), uniforms
        (S, bs, n_soft) -- exactly what `n_steps` calls of `next()` return, in a few slices
        (the packed trainer fills its buffers this way)."""
        first = self.step
        idx = self._rows(first * self.bs, n_steps * self.bs).view(n_steps, self.bs)
        zs, us = [], []
        s = first
        while s < first + n_steps:
            r = s % self.chunk
            if r == 0 or self.z is None:
                self._draw_noise()
            k = min(self.chunk - r, first + n_steps - s)
            zs.append(self.z[r : r + k])  # type: ignore[index]
            if self.u is not None:
                us.append(self.u[r : r + k])
            s += k
        self.step = first + n_steps
        z = zs[0] if len(zs) == 1 else torch.cat(zs)
        u = (us[0] if len(us) == 1 else torch.cat(us)) if us else None
        return idx, z, u

    def state_dict(self) -> dict[str, Any]:
        """Small: generator states before and after the current draws, not the draws."""
        return {"step": self.step, "perm_before": self._perm_state, "perm_after": self.rng_perm.get_state(),
                "noise_before": self._noise_state, "noise_after": self.rng_noise.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Re-draw the current permutation and noise chunk from the saved generator states."""
        self.step = int(state["step"])
        self.perm = self.z = self.u = None
        self.rng_perm.set_state(state["perm_after"])
        self.rng_noise.set_state(state["noise_after"])
        epoch, pos = divmod(self.step * self.bs, self.n)
        self._perm_epoch = epoch - 1
        if pos:  # mid-epoch: the current permutation is needed
            self.rng_perm.set_state(state["perm_before"])
            self._draw_perm()
            self.rng_perm.set_state(state["perm_after"])
        if self.step % self.chunk:  # mid-chunk: likewise the current noise chunk
            self.rng_noise.set_state(state["noise_before"])
            self._draw_noise()
            # Draws made after the chunk (WGAN-GP's interpolation weights) continue from here.
            self.rng_noise.set_state(state["noise_after"])


# -- fused Adam: a private kernel behind a start-up check --------------------------------------------
def _direct_fused_adam(opt: torch.optim.Adam, lists: tuple[list[torch.Tensor], ...]) -> None:
    params, exp_avgs, exp_avg_sqs, steps = lists
    group = opt.param_groups[0]
    beta1, beta2 = group["betas"]
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(  # type: ignore[attr-defined]
        params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps,
        amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"],
        maximize=False, grad_scale=None, found_inf=None,
    )


@functools.lru_cache(maxsize=None)
def fused_adam_matches(device: str = "cpu", steps: int = 50) -> bool:
    """Does calling the fused Adam kernel directly give exactly `Adam.step()`'s result here?

    `torch._fused_adam_` is private: a torch release may drop it or change its arguments. This
    runs both paths side by side for `steps` steps on a small model (bit-for-bit comparison) once
    per process and device; on any difference or error the trainer uses `opt.step()` instead.
    """
    try:
        gen = torch.Generator().manual_seed(0)
        shapes = [(16, 10), (16,), (4, 16), (4,)]
        a = [torch.randn(s, generator=gen).to(device).requires_grad_() for s in shapes]
        b = [t.detach().clone().requires_grad_() for t in a]
        opt_a = torch.optim.Adam(a, lr=1e-3, betas=(0.5, 0.999), **_ADAM_KW)
        opt_b = torch.optim.Adam(b, lr=1e-3, betas=(0.5, 0.999), **_ADAM_KW)
        fast = _FusedAdamStep(opt_b, check=False)
        for _ in range(steps):
            grads = [torch.randn(s, generator=gen).to(device) for s in shapes]
            for p, q, g in zip(a, b, grads):
                p.grad, q.grad = g.clone(), g.clone()
            opt_a.step()
            fast()
        return all(torch.equal(p, q) for p, q in zip(a, b))
    except Exception as exc:  # missing kernel, changed signature
        log.debug("fused Adam fast path unavailable: %s", exc)
        return False


class _FusedAdamStep:
    """`opt.step()` for a fused torch.optim.Adam, minus the Python around the kernel.

    Why hand-written: for these tiny networks the fused Adam kernel takes ~15 us, but
    Optimizer.step spends ~150 us around it (hooks, grouping tensors by device and dtype on every
    call, per-group bookkeeping): ~20 % of a training step (torch.profiler; bench/train_speed.py
    measures the whole step). This calls the same kernel with the same arguments as
    torch.optim.Adam's fused path, on the optimiser's own state tensors, so results and
    `opt.state_dict()` are unchanged. The first step (which creates the state) and the first
    step after a `load_state_dict` go through `opt.step()` itself, and so does every step where
    `fused_adam_matches` found the direct call missing or different (tests/gan/test_train.py
    compares the two over 1,000 steps).
    """

    def __init__(self, opt: torch.optim.Adam, check: bool = True) -> None:
        self.opt = opt
        self.lists: tuple[list[torch.Tensor], ...] | None = None
        device = opt.param_groups[0]["params"][0].device
        self.direct = fused_adam_matches(str(device.type)) if check else True

    def reset(self) -> None:
        self.lists = None

    def __call__(self) -> None:
        if self.lists is None or not self.direct:
            self.opt.step()
            if self.direct:
                params = [p for g in self.opt.param_groups for p in g["params"]]
                state = [self.opt.state[p] for p in params]
                self.lists = (params, [s["exp_avg"] for s in state], [s["exp_avg_sq"] for s in state], [s["step"] for s in state])
            return
        _direct_fused_adam(self.opt, self.lists)


def ema_weight(decay: float, steps: np.ndarray | int) -> np.ndarray:
    """The weight (float32) of G's current weights in its moving average after step `steps`
    (1, 2, ...): 1 - min(decay, (1 + t) / (10 + t)), TensorFlow's ExponentialMovingAverage
    warm-up. Both trainers update the average as `ema += (G - ema) * weight`, the same three
    float32 ops (a scalar weight in Trainer, a per-member column in a pack): a packed member's
    average follows a lone Trainer's as closely as its weights do, and an entry where ema == G (a
    packed member's padding or identity layers) stays exactly as it is.

    Why an average at all (GANConfig.g_ema): G's weights oscillate under the adversarial game,
    and its score with them; the average sits nearer the middle. Measured 2026-11-29 with lone
    trainers (configurations drawn at random from the default space, best wd_mean of a run, raw G
    against the average with decay 0.99 / 0.995 / 0.999): on the 10,000-row `bench/tables.py`
    table, 16 configurations of 2,000 steps, better in 10 / 10 / 11 of 16, median ratio 0.98 /
    0.97 / 0.97, the best configuration 0.0492 -> 0.0473 / 0.0468 / 0.0462; on a 15,000-row
    table, 12 of 5,000 steps, better in 7 / 8 / 7, median ratio 0.97 / 0.95 / 0.95, the three
    best 0.0663 / 0.0751 / 0.0832 -> 0.0419 / 0.0684 / 0.0532 at 0.995.
    """
    t = np.asarray(steps, dtype=np.float64)
    return (1.0 - np.minimum(decay, (1.0 + t) / (10.0 + t))).astype(np.float32)


class ReportFn(Protocol):
    def __call__(self, steps: int, metrics: dict[str, Any], trainer: "Trainer") -> None: ...


class StopTraining(Exception):
    """Raised by a report callback to end training early (e.g. a scheduler stopped the trial)."""


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise GanTuneError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu or auto")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise GanTuneError(f"--device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def check_batch_size(config: GANConfig, data: TabularData) -> None:
    """Every batch but an epoch's last is full-size: refuse tables with fewer training rows."""
    n = len(data.train_idx)
    if n < config.batch_size:
        raise GanTuneError(
            f"{data.source}: {n} training rows but batch_size is {config.batch_size}; "
            f"lower batch_size in the config to at most {n} or use more rows"
        )


@dataclass
class TrainResult:
    config: GANConfig
    generator: Generator
    discriminator: Discriminator
    metrics: dict[str, Any]
    status: str  # "completed", "diverged at step N", "stopped at step N"
    steps_done: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return self.status.startswith("diverged")

    @property
    def epochs_done(self) -> float:
        return self.metrics.get("epoch", math.nan)


class Trainer:
    """The state of one training run; `train()` below drives it."""

    def __init__(self, config: GANConfig, data: TabularData, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        check_batch_size(config, data)
        self.data = data
        real = data.train_encoded  # (n_rows, width)
        self.n_rows = len(real)
        self.real = as_tensor(real, self.device)
        self.layout = data.transformer.layout
        self.G, self.D = build_models(config, self.layout, self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.g_lr, betas=betas, **_ADAM_KW)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.d_lr, betas=betas, **_ADAM_KW)
        self._step_g, self._step_d = _FusedAdamStep(self.opt_g), _FusedAdamStep(self.opt_d)
        self.stream = BatchStream(config, self.n_rows, self.layout.n_soft, self.device)
        # The WGAN-GP interpolation weights come from the noise stream's generator too.
        self.rng = self.stream.rng_noise
        self.total_steps = config.total_steps(self.n_rows)
        self.eval_interval = config.eval_interval(self.n_rows)
        self.diverged_at: int | None = None
        self._g_params = list(self.G.parameters())
        self._d_params = list(self.D.parameters())
        # The moving average of G's weights (GANConfig.g_ema), what is scored and sampled.
        self.G_ema: Generator | None = None
        if config.g_ema > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
            self._ema_params = list(self.G_ema.parameters())

    @property
    def generator(self) -> Generator:
        """The generator that is scored, sampled and saved: G's moving average where
        `config.g_ema` > 0, else G itself."""
        return self.G if self.G_ema is None else self.G_ema

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema += (G - ema) * ema_weight(g_ema, steps) (see `ema_weight`)."""
        diff = torch._foreach_sub(self._g_params, self._ema_params)
        torch._foreach_mul_(diff, float(ema_weight(self.config.g_ema, self.steps)))
        torch._foreach_add_(self._ema_params, diff)

    @property
    def steps(self) -> int:
        return self.stream.step

    @property
    def epoch(self) -> float:
        """Epochs done (fractional on large tables)."""
        return self.steps * self.config.batch_size / self.n_rows

    # -- one step of each network ------------------------------------------------------------
    @staticmethod
    def _update(loss: torch.Tensor, params: list[torch.Tensor], step: _FusedAdamStep) -> None:
        """Gradients of `loss` for `params` only, then one Adam step.

        `autograd.grad` instead of `zero_grad()` + `backward()`: no gradients are accumulated
        into the other network, and no zeroing pass is needed (measured: zero_grad alone was
        ~3 % of a step).
        """
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        step()

    def _bce_step(self, real: torch.Tensor, z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        b = real.shape[0] // self.config.pac  # logits per side (PacGAN: one per pac rows)
        fake = self.G(z, u)  # (batch, width)
        # Discriminator: real and fake rows in one forward pass. softplus(-l) is BCE(sigmoid(l), 1)
        # and softplus(l) is BCE(sigmoid(l), 0), computed without overflow.
        logits = self.D(torch.cat([real, fake.detach()]))  # (2b, 1)
        d_loss = F.softplus(-logits[:b]).mean() + F.softplus(logits[b:]).mean()
        self._update(d_loss, self._d_params, self._step_d)
        # Generator: non-saturating loss on the same fake rows, through the updated D. Gradients
        # are taken for G's parameters only, so no work is spent on D's.
        self._update(F.softplus(-self.D(fake)).mean(), self._g_params, self._step_g)
        return d_loss.detach()

    def _wgan_step(self, real: torch.Tensor, z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        rows, pac = real.shape[0], self.config.pac
        b = rows // pac  # critic scores per side
        fake = self.G(z, u)
        # Gradient penalty on random interpolates; epsilon from the seeded noise generator, one
        # per critic score (CTGAN's pac penalty): a score's pac rows move together on the line
        # from its real group to its fake one (pac 1: a draw per row, as before).
        eps = torch.rand(b, 1, generator=self.rng, device=self.device).repeat_interleave(pac, dim=0)
        interp = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
        scores = self.D(torch.cat([real, fake.detach(), interp]))
        grad = torch.autograd.grad(scores[2 * b :].sum(), interp, create_graph=True)[0]
        # The norm of each score's gradient: over the pac rows it reads (CTGAN's pac penalty).
        gp = ((grad.reshape(b, -1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = scores[b : 2 * b].mean() - scores[:b].mean() + self.config.gp_weight * gp
        self._update(d_loss, self._d_params, self._step_d)
        if self.steps % self.config.n_critic == 0:
            self._update(-self.D(fake).mean(), self._g_params, self._step_g)
        return d_loss.detach()

    # -- steps ---------------------------------------------------------------------------------
    def run_steps(self, n_steps: int, on_step: Callable[[int], None] | None = None) -> None:
        """Train `n_steps` more steps (fewer if the run diverges).

        The D loss of every step is kept on the device and checked once per call (one sync):
        the first non-finite one ends the run as diverged at that step.
        """
        step = self._bce_step if self.config.loss == "bce" else self._wgan_step
        start = self.steps
        losses = []
        for _ in range(n_steps):
            idx, z, u = self.stream.next()
            losses.append(step(self.real[idx], z, u))
            if self.G_ema is not None:
                self._update_ema()
            if on_step is not None:
                on_step(1)
        if losses:
            finite = torch.isfinite(torch.stack(losses)).cpu().numpy()
            if not finite.all():
                self.diverged_at = start + int(np.argmin(finite)) + 1

    # -- sampling and scoring ------------------------------------------------------------------
    def sample_encoded(self, n: int, seed: int) -> np.ndarray:
        return sample_encoded(self.generator, n, seed)

    def sample_values(self, n: int, seed: int) -> np.ndarray:
        """`n` generated rows as a value matrix (decoded: labels, rounding, missing cells)."""
        return self.data.transformer.decode(self.sample_encoded(n, seed))

    def evaluate(self) -> dict[str, Any]:
        cfg = self.config
        metrics = self.data.scorer.score_encoded(self.sample_encoded(cfg.eval_samples, cfg.eval_seed))
        metrics.update(epoch=self.epoch, steps=self.steps)
        return metrics

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy): training on afterwards does not change it."""
        state = {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "stream": self.stream.state_dict(),
            "steps": self.steps,
            "epoch": self.epoch,
        }
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            if "G_ema" not in state:
                raise GanTuneError("this checkpoint has no moving average of G (it was saved with g_ema 0); resume it with the config it was saved with")
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._step_g.reset()
        self._step_d.reset()
        self.stream.load_state_dict(state["stream"])


def diverged_metrics(data: TabularData, steps: int, epoch: float) -> dict[str, Any]:
    metrics = data.scorer.diverged()
    metrics.update(epoch=epoch, steps=steps, diverged=True)
    return metrics


def train(
    config: GANConfig,
    data: TabularData,
    *,
    device: str | torch.device = "auto",
    report: ReportFn | None = None,
    state: dict[str, Any] | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a GAN; call `report(steps, metrics, trainer)` every `config.eval_interval` steps
    and at the last step.

    `state` (from `Trainer.state_dict`) resumes an interrupted run. A non-finite loss ends the run
    with status "diverged at step N" and an infinite score rather than garbage weights.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    trainer = Trainer(config, data, dev)
    if state is not None:
        trainer.load_state_dict(state)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trainer.total_steps, initial=trainer.steps, unit="step", dynamic_ncols=True, disable=None, mininterval=0.5)
    history: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    status = "completed"
    try:
        while trainer.steps < trainer.total_steps:
            t0, steps0 = time.perf_counter(), trainer.steps
            # Up to the next evaluation point (multiples of the interval) or the end.
            next_eval = min((trainer.steps // trainer.eval_interval + 1) * trainer.eval_interval, trainer.total_steps)
            trainer.run_steps(next_eval - trainer.steps, bar.update if bar else None)
            if trainer.diverged_at is not None:
                status = f"diverged at step {trainer.diverged_at}"
                metrics = diverged_metrics(data, trainer.diverged_at, trainer.diverged_at * config.batch_size / trainer.n_rows)
            else:
                elapsed = time.perf_counter() - t0
                metrics = trainer.evaluate()
                metrics["steps_per_s"] = (trainer.steps - steps0) / elapsed if elapsed > 0 else math.nan
                metrics["diverged"] = not math.isfinite(metrics["wd_mean"])
                if metrics["diverged"]:  # the interval's last step made the weights non-finite
                    trainer.diverged_at = trainer.steps
                    status = f"diverged at step {trainer.steps}"
            history.append({k: metrics[k] for k in ("steps", "epoch", "wd_mean")})
            if bar is not None:
                bar.set_postfix(wd_mean=f"{metrics['wd_mean']:.4f}")
            if report is not None:
                report(int(metrics["steps"]), metrics, trainer)
            if trainer.diverged_at is not None:
                break
    except StopTraining:
        status = f"stopped at step {trainer.steps}"
    finally:
        if bar is not None:
            bar.close()
    if not metrics:  # state already at the last step
        metrics = trainer.evaluate()
    return TrainResult(config, trainer.generator, trainer.D, metrics, status, trainer.steps, history)
