"""--holdout: rows kept out of training, recorded in the bundle, scored against on evaluate."""

from __future__ import annotations

import json

from tuning.cli import main


def test_holdout_rows_are_recorded_and_scored(tmp_path, capsys, one_thread, restore_logging):
    out = tmp_path / "m"
    assert main(["train", "--data", "iris", "--holdout", "0.2", "--epochs", "4", "--seed", "1", "--out", str(out), "-q"]) == 0
    spec = json.loads((out / "data.json").read_text())
    assert len(spec["holdout_idx"]) == 30 and spec["n_rows"] == 150
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"wd_holdout_mean", "dcr_ratio_holdout", "copy_share_holdout"} <= set(metrics)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "--figure", ""]) == 0
    scores = json.loads(capsys.readouterr().out)
    # evaluate reproduces the split from the bundle: the same held-out scores come back.
    assert scores["wd_holdout_mean"] == metrics["wd_holdout_mean"]
    assert scores["wd_mean"] == metrics["wd_mean"]
