"""Bundles: round trip, reload in a new process, corrupted files, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gan.bundle import REQUIRED, load_bundle, save_bundle
from gan.config import GANConfig
from gan.data import load_data
from gan.errors import GanTuneError
from gan.models import sample_scaled
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
    assert set(REQUIRED) | {"data.json", "metrics.json", "discriminator.pt", "histograms.png"} == names
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "config.json").read_text()) == config.to_dict()

    bundle = load_bundle(out)
    assert bundle.config == config
    assert bundle.columns == data.columns
    assert not bundle.generator.training
    np.testing.assert_array_equal(bundle.scaler.data_min, data.scaler.data_min)
    # Identical samples from the saved weights and from the in-memory generator.
    expected = data.scaler.inverse_transform(sample_scaled(result.generator, 64, seed=5, constant=data.scaler.constant))
    got = bundle.sample(64, seed=5)
    assert list(got.columns) == data.columns
    np.testing.assert_array_equal(got.to_numpy(), expected)
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
    # Tanh output maps inside the real data's range, in original units (cm, not [-1, 1]).
    assert (values >= real.raw.min(axis=0) - 1e-9).all() and (values <= real.raw.max(axis=0) + 1e-9).all()
    assert values[:, 0].mean() > 3  # sepal length in cm; scaled units would be in [-1, 1]
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
        ("scaler.json", json.dumps({"columns": ["a"]}), "scaler.json"),
        ("scaler.json", json.dumps({"columns": ["a", "b", "c", "d"], "data_min": [0, 0], "data_max": [1, 1]}), "scaler.json"),
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
