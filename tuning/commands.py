"""`gantune tune` and `gantune export` (Ray is imported only when they run)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gan.errors import GanTuneError

log = logging.getLogger("gantune")



def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _pack(text: str):
    from tuning.options import parse_pack

    try:
        return parse_pack(text)
    except GanTuneError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


# Flags that may come with --resume: where the run is, where it runs, what to print and export,
# a new --time-budget for the continued run, and --data / --metadata: the run's table / metadata
# file at another path (checked to be the same table). Every other option is the stored run's.
RESUME_FLAGS = {"--name", "--storage-path", "--resume", "--address", "--out", "--force", "--top", "--time-budget", "--log-to",
                "--data", "--metadata"}


def _explicit(args: argparse.Namespace) -> list[str]:
    """Options of `gantune tune` given on the command line (other than their defaults)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_tune_arguments(parser)
    defaults = vars(parser.parse_args([]))
    # Every tune option's flag is its destination with dashes (--num-samples -> num_samples).
    flags = {k: "--" + k.replace("_", "-") for k in defaults}
    return sorted(flags[k] for k, v in vars(args).items() if k in defaults and v != defaults[k])


def _tracker(text: str):
    from tuning.trackers import parse_target

    try:
        return parse_target(text)
    except GanTuneError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def cmd_tune(args: argparse.Namespace) -> int:
    from gan.config import read_mapping
    from tuning.options import TuneOptions, default_num_samples

    opts = TuneOptions(
        data=args.data,
        columns=args.columns,
        metadata=args.metadata,
        na_values=args.na_values,
        dropna=args.dropna,
        holdout=args.holdout,
        encoding=args.encoding,
        round_values=not args.no_round,
        range_margin=args.range_margin,
        space=read_mapping(args.space) if args.space else None,
        config=read_mapping(args.config) if args.config else None,
        epochs=args.epochs,
        steps=args.steps,
        seed=args.seed,
        # --time-budget alone: configurations until the budget ends, not the default 20.
        num_samples=args.num_samples if args.num_samples is not None else default_num_samples(args.pack, args.time_budget),
        max_concurrent=args.max_concurrent,
        sampler=args.sampler,
        scheduler=args.scheduler,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        time_budget=args.time_budget,
        storage_path=args.storage_path,
        name=args.name,
        reuse_actors=not args.no_reuse_actors,
        max_failures=args.max_failures,
        device=args.device,
        pack=args.pack,
        objective=args.objective,
        max_copy_share=args.max_copy_share,
    )
    explicit = _explicit(args) if args.resume else []
    if args.resume:
        if args.name is None:
            raise GanTuneError("--resume needs --name (and --storage-path) of the run to continue")
        given = [flag for flag in explicit if flag not in RESUME_FLAGS]
        if given:
            raise GanTuneError(
                f"--resume continues the run with the options it was started with; drop {', '.join(given)} "
                f"(only {', '.join(sorted(RESUME_FLAGS))} may be given with --resume)"
            )
    else:
        opts.validate()
    if args.out:
        from gan.io import check_output_dir

        check_output_dir(args.out, force=args.force, what="export directory")
    from tuning import console, trackers
    from tuning.export import export_run, format_top
    from tuning.options import read_options
    from tuning.records import collect_trials, trials_table
    from tuning.run import run_tuning
    from tuning.study import close_stale_study_trials

    targets = args.log_to or []
    trackers.check_available(targets)
    # One live progress display; Ray's trial tables and logs only with -v (tuning/console.py).
    with console.session(verbose=bool(getattr(args, "verbose", False))):
        _, run_dir = run_tuning(opts, resume=args.resume, address=args.address,
                                time_budget=args.time_budget if args.resume else None,
                                table=args.data if "--data" in explicit else None,
                                metadata=args.metadata if "--metadata" in explicit else None)

    stored = read_options(run_dir)
    records = collect_trials(run_dir, stored)
    if not any(r.status in ("running", "pending") for r in records):
        stale = close_stale_study_trials(run_dir, run_dir.name)
        if stale:
            why = "--time-budget" if opts.time_budget else "the run's end"
            log.info("%d configuration(s) were cut by %s before they finished; the study records them as failed", stale, why)
    else:
        print(f"run interrupted; continue it with: gantune tune --resume --storage-path {run_dir.parent} --name {run_dir.name}")
    print(f"\nrun directory: {run_dir}")
    print(format_top(trials_table(records), k=args.top, max_copy_share=stored.max_copy_share))
    for line in trackers.log_run(run_dir, targets):
        print(line)
    if args.out:
        summary = export_run(run_dir, args.out, force=args.force)
        print(console.format_outcome(summary, args.out))
    else:
        print(f"export the best with: gantune export {run_dir} --out DIR")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tuning.console import format_outcome
    from tuning.export import export_run

    summary = export_run(Path(args.run_dir), args.out, top_k=args.top_k, force=args.force, max_copy_share=args.max_copy_share,
                         data=args.data, metadata=args.metadata)
    print(format_outcome(summary, args.out))
    return 0


def add_tune_arguments(p: argparse.ArgumentParser) -> None:
    from gan.fidelity import DEFAULT_MAX_COPY_SHARE
    from tuning.cli import add_data_args
    from tuning.options import DEFAULT_SAMPLES, DEFAULT_STEPS, SAMPLERS, SCHEDULERS

    add_data_args(p)
    p.add_argument("--space", help="YAML/JSON file overriding search ranges or fixing fields")
    p.add_argument("--config", help="base GANConfig (JSON/YAML) for fields the space does not search")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_int, help=f"optimisation steps per configuration, whatever the table's size (default: {DEFAULT_STEPS})")
    budget.add_argument("--epochs", type=_int, help="passes over the training rows per configuration instead of --steps (small tables)")
    p.add_argument("--seed", type=_int, default=0, help="seed of the sampler and of every trial's GAN (default: 0)")
    p.add_argument("--num-samples", type=_int, help=f"configurations to try (default: {DEFAULT_SAMPLES['pool']} in pool mode, "
                   f"{DEFAULT_SAMPLES['trial']} with --pack off, or as many as "
                   "--time-budget allows when it is given)")
    p.add_argument("--max-concurrent", type=_int, help="at most this many trials at once (default: as resources allow)")
    p.add_argument("--sampler", default="tpe", help=f"Optuna sampler: {', '.join(SAMPLERS)} (default: tpe)")
    p.add_argument("--scheduler", default="asha", help=f"trial scheduler: {', '.join(SCHEDULERS)} (default: asha)")
    p.add_argument("--cpus-per-trial", type=_float, default=1.0, help="CPUs per trial, fractions allowed (default: 1)")
    p.add_argument("--gpus-per-trial", type=_float, default=0.0, help="GPUs per trial, fractions allowed (default: 0)")
    p.add_argument("--time-budget", type=_float, help="end the run after this many seconds: configurations still training "
                   "stop at their last score, which counts like any other, and the best so far is exported")
    p.add_argument("--storage-path", default="gantune-runs", help="where run directories live; shared storage on a cluster (default: %(default)s)")
    p.add_argument("--name", help="run name (default: tune-DATE-TIME); with --resume, the run to continue")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run (--name, --storage-path; --data / --metadata if its table / metadata file has moved)")
    p.add_argument("--address", help="join a Ray cluster: auto or HOST:PORT (default: embedded local Ray)")
    p.add_argument("--max-failures", type=_int, default=2, help="retries of a failed trial (default: %(default)s)")
    p.add_argument("--no-reuse-actors", action="store_true", help="start a fresh Ray actor per trial (slower)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda for trials (default: cuda with --gpus-per-trial, else cpu)")
    p.add_argument("--pack", type=_pack, default="auto",
                   help="pool mode: each Ray trial trains up to K configurations at once as one vectorised model, refilling "
                   "freed slots with new proposals; an integer K, auto (64 per CPU worker, 1024 per GPU worker, no more than "
                   "--num-samples needs) or off (one Ray trial per configuration, with ASHA) (default: auto)")
    p.add_argument("--objective", default="wd", help="wd (default), or multi-objective wd,detect_auc or wd,dcr_ratio (Pareto front in the export)")
    p.add_argument("--max-copy-share", type=_float, default=DEFAULT_MAX_COPY_SHARE,
                   help="memorisation guard: the exported best may have at most this share of near-copies of training rows (default: %(default)s)")
    p.add_argument("--out", help="export the best trial to this directory when the run ends")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument("--top", type=_int, default=5, help="rows of the final top-trials table (default: %(default)s)")
    p.add_argument("--log-to", action="append", type=_tracker, metavar="TRACKER",
                   help="also log every configuration (parameters, scores by step, status) when the run ends: mlflow "
                   "(SQLite store RUN/mlflow.db), mlflow:URI, tensorboard (RUN/tensorboard) or tensorboard:DIR; repeat for several "
                   "(needs pip install 'gantune[track]')")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="tune GAN hyperparameters with Ray Tune + Optuna")
    add_tune_arguments(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("export", help="export the best configuration and model of a tuning run")
    p.add_argument("run_dir", help="the run directory (storage-path/name)")
    p.add_argument("--out", required=True, help="directory to write")
    p.add_argument("--top-k", type=_int, help="rows in trials.csv (default: all)")
    p.add_argument("--max-copy-share", type=_float, help="override the run's memorisation guard")
    p.add_argument("--data", help="the run's table, when it is no longer at the path it was tuned at (checked to be the same table)")
    p.add_argument("--metadata", help="the run's metadata file, when it is no longer at the path it was tuned with (checked the same)")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.set_defaults(func=cmd_export)
