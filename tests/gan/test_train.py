"""Models and the training loop: shapes, gradients, seeds, divergence, reporting, resume."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from gan.config import GANConfig
from gan.data import Scaler, TabularData, load_data
from gan.errors import GanTuneError
from gan.models import Discriminator, Generator, build_models, sample_scaled
from gan.train import StopTraining, Trainer, train
from tests.conftest import TINY, make_frame

pytestmark = pytest.mark.usefixtures("one_thread")


def table(n: int = 100, d: int = 5, seed: int = 0) -> TabularData:
    raw = make_frame(n, d, seed).to_numpy()
    return TabularData([f"x{j}" for j in range(d)], raw, Scaler.fit(raw), "synthetic")


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# -- models ------------------------------------------------------------------------------------
def test_model_shapes_dtypes_and_ranges():
    config = GANConfig(noise_dim=7, g_widths=(9, 11, 13), d_widths=(5,))
    g, d = build_models(config, n_features=6)
    linear_g = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear_g] == [(7, 9), (9, 11), (11, 13), (13, 6)]
    linear_d = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear_d] == [(6, 5), (5, 1)]
    z = torch.randn(17, 7) * 100  # large inputs: Tanh must still bound the output
    rows = g(z)
    assert rows.shape == (17, 6) and rows.dtype == torch.float32
    assert rows.abs().max() <= 1.0
    logits = d(rows)
    assert logits.shape == (17, 1) and logits.dtype == torch.float32


def test_discriminator_outputs_unbounded_logits():
    # No Sigmoid at the end (the losses use the log-sigmoid form).
    assert not isinstance(list(Discriminator(GANConfig(), 3).net)[-1], torch.nn.Sigmoid)
    assert isinstance(list(Generator(GANConfig(), 3).net)[-1], torch.nn.Tanh)


def test_build_models_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    g1, d1 = build_models(GANConfig(seed=5), 4)
    after = torch.rand(3)
    assert torch.equal(expected, after)  # global RNG untouched
    g2, d2 = build_models(GANConfig(seed=5), 4)
    g3, _ = build_models(GANConfig(seed=6), 4)
    assert_same_weights(g1, g2)
    assert_same_weights(d1, d2)
    assert not torch.equal(g1.state_dict()["net.0.weight"], g3.state_dict()["net.0.weight"])


def test_sample_scaled_shape_dtype_seed_and_constant_mask():
    g, _ = build_models(GANConfig(), 4)
    a = sample_scaled(g, 64, seed=1, constant=np.array([False, True, False, False]))
    b = sample_scaled(g, 64, seed=1, constant=np.array([False, True, False, False]))
    c = sample_scaled(g, 64, seed=2)
    assert a.shape == (64, 4) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert (a[:, 1] == 0).all() and (c[:, 1] != 0).all()
    assert not np.array_equal(a[:, 0], c[:, 0])
    assert g.training  # sampling restores the mode


# -- training ------------------------------------------------------------------------------------
def test_one_step_gives_every_parameter_a_nonzero_gradient():
    data = table(32, 5)  # one batch per epoch: one discriminator and one generator step
    trainer = Trainer(GANConfig(epochs=1), data, "cpu")
    before_g, before_d = weights(trainer.G), weights(trainer.D)
    trainer.run_epochs(1)
    assert trainer.steps == 1
    for name, net, before in (("G", trainer.G, before_g), ("D", trainer.D, before_d)):
        for pname, p in net.named_parameters():
            assert p.grad is not None, f"{name}.{pname} has no gradient"
            assert p.grad.abs().sum() > 0, f"{name}.{pname} has an all-zero gradient"
            assert torch.isfinite(p.grad).all()
            assert not torch.equal(p.detach(), before[pname]), f"{name}.{pname} was not updated"


def test_one_epoch_on_100_rows():
    data = table(100, 5)
    config = GANConfig(epochs=1, eval_every=1, eval_samples=300)
    result = train(config, data, device="cpu")
    assert result.status == "completed" and not result.diverged
    assert result.epochs_done == 1
    m = result.metrics
    assert math.isfinite(m["wd_mean"]) and 0 < m["wd_mean"] < 2  # scaled units: at most the box width
    assert len(m["wd"]) == len(m["wd_orig"]) == 5
    assert m["epoch"] == 1 and m["steps"] == math.ceil(100 / 32)
    assert result.history == [{"epoch": 1, "wd_mean": m["wd_mean"]}]
    rows = sample_scaled(result.generator, 50, seed=0)
    assert rows.shape == (50, 5)


def test_same_seed_same_weights_and_samples_different_seed_differs(setosa):
    config = GANConfig(**TINY, seed=11)
    a = train(config, setosa, device="cpu")
    b = train(config, setosa, device="cpu")
    c = train(config.replace(seed=12), setosa, device="cpu")
    assert_same_weights(a.generator, b.generator)
    assert_same_weights(a.discriminator, b.discriminator)
    np.testing.assert_array_equal(sample_scaled(a.generator, 100, 0), sample_scaled(b.generator, 100, 0))
    assert a.metrics["wd_mean"] == b.metrics["wd_mean"]
    assert not np.array_equal(sample_scaled(a.generator, 100, 0), sample_scaled(c.generator, 100, 0))
    assert a.metrics["wd_mean"] != c.metrics["wd_mean"]


def test_training_does_not_depend_on_global_rng(setosa):
    config = GANConfig(**TINY)
    torch.manual_seed(1)
    np.random.seed(1)
    a = train(config, setosa, device="cpu")
    torch.manual_seed(2)
    np.random.seed(2)
    b = train(config, setosa, device="cpu")
    assert_same_weights(a.generator, b.generator)


def test_report_is_called_every_eval_every_epochs(setosa):
    calls = []

    def report(epoch, metrics, trainer):
        assert trainer.epoch == epoch == metrics["epoch"]
        assert math.isfinite(metrics["wd_mean"]) and metrics["diverged"] is False
        calls.append(epoch)

    result = train(GANConfig(epochs=10, eval_every=3, eval_samples=100), setosa, device="cpu", report=report)
    assert calls == [3, 6, 9, 10]
    assert [h["epoch"] for h in result.history] == [3, 6, 9, 10]


def test_report_can_stop_training(setosa):
    def report(epoch, metrics, trainer):
        if epoch >= 4:
            raise StopTraining

    result = train(GANConfig(epochs=10, eval_every=2, eval_samples=100), setosa, device="cpu", report=report)
    assert result.status == "stopped at epoch 4"
    assert result.epochs_done == 4


def _diverging_data() -> TabularData:
    # A NaN cell that slipped past validation: the first batch that contains it poisons D.
    data = table(64, 3)
    raw = data.raw.copy()
    raw[0, 1] = np.nan
    return TabularData(data.columns, raw, data.scaler, "poisoned")


@pytest.mark.parametrize(
    "case",
    ["nan-in-data", "huge-lr-wgan"],
)
def test_divergence_ends_with_status_and_infinite_score(case, setosa):
    if case == "nan-in-data":
        data, config = _diverging_data(), GANConfig(epochs=50, eval_every=10, eval_samples=100)
    else:
        data, config = setosa, GANConfig(loss="wgan-gp", g_lr=1e6, d_lr=1e6, epochs=50, eval_every=10, eval_samples=100)
    reports = []
    result = train(config, data, device="cpu", report=lambda e, m, t: reports.append((e, dict(m))))
    assert result.diverged
    match = re.fullmatch(r"diverged at epoch (\d+)", result.status)
    assert match, result.status
    n = int(match.group(1))
    assert 1 <= n < config.epochs
    assert result.epochs_done == n
    assert result.metrics["wd_mean"] == math.inf and result.metrics["diverged"] is True
    assert all(v == math.inf for v in result.metrics["wd"])
    assert len(result.metrics["wd"]) == data.n_features
    # Reported once, with the same infinite score, and then the run stopped.
    assert reports[-1][0] == n and reports[-1][1]["wd_mean"] == math.inf
    assert result.history[-1] == {"epoch": n, "wd_mean": math.inf}


def test_nan_generator_scores_infinite_not_garbage(setosa):
    trainer = Trainer(GANConfig(**TINY), setosa, "cpu")
    with torch.no_grad():
        trainer.G.net[0].weight.fill_(float("nan"))
    assert trainer.evaluate()["wd_mean"] == math.inf


def test_resume_from_state_dict_matches_uninterrupted_run(setosa):
    config = GANConfig(epochs=12, eval_every=4, eval_samples=100, seed=3)
    full = train(config, setosa, device="cpu")

    saved = {}

    def snapshot_then_stop(epoch, metrics, trainer):
        if epoch == 8:
            saved["state"] = trainer.state_dict()
            raise StopTraining

    part = train(config, setosa, device="cpu", report=snapshot_then_stop)
    assert part.epochs_done == 8
    resumed = train(config, setosa, device="cpu", state=saved["state"])
    assert resumed.epochs_done == 12 and resumed.status == "completed"
    assert_same_weights(full.generator, resumed.generator)
    assert_same_weights(full.discriminator, resumed.discriminator)
    assert resumed.metrics["wd_mean"] == full.metrics["wd_mean"]


def test_state_dict_is_a_snapshot_not_a_live_view(setosa):
    # A checkpoint taken mid-run (then training continues) must still resume from that point.
    config = GANConfig(epochs=8, eval_every=4, eval_samples=100, seed=4)
    saved = {}

    def snapshot(epoch, metrics, trainer):
        if epoch == 4:
            saved["state"] = trainer.state_dict()
            saved["g"] = weights(trainer.G)

    full = train(config, setosa, device="cpu", report=snapshot)
    for k, v in saved["g"].items():
        assert torch.equal(saved["state"]["G"][k], v), k
    resumed = train(config, setosa, device="cpu", state=saved["state"])
    assert_same_weights(full.generator, resumed.generator)


@pytest.mark.parametrize("name, epochs", [("iris-setosa", 60), ("wine", 20), ("breast-cancer", 8)])
def test_wgan_gp_trains_without_nan(name, epochs):
    data = load_data(name)
    config = GANConfig(loss="wgan-gp", epochs=epochs, eval_every=max(1, epochs // 2), eval_samples=300)
    scores = []
    result = train(config, data, device="cpu", report=lambda e, m, t: scores.append(m["wd_mean"]))
    assert result.status == "completed"
    assert len(scores) == 2 and all(math.isfinite(s) for s in scores)
    for net in (result.generator, result.discriminator):
        assert all(torch.isfinite(p).all() for p in net.parameters())
    rows = sample_scaled(result.generator, 200, 0)
    assert np.isfinite(rows).all()
    assert rows.std(axis=0).max() > 0  # not collapsed to a constant


def test_wgan_gp_updates_generator_every_n_critic_steps(setosa):
    trainer = Trainer(GANConfig(loss="wgan-gp", n_critic=3, epochs=1), setosa, "cpu")
    g0 = weights(trainer.G)
    trainer.run_epochs(1)  # 2 steps: critic only
    assert trainer.steps == 2
    assert all(torch.equal(v, trainer.G.state_dict()[k]) for k, v in g0.items())
    trainer.run_epochs(1)  # steps 3 and 4: the generator moves at step 3
    assert not torch.equal(g0["net.0.weight"], trainer.G.state_dict()["net.0.weight"])


def test_fewer_rows_than_batch_size_is_a_clear_error():
    with pytest.raises(GanTuneError, match=r"20 training rows but batch_size is 32"):
        Trainer(GANConfig(), table(20, 3), "cpu")


def test_bad_device_is_a_clear_error(setosa):
    with pytest.raises(GanTuneError, match="device"):
        train(GANConfig(**TINY), setosa, device="tpu")
