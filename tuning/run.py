"""Build and run the Ray Tune experiment: Optuna proposes, ASHA stops, Ray schedules.

The run directory (`storage_path/name`) holds Ray's experiment state, the Optuna study as an
Optuna journal file (`optuna.log`, open it with `optuna-dashboard .../optuna.log`) and
`gantune.json`, the options the run was started with, so `--resume` and `gantune export` need
nothing else.
"""

from __future__ import annotations

import contextlib
import json
import math
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from gan.data import TabularData
from gan.errors import GanTuneError
from gan.io import write_json_atomic
from tuning import console
from tuning.space import SearchSpace

log = logging.getLogger(__name__)

from tuning.options import (  # noqa: F401  (re-exported: the runner's public names)
    DEFAULT_STEPS,
    META_FILE,
    METRIC,
    MODE,
    OBJECTIVES,
    SAMPLERS,
    SCHEDULERS,
    UNLIMITED_SAMPLES,
    TuneOptions,
    load_run_table,
    read_options,
    record_data,
    set_table_path,
    table_path,
)
from tuning.study import (  # noqa: F401
    LEGACY_STUDY_FILE,
    STUDY_FILE,
    close_stale_study_trials,
    load_study,
    make_sampler,
    repair_study_journal,
    study_storage,
)


def _check_resources(opts: TuneOptions, address: str | None) -> None:
    """Refuse up front what would leave trials pending forever.

    An embedded run checks this machine before Ray starts; a cluster run checks the nodes that
    are alive now (an autoscaling cluster may add more: start its GPU nodes first, or lower the ask).
    """
    if address is None:
        import torch

        max_cpu, max_gpu, n_nodes = float(os.cpu_count() or 1), float(torch.cuda.device_count()), 1
    else:
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        n_nodes = len(nodes)
        max_cpu = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
        max_gpu = max((n["Resources"].get("GPU", 0) for n in nodes), default=0)
    where = "this machine" if address is None else "the largest node of the cluster"
    if opts.gpus_per_trial > 0 and max_gpu < opts.gpus_per_trial:
        raise GanTuneError(
            f"--gpus-per-trial {opts.gpus_per_trial:g}: {where} has {max_gpu:g} GPU(s); use --gpus-per-trial 0 or run on a GPU node"
        )
    if opts.cpus_per_trial > max_cpu:
        raise GanTuneError(f"--cpus-per-trial {opts.cpus_per_trial:g}: {where} has {max_cpu:g} CPU(s) ({n_nodes} node(s)); lower --cpus-per-trial")


def _check_packable_losses(space: SearchSpace, base: Any) -> None:
    """Pool mode trains members in packs (gan.packed), which support only some losses: refuse a
    space that can propose another before Ray starts, rather than error its members one by one."""
    from gan.packed import SUPPORTED_LOSSES

    p = space.params.get("loss")
    losses = {base.loss} if p is None else set(p.choices) if p.kind == "categorical" else {p.value}
    other = sorted(str(x) for x in losses - set(SUPPORTED_LOSSES))
    if other:
        raise GanTuneError(f"loss {', '.join(other)}: pool mode (--pack) trains loss {', '.join(SUPPORTED_LOSSES)} only; "
                           "pass --pack off to tune it (one Ray trial per configuration)")


def build_searcher(space: SearchSpace, opts: TuneOptions, run_dir: Path):
    """Per-trial mode's searcher (tuning/search.py): the run's StudyServer behind Ray's Searcher."""
    from tuning.search import StudySearcher

    metrics, modes = opts.objectives
    return StudySearcher(
        metric=metrics if len(metrics) > 1 else metrics[0],
        mode=modes if len(modes) > 1 else modes[0],
        run_dir=str(run_dir), name=opts.name, space=space, sampler=opts.sampler, seed=opts.seed,
        num_samples=opts.num_samples,
    )


def _trainable(opts: TuneOptions, data: TabularData, space: SearchSpace):
    from ray import tune

    from tuning.trainable import gan_trainable

    resources = {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(gan_trainable, data=data, space=space), resources)


def _constants(opts: TuneOptions) -> dict[str, Any]:
    return {
        "_detect": "detect_auc" in opts.objectives[0],
        "_threads": max(1, int(opts.cpus_per_trial)),
        "_device": "cuda" if opts.gpus_per_trial > 0 else ("cpu" if opts.device == "auto" else opts.device),
    }


def run_config(opts: TuneOptions, run_dir: Path):
    """Ray's RunConfig for a gantune run (both modes)."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    return tune.RunConfig(
        name=opts.name,
        storage_path=str(run_dir.parent),
        failure_config=tune.FailureConfig(max_failures=opts.max_failures),
        # num_to_keep=1: Ray snapshots the experiment state whenever a trial has checkpointed
        # num_to_keep times, so each trial's final checkpoint also records the trial as
        # finished for --resume (periodic snapshots alone come every 10 s or more).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        # 0 (no trial tables) under gantune's console unless -v; 1 for library calls.
        verbose=console.ray_verbosity(),
        # JSON and CSV results (ExperimentAnalysis and export read them); no TensorBoard event
        # files, which the driver would write at every report of every trial. Ray adds its
        # default loggers unless TUNE_DISABLE_AUTO_CALLBACK_LOGGERS is set (run_tuning sets it).
        # The console's progress display is one more callback (tuning/console.py).
        callbacks=[CSVLoggerCallback(), JsonLoggerCallback(), *console.driver_callbacks(opts, run_dir)],
    )


def _trial_name(trial: Any) -> str:
    # "<index>_<id>": short, sortable, and free of parameter values (Ray's default puts every
    # parameter into the directory name).
    return f"{trial.experiment_tag.split('_', 1)[0]}_{trial.trial_id}"


def concurrent_slots(opts: TuneOptions) -> int:
    """Trials Ray can run at once: --max-concurrent, else what the cluster's live nodes allow."""
    import ray

    if opts.max_concurrent:
        return int(opts.max_concurrent)
    res = ray.cluster_resources()
    if opts.gpus_per_trial > 0:
        return max(1, int(res.get("GPU", 0) // opts.gpus_per_trial))
    return max(1, int(res.get("CPU", 1) // opts.cpus_per_trial))


@contextlib.contextmanager
def _pending_trials(n: int):
    """Let Ray Tune keep up to `n` trials pending (waiting for an actor) instead of 1.

    With a search algorithm Ray Tune creates the next trial only once the previous one's actor
    is up (TUNE_MAX_PENDING_TRIALS_PG "auto" = 1), so trials start one actor start-up (~6 s
    here: a process importing torch) apart. Measured on 2 CPUs, pack mode, 2 packs: the second
    pack started 5.9 s after the first. A user's own TUNE_MAX_PENDING_TRIALS_PG wins; on an
    autoscaling cluster pending trials are also what asks for more nodes.
    """
    key = "TUNE_MAX_PENDING_TRIALS_PG"
    if key in os.environ:
        yield
        return
    os.environ[key] = str(max(1, n))
    try:
        yield
    finally:
        os.environ.pop(key, None)


def init_ray(address: str | None, *, num_cpus: int | None = None) -> None:
    import ray
    import ray.exceptions

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs: dict[str, Any] = {"include_dashboard": False, **console.ray_init_kwargs(logging.WARNING)}
    # A cluster with token authentication (Ray 2.60) refuses a driver without its token; Ray
    # then raises ConnectionError with the "InvalidAuthToken" reply only in the chained causes.
    AuthenticationError = getattr(ray.exceptions, "AuthenticationError", ())  # () where Ray has none
    token_fix = "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` on the head prints it)"
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            # address="local": always a new embedded Ray. A bare ray.init() would join whatever
            # cluster the last `ray start` on this machine recorded (someone else's, even).
            ray.init(address="local", num_cpus=num_cpus, **kwargs)
    except AuthenticationError as exc:  # RAY_AUTH_MODE=token but no token found here
        raise GanTuneError(f"--address {address}: {getattr(exc, 'message', exc)}; {token_fix}") from None
    except ConnectionError as exc:
        chain, cause = [], exc
        while cause is not None and len(chain) < 10:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        if any(isinstance(c, AuthenticationError) or "InvalidAuthToken" in str(c) for c in chain):
            raise GanTuneError(f"--address {address}: the Ray cluster refused this driver's authentication token (InvalidAuthToken); {token_fix}") from None
        raise GanTuneError(f"--address {address}: cannot connect to a Ray cluster ({exc}); check the address or start the cluster") from None


# Pool mode's successive-halving rungs: 1/81, 1/27, 1/9 and 1/3 of a member's budget (Optuna's
# SuccessiveHalvingPruner, reduction factor 3), the first no sooner than MIN_FIRST_RUNG steps
# (rungs are dropped from the front until it is). Measured in-process (one worker, 2 minutes,
# default space, 10,000 epochs): iris-setosa, 6 seeds, best 0.0458 on average against 0.0563
# with the first rung at 1/27 (better on 5 of 6 seeds), about twice the configurations a
# minute; wine, 2 seeds, 0.0648 / 0.1122 against 0.0724 / 0.1205. A fifth rung at 1/243 (64
# steps on iris) was no better (0.0467 / 0.0555 against 0.0467 / 0.0444) and its evaluations
# took a third of the worker's member steps: hence the floor. On generated tables of 8,000-12,000
# rows (5,000 steps: rungs at 185 / 555 / 1,665) a floor of 500 (rungs 555 / 1,665) was level
# (2026-11-29, 8 pairs side by side, 2 minutes: best 0.0328 on average against 0.0337, better
# in 3, level in 3, worse in 2; at 1 minute behind in 4, level in 4): not kept.
# Hyperband's brackets over these rungs (Optuna's proportions, the sampler reading the whole
# study) were worse on iris-setosa at 1, 2 and 5 minutes on 4 of 4 seeds, with a twelfth to two
# fifths of the configurations told (docs/measured.md, "Hyperband's brackets in the pool").
RUNG_LEVELS = 4
MIN_FIRST_RUNG = 150


def pool_rungs(opts: TuneOptions, n_rows: int) -> list[int]:
    """Successive-halving rungs (steps) for pool mode (RUNG_LEVELS, MIN_FIRST_RUNG); members are
    also scored there, so a poor one costs 1/81 of a budget. Empty (no pruning) with --scheduler
    none or a multi-objective run. A pool member is cheap, so the first rung comes far earlier
    than per-trial mode's ASHA grace period (1/4 of the budget)."""
    if opts.scheduler != "asha" or len(opts.objectives[0]) > 1:
        return []
    # The members' budget in steps: at the batch size the pool's space fixes for the table (a
    # space that searches batch_size: its first choice), not the base config's, or every rung
    # would sit at another fraction of the members' budget (wine, batch 64 against the base's
    # 32: the first rung fell at 1/13.5, the last at 2/3).
    space = opts.search_space(n_rows)
    total = space.midpoint_config().total_steps(n_rows)
    levels = RUNG_LEVELS
    while levels > 1 and total / 3 ** levels < MIN_FIRST_RUNG:
        levels -= 1
    first = max(1, round(total / 3 ** levels))
    return [r for r in (first * 3 ** i for i in range(levels)) if r < total]


def pool_slots(opts: TuneOptions, workers: int) -> int:
    """Member slots per pool worker: --pack K, or for auto the device's AUTO_SLOTS, but no more
    than needed to give every worker a share of --num-samples."""
    from tuning.pool import AUTO_SLOTS

    if opts.pack != "auto":
        return max(1, min(int(opts.pack), opts.num_samples))
    cap = AUTO_SLOTS["cuda" if opts.gpus_per_trial > 0 else "cpu"]
    return max(1, min(cap, math.ceil(opts.num_samples / max(1, workers))))


def held_members(run_dir: Path) -> list[int]:
    """Optuna numbers that the pool checkpoints Ray will restore hold (their members resume).

    Only each worker's checkpoint as Ray's experiment state records it counts, not every
    checkpoint directory on disk: a driver killed while Ray persists a worker's next checkpoint
    leaves that one beside it (seen: two pool.json after a SIGKILL), and members asked between
    the two would count as held though the restored worker does not have them. The others
    are released, i.e. asked again.
    """
    from ray.tune import ExperimentAnalysis

    from tuning.pool import POOL_INDEX

    numbers: set[int] = set()
    for trial in ExperimentAnalysis(str(run_dir)).trials:
        checkpoint = trial.checkpoint
        if checkpoint is None or not checkpoint.path:
            continue
        try:
            numbers.update(int(n) for n in json.loads((Path(checkpoint.path) / POOL_INDEX).read_text())["numbers"])
        except (OSError, ValueError, KeyError):
            continue
    return sorted(numbers)


def build_pool_tuner(opts: TuneOptions, data: TabularData, space: SearchSpace, run_dir: Path, *, resume: bool):
    """The Tuner of a pool-mode run, and the run's StudyServer actor the workers share."""
    import ray
    from ray import tune

    from tuning.pool import pool_trainable
    from tuning.study import StudyServer

    workers = concurrent_slots(opts)
    slots = pool_slots(opts, workers)
    rungs = pool_rungs(opts, len(data.train_idx))
    metrics, modes = opts.objectives
    deadline = time.time() + opts.time_budget if opts.time_budget else None
    actor_name = f"gantune-study-{opts.name}"
    # On the driver's node, no CPU reserved: it only serves ask / report / tell. It lives as
    # long as the driver; --resume starts a new one over the same journal. Pinned there: Ray
    # may place a resource-less actor on any node, and losing that node would end the run.
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    server = ray.remote(StudyServer).options(name=actor_name, num_cpus=0, max_concurrency=1, scheduling_strategy=here).remote(
        str(run_dir), opts.name, space=space, sampler=opts.sampler, seed=opts.seed,
        directions=["minimize" if m == "min" else "maximize" for m in modes], rungs=rungs,
        num_samples=opts.num_samples, deadline=deadline)
    resources = {"cpu": opts.cpus_per_trial, "gpu": opts.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(pool_trainable, data=data, space=space), resources)
    if resume:
        released = ray.get(server.release.remote(held_members(run_dir)))
        if released:
            log.info("%d configuration(s) in flight when the run stopped were lost; they are proposed again", released)
        return tune.Tuner.restore(str(run_dir), trainable=trainable, resume_unfinished=True, resume_errored=True), server
    count = "as many configurations as the time budget allows" if opts.num_samples >= UNLIMITED_SAMPLES else f"{opts.num_samples} configurations"
    log.info("pool mode: %d worker(s) x %d member slots, %s", workers, slots, count)
    param_space = {**_constants(opts), "_study_actor": actor_name, "_slots": slots, "_max_copy_share": opts.max_copy_share,
                   "_objectives": metrics, "_rungs": rungs}
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            num_samples=workers,
            # The workers end the run themselves at the deadline, every member told; Ray's own
            # limit is only a backstop for a worker that does not return.
            time_budget_s=opts.time_budget + 600 if opts.time_budget else None,
            reuse_actors=False,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=run_config(opts, run_dir),
    ), server


# Ray Tune settings read from the environment, set for a run and restored after it (a user's
# own value wins): one forced snapshot per finished trial is intended (see CheckpointConfig),
# which Ray would otherwise warn about for runs of many short trials; loggers come from
# run_config() alone (no TensorBoard files).
_TUNE_ENV = {"TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}


@contextlib.contextmanager
def _tune_env():
    added = [k for k in _TUNE_ENV if k not in os.environ]
    os.environ.update({k: _TUNE_ENV[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


DRIVER_LOCK = "driver.lock"


@contextlib.contextmanager
def hold_run(run_dir: Path):
    """Hold `run_dir` for this driver until the block ends: one driver per run directory.

    A second driver on a live run (`--resume` from another terminal while the first still runs)
    would start a second study server on the same journal and cut what the first is writing; it
    is refused here in one line, before Ray starts. An flock, not a pid file: the kernel drops
    it when the holder exits however it ends (SIGKILL included), so `--resume` after a killed
    driver needs no clean-up. The file stays; what it says (who held it) is only for the message.
    """
    import socket

    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock to take
        yield
        return
    path = Path(run_dir) / DRIVER_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise GanTuneError(f"{run_dir} is in use by another gantune driver ({holder}); let it finish or stop it (Ctrl-C), "
                               "then --resume") from None
        except OSError as exc:  # a file system without locks (some network mounts): run unguarded
            log.warning("%s: cannot lock the run directory (%s); make sure no other driver runs it", run_dir, exc.strerror)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _run_exists(run_dir: Path) -> GanTuneError:
    return GanTuneError(f"run directory {run_dir} already exists; pass --resume to continue it or choose another --name")


def _new_run_dir(run_dir: Path, opts: TuneOptions, held: contextlib.ExitStack, data: TabularData) -> None:
    """Create a new run's directory and hold it; a run of the same name started meanwhile (the
    check before Ray's start passed for both) is refused as an existing one."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise _run_exists(run_dir) from None
    held.enter_context(hold_run(run_dir))
    record_data(run_dir, data)
    write_json_atomic(run_dir / META_FILE, dataclasses.asdict(opts))


def run_tuning(opts: TuneOptions, *, resume: bool = False, address: str | None = None, num_cpus: int | None = None,
               time_budget: float | None = None, table: str | None = None, metadata: str | None = None):
    """Start (or resume) a tuning run; returns (ResultGrid, run_dir). `time_budget`: a new
    budget for a resumed run (its other options are the stored ones); `table` / `metadata`: the
    resumed run's table / metadata file at a new path. The caller's environment is left as it was."""
    with _tune_env():
        return _run_tuning(opts, resume=resume, address=address, num_cpus=num_cpus, time_budget=time_budget, table=table,
                           metadata=metadata)


def _run_tuning(opts: TuneOptions, *, resume: bool, address: str | None, num_cpus: int | None, time_budget: float | None,
                table: str | None, metadata: str | None):
    with contextlib.ExitStack() as held:
        return _run_held(opts, held, resume=resume, address=address, num_cpus=num_cpus, time_budget=time_budget, table=table,
                         metadata=metadata)


def _run_held(opts: TuneOptions, held: contextlib.ExitStack, *, resume: bool, address: str | None, num_cpus: int | None,
              time_budget: float | None, table: str | None = None, metadata: str | None = None):
    """The run; `held` holds the run directory (`hold_run`) before anything in it is written."""
    if resume:
        if opts.name is None:
            raise GanTuneError("--resume needs --name (and --storage-path) of the run to continue")
        run_dir = opts.run_dir
        stored = read_options(run_dir)
        opts = stored
        if time_budget is not None:
            opts.time_budget = time_budget
        # Fail on bad input before any Ray process starts.
        data, recorded = load_run_table(run_dir, opts, "continue", table, metadata=metadata)
        held.enter_context(hold_run(run_dir))
        if not recorded:  # a run from before the record: from now on checked against this table
            record_data(run_dir, data)
        if table is not None or metadata is not None:
            set_table_path(run_dir, opts)
    else:
        opts.name = opts.name or time.strftime("tune-%Y%m%d-%H%M%S")
        # Stored as absolute paths, so --resume and export find them from any directory.
        opts.data = table_path(opts.data)
        opts.metadata = opts.metadata and str(Path(opts.metadata).resolve())
        opts.validate()
        run_dir = opts.run_dir
        if run_dir.exists():  # checked again when the directory is made (_new_run_dir), after Ray's start
            raise _run_exists(run_dir)
        data = opts.load_data()  # bad input fails here, before any Ray process starts
    space = opts.search_space(len(data.train_idx))
    base = opts.base_config()
    if opts.mode == "pool":
        _check_packable_losses(space, base)
    if len(data.train_idx) < base.batch_size and "batch_size" in (opts.config or {}):
        raise GanTuneError(f"{data.source}: {len(data.train_idx)} training rows but batch_size {base.batch_size}; set a smaller batch_size in --config")
    # Build what every trial needs from the real rows once, here, so trials receive it ready
    # through Ray's object store instead of each rebuilding it.
    data.train_encoded, data.scorer, data.reference  # noqa: B018

    if address is None:
        _check_resources(opts, None)

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    init_ray(address, num_cpus=num_cpus)
    if address is not None:
        _check_resources(opts, address)
    if resume:
        if not tune.Tuner.can_restore(str(run_dir)):
            raise GanTuneError(f"{run_dir}: no Ray Tune experiment state to resume (the run never started a trial); start a new run")
        # Ray's experiment state holds the searcher (and the Optuna state); the study's journal
        # continues in place, once what a killed driver left in it is cleared.
        repair_study_journal(run_dir)
    server = None
    if opts.mode == "pool":  # each Ray trial is a pool worker training many configurations
        if not resume:
            _new_run_dir(run_dir, opts, held, data)
        tuner, server = build_pool_tuner(opts, data, space, run_dir, resume=resume)
    elif resume:
        tuner = tune.Tuner.restore(str(run_dir), trainable=_trainable(opts, data, space), resume_unfinished=True, resume_errored=True)
        log.info("resuming %s", run_dir)
    else:
        _new_run_dir(run_dir, opts, held, data)
        searcher = build_searcher(space, opts, run_dir)
        if opts.max_concurrent:
            searcher = ConcurrencyLimiter(searcher, max_concurrent=opts.max_concurrent)
        multi = len(opts.objectives[0]) > 1
        if multi and opts.scheduler == "asha":
            log.info("--objective %s is multi-objective: ASHA ranks by one metric, so trials run to the end (--scheduler none)", opts.objective)
        if opts.scheduler == "asha" and not multi:
            scheduler = ASHAScheduler(
                time_attr=opts.budget_attr,
                max_t=opts.budget,
                grace_period=max(base.eval_every, opts.budget // 4),
                reduction_factor=3,
            )
        else:
            scheduler = FIFOScheduler()
        tuner = tune.Tuner(
            _trainable(opts, data, space),
            param_space=_constants(opts),
            tune_config=tune.TuneConfig(
                metric=None if multi else METRIC,
                mode=None if multi else MODE,
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=opts.num_samples,
                time_budget_s=opts.time_budget,
                reuse_actors=opts.reuse_actors,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=run_config(opts, run_dir),
        )
    try:
        with _pending_trials(concurrent_slots(opts)):
            results = tuner.fit()
        if server is not None and not results.errors and all(r.metrics.get("live") == 0 for r in results):
            # Every pool worker ended its run (its last report: no live member; none errored,
            # none interrupted -- after Ctrl-C Ray lists stopped trials as terminated too): no
            # trial of the run can be told any more, and none may stay RUNNING.
            import ray

            orphans = ray.get(server.close_orphans.remote())
            if orphans:
                log.warning("%d configuration(s) were left running by their pool worker; the study records them as failed", orphans)
    finally:
        if server is not None:
            import ray

            ray.kill(server)  # its journal writes are flushed with each call
    return results, run_dir


