"""The Python API (gan.fit / load / evaluate, tuning.tune) and the README's example."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, make_mixed_frame

FAST = dict(epochs=4, eval_every=2, eval_samples=200)


def readme_python_example() -> str:
    """The first ```python block of the README's "## Python" section, verbatim."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):]
    section = section[: section.index("\n## ", 1)]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_importing_gan_and_tuning_imports_neither_ray_nor_torch():
    code = ("import sys, gan, tuning; from tuning import commands; "
            "print(sorted(m for m in ('ray', 'torch', 'optuna') if m in sys.modules)); print(gan.__all__, tuning.__all__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "[]"


def test_fit_sample_save_load_evaluate_on_a_dataframe(tmp_path, one_thread):
    import gan

    real = make_mixed_frame()
    model = gan.fit(real, FAST, seed=3, encoding="minmax")
    assert isinstance(model, gan.ModelBundle) and model.config.seed == 3
    rows = model.sample(50, seed=1)
    assert isinstance(rows, pd.DataFrame) and list(rows.columns) == list(real.columns) and len(rows) == 50
    assert rows["c"].isin(["hi", "lo"]).all() and rows["flag"].dtype == bool and str(rows["k"].dtype) == "Int64"
    assert model.data["source"] == "DataFrame" and model.metrics["status"] == "completed"

    path = model.save(tmp_path / "m")
    assert {"bundle.json", "generator.pt", "discriminator.pt", "histograms.png", "transformer.json"} <= {p.name for p in path.iterdir()}
    again = gan.load(path)
    pd.testing.assert_frame_equal(again.sample(50, seed=1), rows)
    again.save(tmp_path / "copy")  # a loaded bundle saves with its figure and discriminator
    assert (tmp_path / "copy" / "histograms.png").is_file() and (tmp_path / "copy" / "discriminator.pt").is_file()

    scores = gan.evaluate(real, rows)
    assert scores["columns"] == list(real.columns) and len(scores["wd"]) == len(real.columns)
    assert set(scores["references"]) == {"gaussian", "resample"} and isinstance(scores["passes_guard"], bool)
    floor = scores["new_sample"]  # what a new sample of the population would score
    assert 0 < floor["low"] <= floor["wd_mean"] <= floor["high"] and floor["draws"] == 64
    assert scores["references"]["resample"]["wd_mean"] < floor["wd_mean"]
    # a bundle generates its rows; trained on a DataFrame, it needs the real rows to score against
    from_bundle = gan.evaluate(real, again, n=200, seed=5)
    assert np.isfinite(from_bundle["wd_mean"])
    from gan.errors import GanTuneError

    with pytest.raises(GanTuneError, match="trained on a DataFrame"):
        gan.evaluate(None, again)


def test_fit_takes_a_config_mapping_a_file_and_refuses_unknown_options(tmp_path, one_thread):
    import json

    import gan

    (tmp_path / "c.json").write_text(json.dumps({"noise_dim": 4, **FAST}))
    model = gan.fit("iris-setosa", tmp_path / "c.json")
    assert model.config.noise_dim == 4 and model.transformer.columns[0] == "sepal length (cm)"
    with pytest.raises(TypeError, match="unknown data option"):
        gan.fit("iris-setosa", FAST, colums=["x"])
    import tuning

    with pytest.raises(TypeError, match="unknown option"):
        tuning.tune("iris-setosa", num_samples=1, sampel="tpe")


def test_evaluate_a_bundle_directory_against_its_own_data(tiny_bundle):
    import tuning

    scores = tuning.evaluate(None, str(tiny_bundle), n=200)
    assert scores["columns"][0] == "sepal length (cm)" and np.isfinite(scores["wd_mean"])


@pytest.mark.slow
def test_readme_python_example_runs_as_written(local_ray, tmp_path, monkeypatch, capsys):
    """The README's Python example, exactly as written, in a fresh directory (on the shared
    embedded Ray of the in-process tuning tests)."""
    monkeypatch.chdir(tmp_path)
    code = readme_python_example()
    exec(compile(code, "README.md (## Python)", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "passes the memorisation guard: " in out and "report page: iris-best/report/index.html" in out
    assert (tmp_path / "iris-model" / "generator.pt").is_file()
    assert (tmp_path / "iris-best" / "report" / "index.html").is_file()
    assert len(list((tmp_path / "gantune-runs").glob("*.input.parquet"))) == 1
