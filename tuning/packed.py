"""Pack mode (`gantune tune --pack K|auto`): one Ray Tune trial trains K configurations at once.

Why: a reference-size tabular GAN step is ~1 ms of framework overhead and almost no arithmetic,
so `gan.packed.PackedTrainer` trains K configurations as one vectorised model. Pack mode puts
that trainer under Ray Tune without changing what Optuna or the export see:

* `PackSearcher` (a Ray `Searcher`) asks K trials of the run's Optuna study (`optuna.log`) per
  Ray trial and tells each one back on its own with its own final `wd_mean` (inf when it
  diverged or the pack errored). Optuna's view stays one trial per configuration, and
  `num_samples` counts configurations: the searcher stops after asking that many, splitting them
  into packs of nearly equal size (13 configs with K = 6 -> 5, 4, 4).
* `pack_trainable` (the Ray function trainable) builds the members' GANConfigs and runs
  `train_pack`; after every evaluation round it reports the pack's best `wd_mean` plus a
  `members` list (one dict per member: Optuna number, wd_mean, epoch, status), and at the end a
  checkpoint with `member-<number>/trainer.pt` (generator weights) for the pack's best members.
* `member_records` expands a pack trial into one `TrialRecord` per member for `tuning.export`,
  so `choose_best`, the trials table and the bundle export work as for ordinary trials.

Scheduling: Ray sees packs, so the scheduler is FIFO and `--max-concurrent` counts packs.
Early stopping happens inside the pack instead: with `--scheduler asha` (the default) members
take part in successive halving across the whole pack (all shape buckets together), keeping the
better half at 1/4 and at 1/2 of the evaluation rounds (`halving_rounds`); `--scheduler none` trains every
member to the end. Halving is on by default because it plays ASHA's role in normal mode (the
same budget buys about twice the configurations) and, like ASHA, a stopped member's score at
its last evaluation is what Optuna is told.

Exactness: every member is trained as `gan.train.train` would train its config alone (see
`gan.packed`), so `gantune train --config best_config.json` reproduces the exported member.
Configurations the packed trainer cannot take (loss wgan-gp) are trained one by one with
`gan.train.train` inside the same trial.

Resume: the searcher's state (asked / told Optuna trials) is saved with Ray's experiment state;
a pack interrupted mid-way restarts from its first epoch (there is no mid-pack checkpoint), and,
being seeded, trains to the same result.
"""

from __future__ import annotations

import dataclasses

import json
import math
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from ray.tune.search import Searcher

from gan.config import GANConfig
from gan.data import TabularData
from gan.errors import GanTuneError
from gan.packed import MemberResult, PackedTrainer, bucket_configs

METRIC, MODE = "wd_mean", "min"  # as tuning.run (not imported: run imports this module lazily)
STATE_FILE = "trainer.pt"  # as tuning.trainable.STATE_FILE: what export's checkpoint loader reads
PACK_FILE = "pack.json"
# Pack size that `--pack auto` aims for per device; measured with bench/packed.py: on one CPU
# core the per-member step time stops falling around K = 64-128 for reference-size members,
# while a GPU keeps gaining into the thousands.
AUTO_PACK = {"cpu": 64, "cuda": 2048}
# Members whose weights go into a pack's final checkpoint: the best few by wd_mean (the run's
# best is always its pack's best); others are retrained by export if ever needed.
SAVE_TOP = 8
# Padding waste bucket_configs tolerates: the tuning space mixes widths 8..128, and measured on
# 64 configs from the default space (2 CPU cores, iris-setosa) 3.0 was ~2.5x faster than
# bucket_configs' default 1.5, which leaves mostly packs of one or two.
MAX_WASTE = 3.0
_PACKABLE_LOSSES = ("bce",)


# ---------------------------------------------------------------------------------------------
# Pack size
# ---------------------------------------------------------------------------------------------
def parse_pack(value: Any) -> int | str | None:
    """`--pack` value: None/0 (off), a positive integer, or "auto"."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = int(value)
        except ValueError:
            raise GanTuneError(f"--pack {value!r}: give a positive integer or auto") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GanTuneError(f"--pack {value!r}: give a positive integer or auto")
    return value


def resolve_pack_size(pack: int | str, num_samples: int, *, gpu: bool, slots: int) -> int:
    """Configurations per Ray trial. "auto": the device's AUTO_PACK, but no larger than needed
    to give every concurrent slot a pack (ceil(num_samples / slots)), and never above
    num_samples."""
    if pack != "auto":
        return max(1, min(int(pack), num_samples))
    cap = AUTO_PACK["cuda" if gpu else "cpu"]
    return max(1, min(cap, math.ceil(num_samples / max(1, slots)), num_samples))


def pack_sizes(num_samples: int, pack_size: int) -> list[int]:
    """Split num_samples configurations into ceil(n / K) packs of nearly equal size."""
    n_packs = math.ceil(num_samples / pack_size)
    base, extra = divmod(num_samples, n_packs)
    return [base + (1 if i < extra else 0) for i in range(n_packs)]


def halving_rounds(n_rounds: int) -> tuple[int, ...]:
    """Evaluation rounds at 1/4 and 1/2 of a run of `n_rounds` rounds, strictly inside it."""
    return tuple(sorted({r for r in (n_rounds // 4, n_rounds // 2) if 0 < r < n_rounds}))


# ---------------------------------------------------------------------------------------------
# Training a pack (no Ray here)
# ---------------------------------------------------------------------------------------------
RoundFn = Callable[[int, Sequence["MemberResult | None"]], None]


def member_status(r: MemberResult | None) -> str:
    """pending / running / completed / stopped early / diverged (export's vocabulary)."""
    if r is None:
        return "pending"
    if r.diverged:
        return "diverged"
    if r.status == "running":
        return "running"
    if r.status == "completed":
        return "completed"
    return "stopped early"


def train_pack(
    configs: Sequence[GANConfig],
    data: TabularData,
    *,
    device: torch.device | str = "cpu",
    rungs: Sequence[int] = (),
    eta: float = 2.0,
    max_waste: float = MAX_WASTE,
    on_round: RoundFn | None = None,
) -> list[MemberResult]:
    """Train `configs` (sharing their budget and eval_every) as shape-bucketed packs run in
    lockstep by evaluation round.

    Round r takes every member to its r-th evaluation point (or its last step); then every live
    member is scored, at a rung round the members are ranked across all buckets and the worse
    ones stopped (keep ceil(live / eta)), and `on_round(r, results)` is called with every
    member's MemberResult so far (None for a member not started yet). Returns the results in
    `configs` order.
    """
    from gan.train import train

    configs = list(configs)
    if not configs:
        return []
    budget = {(c.epochs, c.steps, c.eval_every) for c in configs}
    if len(budget) > 1:
        raise GanTuneError("a pack's configurations must share their budget (epochs / steps) and eval_every")
    results: list[MemberResult | None] = [None] * len(configs)
    packable = [i for i, c in enumerate(configs) if c.loss in _PACKABLE_LOSSES]
    others = [i for i, c in enumerate(configs) if c.loss not in _PACKABLE_LOSSES]
    packs: list[tuple[PackedTrainer, list[int]]] = []  # (trainer, global index per local index)
    if packable:
        for bucket in bucket_configs([configs[i] for i in packable], max_pack=len(packable), max_waste=max_waste):
            glob = [packable[j] for j in bucket]
            trainer = PackedTrainer([configs[i] for i in glob], data, device)
            for local, r in enumerate(trainer.results):
                results[glob[local]] = r
            packs.append((trainer, glob))

    def rounds(t: PackedTrainer) -> int:
        m = t.members[0]
        return math.ceil(m.total_steps / m.eval_interval)

    n_rounds = max((rounds(t) for t, _ in packs), default=0)
    for rnd in range(1, n_rounds + 1):
        if not any(len(t) for t, _ in packs):
            break
        t0 = time.perf_counter()
        steps0 = {id(t): t.steps for t, _ in packs}
        for trainer, _ in packs:
            if len(trainer):
                m = trainer.members[0]  # a bucket's members share batch size, budget and cadence
                trainer.run_steps(min(rnd * m.eval_interval, m.total_steps) - m.steps)  # diverging members are dropped inside
        elapsed = time.perf_counter() - t0
        for trainer, _ in packs:
            for local in trainer.live:
                r = trainer.results[local]
                metrics = trainer.evaluate(local)
                metrics["steps_per_s"] = (trainer.steps - steps0[id(trainer)]) / elapsed if elapsed > 0 else math.nan
                metrics["diverged"] = not math.isfinite(metrics["wd_mean"])
                metrics["pack_size"] = len(trainer)
                r.metrics, r.steps, r.epoch = metrics, metrics["steps"], metrics["epoch"]
                r.history.append({"steps": r.steps, "epoch": r.epoch, "wd_mean": metrics["wd_mean"]})
            done = [local for local in trainer.live if trainer.results[local].steps >= trainer.members[0].total_steps]
            if done:
                trainer.drop(done, status="completed")
        if rnd in rungs:
            live = [(trainer.results[local].metrics["wd_mean"], glob[local], trainer, local)
                    for trainer, glob in packs for local in trainer.live]
            live.sort(key=lambda x: (x[0], x[1]))
            keep = max(1, math.ceil(len(live) / eta))
            for _, _, trainer, local in live[keep:]:
                trainer.drop([local])  # status "stopped at step N", weights exported
        if on_round is not None:
            on_round(rnd, results)
    del packs  # free the stacked tensors before any single trainings

    for i in others:  # loss the packed trainer does not take: train alone, exactly as gantune train
        res = train(configs[i], data, device=device)
        results[i] = MemberResult(i, configs[i], data.transformer.layout, status=res.status, steps=res.steps_done,
                                  epoch=float(res.metrics.get("epoch", 0.0)), metrics=res.metrics, history=res.history,
                                  generator_state={k: v.detach().cpu() for k, v in res.generator.state_dict().items()})
        if on_round is not None:
            on_round(n_rounds, results)
    for i, r in enumerate(results):
        assert r is not None
        r.index = i  # position in `configs`, as gan.packed.train_packed returns them
    return results  # type: ignore[return-value]


def member_rows(numbers: Sequence[int], results: Sequence[MemberResult | None]) -> list[dict[str, Any]]:
    """The per-member part of a pack's report: plain values only (Ray stores it as JSON)."""
    rows = []
    for number, r in zip(numbers, results):
        metrics = r.metrics if r is not None else {}
        rows.append({
            "number": int(number),
            METRIC: float(metrics.get(METRIC, math.inf)),
            "wd_orig_mean": float(metrics.get("wd_orig_mean", math.inf)),
            "steps": int(r.steps) if r is not None else 0,
            "epoch": float(r.epoch) if r is not None else 0.0,
            "status": member_status(r),
        })
    return rows


# Per-member fidelity scores copied into the final report (export's memorisation guard reads
# copy_share); the detection classifier is skipped (about a second per member).
FIDELITY_KEYS = ("copy_share", "dcr_ratio", "corr_diff")


def _add_fidelity(rows: list[dict[str, Any]], results: Sequence[MemberResult], data: TabularData) -> None:
    from gan.fidelity import table_fidelity
    from gan.models import sample_encoded

    for row, r in zip(rows, results):
        if row["status"] == "diverged" or r.generator_state is None:
            continue
        c = r.config
        fake = data.transformer.decode(sample_encoded(r.generator(), c.eval_samples, c.eval_seed))
        fid = table_fidelity(data.reference, fake, seed=c.eval_seed, detect=False)
        row.update({k: float(fid[k]) for k in FIDELITY_KEYS if k in fid})


def _best(rows: list[dict[str, Any]]) -> float:
    return min((row[METRIC] for row in rows if row["status"] != "diverged"), default=math.inf)


# ---------------------------------------------------------------------------------------------
# Ray trainable
# ---------------------------------------------------------------------------------------------
def pack_trainable(params: dict[str, Any], data: TabularData, space: Any) -> None:
    """Ray Tune function trainable for one pack of configurations."""
    import ray
    from ray import tune

    from tuning.trainable import _device

    torch.set_num_threads(max(1, int(params.get("_threads", 1))))
    numbers = [int(n) for n in params["_numbers"]]
    configs = [space.to_config(p) for p in params["_members"]]
    n = len(data.train_idx)
    n_rounds = max(math.ceil(c.total_steps(n) / c.eval_interval(n)) for c in configs)
    rungs = halving_rounds(n_rounds) if params.get("_halving") else ()
    node_id = ray.get_runtime_context().get_node_id()

    def result(rnd: int, rows: list[dict[str, Any]], live: int) -> dict[str, Any]:
        return {METRIC: _best(rows), "round": rnd, "steps": max((row["steps"] for row in rows), default=0),
                "epoch": max((row["epoch"] for row in rows), default=0.0), "pack_size": len(rows), "live": live,
                "diverged": False, "node_id": node_id, "members": rows}

    def on_round(rnd: int, results: Sequence[MemberResult | None]) -> None:
        rows = member_rows(numbers, results)
        tune.report(result(rnd, rows, sum(row["status"] in ("running", "pending") for row in rows)))

    results = train_pack(configs, data, device=_device(params.get("_device", "auto")), rungs=rungs, on_round=on_round)
    rows = member_rows(numbers, results)
    _add_fidelity(rows, results, data)
    ranked = sorted((row[METRIC], k) for k, row in enumerate(rows) if row["status"] != "diverged" and math.isfinite(row[METRIC]))
    with tempfile.TemporaryDirectory() as tmp:
        for _, k in ranked[:SAVE_TOP]:
            r = results[k]
            if r.generator_state is None:
                continue
            member_dir = Path(tmp) / f"member-{numbers[k]}"
            member_dir.mkdir()
            # The layout tuning.export reads for ordinary trials: {"G": state dict, "steps": N}.
            torch.save({"G": r.generator_state, "steps": r.steps}, member_dir / STATE_FILE)
            (member_dir / "config.json").write_text(json.dumps(r.config.to_dict()))
        Path(tmp, PACK_FILE).write_text(json.dumps(rows))
        tune.report(result(n_rounds, rows, 0), checkpoint=tune.Checkpoint.from_directory(tmp))


# ---------------------------------------------------------------------------------------------
# Searcher
# ---------------------------------------------------------------------------------------------
class PackSearcher(Searcher):
    """Asks K Optuna trials per Ray trial and tells each one back with its own score.

    State kept (and pickled by `save` for --resume): the sampler, how many configurations have
    been asked, and for each Ray trial the Optuna numbers of its members. The study itself lives
    in the run's journal file and is re-opened lazily (it is not pickled).
    """

    def __init__(self, space: Any, *, run_dir: str | Path, study_name: str, sampler: Any, num_samples: int, pack_size: int) -> None:
        super().__init__(metric=METRIC, mode=MODE)
        self._space = space
        self._run_dir = str(run_dir)
        self._study_name = study_name
        self._sampler = sampler
        self._num_samples = int(num_samples)
        self._pack_size = int(pack_size)
        self._sizes = pack_sizes(self._num_samples, self._pack_size)
        self._asked = 0  # configurations asked so far
        self._packs: dict[str, list[int]] = {}  # Ray trial id -> Optuna trial numbers
        self._completed: set[str] = set()
        self._study = None

    @property
    def n_packs(self) -> int:
        return len(self._sizes)

    @property
    def study(self):
        if self._study is None:
            import optuna

            from tuning.run import study_storage

            self._study = optuna.create_study(storage=study_storage(Path(self._run_dir)), study_name=self._study_name, sampler=self._sampler,
                                              direction="minimize", load_if_exists=True)
        return self._study

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if len(self._packs) >= len(self._sizes):
            return Searcher.FINISHED
        k = self._sizes[len(self._packs)]
        members, numbers = [], []
        for _ in range(k):
            trial = self.study.ask()
            fixed = self._space(trial)
            trial.set_user_attr("tune_trial_id", trial_id)
            members.append({**trial.params, **fixed})
            numbers.append(trial.number)
        self._packs[trial_id] = numbers
        self._asked += k
        return {"_members": members, "_numbers": numbers}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        import optuna

        if trial_id in self._completed or trial_id not in self._packs:
            return
        rows = {int(r["number"]): r for r in ((result or {}).get("members") or [])}
        for number in self._packs[trial_id]:
            row = rows.get(number)
            if error:
                value, status = math.inf, "errored"
            elif row is None:
                value, status = math.inf, "no result"
            else:
                value, status = float(row[METRIC]), row["status"]
                if status in ("running", "pending"):  # the pack was stopped (time budget, stop)
                    status = "interrupted"
                if status == "diverged" or not math.isfinite(value):
                    value = math.inf
            try:
                storage = self.study._storage
                trial_db_id = storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)
                if storage.get_trial(trial_db_id).state.is_finished():
                    # Told already: a pack that finished just before a kill, which the restored
                    # Ray state did not yet record, re-runs on --resume (seeded: same scores).
                    continue
                storage.set_trial_user_attr(trial_db_id, "status", status)
                self.study.tell(number, value, state=optuna.trial.TrialState.COMPLETE, skip_if_finished=True)
            except Exception as exc:  # never let one member's bookkeeping fail the run
                import logging

                logging.getLogger(__name__).warning("Optuna tell for trial %d failed: %s", number, exc)
        self._completed.add(trial_id)

    # -- state for --resume -------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_study"}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._study = None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.get_state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.set_state(pickle.load(fh))

    def __getstate__(self) -> dict[str, Any]:
        return self.get_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._study = None


# ---------------------------------------------------------------------------------------------
# Runner (called by tuning.run.run_tuning) and export
# ---------------------------------------------------------------------------------------------
def build_tuner(opts: Any, data: TabularData, space: Any, run_dir: Path, *, resume: bool):
    """The Tuner of a pack-mode run (tuning.run.run_tuning's pack branch)."""
    import logging

    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from gan.io import write_json_atomic
    from tuning import run as runmod

    resources = {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(pack_trainable, data=data, space=space), resources)
    if resume:  # run_tuning has checked the state and cleared the study journal
        return tune.Tuner.restore(str(run_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)

    if len(opts.objectives[0]) > 1:
        raise GanTuneError(f"--pack supports the single objective wd, not --objective {opts.objective}; drop --pack or --objective")
    base = opts.base_config()
    if base.loss not in _PACKABLE_LOSSES:
        logging.getLogger(__name__).warning("--pack: loss %s cannot be packed; each configuration is trained alone inside its pack trial", base.loss)
    k = resolve_pack_size(opts.pack, opts.num_samples, gpu=opts.gpus_per_trial > 0, slots=runmod.concurrent_slots(opts))
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / runmod.META_FILE, dataclasses.asdict(opts))
    searcher: Any = PackSearcher(space, run_dir=run_dir, study_name=opts.name,
                                 sampler=runmod.make_sampler(opts.sampler, opts.seed), num_samples=opts.num_samples, pack_size=k)
    logging.getLogger(__name__).info("pack mode: %d configurations in %d packs of up to %d", opts.num_samples, searcher.n_packs, k)
    if opts.max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=opts.max_concurrent)
    param_space = {**runmod._constants(opts), "_halving": opts.scheduler == "asha"}
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            search_alg=searcher,
            scheduler=FIFOScheduler(),  # early stopping happens inside the pack (halving)
            num_samples=len(pack_sizes(opts.num_samples, k)),
            time_budget_s=opts.time_budget,
            reuse_actors=opts.reuse_actors,
            trial_name_creator=runmod._trial_name,
            trial_dirname_creator=runmod._trial_name,
        ),
        # One checkpoint per pack, at its last report: run_config's num_to_keep=1 makes Ray
        # snapshot the experiment there, so a finished pack is recorded for --resume.
        run_config=runmod.run_config(opts, run_dir),
    )


def member_records(trial: Any, last: dict[str, Any], checkpoint: Path | None) -> list[Any]:
    """One tuning.export.TrialRecord per member of a pack trial (trial id `<ray id>-m<k>`)."""
    from tuning.export import TrialRecord, _error_text

    rows = {int(r["number"]): r for r in (last.get("members") or [])}
    error = _error_text(trial) if trial.status == "ERROR" else None
    records = []
    for k, (params, number) in enumerate(zip(trial.config["_members"], trial.config["_numbers"])):
        row = rows.get(int(number))
        status = row["status"] if row is not None else "pending"
        if trial.status == "ERROR":
            status = "errored"
        elif trial.status == "TERMINATED" and status in ("running", "pending"):
            status = "stopped early"  # the pack was stopped before this member finished
        member_last: dict[str, Any] = {"optuna_number": int(number), "pack_trial": trial.trial_id}
        if row is not None:
            member_last.update({METRIC: row[METRIC], "wd_orig_mean": row["wd_orig_mean"], "epoch": row["epoch"], "steps": row["steps"],
                                "diverged": row["status"] == "diverged"})
            member_last.update({k: row[k] for k in FIDELITY_KEYS if k in row})
        member_ckpt = checkpoint / f"member-{number}" if checkpoint is not None else None
        if member_ckpt is not None and not (member_ckpt / STATE_FILE).is_file():
            member_ckpt = None  # not among the pack's saved best: export retrains it if chosen
        records.append(TrialRecord(f"{trial.trial_id}-m{k}", status, dict(params), member_last, member_ckpt, error))
    return records


__all__ = ["PackSearcher", "build_tuner", "halving_rounds", "member_records", "pack_sizes", "pack_trainable",
           "parse_pack", "resolve_pack_size", "train_pack"]
