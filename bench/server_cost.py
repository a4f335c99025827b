"""What the study server spends per configuration as a run's study grows: its journal written
through Optuna's JournalFileBackend against gantune's `ServerJournal` (tuning/journal.py).

Two StudyServers, one per journal, in one process, get the same traffic, configuration by
configuration in turn: gantune's default space, the windowed TPE, 64 members live, each
reporting at the pool's rungs until the pruner stops it (or it completes), values random, so
only cost is measured (the two studies stay identical, and the bench checks that every proposal
is the same). A configuration's cost is its ask, its reports and its tell, as a pool worker
waits for them.

    python bench/server_cost.py [--sizes 500,1000,2000,3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

from tuning.space import SearchSpace
from tuning.study import STUDY_FILE, StudyServer

RUNGS = (185, 555, 1665, 5000)
LIVE = 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="500,1000,2000,3000", help="configurations at which to print the cost of the last stretch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        for name in ("optuna", "gantune"):
            run_dir = Path(tmp) / name
            run_dir.mkdir()
            storage = optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / STUDY_FILE))) if name == "optuna" else None
            servers[name] = StudyServer(run_dir, "cost", space=SearchSpace(), rungs=RUNGS, num_samples=10**9, seed=args.seed,
                                        storage=storage)
        rng = random.Random(args.seed)
        live: list[int] = []
        spent = {name: 0.0 for name in servers}
        done = last = 0
        print(f"{LIVE} members live, rungs {RUNGS}; ms per configuration (ask + reports + tell) over the stretch ending at each size")
        print(f"{'configurations':>15} {'Optuna journal':>15} {'ServerJournal':>14} {'ratio':>6}")
        while done < sizes[-1]:
            # The same step for both servers: one ask, and once LIVE are running, one member ended.
            end = None
            if len(live) >= LIVE:
                number = live.pop(rng.randrange(len(live)))
                complete = rng.random() < 0.08
                values = [rng.random() for _ in RUNGS]
                end = number, complete, values
            asked = {}
            order = list(servers.items())
            for name, server in order if done % 2 else order[::-1]:  # who goes first alternates
                t = time.perf_counter()
                asked[name] = server.ask()
                if end is not None:
                    number, complete, values = end
                    stopped = False
                    for step, value in zip(RUNGS, values):
                        stopped = server.report(number, step, value, {"wd_mean": value, "passes_guard": True, "copy_share": 0.0})
                        if stopped:
                            break
                    if stopped or not complete:
                        server.tell(number, None, "pruned")
                    else:
                        server.tell(number, values[-1], "complete", {"wd_mean": values[-1], "steps": RUNGS[-1]})
                spent[name] += time.perf_counter() - t
            if asked["optuna"] != asked["gantune"]:
                raise SystemExit(f"the two servers proposed differently at configuration {done}: {asked}")
            live.append(asked["gantune"][0])
            done += 1
            if done in sizes:
                a, b = (spent[k] / (done - last) * 1000 for k in ("optuna", "gantune"))
                print(f"{done:>15,} {a:>15.1f} {b:>14.1f} {a / b:>6.2f}", flush=True)
                spent = {name: 0.0 for name in servers}
                last = done
        print("every proposal was the same on both journals")


if __name__ == "__main__":
    main()
