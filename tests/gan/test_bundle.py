"""Bundles: round trip (numeric and mixed tables), reload in a new process, version-1 bundles,
corrupted files, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gan.bundle import REQUIRED, VERSION, load_bundle, save_bundle
from gan.config import GANConfig
from gan.data import load_data
from gan.errors import GanTuneError
from gan.models import Generator, sample_encoded
from gan.train import train
from tests.conftest import TINY, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    data = load_data("iris-setosa")
    config = GANConfig(**TINY, seed=9)
    return config, data, train(config, data, device="cpu")


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_save_writes_all_files_and_load_round_trips(tmp_path, trained):
    config, data, result = trained
    out = save_bundle(tmp_path / "b", config, result.generator, data, result.metrics, discriminator=result.discriminator)
    names = {p.name for p in out.iterdir()}
    assert set(REQUIRED) | {"transformer.json", "data.json", "metrics.json", "discriminator.pt", "histograms.png"} == names
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "config.json").read_text()) == config.to_dict()
    assert json.loads((out / "bundle.json").read_text())["version"] == VERSION == 2

    bundle = load_bundle(out)
    assert bundle.config == config
    assert bundle.columns == data.columns
    assert not bundle.generator.training
    assert bundle.transformer.to_dict() == data.transformer.to_dict()
    # Identical samples from the saved weights and from the in-memory generator.
    expected = data.transformer.decode(sample_encoded(result.generator, 64, seed=5))
    got = bundle.sample(64, seed=5)
    assert list(got.columns) == data.columns
    np.testing.assert_array_equal(got.to_numpy(), expected)
    np.testing.assert_array_equal(bundle.sample_values(64, seed=5), expected)
    np.testing.assert_array_equal(bundle.sample(64, seed=5).to_numpy(), got.to_numpy())
    assert not np.array_equal(bundle.sample(64, seed=6).to_numpy(), got.to_numpy())
    assert bundle.metrics["wd_mean"] == pytest.approx(result.metrics["wd_mean"])
    assert bundle.data["columns"] == data.columns and bundle.data["n_rows"] == 50


def test_sample_rejects_non_positive_n(tiny_bundle):
    with pytest.raises(GanTuneError, match="-n"):
        load_bundle(tiny_bundle).sample(0)


def test_loads_in_a_new_process_with_names_and_units(tmp_path, tiny_bundle):
    out = tmp_path / "rows.csv"
    proc = run_cli("sample", str(tiny_bundle), "-n", "10", "-o", str(out), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    rows = pd.read_csv(out)
    real = load_data("iris-setosa")
    assert list(rows.columns) == real.columns
    assert rows.shape == (10, 4)
    values = rows.to_numpy()
    # Generated rows lie inside the real data's range, in original units (cm, not [-1, 1]),
    # rounded to the recorded 0.1 cm.
    assert (values >= real.values.min(axis=0)).all() and (values <= real.values.max(axis=0)).all()
    assert values[:, 0].mean() > 3  # sepal length in cm; scaled units would be in [-1, 1]
    np.testing.assert_allclose(values, np.round(values, 1), atol=1e-12)
    # Same rows as sampling in this process (up to float32 rounding: thread counts differ).
    in_process = load_bundle(tiny_bundle).sample(10, seed=3).to_numpy()
    np.testing.assert_allclose(values, in_process, rtol=1e-6)


def test_missing_generator_is_a_one_line_error(tmp_path, tiny_bundle):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    (b / "generator.pt").unlink()
    with pytest.raises(GanTuneError) as err:
        load_bundle(b)
    assert "generator.pt" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong-shape"])
def test_corrupted_generator_is_a_one_line_error(tmp_path, tiny_bundle, damage):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    pt = b / "generator.pt"
    if damage == "garbage":
        pt.write_bytes(b"\x00\x01not a torch file" * 50)
    elif damage == "truncated":
        pt.write_bytes(pt.read_bytes()[:200])
    elif damage == "empty":
        pt.write_bytes(b"")
    else:
        state = torch.load(pt, weights_only=True)
        state["net.0.weight"] = torch.zeros(3, 3)
        torch.save(state, pt)
    with pytest.raises(GanTuneError) as err:
        load_bundle(b)
    msg = str(err.value)
    assert "generator.pt" in msg and str(b) in msg and "\n" not in msg


def test_pickled_code_in_generator_is_refused(tmp_path, tiny_bundle):
    # weights_only=True: a generator.pt that needs arbitrary unpickling is not executed.
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    torch.save({"x": Path("/")}, b / "generator.pt")
    with pytest.raises(GanTuneError, match="generator.pt"):
        load_bundle(b)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("config.json", "{bad", "config.json"),
        ("config.json", json.dumps({"epochz": 3}), "epochz"),
        ("transformer.json", "{bad", "transformer.json"),
        ("transformer.json", json.dumps({"encoding": "minmax"}), "transformer.json"),
        ("transformer.json", json.dumps({"columns": [{"name": "a", "kind": "text"}]}), "transformer.json"),
        ("transformer.json", json.dumps({"columns": [], "encoding": "zscore"}), "transformer.json"),
        ("bundle.json", json.dumps({"format": "other"}), "bundle.json"),
        ("metrics.json", "\x00garbage", "metrics.json"),
    ],
)
def test_corrupted_json_files_are_one_line_errors(tmp_path, tiny_bundle, name, content, needle):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    (b / name).write_text(content)
    with pytest.raises(GanTuneError) as err:
        load_bundle(b)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_transformer_that_does_not_match_the_generator_is_a_one_line_error(tmp_path, tiny_bundle):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    spec = json.loads((b / "transformer.json").read_text())
    spec["columns"] = spec["columns"][:3]
    (b / "transformer.json").write_text(json.dumps(spec))
    with pytest.raises(GanTuneError) as err:
        load_bundle(b)
    assert "generator.pt" in str(err.value) and "does not match" in str(err.value)


def test_bundle_from_a_newer_gantune_is_refused(tmp_path, tiny_bundle):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    (b / "bundle.json").write_text(json.dumps({"format": "gantune-bundle", "version": VERSION + 1}))
    with pytest.raises(GanTuneError, match="newer gantune"):
        load_bundle(b)


def test_not_a_bundle(tmp_path):
    with pytest.raises(GanTuneError, match="not a directory"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(GanTuneError, match="missing"):
        load_bundle(tmp_path)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


@pytest.mark.parametrize("fail_in", ["torch.save", "histograms"])
def test_failed_save_leaves_no_directory_and_no_temp(tmp_path, trained, monkeypatch, fail_in):
    config, data, result = trained
    parent = tmp_path / "models"
    parent.mkdir()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if fail_in == "torch.save":
        monkeypatch.setattr(torch, "save", boom)
    else:
        import gan.plots

        monkeypatch.setattr(gan.plots, "histograms", boom)
    with pytest.raises(OSError, match="simulated"):
        save_bundle(parent / "b", config, result.generator, data, result.metrics, discriminator=result.discriminator)
    assert _leftovers(parent) == []


def test_failed_forced_save_keeps_the_old_bundle(tmp_path, trained, tiny_bundle, monkeypatch):
    config, data, result = trained
    parent = tmp_path / "models"
    old = copy_bundle(tiny_bundle, parent / "b")
    before = {p.name: p.read_bytes() for p in old.iterdir()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # an interrupt mid-save is cleaned up too

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(old, config, result.generator, data, result.metrics, force=True)
    assert _leftovers(parent) == ["b"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before


def test_forced_save_replaces_and_unforced_refuses(tmp_path, trained, tiny_bundle):
    config, data, result = trained
    parent = tmp_path / "models"
    out = copy_bundle(tiny_bundle, parent / "b")
    (out / "stale.txt").write_text("old")
    with pytest.raises(GanTuneError, match="--force"):
        save_bundle(out, config, result.generator, data, result.metrics, figure=False)
    assert (out / "stale.txt").exists()
    save_bundle(out, config, result.generator, data, result.metrics, figure=False, force=True)
    assert not (out / "stale.txt").exists()
    assert load_bundle(out).config == config
    assert _leftovers(parent) == ["b"]


# -- mixed tables --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_bundle(tmp_path_factory, mixed_data):
    config = GANConfig(steps=30, eval_every=30, eval_samples=200, seed=2)
    result = train(config, mixed_data, device="cpu")
    out = tmp_path_factory.mktemp("mixed") / "b"
    save_bundle(out, config, result.generator, mixed_data, result.metrics, discriminator=result.discriminator)
    return out, result


def test_mixed_bundle_round_trip_gives_original_dtypes_labels_and_missing_cells(mixed_bundle, mixed_data):
    from tests.conftest import make_mixed_frame

    out, result = mixed_bundle
    bundle = load_bundle(out)
    assert bundle.transformer.to_dict() == mixed_data.transformer.to_dict()
    assert bundle.generator.layout == mixed_data.transformer.layout
    rows = bundle.sample(2000, seed=1)
    real = make_mixed_frame()
    assert list(rows.columns) == list(real.columns)
    assert rows["x"].dtype == np.float64 and rows["flag"].dtype == bool
    assert str(rows["k"].dtype) == "Int64"  # integers with missing cells
    assert set(rows["c"]) <= {"hi", "lo"} and set(rows["d"].dropna()) <= {"a", "b", "c", "d"}
    assert rows["y"].isna().any() and rows["k"].isna().any() and rows["d"].isna().any()
    assert not rows["x"].isna().any() and not rows["c"].isna().any()
    np.testing.assert_allclose(rows["y"].dropna(), np.round(rows["y"].dropna(), 2), atol=1e-12)
    # The same rows as the in-memory generator gives.
    expected = mixed_data.transformer.to_frame(mixed_data.transformer.decode(sample_encoded(result.generator, 2000, 1)))
    pd.testing.assert_frame_equal(rows, expected)


def test_mixed_bundle_sample_csv_reads_back(tmp_path, mixed_bundle, mixed_data, capsys, restore_logging):
    from tuning.cli import main

    out, _ = mixed_bundle
    csv = tmp_path / "rows.csv"
    assert main(["sample", str(out), "-n", "50", "-o", str(csv), "--seed", "3"]) == 0
    rows = pd.read_csv(csv)
    assert rows.shape == (50, 6)
    # The CSV holds the original labels: the model's own transformer reads it back.
    values = mixed_data.transformer.values(rows, str(csv))
    expected = load_bundle(out).sample_values(50, seed=3)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    np.testing.assert_allclose(values[~np.isnan(values)], expected[~np.isnan(expected)], rtol=1e-6)


def test_version_1_bundle_still_loads_and_samples(tmp_path, capsys, restore_logging):
    """A bundle as gantune wrote them before real-table support: bundle.json version 1,
    scaler.json (min-max per column), a generator of 4 tanh outputs."""
    config = GANConfig(seed=3)
    gen = Generator(config, 4)
    b = tmp_path / "v1"
    b.mkdir()
    (b / "bundle.json").write_text(json.dumps({"format": "gantune-bundle", "version": 1}))
    (b / "config.json").write_text(json.dumps(config.to_dict()))
    (b / "scaler.json").write_text(json.dumps({"columns": ["a", "b", "c", "d"], "data_min": [0.0, -1.0, 10.0, 5.0],
                                                "data_max": [1.0, 1.0, 20.0, 5.0]}))
    torch.save(gen.state_dict(), b / "generator.pt")
    bundle = load_bundle(b)
    assert bundle.columns == ["a", "b", "c", "d"]
    assert all(s.kind == "numeric" and s.decimals is None for s in bundle.transformer.specs)
    rows = bundle.sample(100, seed=0)
    assert list(rows.columns) == ["a", "b", "c", "d"] and (rows.dtypes == np.float64).all()
    # Exactly the old inverse scaling, without rounding: lo + (tanh + 1) / 2 * (hi - lo); a
    # constant column (d) is its constant.
    enc = sample_encoded(gen, 100, seed=0)
    lo, hi = np.array([0.0, -1.0, 10.0, 5.0]), np.array([1.0, 1.0, 20.0, 5.0])
    expected = lo + (enc + 1) / 2 * (hi - lo)
    np.testing.assert_allclose(rows.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert (rows["d"] == 5.0).all() and rows["a"].nunique() > 50  # not rounded
    # gantune evaluate reads it too (scored against a CSV with its columns).
    real = tmp_path / "real.csv"
    pd.DataFrame(expected, columns=list("abcd")).to_csv(real, index=False)
    from tuning.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(b), "--data", str(real), "--json", "--figure", "", "-n", "100", "--seed", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["wd_mean"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("content", [json.dumps({"columns": ["a"]}),
                                     json.dumps({"columns": ["a", "b", "c", "d"], "data_min": [0, 0], "data_max": [1, 1]})])
def test_corrupted_version_1_scaler_is_a_one_line_error(tmp_path, tiny_bundle, content):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    (b / "transformer.json").unlink()
    (b / "scaler.json").write_text(content)
    with pytest.raises(GanTuneError) as err:
        load_bundle(b)
    assert "scaler.json" in str(err.value) and "\n" not in str(err.value)
