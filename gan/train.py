"""Training: `train(config, data, report=...) -> TrainResult`.

The data stay on the device as one tensor (no DataLoader: for in-memory tables its per-batch
collation costs more than the step itself). Each epoch is a seeded permutation split into
batches; per batch one discriminator step and one generator step (BCE), or a critic step with
gradient penalty and a generator step every `n_critic` batches (WGAN-GP).

Randomness: one `torch.Generator` seeded with `config.seed` drives permutations and noise;
weights are initialised from the same seed. Same seed, same device -> same samples.
"""

from __future__ import annotations

import copy
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
from gan.metrics import score
from gan.models import Discriminator, Generator, build_models, sample_scaled

# Random draws are made for blocks of epochs at once (one RNG call per block instead of per
# batch); a block holds at most this many random numbers so big tables do not exhaust memory.
_BLOCK_NUMBERS = 1 << 20
# Fused Adam: one kernel for all parameters instead of ~10 small ops each. For these tiny
# networks the optimiser step was half of the step time (torch.profiler, see bench/train_speed.py).
_ADAM_KW = {"fused": True}


class _FusedAdamStep:
    """`opt.step()` for a fused torch.optim.Adam, minus the Python around the kernel.

    Why hand-written: for these tiny networks the fused Adam kernel takes ~15 us, but
    Optimizer.step spends ~150 us around it (hooks, grouping tensors by device and dtype on every
    call, per-group bookkeeping): ~20 % of a training step (torch.profiler; bench/train_speed.py
    measures the whole step). This calls the same kernel with the same arguments as
    torch.optim.Adam's fused path, on the optimiser's own state tensors, so results and
    `opt.state_dict()` are unchanged. The first step (which creates the state) and the first
    step after a `load_state_dict` go through `opt.step()` itself.
    """

    def __init__(self, opt: torch.optim.Adam) -> None:
        self.opt = opt
        self.lists: tuple[list[torch.Tensor], ...] | None = None

    def reset(self) -> None:
        self.lists = None

    def __call__(self) -> None:
        if self.lists is None:
            self.opt.step()
            params = [p for g in self.opt.param_groups for p in g["params"]]
            state = [self.opt.state[p] for p in params]
            self.lists = (params, [s["exp_avg"] for s in state], [s["exp_avg_sq"] for s in state], [s["step"] for s in state])
            return
        params, exp_avgs, exp_avg_sqs, steps = self.lists
        group = self.opt.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps,
            amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"],
            maximize=False, grad_scale=None, found_inf=None,
        )


class ReportFn(Protocol):
    def __call__(self, epoch: int, metrics: dict[str, Any], trainer: "Trainer") -> None: ...


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
    """Every batch is full-size: refuse tables with fewer training rows than `batch_size`."""
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
    status: str  # "completed", "diverged at epoch N", "stopped at epoch N"
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return self.status.startswith("diverged")


class Trainer:
    """The state of one training run; `train()` below drives it."""

    def __init__(self, config: GANConfig, data: TabularData, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        real = data.train_scaled  # (n_rows, n_features)
        n = len(real)
        check_batch_size(config, data)
        self.real_np = real
        self.real = torch.as_tensor(real, device=self.device)
        self.scaler = data.scaler
        self.G, self.D = build_models(config, data.n_features, self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.g_lr, betas=betas, **_ADAM_KW)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.d_lr, betas=betas, **_ADAM_KW)
        self._step_g, self._step_d = _FusedAdamStep(self.opt_g), _FusedAdamStep(self.opt_d)
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(config.seed)
        self.epoch = 0
        self.steps = 0
        self.diverged_at: int | None = None
        self.steps_per_epoch = math.ceil(n / config.batch_size)
        per_epoch = n + self.steps_per_epoch * config.batch_size * config.noise_dim
        self.block_epochs = max(1, _BLOCK_NUMBERS // per_epoch)

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

    def _bce_step(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b = real.shape[0]
        fake = self.G(z)  # (b, n_features)
        # Discriminator: real and fake rows in one forward pass. softplus(-l) is BCE(sigmoid(l), 1)
        # and softplus(l) is BCE(sigmoid(l), 0), computed without overflow.
        logits = self.D(torch.cat([real, fake.detach()]))  # (2b, 1)
        d_loss = F.softplus(-logits[:b]).mean() + F.softplus(logits[b:]).mean()
        self._update(d_loss, self._d_params, self._step_d)
        # Generator: non-saturating loss on the same fake rows, through the updated D. Gradients
        # are taken for G's parameters only, so no work is spent on D's.
        self._update(F.softplus(-self.D(fake)).mean(), self._g_params, self._step_g)
        return d_loss.detach()

    def _wgan_step(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b = real.shape[0]
        fake = self.G(z)
        # Gradient penalty on random interpolates; epsilon from the seeded generator.
        eps = torch.rand(b, 1, generator=self.rng, device=self.device)
        interp = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
        scores = self.D(torch.cat([real, fake.detach(), interp]))
        grad = torch.autograd.grad(scores[2 * b :].sum(), interp, create_graph=True)[0]
        gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        d_loss = scores[b : 2 * b].mean() - scores[:b].mean() + self.config.gp_weight * gp
        self._update(d_loss, self._d_params, self._step_d)
        if self.steps % self.config.n_critic == 0:
            self._update(-self.D(fake).mean(), self._g_params, self._step_g)
        return d_loss.detach()

    # -- epochs --------------------------------------------------------------------------------
    def run_epochs(self, n_epochs: int, on_epoch: Callable[[], None] | None = None) -> None:
        """Train `n_epochs` more epochs (fewer if the run diverges)."""
        cfg = self.config
        n, bs = len(self.real), cfg.batch_size
        step = self._bce_step if cfg.loss == "bce" else self._wgan_step
        self._g_params = list(self.G.parameters())
        self._d_params = list(self.D.parameters())
        done = 0
        while done < n_epochs and self.diverged_at is None:
            block = min(self.block_epochs, n_epochs - done)
            perms = torch.rand(block, n, generator=self.rng, device=self.device).argsort(dim=1)  # (block, n)
            noise = torch.randn(block, self.steps_per_epoch, bs, cfg.noise_dim, generator=self.rng, device=self.device)
            losses = []
            for e in range(block):
                for s in range(self.steps_per_epoch):
                    idx = perms[e, s * bs : (s + 1) * bs]
                    self.steps += 1
                    loss = step(self.real[idx], noise[e, s, : len(idx)])
                losses.append(loss)
                if on_epoch is not None:
                    on_epoch()
            # One device sync per block: find the first epoch whose loss went non-finite.
            finite = torch.isfinite(torch.stack(losses)).cpu().numpy()
            if not finite.all():
                self.diverged_at = self.epoch + int(np.argmin(finite)) + 1
                self.epoch = self.diverged_at
                return
            self.epoch += block
            done += block

    # -- sampling and scoring ------------------------------------------------------------------
    def sample_scaled(self, n: int, seed: int) -> np.ndarray:
        return sample_scaled(self.G, n, seed, self.scaler.constant)

    def evaluate(self) -> dict[str, Any]:
        cfg = self.config
        metrics = score(self.real_np, self.sample_scaled(cfg.eval_samples, cfg.eval_seed), self.scaler)
        metrics.update(epoch=self.epoch, steps=self.steps)
        return metrics

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy): training on afterwards does not change it."""
        return copy.deepcopy({
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "epoch": self.epoch,
            "steps": self.steps,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._step_g.reset()
        self._step_d.reset()
        self.rng.set_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.steps = int(state["steps"])


def train(
    config: GANConfig,
    data: TabularData,
    *,
    device: str | torch.device = "auto",
    report: ReportFn | None = None,
    state: dict[str, Any] | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a GAN; call `report(epoch, metrics, trainer)` every `eval_every` epochs.

    `state` (from `Trainer.state_dict`) resumes an interrupted run. A non-finite loss ends the run
    with status "diverged at epoch N" and an infinite score rather than garbage weights.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    trainer = Trainer(config, data, dev)
    if state is not None:
        trainer.load_state_dict(state)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, initial=trainer.epoch, unit="epoch", dynamic_ncols=True, disable=None)
    history: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    status = "completed"
    try:
        while trainer.epoch < config.epochs:
            t0, steps0 = time.perf_counter(), trainer.steps
            trainer.run_epochs(min(config.eval_every, config.epochs - trainer.epoch), bar.update if bar else None)
            if trainer.diverged_at is not None:
                status = f"diverged at epoch {trainer.diverged_at}"
                d = data.n_features
                metrics = {"wd_mean": math.inf, "wd": [math.inf] * d, "wd_orig": [math.inf] * d, "wd_orig_mean": math.inf}
                metrics.update(epoch=trainer.epoch, steps=trainer.steps, diverged=True)
            else:
                elapsed = time.perf_counter() - t0
                metrics = trainer.evaluate()
                metrics["steps_per_s"] = (trainer.steps - steps0) / elapsed if elapsed > 0 else math.nan
                metrics["diverged"] = not math.isfinite(metrics["wd_mean"])
                if metrics["diverged"]:  # the block's last step made the weights non-finite
                    trainer.diverged_at = trainer.epoch
                    status = f"diverged at epoch {trainer.epoch}"
            history.append({k: metrics[k] for k in ("epoch", "wd_mean")})
            if bar is not None:
                bar.set_postfix(wd_mean=f"{metrics['wd_mean']:.4f}")
            if report is not None:
                report(trainer.epoch, metrics, trainer)
            if trainer.diverged_at is not None:
                break
    except StopTraining:
        status = f"stopped at epoch {trainer.epoch}"
    finally:
        if bar is not None:
            bar.close()
    if not metrics:  # state already at the last epoch
        metrics = trainer.evaluate()
    return TrainResult(config, trainer.G, trainer.D, metrics, status, trainer.epoch, history)
