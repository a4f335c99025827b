"""The search space: defaults contain the reference, files override, mistakes fail at start-up."""

from __future__ import annotations

import json

import optuna
import pytest

from gan.config import GANConfig
from gan.errors import GanTuneError
from tuning.options import TuneOptions
from tuning.space import DEFAULT_SPACE, SearchSpace, default_batch, default_batch_choices

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _configs(space: SearchSpace, n: int, seed: int = 0) -> list[GANConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.suggest_config(trial))
        study.tell(trial, 0.0)
    return out


def test_default_ranges_contain_the_reference_model():
    ref = GANConfig()
    rng = DEFAULT_SPACE
    assert rng["noise_dim"]["low"] <= ref.noise_dim <= rng["noise_dim"]["high"]
    for net, widths in (("g", ref.g_widths), ("d", ref.d_widths)):
        assert rng[f"{net}_depth"]["low"] <= len(widths) <= rng[f"{net}_depth"]["high"]
        # One width per hidden layer, each from powers of two (shapes a pool packs together).
        assert all(w in rng[f"{net}_width"]["choices"] for w in widths)
        assert all(w & (w - 1) == 0 for w in rng[f"{net}_width"]["choices"])
    for name in ("g_lr", "d_lr", "beta1", "beta2"):
        assert rng[name]["low"] <= getattr(ref, name) <= rng[name]["high"], name
    # The one departure: configurations are scored through G's moving average (fixed, not
    # searched); a space file restores the reference's raw G.
    assert ref.g_ema == 0.0 and rng["g_ema"] == 0.995


def test_moving_average_is_fixed_by_default_and_a_file_can_turn_it_off(tmp_path):
    assert {c.g_ema for c in _configs(SearchSpace(), 5)} == {0.995}
    path = tmp_path / "space.yaml"
    path.write_text("g_ema: 0.0\n")
    assert {c.g_ema for c in _configs(SearchSpace.from_file(str(path)), 5)} == {0.0}
    path.write_text("g_ema: {choices: [0.0, 0.999]}\n")
    assert {c.g_ema for c in _configs(SearchSpace.from_file(str(path)), 20)} == {0.0, 0.999}
    path.write_text("g_ema: 1.0\n")
    with pytest.raises(GanTuneError, match="g_ema"):
        SearchSpace.from_file(str(path))


def test_sampled_configs_are_valid_and_vary_in_shape():
    configs = _configs(SearchSpace(), 20)
    assert len({c.g_widths for c in configs}) > 5
    assert any(len(set(c.g_widths)) > 1 for c in configs)  # layers of one network differ
    assert {len(c.d_widths) for c in configs} <= {1, 2, 3}
    assert all(1e-5 <= c.g_lr <= 1e-2 for c in configs)
    # The trial budget is not searched: it comes from the base config.
    assert {c.epochs for c in configs} == {GANConfig().epochs}


def test_file_overrides_and_fixes_fields(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("noise_dim: {low: 4, high: 8}\nloss: wgan-gp\ng_widths: [16, 32]\nbatch_size: {choices: [16, 25]}\n")
    space = SearchSpace.from_file(str(path), base=GANConfig(epochs=7))
    configs = _configs(space, 10)
    assert all(4 <= c.noise_dim <= 8 for c in configs)
    assert {c.loss for c in configs} == {"wgan-gp"}
    assert {c.g_widths for c in configs} == {(16, 32)}
    assert {c.batch_size for c in configs} <= {16, 25} and {c.epochs for c in configs} == {7}


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"g_lrr": {"low": 1e-4, "high": 1e-3}}, "unknown parameter(s) g_lrr"),
        ({"g_lr": {"low": 1e-2, "high": 1e-4}}, "inverted range"),
        ({"noise_dim": {"low": 4}}, "needs both low and high"),
        ({"g_lr": {"low": 0.0, "high": 1e-3, "log": True}}, "needs low > 0"),
        ({"epochs": 5}, "use --epochs"),
        ({"steps": 5}, "set the trial budget"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"g_depth": {"low": 1, "high": 9}}, "g_depth must lie within"),
        ({"beta1": {"low": 0.5, "high": 1.5}}, "beta1 must be in [0, 1)"),
    ],
)
def test_mistakes_fail_at_start_up(spec, message):
    with pytest.raises(GanTuneError) as err:
        SearchSpace(spec)
    assert message in str(err.value)


def test_space_file_errors_name_the_file(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"d_lr": {"low": 3, "high": 1}}))
    with pytest.raises(GanTuneError, match=r"space\.json: d_lr: inverted range"):
        SearchSpace.from_file(str(path))
    path.write_text("{not json")
    with pytest.raises(GanTuneError, match="not valid JSON"):
        SearchSpace.from_file(str(path))


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "gp"])
def test_every_sampler_drives_the_space(name):
    # Each --sampler must be constructible (cmaes needs its package) and propose valid configs.
    from tuning.study import make_sampler

    study = optuna.create_study(sampler=make_sampler(name, 0))
    space = SearchSpace()
    for i in range(4):
        trial = study.ask()
        config = space.suggest_config(trial)
        study.tell(trial, float(i))
        assert isinstance(config, GANConfig)
    assert len(study.trials) == 4


@pytest.mark.parametrize(
    "n_rows, choices",
    [(50, [16, 32]), (344, [64, 256]), (2_000, [256, 1024]), (1_000_000, [256, 1024]), (20, [16]), (10, [10])],
)
def test_batch_sizes_are_scaled_to_the_table(n_rows, choices):
    # Per-trial mode searches these; two, so that pool sub-packs (one batch size each) stay few.
    assert default_batch_choices(n_rows) == choices
    assert GANConfig().batch_size in default_batch_choices(50)  # the reference stays reachable


@pytest.mark.parametrize("n_rows, batch", [(50, 32), (344, 64), (2_000, 128), (54_000, 1024), (1_000_000, 1024), (20, 16), (10, 8)])
def test_pool_mode_batch_size_is_one_per_table(n_rows, batch):
    # Pool mode fixes it: members of a sub-pack share their batch size. 50 rows: the reference.
    assert default_batch(n_rows) == batch


def test_space_with_rows_searches_batch_size_unless_a_file_sets_it():
    configs = _configs(SearchSpace(n_rows=344), 30)
    assert {c.batch_size for c in configs} == {64, 256}
    assert {c.batch_size for c in _configs(SearchSpace(), 5)} == {GANConfig().batch_size}  # no rows: not searched
    fixed = _configs(SearchSpace({"batch_size": 64}, n_rows=344), 5)
    assert {c.batch_size for c in fixed} == {64}
    # Pool mode (search_batch=False): one batch size for the table, unless a file sets choices.
    assert {c.batch_size for c in _configs(SearchSpace(n_rows=344, search_batch=False), 5)} == {64}
    chosen = _configs(SearchSpace({"batch_size": {"choices": [16, 32]}}, n_rows=344, search_batch=False), 20)
    assert {c.batch_size for c in chosen} == {16, 32}


@pytest.mark.parametrize(
    "n_rows, search_batch, pac",
    [(50, True, 1), (178, False, 1), (299, False, 1), (344, True, 8), (344, False, 8), (10_000, True, 8), (10_000, False, 8)],
)
def test_pac_is_fixed_for_tables_of_300_rows_or_more(n_rows, search_batch, pac):
    # PacGAN where measured to help (penguins' 344 rows and up); the reference's D on iris-setosa
    # and wine, whose protocol runs it keeps comparable.
    configs = _configs(SearchSpace(n_rows=n_rows, pac_rows=n_rows, search_batch=search_batch), 6)
    assert {c.pac for c in configs} == {pac}
    assert all(c.batch_size % c.pac == 0 and c.batch_size // c.pac >= 8 for c in configs)


def test_pac_set_by_a_file_or_config_is_kept_and_odd_batches_turn_it_off():
    assert {c.pac for c in _configs(SearchSpace({"pac": 2}, n_rows=2000, pac_rows=2000), 4)} == {2}
    assert {c.pac for c in _configs(SearchSpace({"batch_size": {"choices": [96, 100]}}, n_rows=2000, pac_rows=2000), 8)} == {1}
    assert {c.pac for c in _configs(SearchSpace({"batch_size": 32}, n_rows=2000, pac_rows=2000), 4)} == {1}  # 4 groups: too few
    assert TuneOptions().search_space(2000).midpoint_config().pac == 8
    assert TuneOptions(config={"pac": 1}).search_space(2000).midpoint_config().pac == 1
    assert TuneOptions(config={"batch_size": 128}).search_space(2000).midpoint_config().pac == 8
    with pytest.raises(GanTuneError, match=r"--space: batch_size 36 is not a multiple of pac 8.*change the batch sizes or pac"):
        TuneOptions(space={"pac": 8, "batch_size": {"choices": [64, 36]}}).search_space(2000)


def test_tune_budget_is_steps_by_default_or_epochs():
    from tuning.run import DEFAULT_STEPS

    base = TuneOptions().base_config()
    assert (base.steps, base.eval_every, TuneOptions().budget_attr) == (DEFAULT_STEPS, DEFAULT_STEPS // 10, "steps")
    assert base.total_steps(50) == base.total_steps(1_000_000) == 5000
    by_epochs = TuneOptions(epochs=40, eval_every=10)
    base = by_epochs.base_config()
    assert (base.epochs, base.steps, base.eval_every, by_epochs.budget_attr, by_epochs.budget) == (40, None, 10, "epoch", 40)
    assert TuneOptions(steps=300, seed=4).base_config().replace(eval_every=30) == GANConfig(steps=300, eval_every=30, seed=4)
    with pytest.raises(GanTuneError, match="--epochs and --steps"):
        TuneOptions(epochs=5, steps=5).validate()
    with pytest.raises(GanTuneError, match="--steps must be at least 1"):
        TuneOptions(steps=0).validate()
    # A --config batch size is kept; otherwise the table's size picks it: one size in pool mode
    # (the default), two choices with --pack off.
    for pack in ("auto", None):
        assert "batch_size" not in TuneOptions(config={"batch_size": 16}, pack=pack).search_space(344).params
    fixed = TuneOptions().search_space(344).params["batch_size"]
    assert (fixed.kind, fixed.value) == ("fixed", 64)
    assert TuneOptions(pack=None).search_space(344).params["batch_size"].choices == (64, 256)


@pytest.mark.parametrize("value, parsed", [("auto", "auto"), ("AUTO", "auto"), ("off", None), (None, None), ("8", 8), (3, 3)])
def test_pack_values(value, parsed):
    from tuning.options import parse_pack

    assert parse_pack(value) == parsed
    opts = TuneOptions(pack=value)
    opts.validate()
    assert opts.mode == ("trial" if parsed is None else "pool")


@pytest.mark.parametrize("value", ["0", "-2", "x", 0, 2.5, True])
def test_bad_pack_values(value):
    from tuning.options import parse_pack

    with pytest.raises(GanTuneError, match="give a positive integer, auto or off"):
        parse_pack(value)


def test_options_of_earlier_runs_still_read(tmp_path):
    import dataclasses

    from tuning.options import META_FILE, read_options

    # gantune.json of a run made before the fault-injection hook left TuneOptions.
    raw = {**dataclasses.asdict(TuneOptions(name="old")), "fail_trials": None}
    (tmp_path / META_FILE).write_text(json.dumps(raw))
    assert read_options(tmp_path) == TuneOptions(name="old")
