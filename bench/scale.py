"""How time and memory grow with the table: 1k / 10k / 100k / 1M rows x 20 mixed columns.

    python bench/scale.py                       # all sizes, CPU, one thread
    python bench/scale.py --rows 1000,10000 --device cuda

Each size runs in a fresh subprocess (so its peak memory is its own) on `bench.tables.make_mixed`
rows written to a CSV, and measures what a tuning run pays:

* load: `gan.data.load_data` of the CSV (read, infer column types, fit the transformer) plus the
  encoded training matrix;
* reference: building the real side of the scores once (`data.scorer`, `data.reference`: the
  nearest-neighbour index, the copy threshold's distances, the association matrix);
* step: one optimisation step (D + G) at batch 256 and at the batch pool mode uses for the
  table (`tuning.space.default_batch`), reference-size networks (median of timed blocks after
  warm-up);
* eval: one trial report's scoring -- 1,000 generated rows decoded and scored per column, plus
  the memorisation guard and association scores (`table_fidelity` without the classifier);
  detect: the detection classifier, which runs only at a trial's last report;
* peak RSS of the process.

The table at the end gives each figure and its growth factor from the previous size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _median_block_time(fn, n_blocks: int = 5, block: int = 20) -> float:
    times = []
    for _ in range(n_blocks):
        t = time.perf_counter()
        fn(block)
        times.append((time.perf_counter() - t) / block)
    times.sort()
    return times[len(times) // 2]


def measure(rows: int, device: str, csv: str) -> dict:
    import torch

    from gan.config import GANConfig
    from gan.data import load_data
    from gan.fidelity import detect_auc, table_fidelity
    from gan.train import Trainer
    from tuning.space import default_batch

    torch.set_num_threads(1)
    out: dict = {"rows": rows}
    t = time.perf_counter()
    data = load_data(csv, quiet=True, encoding="auto")
    data.train_encoded  # noqa: B018
    out["load_s"] = time.perf_counter() - t
    out["columns"], out["width"] = data.n_columns, data.width
    t = time.perf_counter()
    data.scorer, data.reference  # noqa: B018
    out["reference_s"] = time.perf_counter() - t
    for name, bs in (("step_ms_b256", 256), ("step_ms_bmax", default_batch(rows))):
        trainer = Trainer(GANConfig(batch_size=min(bs, rows), steps=10_000), data, device)
        trainer.run_steps(10)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        out[name] = 1000 * _median_block_time(lambda k: (trainer.run_steps(k), torch.cuda.synchronize() if device.startswith("cuda") else None))
    out["bmax"] = default_batch(rows)
    t = time.perf_counter()
    metrics = trainer.evaluate()
    fake = trainer.sample_values(1000, 0)
    table_fidelity(data.reference, fake, detect=False)
    out["eval_s"] = time.perf_counter() - t
    t = time.perf_counter()
    detect_auc(data.reference.detect_rows, fake, categorical=data.reference.categorical, allow_nan=True)
    out["detect_s"] = time.perf_counter() - t
    out["wd_mean"] = metrics["wd_mean"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000,10000,100000,1000000")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        rows, csv = args.child.split(":", 1)
        print(json.dumps(measure(int(rows), args.device, csv)))
        return 0
    from bench.tables import make_mixed

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in [int(r) for r in args.rows.split(",")]:
            csv = Path(tmp) / f"mixed_{rows}.csv"
            t = time.perf_counter()
            make_mixed(rows, seed=args.seed).to_csv(csv, index=False)
            gen_s = time.perf_counter() - t
            proc = subprocess.run([sys.executable, __file__, "--device", args.device, "--child", f"{rows}:{csv}"],
                                  capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["csv_s"] = gen_s
            results.append(res)
            print(f"{rows:>9,} rows done: {res}", file=sys.stderr)
    keys = [("load_s", "load s"), ("reference_s", "reference s"), ("step_ms_b256", "step ms (b256)"), ("step_ms_bmax", "step ms (bmax)"),
            ("eval_s", "report eval s"), ("detect_s", "detect s"), ("peak_rss_mb", "peak RSS MB")]
    print(f"\ndevice {args.device}, {results[0]['columns']} columns (encoded width {results[0]['width']}), one thread")
    head = "| rows | " + " | ".join(h for _, h in keys) + " | bmax |"
    print(head)
    print("|" + "---|" * (len(keys) + 2))
    prev = None
    for r in results:
        cells = []
        for k, _ in keys:
            cell = f"{r[k]:.3g}"
            if prev is not None and prev[k] > 0:
                cell += f" (x{r[k] / prev[k]:.2g})"
            cells.append(cell)
        print(f"| {r['rows']:,} | " + " | ".join(cells) + f" | {r['bmax']} |")
        prev = r
    return 0


if __name__ == "__main__":
    sys.exit(main())
