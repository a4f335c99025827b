"""GANConfig: reference defaults, strict loading, round trips, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan.config import GANConfig, load_config, read_mapping
from gan.errors import GanTuneError


def test_defaults_are_the_reference_model():
    c = GANConfig()
    assert c.noise_dim == 10
    assert c.g_widths == (16, 32)
    assert c.d_widths == (32, 16)
    assert (c.g_lr, c.d_lr) == (2e-4, 2e-4)
    assert (c.beta1, c.beta2) == (0.5, 0.999)
    assert c.batch_size == 32
    assert c.epochs == 10_000
    assert c.steps is None  # the budget is the epochs unless a steps budget is given
    assert c.loss == "bce"


def test_frozen():
    with pytest.raises(Exception):
        GANConfig().epochs = 5  # type: ignore[misc]


def test_from_dict_rejects_unknown_keys_and_names_them():
    with pytest.raises(GanTuneError) as err:
        GANConfig.from_dict({"epochs": 5, "lerning_rate": 0.1, "zzz": 1}, source="my.json")
    msg = str(err.value)
    assert "my.json" in msg
    assert "lerning_rate" in msg and "zzz" in msg
    assert "g_lr" in msg  # lists the valid fields so the typo can be fixed


def test_from_dict_rejects_non_mapping():
    with pytest.raises(GanTuneError, match="mapping"):
        GANConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_to_dict_from_dict_round_trip_and_is_json_able():
    c = GANConfig(g_widths=(8, 8, 4), loss="wgan-gp", g_lr=1e-3, seed=7)
    d = c.to_dict()
    assert d["g_widths"] == [8, 8, 4]
    assert GANConfig.from_dict(json.loads(json.dumps(d))) == c


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_file_round_trip(tmp_path, suffix):
    import yaml

    c = GANConfig(noise_dim=6, d_widths=(12,), d_lr=3.5e-4, beta1=0.0, epochs=123, seed=3)
    path = tmp_path / f"config{suffix}"
    text = json.dumps(c.to_dict()) if suffix == ".json" else yaml.safe_dump(c.to_dict())
    path.write_text(text)
    loaded = load_config(path)
    assert loaded == c
    assert isinstance(loaded.d_widths, tuple)


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 50\ng_widths: [4, 4]\n")
    c = load_config(path)
    assert c.epochs == 50 and c.g_widths == (4, 4)
    assert c.d_widths == GANConfig().d_widths and c.g_lr == GANConfig().g_lr


def test_empty_yaml_is_all_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == GANConfig()


def test_replace_validates():
    c = GANConfig()
    assert c.replace(epochs=3).epochs == 3
    with pytest.raises(GanTuneError, match="epochs"):
        c.replace(epochs=0)
    with pytest.raises(GanTuneError, match="unknown"):
        c.replace(epoch=3)


def test_numpy_scalars_are_normalised():
    c = GANConfig(batch_size=np.int64(8), g_lr=np.float32(1e-3), g_widths=[np.int64(4), 5])
    assert type(c.batch_size) is int and c.batch_size == 8
    assert type(c.g_lr) is float
    assert c.g_widths == (4, 5)
    assert c == GANConfig.from_dict(json.loads(json.dumps(c.to_dict())))


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("noise_dim", 0, "noise_dim"),
        ("batch_size", -1, "batch_size"),
        ("epochs", 1.5, "epochs"),
        ("epochs", True, "epochs"),
        ("eval_every", 0, "eval_every"),
        ("n_critic", 0, "n_critic"),
        ("g_widths", [], "g_widths"),
        ("g_widths", [16, 0], "g_widths"),
        ("g_widths", "16,32", "g_widths"),  # a string must not become (1, 6, ...)
        ("d_widths", ["a"], "d_widths"),
        ("d_widths", None, "d_widths"),
        ("g_lr", 0.0, "g_lr"),
        ("g_lr", -1e-3, "g_lr"),
        ("d_lr", float("nan"), "d_lr"),
        ("d_lr", float("inf"), "d_lr"),
        ("g_lr", "fast", "g_lr"),
        ("beta1", 1.0, "beta1"),
        ("beta2", -0.1, "beta2"),
        ("loss", "mse", "loss"),
        ("leaky_slope", 1.5, "leaky_slope"),
        ("leaky_slope", "x", "leaky_slope"),
        ("gp_weight", -1.0, "gp_weight"),
        ("gp_weight", float("nan"), "gp_weight"),
        ("seed", -1, "seed"),
        ("seed", "zero", "seed"),
        ("eval_seed", 1.5, "eval_seed"),
        ("steps", 0, "steps"),
        ("steps", 2.5, "steps"),
        ("steps", True, "steps"),
        ("gumbel_tau", 0.0, "gumbel_tau"),
        ("gumbel_tau", float("nan"), "gumbel_tau"),
        ("g_ema", 1.0, "g_ema"),
        ("g_ema", -0.5, "g_ema"),
    ],
)
def test_bad_values_raise_gantune_error(field, value, needle):
    with pytest.raises(GanTuneError) as err:
        GANConfig.from_dict({field: value}, source="cfg.json")
    assert needle in str(err.value)
    # Direct construction raises the same project error (not TypeError / ValueError).
    with pytest.raises(GanTuneError):
        GANConfig(**{field: value})


def test_yaml_exponent_without_dot_gets_a_hint(tmp_path):
    # PyYAML (YAML 1.1) reads `1e-3` as a string; the error should say how to write it.
    path = tmp_path / "c.yaml"
    path.write_text("g_lr: 1e-3\n")
    with pytest.raises(GanTuneError, match=r"1\.0e-3"):
        load_config(path)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("missing.json", None, "not found"),
        ("bad.json", "{not json", "not valid JSON"),
        ("bad.yaml", "a: [1, 2", "not valid YAML"),
        ("list.json", "[1, 2]", "mapping"),
        ("bin.json", b"\xff\xfe\x00\x81", "cannot read"),
    ],
)
def test_read_mapping_errors_name_the_file(tmp_path, name, content, needle):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(GanTuneError) as err:
        read_mapping(path)
    assert needle in str(err.value) and name in str(err.value)
    assert "\n" not in str(err.value)


def test_read_mapping_rejects_directory(tmp_path):
    with pytest.raises(GanTuneError, match="directory"):
        read_mapping(tmp_path)


# -- budgets in steps ------------------------------------------------------------------------
def test_reference_budget_in_steps():
    # Every batch is full (an epoch's last batch continues into the next permutation), so
    # 10,000 epochs of 50 rows at batch 32 are 10,000 * 50 / 32 = 15,625 steps, not 20,000.
    c = GANConfig()
    assert c.total_steps(50) == 15_625
    assert c.steps_per_epoch(50) == pytest.approx(1.5625)
    assert c.eval_interval(50) == round(500 * 50 / 32) == 781
    assert GANConfig(epochs=1).total_steps(100) == 4  # ceil(100 / 32): a partial step still runs
    assert GANConfig(epochs=1).total_steps(10) == 1  # never zero
    assert GANConfig(epochs=2, batch_size=25).total_steps(50) == 4  # exact: no rounding up


def test_steps_budget_ignores_the_table_size():
    c = GANConfig(steps=300, eval_every=100)
    assert c.total_steps(50) == c.total_steps(1_000_000) == 300
    assert c.eval_interval(50) == c.eval_interval(1_000_000) == 100  # eval_every counts steps
    assert GANConfig(epochs=3, eval_every=1).eval_interval(1_000_000) == round(1_000_000 / 32)
    assert GANConfig(eval_every=1).eval_interval(10) == 1  # never zero


def test_steps_round_trips_through_json():
    c = GANConfig(steps=1234, gumbel_tau=0.5)
    assert GANConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert GANConfig.from_dict({"steps": None}).steps is None
    assert type(GANConfig(steps=np.int64(7)).steps) is int
