"""PackedTrainer: a member trained in a heterogeneous pack must equal the same config trained alone.

Reference runs use `gan.train.train` on iris-setosa (50 rows, batch 32: 2 steps per epoch, the
second a short batch of 18, which exercises the short-batch path too).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan.bundle import load_bundle, save_bundle
from gan.config import GANConfig
from gan.data import load_data
from gan.errors import GanTuneError
from gan.models import sample_scaled
from gan.packed import Halving, PackedTrainer, bucket_configs, train_packed
from gan.train import StopTraining, train

EPOCHS = 200
WEIGHT_TOL = 1e-4
WD_TOL = 1e-3

# Three different member shapes: noise_dim, width and depth of both networks, optimiser
# settings, LeakyReLU slope and epochs all differ, so the pack pads widths and depths.
SHAPES = [
    GANConfig(epochs=EPOCHS, eval_every=100, seed=1),
    GANConfig(
        epochs=EPOCHS, eval_every=100, noise_dim=6, g_widths=(24,), d_widths=(20, 12, 8),
        g_lr=5e-4, d_lr=1e-4, beta1=0.6, beta2=0.99, seed=2,
    ),
    GANConfig(
        epochs=EPOCHS - 50, eval_every=100, noise_dim=12, g_widths=(8, 16, 32), d_widths=(48,),
        g_lr=1e-3, d_lr=3e-4, leaky_slope=0.1, seed=3,
    ),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these tiny ops run 10-30x slower with 2 threads on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return load_data("iris-setosa")


def identity_entries(trainer: PackedTrainer, net, plan_attr: str) -> torch.Tensor:
    """(K, P) bool: every weight/bias entry of the identity layers used for depth padding."""
    out = torch.zeros_like(net.flat, dtype=torch.bool)
    starts = np.cumsum([0, *net.sizes])
    for slot, member in enumerate(trainer.members):
        for pos in getattr(member, plan_attr)[2]:
            out[slot, starts[pos] : starts[pos + 1]] = True
    return out


_SOLO: dict[GANConfig, object] = {}


def solo(config: GANConfig, data):
    """gan.train.train result for `config`, cached across tests."""
    if config not in _SOLO:
        _SOLO[config] = train(config, data, device="cpu")
    return _SOLO[config]


def max_weight_diff(state_a: dict[str, torch.Tensor], state_b: dict[str, torch.Tensor]) -> float:
    assert state_a.keys() == state_b.keys()
    return max(float((state_a[k] - state_b[k]).abs().max()) for k in state_a)


def assert_matches_solo(result, data) -> None:
    ref = solo(result.config, data)
    assert result.status == ref.status
    assert result.epochs_done == ref.epochs_done
    assert max_weight_diff(result.generator_state, ref.generator.state_dict()) < WEIGHT_TOL
    assert max_weight_diff(result.discriminator_state, ref.discriminator.state_dict()) < WEIGHT_TOL
    assert abs(result.metrics["wd_mean"] - ref.metrics["wd_mean"]) < WD_TOL
    assert [h["epoch"] for h in result.history] == [h["epoch"] for h in ref.history]
    for mine, theirs in zip(result.history, ref.history):
        assert abs(mine["wd_mean"] - theirs["wd_mean"]) < WD_TOL


def test_heterogeneous_pack_matches_single_trainer(data):
    reports: list[tuple[int, int, float]] = []
    trainer = PackedTrainer(SHAPES, data)
    results = trainer.run(report=lambda epoch, i, m: reports.append((epoch, i, m["wd_mean"])))
    assert [r.index for r in results] == [0, 1, 2]
    for r in results:
        assert r.status == "completed"
        assert_matches_solo(r, data)
    # Every member reported at each eval_every epoch and at its last epoch.
    assert sorted((e, i) for e, i, _ in reports) == [(100, 0), (100, 1), (100, 2), (150, 2), (200, 0), (200, 1)]
    # The trained pack is not trivially equal to the initial weights.
    init = PackedTrainer(SHAPES[:1], data).generator_state_dict(0)
    assert max_weight_diff(results[0].generator_state, init) > 1e-2


def test_member_order_and_pack_mates_do_not_matter(data):
    """Member 1 alone (K=1) and last in a reordered pack: same weights as its solo run."""
    alone = PackedTrainer([SHAPES[1]], data).run()[0]
    reordered = PackedTrainer([SHAPES[2], SHAPES[0], SHAPES[1]], data).run()[2]
    for r in (alone, reordered):
        assert r.config == SHAPES[1]
        assert_matches_solo(r, data)


def test_exported_generator_is_a_regular_generator(data, tmp_path):
    result = PackedTrainer(SHAPES[1:], data).run()[0]
    gen = result.generator()
    rows = sample_scaled(gen, result.config.eval_samples, result.config.eval_seed, data.scaler.constant)
    from gan.metrics import score

    assert abs(score(data.train_scaled, rows, data.scaler)["wd_mean"] - result.metrics["wd_mean"]) < WD_TOL
    out = save_bundle(tmp_path / "b", result.config, gen, data, result.metrics, discriminator=result.discriminator(), figure=False)
    bundle = load_bundle(out)
    np.testing.assert_array_equal(bundle.sample_scaled(64, seed=3), sample_scaled(gen, 64, 3, data.scaler.constant))


def test_padding_stays_zero_and_gradients_do_not_leak(data):
    trainer = PackedTrainer(SHAPES, data)
    nets = (trainer.G, trainer.D)
    frozen_before = [(net.flat * (1 - net.mask)).clone() for net in nets]  # padding + identity layers
    # Padding exists (widths/depths differ), identity layers exist (depths differ).
    assert all(net.padded for net in nets)
    assert any(bool(((net.flat != 0) & (net.mask == 0)).any()) for net in nets)

    # One step by hand: the raw gradients at padded positions that are not identity layers are
    # already exactly zero (padding does not leak), and the masked gradient is zero everywhere
    # the mask is zero (identity layers do not train).
    trainer._start_chunk({i: 1 for i in range(3)})
    trainer._fill(1)
    trainer._adam_tables(2)
    idx = trainer._perm_buf[0, :, :32]
    real = trainer.real[idx].transpose(1, 2)
    z = trainer._noise_buf[0, 0]
    fake = trainer._generate(z)
    logits = trainer._discriminate(torch.cat([real, fake.detach()], dim=2))
    grads = torch.autograd.grad(logits.sum(), trainer.D.params)
    raw = torch.cat([g.reshape(3, -1) for g in grads], dim=1)
    identity = identity_entries(trainer, trainer.D, "d_plan")
    assert bool(identity.any())
    assert bool((raw[(trainer.D.mask == 0) & ~identity] == 0).all())
    assert bool(raw[identity].abs().sum() > 0)  # identity layers do get gradients: the mask is needed
    assert bool(raw[(trainer.D.mask == 1)].abs().sum() > 0)
    masked = trainer.D.flat_grad(grads)
    assert bool((masked[trainer.D.mask == 0] == 0).all())

    # After training, padded entries are still exactly 0, identity layers still exactly I, and
    # Adam's moments there are exactly 0.
    trainer.run_epochs(30)
    for net, before in zip(nets, frozen_before):
        assert torch.equal(net.flat * (1 - net.mask), before)
        assert bool((net.exp_avg[net.mask == 0] == 0).all())
        assert bool((net.exp_avg_sq[net.mask == 0] == 0).all())
        assert bool((net.flat[net.mask == 1] != before[net.mask == 1]).any())  # real weights moved


def test_diverging_member_is_frozen_and_others_continue(data):
    bad = SHAPES[0].replace(g_lr=1e20, d_lr=1e20, seed=7)
    configs = [SHAPES[0], bad, SHAPES[2]]
    reports: list[tuple[int, int, float]] = []
    trainer = PackedTrainer(configs, data)
    results = trainer.run(report=lambda epoch, i, m: reports.append((epoch, i, m["wd_mean"])))
    ref_bad = train(bad, data, device="cpu")
    assert ref_bad.diverged
    assert results[1].diverged
    assert results[1].status == ref_bad.status  # same "diverged at epoch N"
    assert math.isinf(results[1].metrics["wd_mean"]) and results[1].metrics["diverged"] is True
    assert (results[1].epochs_done, 1, math.inf) in reports
    assert results[1].epochs_done < EPOCHS
    for r in (results[0], results[2]):
        assert r.status == "completed"
        assert_matches_solo(r, data)


def test_halving_shrinks_the_pack_and_survivor_matches_solo(data):
    configs = [SHAPES[0].replace(g_lr=lr, d_lr=lr, seed=s) for s, lr in enumerate((2e-4, 1e-3, 5e-5, 5e-4))]
    configs = [c.replace(eval_every=50) for c in configs]
    sizes: list[tuple[int, int]] = []
    wd_at: dict[tuple[int, int], float] = {}

    def report(epoch: int, i: int, metrics: dict) -> None:
        sizes.append((epoch, metrics["pack_size"]))
        wd_at[(epoch, i)] = metrics["wd_mean"]

    trainer = PackedTrainer(configs, data)
    results = trainer.run(report=report, halving=Halving(rungs=(50, 100), eta=2))
    statuses = sorted(r.status for r in results)
    assert statuses == ["completed", "stopped at epoch 100", "stopped at epoch 50", "stopped at epoch 50"]
    # The stacked tensors were compacted: 4 members at epoch 50, 2 at 100, 1 afterwards.
    assert sorted(set(sizes)) == [(50, 4), (100, 2), (150, 1), (200, 1)]
    # Halving kept the best by wd_mean at each rung.
    at50 = sorted(range(4), key=lambda i: wd_at[(50, i)])
    assert {r.index for r in results if r.status != "stopped at epoch 50"} == set(at50[:2])
    survivor = next(r for r in results if r.status == "completed")
    assert survivor.epochs_done == EPOCHS and survivor.generator_state is not None
    assert_matches_solo(survivor, data)  # compaction mid-run did not disturb the survivor
    for r in results:  # dropped members keep their weights at the drop
        assert r.generator_state is not None and r.history


def test_drop_compacts_and_exports(data):
    trainer = PackedTrainer(SHAPES, data)
    p_before = trainer.G.flat.shape
    trainer.run_epochs(5)
    trainer.drop([1])
    assert trainer.live == [0, 2]
    assert trainer.G.flat.shape == (2, p_before[1]) and trainer.D.exp_avg.shape[0] == 2
    assert trainer.results[1].status == "stopped at epoch 5"
    assert trainer.results[1].generator().noise_dim == SHAPES[1].noise_dim
    with pytest.raises(GanTuneError, match="not training"):
        trainer.drop([1])


def test_stop_training_in_report_stops_one_member(data):
    configs = [c.replace(epochs=100, eval_every=50) for c in SHAPES]

    def report(epoch: int, i: int, metrics: dict) -> None:
        if i == 0 and epoch == 50:
            raise StopTraining

    results = PackedTrainer(configs, data).run(report=report)
    assert [r.status for r in results] == ["stopped at epoch 50", "completed", "completed"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"batch_size": 16}, "batch_size"),
        ({"eval_every": 50}, "eval_every"),
        ({"loss": "wgan-gp"}, "supports loss bce"),
    ],
)
def test_incompatible_configs_are_refused(data, changes, match):
    with pytest.raises(GanTuneError, match=match):
        PackedTrainer([SHAPES[0], SHAPES[1].replace(**changes)], data)


def test_empty_pack_and_batch_larger_than_data_are_refused(data):
    with pytest.raises(GanTuneError, match="at least one"):
        PackedTrainer([], data)
    with pytest.raises(GanTuneError, match="batch_size"):
        PackedTrainer([SHAPES[0].replace(batch_size=64)], data)


def test_bucket_configs_groups_compatible_similar_shapes():
    small = [GANConfig(g_widths=(16, 16), d_widths=(16, 16), seed=i) for i in range(5)]
    big = [GANConfig(g_widths=(128, 128), d_widths=(128, 128), seed=i) for i in range(5)]
    other_batch = [GANConfig(batch_size=16, seed=i) for i in range(3)]
    configs = [c for trio in zip(small, big, other_batch + [small[0]] * 2) for c in trio]
    packs = bucket_configs(configs, max_pack=4)
    assert sorted(i for p in packs for i in p) == list(range(len(configs)))
    for pack in packs:
        assert len(pack) <= 4
        members = [configs[i] for i in pack]
        assert len({c.batch_size for c in members}) == 1
        assert len({c.g_widths for c in members}) == 1  # 16 and 128 widths never share a pack
    with pytest.raises(GanTuneError, match="supports loss"):
        bucket_configs([GANConfig(loss="wgan-gp")])


def test_train_packed_buckets_and_maps_indices(data):
    configs = [
        GANConfig(epochs=20, eval_every=10, seed=0),
        GANConfig(epochs=20, eval_every=10, batch_size=16, seed=1),
        GANConfig(epochs=20, eval_every=10, g_widths=(8,), seed=2),
    ]
    seen: set[tuple[int, int]] = set()
    results = train_packed(configs, data, max_pack=8, report=lambda epoch, i, m: seen.add((epoch, i)))
    assert [r.config for r in results] == configs and [r.index for r in results] == [0, 1, 2]
    assert seen == {(e, i) for e in (10, 20) for i in range(3)}
    assert all(r.status == "completed" for r in results)
    # The batch-16 config trained in its own pack and still matches its solo run.
    assert max_weight_diff(results[1].generator_state, train(configs[1], data, device="cpu").generator.state_dict()) < WEIGHT_TOL
