"""A run with no budget flags on a 1,000,000-row, 20-column mixed table, end to end.

    python bench/million.py                      # 1,000,000 rows (issue 10: an export within 15 min on 2 CPUs)
    python bench/million.py --rows 100000        # a shorter check

Writes `bench.tables.make_mixed(N)` to a CSV (not timed), then runs the real command a user
would, `gantune tune --data big.csv --out best` (no --steps, --epochs, --num-samples or
--time-budget), and prints its wall time (Ray start-up, training, scoring, export), how the run
ended, the exported model's scores, and the driver's peak memory as seen by the OS
(`resource.getrusage(RUSAGE_CHILDREN)`: the largest child, the Ray workers included).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None, help="where the table and the run go (default: a temp dir, removed)")
    p.add_argument("--gantune", default=str(Path(sys.executable).parent / "gantune"))
    args = p.parse_args(argv)

    from bench.tables import make_mixed

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gantune-million-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "big.csv"
    if not csv.exists():
        t0 = time.perf_counter()
        make_mixed(args.rows, seed=args.seed).to_csv(csv, index=False)
        print(f"table: {args.rows:,} rows x 20 columns, {csv.stat().st_size / 2**20:.0f} MiB, written in {time.perf_counter() - t0:.0f} s")
    cmd = [args.gantune, "tune", "--data", str(csv), "--out", str(work / "best"), "--storage-path", str(work / "runs"), "--name", "m"]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    tail = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-12:]
    print("\n".join(tail))
    summary_path = work / "best" / "summary.json"
    print(f"\nexit {proc.returncode}; wall {wall / 60:.1f} min ({wall:.0f} s); largest child process peak RSS {peak:.0f} MiB")
    if summary_path.is_file():
        s = json.loads(summary_path.read_text())
        keys = ("best_trial", "wd_mean", "guard", "steps", "epoch")
        print("exported:", json.dumps({k: s.get(k) for k in keys if k in s}, default=str))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
