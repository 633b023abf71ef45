"""The moment transfer (beyond the paper, ``loss.weights.mse_fr_mt``): cell moments, the affine map against its
closed form, the data set's aligned o_mt crops, the term in the objective and a stage-2 run that uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jrgr_deploy.datasets import PairedRainDataset, evenly_spaced
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.moment_transfer import (
    LUMA_RGB,
    MomentTransfer,
    cell_moments,
    light_gain,
    population_moments,
    streak_energy,
    streaks_on_background,
)
from jrgr_deploy.training.run_log import read_log
from jrgr_deploy.training.system import Composition, GeneratorObjective, JRGRNets
from jrgr_deploy.training.trainer import train
from tests.test_method_switches import _small
from tests.test_training import dataset, small_config  # noqa: F401 - the module-scoped data set fixture


def _gray(values: np.ndarray) -> np.ndarray:
    return np.repeat(values.astype(np.uint8)[..., None], 3, axis=2)


def test_cell_moments_closed_form() -> None:
    image = np.zeros((4, 6), np.uint8)
    image[:2, :3] = 10  # top-left cell constant
    image[:2, 3:] = [[0, 20, 0], [20, 0, 20]]  # top-right: mean 10, std 10
    image[2:, :] = 200
    moments = cell_moments(_gray(image), 2)
    np.testing.assert_allclose(moments[0, 0], [10.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(moments[0, 1], [10.0, 10.0], atol=1e-4)
    np.testing.assert_allclose(moments[1], [[200.0, 0.0], [200.0, 0.0]], atol=1e-4)
    assert np.isclose(LUMA_RGB.sum(), 1.0)  # grey pixels keep their level as luma
    np.testing.assert_allclose(population_moments([_gray(image), _gray(image + 10)], 2)[..., 0],
                               moments[..., 0] + 5.0, atol=1e-4)
    with pytest.raises(JRGRError, match="3x3 grid"):
        cell_moments(_gray(np.zeros((2, 2))), 3)
    with pytest.raises(JRGRError, match="no images"):
        population_moments([], 2)


def test_transfer_maps_the_source_moments_onto_the_target() -> None:
    rng = np.random.default_rng(0)
    image = _gray(rng.normal(150.0, 30.0, (64, 64)).clip(0, 255))
    source = cell_moments(image, 1)
    target = np.array([[[120.0, 15.0]]])
    transfer = MomentTransfer(source, target)
    np.testing.assert_allclose(cell_moments(transfer.apply(image), 1), target, atol=0.6)  # rounding to levels
    # strength s: mean shifted by s * (120 - mu), contrast scaled by 1 + s * (15 / sigma - 1)
    half = cell_moments(transfer.apply(image, 0.5), 1)[0, 0]
    want_std = source[0, 0, 1] * (1 + 0.5 * (15.0 / source[0, 0, 1] - 1))
    np.testing.assert_allclose(half, [source[0, 0, 0] + 0.5 * (120 - source[0, 0, 0]), want_std], atol=0.6)
    np.testing.assert_array_equal(transfer.apply(image, 0.0), image)
    assert 0.7 <= transfer.draw_strength(rng) <= 1.3
    with pytest.raises(JRGRError, match="jitter"):
        MomentTransfer(source, target, jitter=1.5)
    with pytest.raises(JRGRError, match="grid, grid, 2"):
        MomentTransfer(source, np.zeros((2, 2, 2)))


def test_transfer_is_local_to_its_cells() -> None:
    """A 2x2 transfer that only darkens the top row of cells leaves the bottom rows (beyond the cell centres'
    interpolation) untouched."""
    image = _gray(np.full((40, 40), 100.0))
    source = np.full((2, 2, 2), [100.0, 10.0])
    target = source.copy()
    target[0, :, 0] = 60.0
    out = MomentTransfer(source, target).apply(image)
    assert out[:10].mean() == pytest.approx(60.0, abs=0.5)  # above the top cells' centres: the full shift
    assert out[30:].mean() == pytest.approx(100.0, abs=0.5)  # below the bottom cells' centres: none


def test_paired_dataset_cuts_o_mt_with_the_pair_crop(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rainy, clean = tmp_path / "rainy.png", tmp_path / "clean.png"
    write_rgb(rainy, rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    write_rgb(clean, rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    moments = np.full((2, 2, 2), [120.0, 60.0])
    identity = PairedRainDataset([(rainy, clean)], crop_size=16, flip=True, seed=3,
                                 transfer=MomentTransfer(moments, moments))
    for epoch in range(4):  # several crops and flips: o_mt always the same window as o_s
        identity.set_epoch(epoch)
        item = identity[0]
        torch.testing.assert_close(item["o_mt"], item["o_s"])
    darker = moments.copy()
    darker[..., 0] -= 40.0
    item = PairedRainDataset([(rainy, clean)], crop_size=16, seed=3, transfer=MomentTransfer(moments, darker))[0]
    assert (item["o_mt"] - item["o_s"]).mean() < -0.15  # ~ -40 levels x strength, in [-1, 1] units
    assert "o_mt" not in PairedRainDataset([(rainy, clean)], crop_size=16, seed=3)[0]


def test_streaks_on_background_keeps_the_streaks_and_drops_the_rains_own_lift() -> None:
    """``loss.transfer_streaks_px``: Õ_mt = the background re-toned + (rain layer − its blur). A uniform lift of
    the rain (a veil of its own) vanishes; a thin streak stays, minus its blurred surround; the map is the one
    fitted on the background (closed form against OpenCV's blur)."""
    import cv2

    clean = _gray(np.full((48, 40), 80))
    lifted = clean + np.uint8(30)
    moments = np.full((2, 2, 2), [80.0, 5.0])
    identity, brighter = MomentTransfer(moments, moments), MomentTransfer(moments, moments + [20.0, 0.0])
    np.testing.assert_array_equal(streaks_on_background(identity, lifted, clean, 1.0, 4.0), clean)
    np.testing.assert_array_equal(streaks_on_background(brighter, lifted, clean, 1.0, 4.0), clean + np.uint8(20))
    streaky = lifted.copy()
    streaky[:, 20] = 200  # a vertical streak 1 px wide on the lifted background
    rain = streaky.astype(np.float32) - clean
    want = np.clip(np.rint(clean + rain - cv2.GaussianBlur(rain, (0, 0), 4.0)), 0, 255)
    out = streaks_on_background(identity, streaky, clean, 1.0, 4.0)
    np.testing.assert_array_equal(out, want.astype(np.uint8))
    # the streak (90 over the lift, less its 4 px blur), not the lift
    assert out[:, 20].mean() > 155 and abs(out[:, 5].astype(float).mean() - 80) < 2
    with pytest.raises(JRGRError, match="> 0 px"):
        streaks_on_background(identity, streaky, clean, 1.0, 0.0)


def test_paired_dataset_builds_o_mt_from_the_background_with_transfer_streaks(tmp_path) -> None:
    rainy, clean = tmp_path / "rainy.png", tmp_path / "clean.png"
    write_rgb(clean, _gray(np.full((48, 40), 90)))
    write_rgb(rainy, _gray(np.full((48, 40), 130)))  # the rain: a uniform lift of 40 levels, no streak
    moments = np.full((2, 2, 2), [90.0, 5.0])
    pairs = PairedRainDataset([(rainy, clean)], crop_size=16, seed=3, transfer=MomentTransfer(moments, moments),
                              transfer_streaks_px=4.0)
    item = pairs[0]
    torch.testing.assert_close(item["o_mt"], item["b_s"])  # the lift gone: the background, as re-toned
    assert (item["o_s"] - item["b_s"]).mean() > 0.3


def test_coupled_strength_goes_with_the_pairs_streak_energy(tmp_path) -> None:
    """``loss.transfer_coupled``: a pair's strength is scaled by its `streak_energy` over the given mean (closed
    form: the energy of one streak against OpenCV's blur; the shift of o_mt at energy / mean = 1 and 1/2)."""
    import cv2

    clean = _gray(np.full((48, 40), 90))
    streaky = clean.copy()
    streaky[:, 20] = 150
    rain = np.zeros((48, 40), np.float32)
    rain[:, 20] = 60.0
    want = float(np.mean(np.abs(rain - cv2.GaussianBlur(rain, (0, 0), 4.0))))
    assert streak_energy(streaky, clean) == pytest.approx(want, rel=1e-4)
    assert streak_energy(clean, clean) == 0.0
    rainy_path, clean_path = tmp_path / "rainy.png", tmp_path / "clean.png"
    write_rgb(rainy_path, streaky)
    write_rgb(clean_path, clean)
    moments = np.full((2, 2, 2), [90.0, 5.0])
    darker = MomentTransfer(moments, moments - [30.0, 0.0], jitter=0.0)

    def shift(coupled_energy: float | None) -> float:
        item = PairedRainDataset([(rainy_path, clean_path)], seed=3, transfer=darker, transfer_streaks_px=4.0,
                                 coupled_energy=coupled_energy)[0]
        return float((item["o_mt"] - item["b_s"])[:, :, :10].mean()) * 127.5  # levels, away from the streak

    assert shift(None) == pytest.approx(-30.0, abs=0.6)
    assert shift(want) == pytest.approx(-30.0, abs=0.6)
    assert shift(2 * want) == pytest.approx(-15.0, abs=0.6)
    assert shift(want / 10) == pytest.approx(-90.0, abs=0.6)  # at most MAX_COUPLED_STRENGTH (3) times


def test_mse_fr_mt_term_closed_form_and_gradient() -> None:
    config = _small("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_s=0", "loss.weights.mse_r=0",
                    "loss.weights.mse_fr_mt=2")
    torch.manual_seed(0)
    nets = JRGRNets(config)
    with torch.no_grad():
        for p in nets.f_r.parameters():
            p.add_(0.05 * torch.randn_like(p))
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r, o_mt = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(4))
    terms, _ = objective(o_s, b_s, o_r, o_mt)
    want = torch.mean((nets.f_r(o_mt) - b_s) ** 2)
    torch.testing.assert_close(terms["mse_fr_mt"], want)
    torch.testing.assert_close(terms["g_total"], config.loss.lambda_mse * 2 * want)
    terms["g_total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.f_r.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in nets.g_r.parameters())
    with pytest.raises(JRGRError, match="o_mt"):
        objective(o_s, b_s, o_r)


def test_stage2_with_the_moment_transfer_logs_the_term(dataset, tmp_path) -> None:  # noqa: F811
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=2", "loss.weights.mse_fr_mt=1",
                          "loss.moment_grid=2", "loss.transfer_images=4")
    assert train(config, tmp_path, progress=False).complete
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage2"]
    assert records[-1]["mse_fr_mt"] > 0
    with pytest.raises(JRGRError, match="transfer_jitter"):
        small_config(dataset, "loss.transfer_jitter=1")
    with pytest.raises(JRGRError, match="transfer_streaks_px"):
        small_config(dataset, "loss.transfer_streaks_px=-1")
    with pytest.raises(JRGRError, match="pl_veil_patch"):  # the labels' dark channel (tests/test_veil.py)
        small_config(dataset, "loss.pl_veil_patch=0")


def test_stage2_with_transfer_streaks_fits_the_map_on_the_backgrounds(dataset, tmp_path, caplog) -> None:  # noqa: F811
    """With ``loss.transfer_streaks_px`` the map's source moments are the clean backgrounds' (the rainy images'
    otherwise): the logged mean shift is the real set's lift over the backgrounds."""
    import logging

    base = ("train.stage1_iters=2", "train.stage2_iters=2", "loss.weights.mse_fr_mt=1", "loss.moment_grid=2",
            "loss.transfer_images=4")
    shifts = {}
    for streaks, coupled in (("0", "false"), ("4", "true")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="jrgr_deploy.training.data"):
            config = small_config(dataset, *base, f"loss.transfer_streaks_px={streaks}",
                                  f"loss.transfer_coupled={coupled}")
            assert train(config, tmp_path / streaks, progress=False).complete
        messages = [r.getMessage() for r in caplog.records]
        line = next(m for m in messages if m.startswith("moment transfer"))
        shifts[streaks] = float(line.rsplit("mean shift ", 1)[1].split()[0])
        assert any(m.startswith("coupled moment transfer") for m in messages) == (coupled == "true")
    # the synthetic rain lifts its backgrounds, so the shift from the backgrounds is the larger one
    assert shifts["4"] > shifts["0"]


def test_population_sets_are_evenly_spaced_and_whole_when_small() -> None:
    """The population moments read up to ``loss.transfer_images`` images of a set: all of a smaller set (a
    200-frame clip against the default 256 once gave only its first frame), else first to last, evenly."""
    assert evenly_spaced(8, 256) == list(range(8))
    assert evenly_spaced(5, 5) == [0, 1, 2, 3, 4]
    assert evenly_spaced(1000, 5) == [0, 250, 500, 749, 999]
    assert evenly_spaced(1, 256) == [0]


def _veiled(target: np.ndarray, transmission: np.ndarray, airlight: float, light: float) -> np.ndarray:
    """The haze model `light_gain` reads: the target's scene at 1/light of its light under a veil."""
    return np.stack([transmission * target[..., 0] / light + (1 - transmission) * airlight,
                     transmission * target[..., 1] / light], -1)


def test_light_gain_reads_the_light_through_the_veil() -> None:
    rng = np.random.default_rng(4)
    target = np.stack([rng.uniform(40, 200, (4, 4)), rng.uniform(10, 50, (4, 4))], -1)
    transmission = rng.uniform(0.4, 0.95, (4, 4))  # far cells hazier than near ones
    for light in (0.8, 1.0, 1.2):
        source = _veiled(target, transmission, airlight=210.0, light=light)
        assert light_gain(source, target) == pytest.approx(light, rel=1e-9)
        relit = MomentTransfer(source, target).relit(light_gain(source, target))
        np.testing.assert_allclose(relit.target, target / light)  # the scene at the footage's light
        np.testing.assert_allclose(relit.source, source)


def test_light_gain_is_none_where_the_cells_cannot_tell() -> None:
    rng = np.random.default_rng(5)
    target = np.stack([rng.uniform(40, 200, (4, 4)), rng.uniform(10, 50, (4, 4))], -1)
    even = _veiled(target, np.full((4, 4), 0.7), airlight=210.0, light=1.0)  # one veil everywhere: no line to fit
    assert light_gain(even, target) is None
    far_out = _veiled(target, rng.uniform(0.4, 0.95, (4, 4)), airlight=210.0, light=3.0)
    assert light_gain(far_out, target) is None  # outside LIGHT_GAIN_RANGE: taken for a failure
    no_airlight = _veiled(target, rng.uniform(0.4, 0.95, (4, 4)), airlight=-50.0, light=1.0)
    assert light_gain(no_airlight, target) is None
