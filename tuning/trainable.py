"""The thin Ray adapter: Tune config dict -> GANConfig -> `gan.train.train` -> `tune.report`.

Everything Ray-specific inside a trial lives here. The config dict holds the parameters Optuna
suggested plus the constants the runner adds (`_threads`, `_device`); the data and the search
space arrive through `tune.with_parameters` (Ray's object store), so worker nodes need no copy of
the input file, and nothing but plain values goes into Ray's experiment state.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune

from gan.data import TabularData
from gan.fidelity import table_fidelity
from gan.train import Trainer, train
from tuning.options import CONFIG_FILE, STATE_FILE
from tuning.space import SearchSpace

# Checkpoint at the final report, at divergence, and otherwise at most this often: a checkpoint
# costs a torch.save plus Ray's copy into the run directory, and for trials of a few seconds
# the restart it saves is cheaper than checkpointing every report (bench/tune_overhead.py).
CHECKPOINT_EVERY_S = 30.0


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    # Ray hides all GPUs but the ones it gave this trial (CUDA_VISIBLE_DEVICES).
    return "cuda" if torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "") not in ("", "-1") else "cpu"


def gan_trainable(params: dict[str, Any], data: TabularData, space: SearchSpace) -> None:
    """Ray Tune function trainable for one GAN configuration."""
    import ray

    config = space.to_config({k: v for k, v in params.items() if not k.startswith("_")})
    threads = max(1, int(params.get("_threads", 1)))
    torch.set_num_threads(threads)
    node_id = ray.get_runtime_context().get_node_id()

    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            state = torch.load(Path(ckpt_dir) / STATE_FILE, map_location="cpu", weights_only=True)

    detect = bool(params.get("_detect", False))
    last_checkpoint = time.monotonic()

    def report(steps: int, metrics: dict[str, Any], trainer: Trainer) -> None:
        nonlocal last_checkpoint
        diverged = bool(metrics.get("diverged"))
        final = steps >= trainer.total_steps or diverged
        # Memorisation guard and cross-feature scores at every report (milliseconds on small
        # tables; bounded samples on large ones, see gan.fidelity). The detection classifier
        # costs about a second: only at the final report, and only when it is an objective
        # (the export scores the best anyway).
        if diverged:
            fid = table_fidelity(data.reference, np.full((1, data.n_columns), np.inf))
        else:
            fake = trainer.sample_values(config.eval_samples, config.eval_seed)
            fid = table_fidelity(data.reference, fake, seed=config.eval_seed, detect=final and detect)
        out = {
            "wd_mean": metrics["wd_mean"],
            "wd_orig_mean": metrics["wd_orig_mean"],
            "epoch": metrics["epoch"],
            "steps": steps,
            "steps_per_s": metrics.get("steps_per_s", math.nan),
            "diverged": diverged,
            "node_id": node_id,
            **{f"wd_{i}": v for i, v in enumerate(metrics["wd"])},
            **fid,
        }
        if not (final or time.monotonic() - last_checkpoint >= CHECKPOINT_EVERY_S):
            tune.report(out)
            return
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(trainer.state_dict(), Path(tmp) / STATE_FILE)
            Path(tmp, CONFIG_FILE).write_text(json.dumps(config.to_dict()))
            tune.report(out, checkpoint=tune.Checkpoint.from_directory(tmp))
        last_checkpoint = time.monotonic()

    # A diverged run reports wd_mean = inf once and returns: the trial ends, the run goes on.
    train(config, data, device=resolve_device(params.get("_device", "auto")), report=report, state=state)
