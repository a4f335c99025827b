"""Models and the training loop: shapes, output heads, the batch stream, seeds, divergence,
reporting, resume, the fused-Adam fast path, and training on a mixed table with missing values."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import gan.train as gan_train
from gan.config import GANConfig
from gan.data import TabularData, load_data
from gan.errors import GanTuneError
from gan.models import Discriminator, Generator, OutputHead, OutputLayout, build_models, gumbel, sample_encoded
from gan.train import BatchStream, StopTraining, Trainer, chunk_steps, train
from tests.conftest import TINY, data_from_frame, make_frame

pytestmark = pytest.mark.usefixtures("one_thread")


def table(n: int = 100, d: int = 5, seed: int = 0) -> TabularData:
    return data_from_frame(make_frame(n, d, seed))


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- models ------------------------------------------------------------------------------------
def test_model_shapes_dtypes_and_ranges():
    config = GANConfig(noise_dim=7, g_widths=(9, 11, 13), d_widths=(5,))
    g, d = build_models(config, 6)  # an int layout: 6 numeric columns
    linear_g = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear_g] == [(7, 9), (9, 11), (11, 13), (13, 6)]
    linear_d = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear_d] == [(6, 5), (5, 1)]
    z = torch.randn(17, 7) * 100  # large inputs: tanh must still bound the output
    rows = g(z)
    assert rows.shape == (17, 6) and rows.dtype == torch.float32
    assert rows.abs().max() <= 1.0
    logits = d(rows)
    assert logits.shape == (17, 1) and logits.dtype == torch.float32


def test_pac_discriminator_judges_groups_of_rows_in_order():
    """PacGAN (pac 4): D reads 4 consecutive rows side by side, so 12 rows give 3 logits;
    swapping two rows inside a group changes that group's logit only, swapping whole groups
    swaps their logits."""
    d = Discriminator(GANConfig(pac=4, d_widths=(8,)), 5)
    assert [m.in_features for m in d.modules() if isinstance(m, torch.nn.Linear)] == [20, 8]
    x = torch.randn(12, 5)
    logits = d(x)
    assert logits.shape == (3, 1)
    within = x.clone()
    within[[0, 1]] = x[[1, 0]]
    moved = d(within)
    assert not torch.equal(moved[0], logits[0]) and torch.equal(moved[1:], logits[1:])
    groups = torch.cat([x[4:8], x[:4], x[8:]])
    assert torch.equal(d(groups), logits[[1, 0, 2]])


@pytest.mark.parametrize("loss", ["bce", "wgan-gp"])
def test_training_with_pac_updates_every_parameter_and_differs_from_pac_1(loss):
    data = table(64, 5)
    config = GANConfig(steps=5, eval_every=5, pac=8, loss=loss, n_critic=1)
    trainer = Trainer(config, data, "cpu")
    before_d = weights(trainer.D)
    trainer.run_steps(5)
    assert trainer.diverged_at is None
    for pname, p in trainer.D.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        if pname.endswith("weight"):  # (WGAN's critic loss cancels the output bias: gradient 0)
            assert p.grad.abs().sum() > 0 and not torch.equal(p.detach(), before_d[pname]), pname
    plain = Trainer(config.replace(pac=1), data, "cpu")
    plain.run_steps(5)
    assert not np.array_equal(trainer.sample_encoded(50, 0), plain.sample_encoded(50, 0))


def test_wgan_gp_interpolates_each_pac_group_with_one_weight():
    """The penalty's interpolates: real + fake mixed with one weight per critic score (its pac
    rows), as CTGAN draws them; a weight per row would leave the line between the two groups."""
    data = table(64, 5)
    trainer = Trainer(GANConfig(steps=2, eval_every=2, pac=4, batch_size=32, loss="wgan-gp", n_critic=1), data, "cpu")
    seen = []
    trainer.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    trainer.run_steps(1)
    real, fake, interp = seen[0].split(32)
    gap = real - fake
    weight = (interp - fake) / gap
    groups = weight.view(8, 4 * data.width)
    usable = gap.abs().view(8, 4 * data.width) > 1e-2
    for g in range(8):
        w = groups[g][usable[g]]
        assert len(w) > 5 and float(w.max() - w.min()) < 1e-3, (g, w)
    spread = torch.stack([groups[g][usable[g]].mean() for g in range(8)])
    assert float(spread.max() - spread.min()) > 0.05  # the groups' weights differ


def test_batch_size_must_be_a_multiple_of_pac():
    with pytest.raises(GanTuneError, match=r"batch_size 30 must be a multiple of pac 8.*change one of them"):
        GANConfig(batch_size=30, pac=8)
    with pytest.raises(GanTuneError, match="pac must be a positive integer"):
        GANConfig(pac=0)


def test_discriminator_outputs_unbounded_logits_and_generator_ends_in_its_head():
    # No Sigmoid at the end (the losses use the log-sigmoid form).
    assert not isinstance(list(Discriminator(GANConfig(), 3).net)[-1], torch.nn.Sigmoid)
    g = Generator(GANConfig(), 3)
    assert isinstance(g.head, OutputHead) and isinstance(list(g.net)[-1], torch.nn.Linear)


def test_output_head_tanh_slots_and_softmax_blocks():
    layout = OutputLayout(width=2 + 3 + 2 + 4, n_tanh=2, blocks=(3, 2, 4))
    g = Generator(GANConfig(), layout)
    z = torch.randn(64, 10) * 50
    for u in (None, torch.rand(64, layout.n_soft)):
        rows = g(z, u)
        assert rows.shape == (64, 11)
        assert rows[:, :2].abs().max() <= 1.0
        start = 2
        for w in layout.blocks:
            block = rows[:, start : start + w]
            assert (block >= 0).all()
            torch.testing.assert_close(block.sum(dim=1), torch.ones(64))
            start += w
    # Gumbel noise changes the draws; its argmax over many rows follows softmax(logits).
    head = OutputHead(OutputLayout(3, 0, (3,)), tau=1.0)
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1])).expand(20_000, 3)
    picks = head(logits, torch.rand(20_000, 3, generator=torch.Generator().manual_seed(0))).argmax(dim=1)
    shares = torch.bincount(picks, minlength=3) / 20_000.0
    torch.testing.assert_close(shares, torch.tensor([0.6, 0.3, 0.1]), atol=0.015, rtol=0)


@pytest.mark.parametrize("blocks, widths", [((2, 30, 3, 5, 2, 13, 1), [1, 2, 4, 8, 16, 32]), ((3, 4, 3), [4])])
def test_output_head_groups_blocks_by_width_and_each_block_is_its_own_softmax(blocks, widths):
    """Blocks of 1..30 levels fall into width groups (power of two: 1, 2, 4, 8, 16, 32; or one
    group); every block is still a softmax of its own logits, a pack's member computes its rows
    bit for bit as a lone model does, and the hand-written backward is autograd's, in both layouts."""
    layout = OutputLayout(width=2 + sum(blocks), n_tanh=2, blocks=blocks, linear=(0,))
    head = OutputHead(layout, tau=0.2)
    assert [w for _, w in head.groups] == widths and sum(n for n, _ in head.groups) == len(blocks)
    gen = torch.Generator().manual_seed(0)
    pack = torch.randn(3, layout.width, 40, generator=gen) * 3  # (members, features, rows): gan.packed's layout
    u = torch.rand(3, layout.n_soft, 40, generator=gen)
    out = head(pack.transpose(1, 2), u.transpose(1, 2))  # (members, rows, features)
    for k in range(3):
        lone = head(pack[k].T.contiguous(), u[k].T.contiguous())
        assert torch.equal(lone, out[k])
    x, noise = pack[0].T, u[0].T
    assert torch.equal(out[0][:, 0], x[:, 0]) and torch.equal(out[0][:, 1], torch.tanh(x[:, 1]))
    start = 2
    for w in layout.blocks:
        soft = x[:, start : start + w] + gumbel(noise[:, start - 2 : start - 2 + w])
        torch.testing.assert_close(out[0][:, start : start + w], torch.softmax(soft / 0.2, dim=1), rtol=1e-5, atol=1e-6)
        start += w
    for logits, uu in ((pack[1].T.contiguous(), u[1].T.contiguous()), (pack.transpose(1, 2), u.transpose(1, 2))):
        leaf = logits.clone().requires_grad_()
        dout = torch.randn(leaf.shape, generator=gen)
        want = torch.autograd.grad(head(leaf, uu), leaf, dout)[0]
        with torch.no_grad():
            got = head.backward(dout, head.forward_saving(logits, uu)[1])
        assert torch.equal(got, want) and got.stride() == want.stride()


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


def test_sample_encoded_shape_dtype_seed_and_mode(mixed_data):
    g, _ = build_models(GANConfig(), mixed_data.transformer.layout)
    a = sample_encoded(g, 64, seed=1)
    b = sample_encoded(g, 64, seed=1)
    c = sample_encoded(g, 64, seed=2)
    assert a.shape == (64, mixed_data.width) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # The one-hot blocks differ between seeds too (the Gumbel uniforms are seeded).
    n = mixed_data.transformer.layout.n_tanh
    assert not np.array_equal(a[:, n:].argmax(axis=1), c[:, n:].argmax(axis=1))
    assert g.training  # sampling restores the mode


# -- the batch stream --------------------------------------------------------------------------
@pytest.fixture
def small_chunks(monkeypatch):
    """Noise chunks of 3 steps (batch 8, noise 10, 6 uniforms per row) so tests cross many."""
    monkeypatch.setattr(gan_train, "_CHUNK_NUMBERS", 3 * 8 * (10 + 6))
    assert chunk_steps(8, 10, 6) == 3


def stream(n_rows: int = 20, seed: int = 0, n_soft: int = 6) -> BatchStream:
    return BatchStream(GANConfig(batch_size=8, seed=seed), n_rows, n_soft, torch.device("cpu"))


def test_take_equals_repeated_next(small_chunks):
    a, b = stream(), stream()
    for size in (1, 2, 5, 3, 7, 1, 4):  # crosses epochs (2.5 steps each) and chunks (3 steps)
        idx, z, u = a.take(size)
        assert idx.shape == (size, 8) and z.shape == (size, 8, 10) and u.shape == (size, 8, 6)
        for s in range(size):
            i2, z2, u2 = b.next()
            assert torch.equal(idx[s], i2) and torch.equal(z[s], z2) and torch.equal(u[s], u2)
    assert a.step == b.step == 23
    assert stream(n_soft=0).take(4)[2] is None and stream(n_soft=0).next()[2] is None


def test_every_row_appears_once_per_epoch_and_batches_are_full():
    s = BatchStream(GANConfig(batch_size=32), 50, 0, torch.device("cpu"))
    idx = s.take(25)[0]  # 800 rows = 16 epochs of 50
    assert idx.shape == (25, 32)  # every batch full, also across epoch ends
    epochs = idx.reshape(16, 50)
    for e in range(16):
        assert torch.equal(epochs[e].sort().values, torch.arange(50)), e
    assert not torch.equal(epochs[0], epochs[1])  # a fresh permutation per epoch


def test_streams_are_seeded():
    a, b, c = stream(seed=1).take(6), stream(seed=1).take(6), stream(seed=2).take(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 6, 10, 11])  # mid-epoch, mid-chunk, on each boundary
def test_state_dict_round_trip_anywhere(small_chunks, cut):
    full = stream()
    full.take(cut)
    state = full.state_dict()
    expected = full.take(9)
    resumed = stream(seed=99)  # a different seed: everything must come from the state
    resumed.load_state_dict(state)
    assert resumed.step == cut
    got = resumed.take(9)
    for x, y in zip(expected, got):
        assert torch.equal(x, y)


# -- training ------------------------------------------------------------------------------------
def test_one_step_gives_every_parameter_a_nonzero_gradient():
    data = table(32, 5)  # one batch per epoch: one discriminator and one generator step
    trainer = Trainer(GANConfig(epochs=1), data, "cpu")
    before_g, before_d = weights(trainer.G), weights(trainer.D)
    trainer.run_steps(1)
    assert trainer.steps == 1 and trainer.epoch == 1
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
    # Full batches: one epoch of 100 rows at batch 32 is ceil(100 / 32) = 4 steps = 1.28 epochs.
    assert result.steps_done == 4 and result.epochs_done == pytest.approx(1.28)
    m = result.metrics
    assert math.isfinite(m["wd_mean"]) and 0 < m["wd_mean"] < 2  # scaled units: at most the box width
    assert len(m["wd"]) == len(m["wd_orig"]) == 5
    assert m["steps"] == 4 and m["epoch"] == pytest.approx(1.28)
    # eval_every 1 epoch = round(100 / 32) = 3 steps, and the last step is scored too.
    assert [h["steps"] for h in result.history] == [3, 4]
    assert result.history[-1] == {"steps": 4, "epoch": m["epoch"], "wd_mean": m["wd_mean"]}
    rows = sample_encoded(result.generator, 50, seed=0)
    assert rows.shape == (50, 5)


def test_steps_budget(setosa):
    result = train(GANConfig(steps=7, eval_every=3, eval_samples=100), setosa, device="cpu")
    assert result.steps_done == 7 and [h["steps"] for h in result.history] == [3, 6, 7]


def test_same_seed_same_weights_and_samples_different_seed_differs(setosa):
    config = GANConfig(**TINY, seed=11)
    a = train(config, setosa, device="cpu")
    b = train(config, setosa, device="cpu")
    c = train(config.replace(seed=12), setosa, device="cpu")
    assert_same_weights(a.generator, b.generator)
    assert_same_weights(a.discriminator, b.discriminator)
    np.testing.assert_array_equal(sample_encoded(a.generator, 100, 0), sample_encoded(b.generator, 100, 0))
    assert a.metrics["wd_mean"] == b.metrics["wd_mean"]
    assert not np.array_equal(sample_encoded(a.generator, 100, 0), sample_encoded(c.generator, 100, 0))
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


def test_report_is_called_every_eval_every_epochs_in_steps(setosa):
    calls = []

    def report(steps, metrics, trainer):
        assert trainer.steps == steps == metrics["steps"]
        assert metrics["epoch"] == pytest.approx(steps * 32 / 50)
        assert math.isfinite(metrics["wd_mean"]) and metrics["diverged"] is False
        calls.append(steps)

    # 10 epochs of 50 rows = 15.625 -> 16 steps; every 3 epochs = round(4.6875) = 5 steps.
    result = train(GANConfig(epochs=10, eval_every=3, eval_samples=100), setosa, device="cpu", report=report)
    assert calls == [5, 10, 15, 16]
    assert [h["steps"] for h in result.history] == [5, 10, 15, 16]


def test_report_can_stop_training(setosa):
    def report(steps, metrics, trainer):
        if steps >= 6:
            raise StopTraining

    result = train(GANConfig(epochs=10, eval_every=2, eval_samples=100), setosa, device="cpu", report=report)
    assert result.status == "stopped at step 6"
    assert result.steps_done == 6


def _diverging_data() -> TabularData:
    # A NaN in the encoded rows (what a broken transformer would hand the trainer): the first
    # batch that contains it poisons D.
    data = table(64, 3)
    poisoned = data.train_encoded.copy()
    poisoned[0, 1] = np.nan
    data._encoded = poisoned
    return data


@pytest.mark.parametrize("case", ["nan-in-data", "huge-lr-wgan"])
def test_divergence_ends_with_status_and_infinite_score(case, setosa):
    if case == "nan-in-data":
        data, config = _diverging_data(), GANConfig(epochs=50, eval_every=10, eval_samples=100)
    else:
        data, config = setosa, GANConfig(loss="wgan-gp", g_lr=1e6, d_lr=1e6, epochs=50, eval_every=10, eval_samples=100)
    reports = []
    result = train(config, data, device="cpu", report=lambda s, m, t: reports.append((s, dict(m))))
    assert result.diverged
    match = re.fullmatch(r"diverged at step (\d+)", result.status)
    assert match, result.status
    n = int(match.group(1))
    assert 1 <= n < config.total_steps(len(data.train_idx))
    assert result.metrics["steps"] == n
    assert result.metrics["wd_mean"] == math.inf and result.metrics["diverged"] is True
    assert all(v == math.inf for v in result.metrics["wd"])
    assert len(result.metrics["wd"]) == data.n_columns
    # Reported once, with the same infinite score, and then the run stopped.
    assert reports[-1][0] == n and reports[-1][1]["wd_mean"] == math.inf
    assert result.history[-1]["steps"] == n and result.history[-1]["wd_mean"] == math.inf


def test_nan_generator_scores_infinite_not_garbage(setosa):
    trainer = Trainer(GANConfig(**TINY), setosa, "cpu")
    with torch.no_grad():
        trainer.G.net[0].weight.fill_(float("nan"))
    assert trainer.evaluate()["wd_mean"] == math.inf


def test_resume_from_state_dict_matches_uninterrupted_run(setosa):
    config = GANConfig(epochs=12, eval_every=4, eval_samples=100, seed=3)
    full = train(config, setosa, device="cpu")

    saved = {}

    def snapshot_then_stop(steps, metrics, trainer):
        if steps == 12:  # reports every 4 epochs = 6 steps; step 12 = 7.68 epochs, mid-epoch
            saved["state"] = trainer.state_dict()
            raise StopTraining

    part = train(config, setosa, device="cpu", report=snapshot_then_stop)
    assert part.steps_done == 12
    resumed = train(config, setosa, device="cpu", state=saved["state"])
    assert resumed.steps_done == full.steps_done == 19 and resumed.status == "completed"
    assert_same_weights(full.generator, resumed.generator)
    assert_same_weights(full.discriminator, resumed.discriminator)
    assert resumed.metrics["wd_mean"] == full.metrics["wd_mean"]


@pytest.mark.parametrize("loss", ["bce", "wgan-gp"])
@pytest.mark.parametrize("cut", [5, 6, 13])
def test_trainer_resume_is_bit_for_bit_anywhere(mixed_data, small_chunks, loss, cut, tmp_path):
    """Interrupt a mixed-table run at step `cut` (mid-epoch and mid-chunk, or on a chunk
    boundary), checkpoint through torch.save / torch.load(weights_only=True) as the tuning
    trainable does, resume in a fresh Trainer: weights, optimiser state and the stream equal
    an uninterrupted run's bit for bit."""
    config = GANConfig(batch_size=8, loss=loss, n_critic=2, g_ema=0.9, seed=4)
    n_soft = mixed_data.transformer.layout.n_soft
    gan_train._CHUNK_NUMBERS = 3 * 8 * (10 + n_soft)  # 3-step noise chunks (restored by the fixture)
    assert chunk_steps(8, 10, n_soft) == 3
    total = 20
    full = Trainer(config, mixed_data, "cpu")
    full.run_steps(total)

    part = Trainer(config, mixed_data, "cpu")
    part.run_steps(cut)
    torch.save(part.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(config, mixed_data, "cpu")
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.steps == cut
    resumed.run_steps(total - cut)
    assert resumed.steps == total
    assert_same_weights(full.G, resumed.G)
    assert_same_weights(full.D, resumed.D)
    assert_same_weights(full.G_ema, resumed.G_ema)
    for name in ("opt_g", "opt_d"):
        a, b = getattr(full, name).state_dict()["state"], getattr(resumed, name).state_dict()["state"]
        for k in a:
            assert_same_state(a[k], b[k])


def test_moving_average_of_g_is_what_is_scored_and_returned(setosa):
    """g_ema > 0: after every step t the average moves toward G by 1 - min(d, (1 + t) / (10 + t))
    (checked against a float64 recomputation from G's weights after each step), differs from G,
    and is what evaluate() scores and train() returns; g_ema 0 keeps G itself."""
    config = GANConfig(steps=60, eval_every=30, eval_samples=200, g_ema=0.95, seed=5)
    trainer = Trainer(config, setosa, "cpu")
    assert trainer.generator is trainer.G_ema is not None
    expected = {k: v.double() for k, v in weights(trainer.G).items()}
    for t in range(1, 61):
        trainer.run_steps(1)
        w = 1 - min(0.95, (1 + t) / (10 + t))
        for k, v in weights(trainer.G).items():
            expected[k] += (v.double() - expected[k]) * w
    got = weights(trainer.G_ema)
    assert max(float((got[k].double() - expected[k]).abs().max()) for k in got) < 1e-6
    assert max(float((got[k] - v).abs().max()) for k, v in weights(trainer.G).items()) > 1e-3
    scored = setosa.scorer.score_encoded(sample_encoded(trainer.G_ema, 200, config.eval_seed))["wd_mean"]
    assert trainer.evaluate()["wd_mean"] == scored != setosa.scorer.score_encoded(sample_encoded(trainer.G, 200, config.eval_seed))["wd_mean"]
    result = train(config, setosa, device="cpu")
    assert_same_weights(result.generator, trainer.G_ema)
    assert result.metrics["wd_mean"] == scored
    plain = Trainer(config.replace(g_ema=0.0), setosa, "cpu")
    assert plain.G_ema is None and plain.generator is plain.G
    # A checkpoint saved without an average cannot resume a run that keeps one.
    with pytest.raises(GanTuneError, match="moving average"):
        Trainer(config, setosa, "cpu").load_state_dict(plain.state_dict())


def test_state_dict_is_a_snapshot_not_a_live_view(setosa):
    # A checkpoint taken mid-run (then training continues) must still resume from that point.
    config = GANConfig(epochs=8, eval_every=4, eval_samples=100, seed=4)
    saved = {}

    def snapshot(steps, metrics, trainer):
        if "state" not in saved:
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
    result = train(config, data, device="cpu", report=lambda s, m, t: scores.append(m["wd_mean"]))
    assert result.status == "completed"
    # Every eval_every epochs (rounded to steps) and at the last step: 2 or 3 reports.
    assert len(scores) >= 2 and all(math.isfinite(s) for s in scores)
    for net in (result.generator, result.discriminator):
        assert all(torch.isfinite(p).all() for p in net.parameters())
    rows = sample_encoded(result.generator, 200, 0)
    assert np.isfinite(rows).all()
    assert rows.std(axis=0).max() > 0  # not collapsed to a constant


def test_wgan_gp_updates_generator_every_n_critic_steps(setosa):
    trainer = Trainer(GANConfig(loss="wgan-gp", n_critic=3, epochs=1), setosa, "cpu")
    g0 = weights(trainer.G)
    trainer.run_steps(2)  # steps 1 and 2: critic only
    assert trainer.steps == 2
    assert all(torch.equal(v, trainer.G.state_dict()[k]) for k, v in g0.items())
    trainer.run_steps(2)  # steps 3 and 4: the generator moves at step 3
    assert not torch.equal(g0["net.0.weight"], trainer.G.state_dict()["net.0.weight"])


def test_fewer_rows_than_batch_size_is_a_clear_error():
    with pytest.raises(GanTuneError, match=r"20 training rows but batch_size is 32"):
        Trainer(GANConfig(), table(20, 3), "cpu")


def test_bad_device_is_a_clear_error(setosa):
    with pytest.raises(GanTuneError, match="device"):
        train(GANConfig(**TINY), setosa, device="tpu")


# -- the fused-Adam fast path ------------------------------------------------------------------
def test_fused_adam_fast_path_equals_adam_step_over_1000_steps(setosa, monkeypatch):
    """The direct fused kernel call (`_FusedAdamStep`) against `torch.optim.Adam.step()` on
    the reference networks, bit for bit, 1,000 steps (640 epochs of iris-setosa)."""
    assert gan_train.fused_adam_matches("cpu")
    fast = Trainer(GANConfig(), setosa, "cpu")
    assert fast._step_g.direct and fast._step_d.direct
    monkeypatch.setattr(gan_train, "fused_adam_matches", lambda device="cpu", steps=50: False)
    slow = Trainer(GANConfig(), setosa, "cpu")
    assert not slow._step_g.direct and not slow._step_d.direct
    for _ in range(4):
        fast.run_steps(250)
        slow.run_steps(250)
    assert fast._step_g.lists is not None  # the fast path did run
    assert fast.steps == slow.steps == 1000
    assert_same_weights(fast.G, slow.G)
    assert_same_weights(fast.D, slow.D)
    for name in ("opt_g", "opt_d"):
        a, b = getattr(fast, name).state_dict()["state"], getattr(slow, name).state_dict()["state"]
        for k in a:
            assert_same_state(a[k], b[k])


def test_fused_adam_step_falls_back_to_opt_step(setosa, monkeypatch):
    monkeypatch.setattr(gan_train, "fused_adam_matches", lambda device="cpu", steps=50: False)
    trainer = Trainer(GANConfig(), setosa, "cpu")
    calls = []
    original = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    trainer.run_steps(5)
    assert len(calls) == 10  # every G and D step through Adam.step()
    assert trainer._step_g.lists is None and trainer._step_d.lists is None

    # With the check passing, only the first step of each optimiser goes through Adam.step().
    monkeypatch.setattr(gan_train, "fused_adam_matches", lambda device="cpu", steps=50: True)
    calls.clear()
    Trainer(GANConfig(), setosa, "cpu").run_steps(5)
    assert len(calls) == 2


def test_fused_adam_matches_reports_a_broken_kernel(monkeypatch):
    gan_train.fused_adam_matches.cache_clear()

    def broken(*args, **kwargs):
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(torch, "_fused_adam_", broken, raising=False)
    try:
        assert gan_train.fused_adam_matches("cpu") is False
    finally:
        monkeypatch.undo()
        gan_train.fused_adam_matches.cache_clear()
    assert gan_train.fused_adam_matches("cpu") is True


# -- a mixed table with missing values ---------------------------------------------------------
def test_mixed_table_generates_missing_cells_at_the_real_rate_and_known_labels(mixed_data):
    """2,000 steps on 300 rows with missing shares 0.58 / 0.12 / 0.32: the generated shares,
    averaged over the last five evaluations (GAN scores oscillate), are within 0.08 of the real
    ones (measured: within 0.05 for seeds 0-2 at lr 2e-4 and 5e-4); the untrained generator is
    not (0.48 for the 0.12 column)."""
    real = np.isnan(mixed_data.values).mean(axis=0)
    trainer = Trainer(GANConfig(steps=2000), mixed_data, "cpu")
    untrained = np.isnan(trainer.sample_values(1000, 0)).mean(axis=0)
    assert np.abs(untrained - real).max() > 0.2  # the check below can fail
    shares, tv = [], []
    for k in range(20):
        trainer.run_steps(100)
        if k >= 15:
            fake = trainer.sample_values(1000, seed=k)
            shares.append(np.isnan(fake).mean(axis=0))
            tv.append(mixed_data.scorer.score(fake)["wd"])
            # Only known labels: every categorical cell is a label index or missing.
            for j, spec in enumerate(mixed_data.specs):
                if not spec.is_numeric:
                    present = fake[~np.isnan(fake[:, j]), j]
                    assert set(np.unique(present)) <= set(range(len(spec.categories))), spec.name
                if not spec.has_missing:
                    assert not np.isnan(fake[:, j]).any(), spec.name
    got = np.mean(shares, axis=0)
    np.testing.assert_allclose(got, real, atol=0.08, err_msg=f"generated {got.round(3)} vs real {real.round(3)}")
    frame = mixed_data.transformer.to_frame(fake)
    assert set(frame["d"].dropna()) <= {"a", "b", "c", "d"} and set(frame["c"]) <= {"hi", "lo"}
    assert frame["flag"].dtype == bool and str(frame["k"].dtype) == "Int64"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch here; the CUDA path runs where one is")
def test_cuda_path_trains_samples_and_packs_like_the_cpu():
    """The GPU path: the table, both networks, the streams and the packed trainer on CUDA.

    Same seed, same device -> same samples; across devices the kernels differ, so CUDA is
    checked against itself (determinism) and against the CPU only loosely (a sane score)."""
    from gan.data import load_data
    from gan.packed import PackedTrainer

    data = load_data("penguins", quiet=True)
    config = GANConfig(steps=200, eval_every=100, batch_size=64)
    a = train(config, data, device="cuda")
    b = train(config, data, device="cuda")
    assert next(a.generator.parameters()).device.type == "cuda"
    assert a.metrics["wd_mean"] == b.metrics["wd_mean"] and math.isfinite(a.metrics["wd_mean"])
    packed = PackedTrainer([config, config.replace(seed=1, g_widths=(8,))], data, "cuda").run()
    assert all(r.status == "completed" and math.isfinite(r.metrics["wd_mean"]) for r in packed)
    cpu = train(config, data, device="cpu")
    assert abs(cpu.metrics["wd_mean"] - a.metrics["wd_mean"]) < 0.3
