"""Pool mode: vectorised asynchronous successive halving that refills freed slots with informed
Optuna proposals.

Each Ray Tune trial is a long-lived **pool worker** owning `slots` member slots, trained as a few
vectorised models (`gan.packed.PackedTrainer` sub-packs). At each evaluation a sub-pack
scores its members, reports each score to the run's one `StudyServer` (tuning.study) as an
Optuna intermediate value, and the study's pruner (Optuna's SuccessiveHalvingPruner, rungs shared
by every pool on every node) decides which members stop. A freed slot is refilled at once with a
new `study.ask()`: the sampler (TPE with constant_liar) has seen every result told so far.

Time (`run`): turns go to the sub-pack that has had the least of the worker so far (stride
scheduling), counted in the cost model's units (below) over its weight: PROMOTE ** (rungs passed)
summed over its members. So every member is due the same share, times PROMOTE for each rung it
survived: with about 1 / PROMOTE as many members at each rung as at the one below, each rung gets
about the same compute (as in ASHA), and survivors of successive halving finish sooner. A turn is
TURN_STEPS at the mean step cost (fewer steps for a costlier sub-pack); free slots are refilled
after every turn. Under a time budget a freed slot stays empty once a new member could not reach
its first score before the end (`_too_late`, with a margin of WAIT_MARGIN).

Shapes (`place`): members of a sub-pack share batch size and are padded to one shape (noise_dim,
widths and depths: every width rounded up to a power of two, `shape_of`, then the union over the
members). A step of a sub-pack costs a fixed overhead (op dispatch, autograd, the optimiser: ~the
same for 1 or 64 members) plus compute that grows with members x padded size. The rule: while a
worker has fewer than MAX_PACKS sub-packs, a member joins the sub-pack where it adds the least
padded compute among those whose padded cost stays within TIGHT_WASTE (2x) of their members' own,
and opens a sub-pack of its own when none does; with MAX_PACKS open, it joins where it adds the
least padded compute within MAX_WASTE, and, failing that, where it adds the least at all (a
worker never runs more than MAX_PACKS sub-packs of one batch size: each costs a fixed overhead
per step, measured as `OVERHEAD_ROW_MACS`). A pack that widens to take a member is rebuilt with its members' exact states
(`PackedTrainer.member_state`), so nothing about them changes. Every member keeps its own step count,
stream and Adam state, and ends with exactly the weights `gantune train --config` of its
configuration gives (gan.packed's exactness contract).

The `Pool` class has no Ray in it (the benchmarks drive it in-process); `pool_trainable` is the
thin Ray Tune adapter.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from gan.config import GANConfig
from gan.data import TabularData
from gan.errors import GanTuneError
from gan.fidelity import DEFAULT_MAX_COPY_SHARE, passes_guard, table_fidelity
from gan.packed import PackedTrainer
from tuning.options import CUT_STATUS, UNSCORED_STATUS
from tuning.study import better_report

log = logging.getLogger(__name__)

POOL_FILE = "pool.pt"  # a worker's checkpoint: live members' states
POOL_INDEX = "pool.json"  # the Optuna numbers a checkpoint holds (the driver reads it on --resume)
MEMBERS_DIR = "members"  # generators of the best finished members: members/<number>.pt
# The fixed per-step cost of one more sub-pack, in the compute it equals: multiply-adds per step
# (row cost x batch). Measured on the 2-core CPU machine (penguins, batch 64, K = 1..16 members
# of widths 16..128, one thread): a pack step takes a + K c + b x K x row_cost x batch with
# a = 2.0 ms, c = 0.16 ms, b = 3.4e-7 ms, so one more pack costs as much as a / b = 6e6 row
# multiply-adds. Refitted after the hand-written backward (gan.packed; 2026-11-28, widths 16..128,
# K = 1, 4, 16): penguins a = 1.91 ms, a / b = 5.4e6 (2.42 ms and 6.2e6 before, in an earlier
# run); iris-setosa a = 0.91 ms, a / b = 2.0e6 (1.66 ms and 3.2e6 before, same run). The
# constant stays at 6e6: 2e6 on iris-setosa (in-process, one worker, 2 minutes, seeds 0-7) ended
# at a mean best of 0.0488 against 0.0468. A GPU's fixed cost is far larger relative to its
# arithmetic (not measured here).
OVERHEAD_ROW_MACS = {"cpu": 6e6, "cuda": 2e8}
# A sub-pack's padded cost may be at most TIGHT_WASTE times its members' own cost (on average)
# while a worker has fewer than MAX_PACKS sub-packs, and MAX_WASTE times once it has them all.
TIGHT_WASTE = 2.0
MAX_PACKS = 6
MAX_WASTE = 4.0
# Finished members whose generators a worker keeps (and checkpoints) for export: the best few.
KEEP_BEST = 8
# Steps a sub-pack of the mean step cost trains per turn (`Pool.turn_steps`) before the pool
# refills its free slots and picks the next sub-pack.
TURN_STEPS = 256
# A member that survived L pruning rungs is due PROMOTE ** L times the share of a new one
# (`Pool.weight`): members that survived successive halving finish sooner, as ASHA runs a
# promoted trial at once. Measured in-process, when a whole sub-pack got PROMOTE ** (most rungs
# one of its members passed) and rounds were counted in steps (one worker, iris-setosa, default
# space, 2 minutes, seeds 0 / 1): best 0.0521 / 0.0533 with it against 0.0564 / 0.0687 without,
# the most advanced member at 8,144 steps against 2,816 (seed 1); 5 was worse (0.0791: the top
# sub-pack held wide members and ran slowly).
PROMOTE = 3
# Live members at the start, per worker: a slot opens for each member told after that (two per
# member, up to `slots`). The first rung's results then arrive after a few members' steps, not
# after every slot's, so the sampler learns sooner (since the pool's first version, commit 2cb6c4b).
RAMP_START = 8
# A new member starts under a time budget only if WAIT_MARGIN times its expected wait for a first
# score fits in the time left: the wait grows after it starts (more members, promoted sub-packs
# taking more of the worker). Measured in-process on an 8,602-row table, 100 s budget, one
# worker: with no margin 26 of its 32 members live at the end were still unscored.
WAIT_MARGIN = 2.0
# A worker starts no member while its live members' compute per step (row multiply-adds, padded)
# is SATURATED times a sub-pack's fixed overhead (OVERHEAD_ROW_MACS): past that, packing one more
# member saves little per member-step (the overhead is 1/9 of a step) but delays every member's
# next score. On iris-setosa (64 reference members are 0.7 overheads) it binds only on wide
# members; on tables of thousands of rows at batch 256 a typical member is ~3 overheads, and 33
# new members in one sub-pack took 80 s to reach their first rung (an 8,000-row table). Measured
# in-process (one worker, 2 minutes, TPE, seeds 0-2, side by side with the same code without it):
# `bench/tables.py --rows 12000 --seed 71`, best at 1 minute 0.0354 / 0.0495 / 0.0347 against
# 0.0472 / 0.0679 / 0.0352, at 2 minutes 0.0354 / 0.0495 / 0.0283 against 0.0373 / 0.0462 /
# 0.0342, members cut before a first score 0 / 0 / 0 against 3 / 8 / 4; iris-setosa (10,000
# epochs) 0.0339 / 0.0418 / 0.0348 against 0.0368 / 0.0350 / 0.0367 (level).
SATURATED = 8.0
# Checkpoint a worker at most this often (seconds), and at its end; report its progress to Ray
# Tune at most every REPORT_EVERY_S (a turn can be a few milliseconds).
CHECKPOINT_EVERY_S = 30.0
REPORT_EVERY_S = 1.0
# Member slots per worker by device when `--pack auto`: on one CPU core the per-member step time
# stops falling around 64 members of reference size (bench/packed.py); a GPU keeps gaining.
AUTO_SLOTS = {"cpu": 64, "cuda": 1024}


def _row_macs(noise_dim: int, g_widths: tuple[int, ...], d_widths: tuple[int, ...], width: int, pac: int) -> float:
    """Multiply-adds of one row through G and D (D twice: real and fake rows). With PacGAN
    (pac > 1) D's first layer takes pac rows at once (the same multiply-adds per row) and its
    later layers run once per pac rows."""
    g = [noise_dim, *g_widths, width]
    d = [*d_widths, 1]
    d_row = width * d[0] + sum(a * b for a, b in zip(d, d[1:])) / pac
    return sum(a * b for a, b in zip(g, g[1:])) + 2 * d_row


def member_cost(c: GANConfig, width: int) -> float:
    """Multiply-adds of one row of member `c` (see _row_macs)."""
    return _row_macs(c.noise_dim, c.g_widths, c.d_widths, width, c.pac)


def _round_up(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


Shape = tuple[int, tuple[int, ...], tuple[int, ...]]  # (noise_dim, G hidden widths, D hidden widths)


def shape_of(c: GANConfig) -> Shape:
    """A config's padded shape: noise_dim and every width rounded up to a power of two."""
    return _round_up(c.noise_dim), tuple(_round_up(w) for w in c.g_widths), tuple(_round_up(w) for w in c.d_widths)


def _need(widths: tuple[int, ...], depth: int) -> tuple[int, ...]:
    # A shallower member repeats its last width in identity layers (gan.packed): those count.
    return tuple(widths[min(l, len(widths) - 1)] for l in range(depth))


def union(a: Shape, b: Shape) -> Shape:
    """The smallest padded shape that holds both."""
    gd, dd = max(len(a[1]), len(b[1])), max(len(a[2]), len(b[2]))
    return (max(a[0], b[0]), tuple(map(max, _need(a[1], gd), _need(b[1], gd))), tuple(map(max, _need(a[2], dd), _need(b[2], dd))))


def shape_cost(shape: Shape, width: int, pac: int = 1) -> float:
    """Multiply-adds of one row of one member slot padded to `shape` (see _row_macs)."""
    return _row_macs(*shape, width, pac)


def shape_config(base: GANConfig, shape: Shape) -> GANConfig:
    return base.replace(noise_dim=shape[0], g_widths=shape[1], d_widths=shape[2])


@dataclass
class _Live:
    """A member the pool trains: its Optuna number, flat parameters and sub-pack."""

    number: int
    params: dict[str, Any]
    pack: PackedTrainer
    started: float = 0.0  # time.monotonic() when placed
    live_at_start: int = 1  # live members of its pool then, itself included
    # Its best report that passed the guard and the generator state then: the model the export
    # crowns for this configuration (tuning.records), kept so that it needs no retraining.
    best: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None


@dataclass
class PoolStats:
    """Counters for progress reports."""

    told: int = 0  # members told (complete, pruned, diverged)
    completed: int = 0
    pruned: int = 0
    diverged: int = 0
    member_steps: int = 0
    waste: list[float] = field(default_factory=list)  # padded / own cost per placed member
    widened: int = 0  # packs rebuilt in a wider shape
    best: float = math.inf  # best wd_mean that passed the guard, among this pool's reports


class Pool:
    """K member slots over shape sub-packs, fed by a study client (ask / report / tell).

    `client` is a `tuning.study.StudyServer` or anything with its methods (a Ray actor proxy).
    """

    def __init__(self, data: TabularData, space: Any, client: Any, *, slots: int, device: str | torch.device = "cpu",
                 max_waste: float = MAX_WASTE, detect: bool = False, max_copy_share: float = DEFAULT_MAX_COPY_SHARE,
                 objectives: Sequence[str] = ("wd_mean",), name: str = "pool", node_id: str = "",
                 rungs: Sequence[int] = ()) -> None:
        self.data = data
        self.space = space
        self.client = client
        self.slots = int(slots)
        self.device = torch.device(device)
        self.max_waste = float(max_waste)
        self.overhead = OVERHEAD_ROW_MACS["cuda" if self.device.type == "cuda" else "cpu"]
        self.detect = detect
        self.max_copy_share = max_copy_share
        self.objectives = list(objectives)
        # Steps where the pruner judges members: evaluated there too, beside every eval_every.
        self.rungs = sorted(int(r) for r in rungs)
        self.name = name
        self.node_id = node_id
        self.packs: list[PackedTrainer] = []
        self.shapes: dict[int, Shape] = {}  # id(pack) -> its padded shape
        # Stride scheduling (`run`): id(pack) -> the worker's time it has had, in the cost
        # model's units over its weight; _clock: that of the sub-pack whose turn it is.
        self._vtime: dict[int, float] = {}
        self._clock = 0.0
        self.live: dict[int, _Live] = {}
        self.exhausted = False  # the study will propose no more configurations
        self.best_members: list[tuple[float, int, dict[str, Any]]] = []  # (wd_mean, number, {"G", "steps", "config"})
        self.stats = PoolStats()
        self.n_rows = len(data.train_idx)
        self._t0 = time.monotonic()
        self._deadline: float | None = None  # time.monotonic() when the time budget ends (run())
        # Seconds the last members took from their start to their first score, per live member
        # (`_too_late`).
        self._first_waits: collections.deque[float] = collections.deque(maxlen=8)
        # Steps to a typical member's first score: its first evaluation or pruning rung.
        self._first_score = min([space.midpoint_config().eval_interval(self.n_rows), *self.rungs[:1]])

    # -- placing members -----------------------------------------------------------------------
    def place(self, number: int, params: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        """Put a member where it adds the least time per step (see the module docstring).

        A configuration that cannot be trained here (e.g. a batch size larger than the table, a
        loss packed training does not support) is told the worst value as an errored member and
        its slot stays free for the next proposal: the worker and its other members go on.
        """
        try:
            self._place(number, params, state)
        except GanTuneError as exc:
            log.warning("configuration %d cannot be trained in a pool: %s", number, exc)
            for pack in [p for p in self.packs if not len(p)]:
                self._remove(pack)  # opened for it: an empty sub-pack would never get a turn
            record = {"status": "errored", "error": str(exc), "steps": 0, "wd_mean": math.inf, "pool": self.name, "node_id": self.node_id}
            self.client.tell(number, [math.inf] * len(self.objectives), "complete", record)
            self.stats.told += 1

    def _place(self, number: int, params: dict[str, Any], state: dict[str, Any] | None) -> None:
        config = self.space.to_config(params)
        w = self.data.width
        own = member_cost(config, w)
        mine = shape_of(config)
        # Options: join a pack (widening it when needed) or open one; each costs per step what
        # it adds in padded compute (row multiply-adds, all members of a widened pack counted),
        # and opening also one pack's overhead. A join must keep the pack's padded cost within
        # TIGHT_WASTE of its members' own while packs are few (MAX_PACKS), MAX_WASTE after.
        opening = (self.overhead / config.batch_size + shape_cost(mine, w, config.pac), None, mine)
        bound = TIGHT_WASTE if len(self.packs) < MAX_PACKS else self.max_waste
        candidates = self._joins(config, mine)
        joins = [(cost, pack, shape) for cost, pack, shape in candidates
                 if shape_cost(shape, w, config.pac) * (len(pack) + 1) <= bound * (sum(member_cost(m.config, w) for m in pack.members) + own)]
        if joins:
            chosen = min(joins, key=lambda o: o[0])
        elif len(self.packs) < MAX_PACKS or not self.packs:
            chosen = opening
        else:  # every pack is open and none takes it within MAX_WASTE: the cheapest join anyway
            chosen = min(candidates, key=lambda o: o[0], default=opening)
        _, pack, shape = chosen
        if pack is None:
            pack = self._open(config, mine)
        elif shape != self.shapes[id(pack)]:
            pack = self._widen(pack, config, shape)
        pack.add(config, number, state=state)
        self.stats.waste.append(shape_cost(self.shapes[id(pack)], w, pack.pac) / own)
        self.live[number] = _Live(number, dict(params), pack, time.monotonic(), len(self.live) + 1)

    def _joins(self, config: GANConfig, mine: Shape) -> list[tuple[float, PackedTrainer, Shape]]:
        """Every pack `config` could join, with the padded compute per row the join adds (all of
        the pack's members counted when it widens) and the pack's shape after it."""
        w = self.data.width
        out: list[tuple[float, PackedTrainer, Shape]] = []
        for pack in self.packs:
            if pack.shares(config):
                shape = union(self.shapes[id(pack)], mine)
                out.append((shape_cost(shape, w, config.pac) * (len(pack) + 1) - shape_cost(self.shapes[id(pack)], w, config.pac) * len(pack), pack, shape))
        return out

    def _open(self, config: GANConfig, shape: Shape) -> PackedTrainer:
        pack = PackedTrainer([], self.data, self.device, envelope=shape_config(config, shape))
        self.packs.append(pack)
        self.shapes[id(pack)] = shape
        self._vtime[id(pack)] = self._clock  # it starts level with the sub-pack whose turn it is
        return pack

    def _widen(self, pack: PackedTrainer, config: GANConfig, shape: Shape) -> PackedTrainer:
        """Rebuild `pack` in a wider shape; its members continue exactly (weights, Adam moments,
        streams and step counts move with them)."""
        new = self._open(config, shape)
        for m in list(pack.members):
            number = m.result.index
            result = new.add(m.config, number, state=pack.member_state(number))
            result.metrics = m.result.metrics
            self.live[number].pack = new
        self._vtime[id(new)] = self._vtime[id(pack)]  # it goes on with the old pack's share
        self._remove(pack)
        self.stats.widened += 1
        return new

    def _remove(self, pack: PackedTrainer) -> None:
        self.packs.remove(pack)
        del self.shapes[id(pack)]
        del self._vtime[id(pack)]

    @property
    def open_slots(self) -> int:
        """Slots usable now: RAMP_START at first, two more per member told, up to `slots`."""
        return min(self.slots, RAMP_START + 2 * self.stats.told)

    def _too_late(self) -> bool:
        """True when a member started now would not reach its first score before the run's
        time budget ends. Such a member would be cut unscored (a 2-minute run on an 8,602-row
        table cut 72 of its 121 configurations that way) and slow the members that can still
        finish. The wait is what the last members took from their start to their first score
        (sub-pack sizes, shapes and promotion included), or longer where a live member has
        already waited longer unscored, or, before any was scored, this worker's member steps
        per second split over the live members and the new one."""
        if self._deadline is None:
            return False
        left = self._deadline - time.monotonic()
        if self._first_waits:
            # Seconds per live member, scaled to the members that would share the worker.
            wait = float(np.median(self._first_waits)) * (len(self.live) + 1)
            # Those are the waits of members that were scored. When promoted members take most
            # of the worker (`weight`), the newest members starve and are not scored,
            # so their waits never enter that record; a new member would wait at least as long
            # as the member that has waited longest without a score so far. Measured in-process
            # (one worker, an 8,602-row table, 2 minutes, seeds 0 / 1): 0 and 17 of 23 and 32
            # configurations ended unscored without this, 0 and 12 of 23 and 26 with it.
            now = time.monotonic()
            waiting = [now - self.live[m.result.index].started for pack in self.packs for m in pack.members
                       if not m.result.metrics and m.result.index in self.live]
            return WAIT_MARGIN * max([wait, *waiting]) > left
        elapsed = time.monotonic() - self._t0
        if self.stats.member_steps == 0 or elapsed < 5.0:
            return False  # nothing measured yet
        share = self.stats.member_steps / elapsed / (len(self.live) + 1)
        return WAIT_MARGIN * self._first_score / share > left

    def live_compute(self) -> float:
        """The live members' padded compute per step (row multiply-adds), overheads left out."""
        return float(sum(self._compute(p) for p in self.packs))

    def _saturated(self) -> bool:
        """True when the live members' compute per step is SATURATED times a sub-pack's fixed
        overhead: one more member would add its compute to every step without making the
        worker's steps much cheaper per member, and delay every member's next score."""
        return self.live_compute() >= SATURATED * self.overhead

    def refill(self) -> None:
        """Fill free slots with new proposals from the study (after every turn), but none while
        the live members saturate the worker (`_saturated`) and none that the time budget would
        cut before its first score (`_too_late`)."""
        while not self.exhausted and len(self.live) < self.open_slots:
            if self.live and (self._too_late() or self._saturated()):
                return
            got = self.client.ask(self.name)
            if got is None:
                self.exhausted = True
                break
            number, params = got
            self.place(int(number), params)

    # -- evaluation ----------------------------------------------------------------------------
    def _record(self, metrics: dict[str, Any], fid: dict[str, Any], status: str) -> dict[str, Any]:
        rec = {"wd_mean": float(metrics["wd_mean"]), "wd_orig_mean": float(metrics["wd_orig_mean"]), "steps": int(metrics["steps"]),
               "epoch": float(metrics["epoch"]), "status": status, "pool": self.name, "node_id": self.node_id}
        for k in ("copy_share", "dcr_ratio", "corr_diff", "detect_auc"):
            v = fid.get(k, math.nan)
            rec[k] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        rec["passes_guard"] = bool(passes_guard(fid, self.max_copy_share)) if "copy_share" in fid else False
        return rec

    def _values(self, metrics: dict[str, Any], fid: dict[str, Any]) -> list[float]:
        out = []
        for key in self.objectives:
            v = metrics.get(key, fid.get(key, math.nan))
            out.append(float(v) if v is not None else math.nan)
        return out

    def _evaluate(self, pack: PackedTrainer, members: list[Any]) -> None:
        stop_pruned, stop_done = [], []
        for m in members:
            number = m.result.index
            c = m.config
            enc = pack.sample_encoded(number, c.eval_samples, c.eval_seed)
            metrics = self.data.scorer.score_encoded(enc)
            metrics.update(epoch=m.steps * c.batch_size / self.n_rows, steps=m.steps)
            final = m.steps >= m.total_steps
            if math.isfinite(metrics["wd_mean"]):
                fake = self.data.transformer.decode(enc)
                fid = table_fidelity(self.data.reference, fake, seed=c.eval_seed, detect=final and self.detect)
            else:
                fid = {}
            if not m.result.metrics and number in self.live:  # its first score: how long it took,
                # per member sharing the worker meanwhile (the mean of the live counts at its
                # start and now), since a new member's wait grows with the members beside it
                live = self.live[number]
                self._first_waits.append((time.monotonic() - live.started) / max(1.0, (live.live_at_start + len(self.live)) / 2))
            m.result.metrics, m.result.steps, m.result.epoch = metrics, m.steps, metrics["epoch"]
            m.result.history.append({"steps": m.steps, "epoch": metrics["epoch"], "wd_mean": metrics["wd_mean"]})
            if not math.isfinite(metrics["wd_mean"]):  # weights went non-finite at the interval's end
                self._diverged(pack, number, m.steps)
                continue
            record = self._record(metrics, fid, "running")
            if record["passes_guard"]:
                self.stats.best = min(self.stats.best, record["wd_mean"])
                live = self.live.get(number)
                # The study server's rule (better_report), so that the generator kept here is
                # the one of the report the server records as the member's best.
                if live is not None:
                    kept = live.best[0] if live.best is not None else None
                    best = better_report(kept, record)
                    if best is not kept:
                        live.best = (best, pack.generator_state_dict(number))
            if final:
                record["status"] = "completed"
                self.client.tell(number, self._values(metrics, fid), "complete", record)
                stop_done.append(number)
                self.stats.completed += 1
            elif self.client.report(number, m.steps, metrics["wd_mean"], record):
                record["status"] = "pruned"
                self.client.tell(number, None, "pruned", {"status": "pruned"})
                stop_pruned.append(number)
                self.stats.pruned += 1
        for numbers, status in ((stop_done, "completed"), (stop_pruned, None)):
            if numbers:
                pack.drop(numbers, status=status)
                for n in numbers:
                    self._finished(n, pack)

    def _diverged(self, pack: PackedTrainer, number: int, steps: int) -> None:
        """A member whose loss or output went non-finite: told the worst value, slot freed."""
        if any(m.result.index == number for m in pack.members):
            pack.drop([number], status=f"diverged at step {steps}")
        record = {"status": "diverged", "steps": int(steps), "wd_mean": math.inf, "pool": self.name, "node_id": self.node_id}
        self.client.tell(number, [math.inf] * len(self.objectives), "complete", record)
        self.stats.diverged += 1
        live = self.live.pop(number, None)
        if live is not None and live.best is not None:  # the export may crown its report before the failure
            self._keep(number, *live.best, live.params)
        self.stats.told += 1
        pack.results = [x for x in pack.results if x.index != number]

    def _finished(self, number: int, pack: PackedTrainer, keep: bool = True) -> None:
        live = self.live.pop(number)
        self.stats.told += 1
        r = pack.results_by_index(number)
        wd = float(r.metrics.get("wd_mean", math.inf))
        if live.best is not None:  # the generator of its best guarded report, as the export judges it
            self._keep(number, *live.best, live.params)
        elif keep and r.generator_state is not None and math.isfinite(wd):
            self._keep(number, {"wd_mean": wd, "steps": r.steps}, r.generator_state, live.params)
        # Finished results are not needed in the pack any more (weights exported above).
        pack.results = [x for x in pack.results if x.index != number]

    def _keep(self, number: int, report: dict[str, Any], generator: dict[str, torch.Tensor], params: dict[str, Any]) -> None:
        """Keep a finished member's generator for the export, if among the best KEEP_BEST."""
        self.best_members.append((report["wd_mean"], number, {"G": generator, "steps": report["steps"], "params": params}))
        self.best_members.sort(key=lambda x: (x[0], x[1]))
        del self.best_members[KEEP_BEST:]

    # -- the loop ------------------------------------------------------------------------------
    def _next_stop(self, m: Any) -> int:
        """A member's next evaluation: its own cadence, a pruning rung, or its last step."""
        return min([m.next_stop(), *(r for r in self.rungs if r > m.steps)])

    def run(self, on_turn: Callable[["Pool"], None] | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        """Train until the study proposes nothing more and every member is told.

        Turns go to the sub-pack that has had the least of the worker so far, counted in the
        cost model's units over its `weight` (stride scheduling: `_vtime`). A turn is
        `turn_steps`; free slots are refilled after each, and `on_turn` is called."""
        def diverged_report(steps: int, index: int, metrics: dict[str, Any]) -> None:
            if metrics.get("diverged"):
                self._diverged(pack, index, steps)

        self._t0 = time.monotonic()
        left = self.client.seconds_left()
        self._deadline = None if left is None else self._t0 + float(left)
        self.refill()
        while self.live:
            if should_stop is not None and should_stop():
                break
            mean = sum(self.step_cost(p) for p in self.packs) / len(self.packs)
            pack = min(self.packs, key=lambda p: self._vtime[id(p)])
            self._clock = self._vtime[id(pack)]
            budget = self.turn_steps(pack, mean)
            while len(pack) and budget > 0:
                before = sum(m.steps for m in pack.members)
                limit = min(budget, *(self._next_stop(m) - m.steps for m in pack.members))
                # Charged at the cost and weight of each segment (members pass rungs, leave).
                cost, weight = self.step_cost(pack), self.weight(pack)
                # advance() trains fewer steps than asked when the pack is large: count those
                # (counting `limit` gave a 20-member pack 5 of its 138 steps a round)
                trained = pack.advance(limit, diverged_report)
                budget -= trained
                self._vtime[id(pack)] += trained * cost / weight
                self.stats.member_steps += sum(m.steps for m in pack.members) - before
                due = [m for m in pack.members if m.steps % m.eval_interval == 0 or m.steps >= m.total_steps or m.steps in self.rungs]
                if due:
                    self._evaluate(pack, due)
                if should_stop is not None and should_stop():
                    break
            if not len(pack):
                self._remove(pack)
            self.refill()
            if on_turn is not None:
                on_turn(self)

    def step_cost(self, pack: PackedTrainer) -> float:
        """One step of `pack` in the cost model's unit (row multiply-adds): its fixed overhead
        plus its members' padded compute."""
        return self.overhead + self._compute(pack)

    def _compute(self, pack: PackedTrainer) -> float:
        """Its members' padded compute per step (row multiply-adds)."""
        return len(pack) * shape_cost(self.shapes[id(pack)], self.data.width, pack.pac) * pack.batch_size

    def turn_steps(self, pack: PackedTrainer, mean_cost: float) -> int:
        """Steps of one turn of `pack`: TURN_STEPS for a sub-pack of the mean step cost, fewer
        for a costlier one, so that a turn takes about the same time whichever sub-pack has it."""
        return max(1, round(TURN_STEPS * mean_cost / self.step_cost(pack)))

    def weight(self, pack: PackedTrainer) -> float:
        """The share of the worker `pack` is due: PROMOTE ** (rungs passed) summed over its
        members, so each member is due the same, times PROMOTE for each rung it passed; with
        about 1 / PROMOTE as many members at each rung as at the one below (successive halving),
        every rung gets about the same compute, as in ASHA. (Turns with a share per sub-pack, tried
        first, starved the members of a large one: a 2-minute run on an 8,000-row table cut 39
        of its 89 configurations before a first score, 33 of them in one sub-pack.)"""
        return float(sum(PROMOTE ** sum(m.steps >= r for r in self.rungs) for m in pack.members))

    def cut(self) -> None:
        """End now (time budget): every live member is told 'pruned' at its last evaluation.

        Its weights have usually trained past that evaluation: they are kept for the export only
        when they are the scored ones (else the export retrains the config to the scored step).
        """
        for number, live in list(self.live.items()):
            r = live.pack.results_by_index(number)
            now = live.pack.members[live.pack._slot(number)].steps
            scored = int(r.metrics.get("steps", 0)) if r.metrics else 0
            record = {"status": CUT_STATUS, "steps": scored}
            if r.metrics and math.isfinite(r.metrics.get("wd_mean", math.inf)):
                self.client.tell(number, None, "pruned", record)
            else:
                self.client.tell(number, None, "fail", {**record, "status": UNSCORED_STATUS})
            live.pack.drop([number])
            self._finished(number, live.pack, keep=now == scored)

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Live members (weights, Adam moments, streams, Optuna numbers) and the best finished."""
        members = []
        for number, live in self.live.items():
            members.append({"number": number, "params": live.params, "state": live.pack.member_state(number), "best": live.best})
        return {"members": members, "best": self.best_members, "exhausted": self.exhausted}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from `state`: each member under a new trial number (`StudyServer.resume`)."""
        self.best_members = [tuple(b) for b in state.get("best", [])]  # type: ignore[misc]
        for m in state["members"]:
            best = m.get("best")  # its best guarded report up to the checkpoint, and its generator
            number = self.client.resume(int(m["number"]), m["params"], m["state"].get("history", []), self.name,
                                        best[0] if best else None)
            if number is None:  # told its end after the checkpoint: done, not trained again
                continue
            self.place(int(number), m["params"], state=m["state"])
            if best and int(number) in self.live:
                self.live[int(number)].best = best


# ---------------------------------------------------------------------------------------------
# Ray Tune adapter
# ---------------------------------------------------------------------------------------------
class _ActorClient:
    """Blocking calls to the StudyServer actor (a few ms each on one machine)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def __getattr__(self, name: str) -> Callable[..., Any]:
        import ray

        method = getattr(self.actor, name)
        return lambda *a, **k: ray.get(method.remote(*a, **k))


def save_checkpoint(pool: Pool, directory: Path) -> None:
    torch.save(pool.state(), directory / POOL_FILE)
    (directory / POOL_INDEX).write_text(json.dumps({"numbers": sorted(pool.live)}))
    (directory / MEMBERS_DIR).mkdir(exist_ok=True)
    for wd, number, best in pool.best_members:
        torch.save({"G": best["G"], "steps": best["steps"]}, directory / MEMBERS_DIR / f"{number}.pt")


def pool_trainable(params: dict[str, Any], data: TabularData, space: Any) -> None:
    """Ray Tune function trainable: one pool worker until the study is exhausted."""
    import ray
    from ray import tune

    from tuning.trainable import resolve_device

    torch.set_num_threads(max(1, int(params.get("_threads", 1))))
    client = _ActorClient(ray.get_actor(params["_study_actor"]))
    context = tune.get_context()
    name = Path(context.get_trial_dir()).name
    pool = Pool(data, space, client, slots=int(params["_slots"]), device=resolve_device(params.get("_device", "auto")),
                detect=bool(params.get("_detect")), max_copy_share=float(params["_max_copy_share"]),
                objectives=list(params["_objectives"]), name=name, node_id=ray.get_runtime_context().get_node_id(),
                rungs=params.get("_rungs") or ())
    checkpoint = tune.get_checkpoint()
    state = None
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            state = torch.load(Path(ckpt_dir) / POOL_FILE, map_location="cpu", weights_only=False)
    # A restarted worker (same driver): members it asked for after that checkpoint (all of them
    # without one) are lost; the study server tells them FAIL and asks their budget again.
    client.release_pool(name, [int(m["number"]) for m in state["members"]] if state else [])
    if state is not None:
        pool.restore(state)
    last = last_report = time.monotonic()
    t0, steps0 = time.monotonic(), 0

    def result(p: Pool) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - t0)
        return {"live": len(p.live), "told": p.stats.told, "completed": p.stats.completed, "pruned": p.stats.pruned,
                "diverged": p.stats.diverged, "best_wd_mean": p.stats.best, "member_steps_per_s": (p.stats.member_steps - steps0) / elapsed,
                "packs": len(p.packs), "waste": float(np.mean(p.stats.waste)) if p.stats.waste else math.nan, "node_id": p.node_id}

    def on_turn(p: Pool) -> None:
        nonlocal last, last_report
        now = time.monotonic()
        if now - last >= CHECKPOINT_EVERY_S:
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint(p, Path(tmp))
                tune.report(result(p), checkpoint=tune.Checkpoint.from_directory(tmp))
            last = last_report = time.monotonic()
        elif now - last_report >= REPORT_EVERY_S:
            tune.report(result(p))
            last_report = now

    pool.run(on_turn, should_stop=client.out_of_time)
    if pool.live:  # the time budget ended the run: every member is told, the best kept
        pool.cut()
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(pool, Path(tmp))
        tune.report(result(pool), checkpoint=tune.Checkpoint.from_directory(tmp))


__all__ = ["MAX_PACKS", "MAX_WASTE", "OVERHEAD_ROW_MACS", "SATURATED", "TIGHT_WASTE", "Pool", "PoolStats", "member_cost", "pool_trainable", "shape_of", "union"]
