"""The `gantune` command. `main(argv)` returns an exit status, so tests can call it directly.

Errors a user can fix print as one line, `gantune: error: ...`, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from gan.errors import GanTuneError

log = logging.getLogger("gantune")

# Numeric columns' encoding by default (gan.transform): normal where a column has many distinct
# values, minmax where it has few (README, "Model").
DEFAULT_ENCODING = "auto"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("give a comma-separated list of column names")
    return cols


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def add_data_args(p: argparse.ArgumentParser, default: str | None = "iris-setosa") -> None:
    from gan.transform import ENCODINGS

    g = p.add_argument_group("data")
    g.add_argument("--data", default=default, help="built-in dataset (iris-setosa, iris, wine, breast-cancer, penguins) or a CSV/Parquet path (default: %(default)s)")
    g.add_argument("--columns", type=_columns, help="comma-separated columns to model (default: every column but identifiers)")
    g.add_argument("--metadata", help="YAML/JSON file of column types (numeric, integer, categorical, ignore) overriding the inferred ones; "
                   "`gantune describe --write-metadata FILE` writes one to edit")
    g.add_argument("--na-values", type=_names, help="comma-separated extra strings that mark a missing cell in a CSV (e.g. '?,-999')")
    g.add_argument("--dropna", action="store_true", help="drop rows with a missing value instead of modelling missing values")
    g.add_argument("--holdout", type=_fraction, default=0.0, help="fraction of rows kept out of training (default: 0)")
    g.add_argument("--encoding", choices=ENCODINGS, default=DEFAULT_ENCODING,
                   help="numeric columns: normal (empirical CDF to a standard normal; G's slot is linear), quantile (empirical CDF "
                   "to uniform; tanh), minmax (the reference model's scaling; tanh) or auto (normal for columns with 50 or more "
                   "distinct values, minmax for the others; default)")
    g.add_argument("--no-round", action="store_true", help="do not round generated numbers to each column's recorded precision")
    g.add_argument("--range-margin", type=_fraction, default=0.0,
                   help="let generated numbers exceed the real min / max by this fraction of the range (default: 0, never outside)")


def data_options(args: argparse.Namespace) -> dict:
    """The load_data keyword arguments the data flags give."""
    return {"columns": args.columns, "metadata": args.metadata, "na_values": args.na_values, "dropna": args.dropna,
            "holdout": args.holdout, "encoding": args.encoding, "round_values": not args.no_round, "margin": args.range_margin}


def _load_data(args: argparse.Namespace, seed: int = 0):
    from gan.data import load_data

    return load_data(args.data, seed=seed, **data_options(args))


def _config_from_args(args: argparse.Namespace):
    from gan.config import GANConfig, load_config

    config = load_config(args.config) if args.config else GANConfig()
    changes: dict[str, Any] = {} if args.seed is None else {"seed": args.seed}
    if args.epochs is not None or args.steps is not None:
        # A budget flag replaces the config's budget in either unit: `steps`, when set, wins over
        # `epochs`, so --epochs on an exported best_config.json (which sets steps) was silently
        # ignored. eval_every counts epochs under an epochs budget and steps under a steps one:
        # kept where the unit stays, a tenth of the new budget (as `gantune tune`) where it changes.
        by_steps = args.steps is not None
        budget = args.steps if by_steps else args.epochs
        same_unit = (config.steps is not None) == by_steps
        changes.update(steps=args.steps, epochs=config.epochs if by_steps else args.epochs,
                       eval_every=config.eval_every if same_unit else max(1, budget // 10))
    return config.replace(**changes) if changes else config


# -- train -------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """A thin layer over `gan.fit` and `ModelBundle.save` (gan/api.py)."""
    from gan.api import fit
    from gan.io import check_output_dir
    from gan.report import column_types, format_table

    config = _config_from_args(args)
    check_output_dir(args.out, force=args.force)  # fail before training, not after
    bundle = fit(args.data, config, device=args.device, progress=not args.quiet, **data_options(args))
    bundle.save(args.out, force=args.force)
    metrics = bundle.metrics
    print(format_table(metrics, bundle.columns, column_types(bundle.transformer.specs)))
    print(f"wd_mean {metrics['wd_mean']:.4f} ({metrics['status']}); bundle written to {args.out}")
    return 0


# -- sample ------------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    from gan.bundle import load_bundle
    from gan.columns import written_values
    from gan.data import csv_format_text
    from gan.io import write_text_atomic

    bundle = load_bundle(args.bundle)
    # Written as the training table was: ';', decimal commas and Windows-1252 for a spreadsheet's
    # file, dates in its form (14.10.2022), money with its sign ($1,234.50).
    fmt = bundle.data.get("csv_format") or {}
    csv_args = {"sep": fmt.get("sep", ","), "decimal": fmt.get("decimal", ".")}
    frame = written_values(bundle.sample(args.n, seed=args.seed), bundle.transformer.specs)
    encoding = fmt.get("encoding", "utf-8")
    if args.out == "-":
        frame.to_csv(sys.stdout, index=False, **csv_args)
    else:
        out = Path(args.out)
        if out.is_dir():
            raise GanTuneError(f"-o {out}: is a directory; give a file name such as {out / 'samples.csv'}")
        if not out.resolve().parent.is_dir():
            raise GanTuneError(f"-o {out}: directory {out.resolve().parent} does not exist; create it first")
        write_text_atomic(out, frame.to_csv(index=False, **csv_args), encoding=encoding)
        how = f" ({csv_format_text(**csv_args, encoding=encoding)}, as the table it was trained on)" if fmt else ""
        print(f"wrote {len(frame)} rows x {len(frame.columns)} columns to {out}{how}")
    return 0


# -- evaluate ----------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """A thin layer over `gan.evaluate` (gan/api.py): a bundle directory or a CSV of generated rows."""
    from gan.api import evaluate
    from gan.report import format_table

    result = evaluate(args.data, args.source, n=args.n, seed=args.seed, figure=args.figure or None, **data_options(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result, result["columns"]))
        if args.figure:
            print(f"histograms written to {args.figure}")
    return 0


# -- describe ----------------------------------------------------------------------------------
def cmd_describe(args: argparse.Namespace) -> int:
    """Print the column types gantune infers (or a metadata file sets); optionally write them."""
    import yaml

    from gan.columns import metadata_document
    from gan.data import plan_columns, read_frame, select_columns
    from gan.io import write_text_atomic

    frame, where = read_frame(args.data, na_values=args.na_values)
    frame = select_columns(frame, where, args.columns)
    plan = plan_columns(frame, where, args.metadata)
    print(f"{where}: {len(frame)} rows, {len(plan.specs)} column(s) modelled, {len(plan.left_out)} left out")
    width = max(len(c) for c in frame.columns)
    for spec in plan.specs:
        print(f"  {spec.name:<{width}}  {spec.describe()}")
    for name, reason in plan.left_out.items():
        print(f"  {name:<{width}}  left out: {reason}")
    if args.write_metadata:
        out = Path(args.write_metadata)
        if out.exists() and not args.force:
            raise GanTuneError(f"--write-metadata {out}: file exists; choose another name or pass --force")
        write_text_atomic(out, yaml.safe_dump(metadata_document(plan), sort_keys=False))
        print(f"metadata written to {out}; edit it and pass it with --metadata")
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gantune", description="Tune generative models of tabular data.")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one GAN and save it as a bundle")
    add_data_args(p)
    p.add_argument("--config", help="GANConfig as a JSON or YAML file (e.g. best_config.json from an export)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, help="train this many passes over the rows instead of the config's budget")
    budget.add_argument("--steps", type=_positive_int, help="train this many optimisation steps instead of the config's budget "
                        "(an exported best_config.json sets steps)")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--out", default="gantune-model", help="bundle directory to write (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate rows from a bundle, in original units")
    p.add_argument("bundle", help="bundle directory (gantune train --out, or an export directory: its model/)")
    p.add_argument("-n", type=_positive_int, default=1000, help="number of rows (default: %(default)s)")
    p.add_argument("-o", "--out", default="-", help="CSV file to write, or - for stdout (default)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("describe", help="show the column types gantune infers for a table (and write them as a metadata file)")
    p.add_argument("--data", default="iris-setosa", help="built-in dataset or a CSV/Parquet path (default: %(default)s)")
    p.add_argument("--columns", type=_columns, help="comma-separated columns to consider (default: all)")
    p.add_argument("--metadata", help="metadata file overriding inferred types")
    p.add_argument("--na-values", type=_names, help="comma-separated extra strings that mark a missing cell")
    p.add_argument("--write-metadata", help="write the column types as a YAML metadata file to edit")
    p.add_argument("--force", action="store_true", help="replace an existing --write-metadata file")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("evaluate", help="score a bundle or a CSV of generated rows against real data")
    p.add_argument("source", help="bundle directory (or an export directory: its model/) or CSV of generated rows")
    add_data_args(p, default=None)
    p.add_argument("-n", type=_positive_int, default=1000, help="rows to generate from a bundle (default: %(default)s)")
    p.add_argument("--seed", type=int, default=12345, help="sampling seed for a bundle (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--figure", default="evaluate_histograms.png", help="histogram PNG to write ('' for none; default: %(default)s)")
    p.set_defaults(func=cmd_evaluate)

    from tuning import commands

    commands.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command != "sample" else logging.WARNING,
                        format="%(message)s", stream=sys.stderr, force=True)
    try:
        return int(args.func(args) or 0)
    except GanTuneError as exc:
        print(f"gantune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gantune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
