"""Streak carving (``loss.pl_streak_reference``): the layer in closed form on drawn lines, what it must leave
alone, and the pseudo-labels it changes."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from jrgr_deploy.checkpoint import load_net
from jrgr_deploy.datasets import UnpairedRainDataset
from jrgr_deploy.default_model import default_checkpoint
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import nchw_to_rgb
from jrgr_deploy.image_files import read_rgb, write_rgb
from jrgr_deploy.training.data import (
    PSEUDO_LABELS_FILE,
    STREAK_REFERENCE_DIR,
    make_pseudo_labels,
    resolve_sources,
)
from jrgr_deploy.training.evaluate import remove_rain
from jrgr_deploy.training.losses import rain_line_penalty
from jrgr_deploy.training.streak_carving import (
    TONE_BLUR_PX,
    carve_streaks,
    detail_layer,
    line_layer,
    own_lines,
    rain_line_mask,
    streak_energy,
    streak_layer,
)
from jrgr_deploy.training.system import GeneratorObjective, JRGRNets
from tests.test_method_switches import _small
from tests.test_training import dataset, small_config  # noqa: F401 - the module-scoped data set fixture


def _background(height: int = 72, width: int = 72) -> np.ndarray:
    """A smooth colour ramp: no line of its own for the carving to find."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([60 + cols, 80 + rows * 0.5, 100 + (rows + cols) * 0.3], axis=2).astype(np.uint8)


def _with_line(image: np.ndarray, angle_deg: float, amplitude: tuple[int, int, int] = (40, 40, 40),
               half_length: int = 25) -> np.ndarray:
    """`image` plus a two-pixel-wide line through its centre, `angle_deg` from the vertical (a one-pixel oblique
    line's staircase need not hold the structuring line's: real streaks are wider)."""
    layer = np.zeros(image.shape, np.float32)
    cy, cx = image.shape[0] // 2, image.shape[1] // 2
    theta = np.deg2rad(angle_deg)
    dx, dy = round(np.sin(theta) * half_length), round(np.cos(theta) * half_length)
    cv2.line(layer, (cx - dx, cy - dy), (cx + dx, cy + dy), tuple(float(a) for a in amplitude), 2)
    return np.clip(image.astype(np.float32) + layer, 0, 255).astype(np.uint8)


def test_a_streak_the_reference_removes_is_carved_to_the_reference_in_closed_form() -> None:
    """Reference = the background, label = background + a vertical line: the layer is the label minus the
    reference re-toned under the blur (R + blur(L − R)) on the line, zero elsewhere, and the rain angle is about 0."""
    reference = _background()
    label = _with_line(reference, 0)
    layer, angle = streak_layer(label, reference)
    assert angle in (-5, 0, 5)  # a 9 px line is drawn alike at 0 and ±5 degrees
    diff = label.astype(np.float32) - reference.astype(np.float32)
    retoned = reference.astype(np.float32) + cv2.GaussianBlur(diff, (0, 0), TONE_BLUR_PX)
    on_line = diff[..., 0] > 0
    expected = (label.astype(np.float32) - retoned).min(axis=2)
    np.testing.assert_allclose(layer[on_line], expected[on_line], atol=1e-4)
    assert (layer[on_line] > 20).all()  # most of the 40 grey levels; the 3 px blur of the line keeps the rest
    assert layer[~on_line].max() == 0.0
    carved = carve_streaks(label, reference)
    np.testing.assert_array_equal(carved[~on_line], label[~on_line])
    assert np.abs(carved[on_line] - retoned[on_line]).max() <= 0.5 + 1e-3  # the line carved down to R + blur(L − R)


def test_the_rain_angle_follows_a_tilted_line() -> None:
    reference = _background()
    layer, angle = streak_layer(_with_line(reference, 20), reference)
    assert angle in (15, 20, 25) and layer.max() > 30
    _, angle = streak_layer(_with_line(reference, -30), reference)
    assert angle in (-35, -30, -25)


@pytest.mark.parametrize("case", ["coloured", "short", "kept by the reference", "reference darker"])
def test_what_is_not_a_streak_stays(case: str) -> None:
    """Not carved: a line brighter in one channel only (rain adds light to all three), a dot shorter than the
    structuring line, a line the reference keeps too, and a reference that differs only in tone."""
    background = _background()
    if case == "coloured":
        label, reference = _with_line(background, 0, amplitude=(40, 0, 0)), background
    elif case == "short":
        label, reference = _with_line(background, 0, half_length=2), background
    elif case == "kept by the reference":
        label = _with_line(background, 0)
        reference = label
    else:
        label = _with_line(background, 0)
        reference = np.clip(label.astype(int) - 30, 0, 255).astype(np.uint8)
    layer, _ = streak_layer(label, reference)
    assert layer.max() == 0.0
    np.testing.assert_array_equal(carve_streaks(label, reference), label)


def test_streak_energy_measures_lines_along_the_given_rain_direction() -> None:
    """No reference: a vertical line scores, the ramp without it does not, a derained copy (the line gone) scores
    nothing along the rainy image's angle, and a line across that angle is not counted when the angle is given."""
    background = _background()
    rainy = _with_line(background, 0)
    energy, angle = streak_energy(rainy)
    assert angle in (-5, 0, 5) and energy > 0.2  # about 2 px x 50 px x tens of levels over 72 x 72 px
    assert streak_energy(background, angle)[0] == 0.0
    tilted = _with_line(background, 35)
    assert streak_energy(tilted)[0] > 0.2
    assert streak_energy(tilted, angle)[0] < 0.1 * streak_energy(tilted)[0]  # outside angle ± SPREAD_DEG
    with pytest.raises(JRGRError, match="rain angle 7 is not one of"):
        streak_layer(rainy, background, rain_angle=7)


def _nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def test_the_rain_line_mask_covers_a_streak_and_nothing_else() -> None:
    """A vertical line on the ramp: the mask holds the line (and one pixel around it), the angle is about 0; far
    from it and on the ramp alone the mask is empty; a line across the image's rain is not masked."""
    background = _background()
    rainy = _with_line(background, 0)
    mask, angle = rain_line_mask(rainy)
    on_line = (rainy.astype(int) - background.astype(int))[..., 0] > 0
    assert angle in (-5, 0, 5) and mask.dtype == np.uint8
    assert mask[on_line].mean() > 0.9  # the line's ends, shorter than the structuring line, may stay out
    assert mask[:, :20].max() == 0 and mask[:, -20:].max() == 0
    assert rain_line_mask(background)[0].max() == 0
    with pytest.raises(JRGRError, match=r"expected an \(H, W, 3\) image"):
        rain_line_mask(rainy[..., 0])


def test_the_streak_penalty_is_the_streak_energys_layer_and_removes_the_line() -> None:
    """``streak_fr_or`` on an output that kept the rainy image's line is `own_lines`' layer (grey levels / 127.5,
    within the 8-bit blur's rounding); on an output without it, 0; its gradient, followed alone, thins the line
    and leaves the ramp far from it."""
    background = _background()
    rainy = _with_line(background, 0)
    o_r = _nchw(rainy)
    kept = float(rain_line_penalty(o_r, o_r)) * 127.5
    layer, _ = own_lines(rainy)
    assert kept > 0.5
    assert abs(kept - float(layer.mean())) < 0.1 * float(layer.mean())
    assert float(rain_line_penalty(_nchw(background), o_r)) < 0.01 * kept / 127.5
    output = o_r.clone().requires_grad_(True)
    optimiser = torch.optim.SGD([output], lr=2000.0)
    for _ in range(30):
        optimiser.zero_grad()
        rain_line_penalty(output, o_r).backward()
        optimiser.step()
    after = float(rain_line_penalty(output.detach(), o_r)) * 127.5
    assert after < 0.5 * kept
    on_line = rainy[..., 0].astype(int) > background[..., 0]
    line_after = (output.detach() - _nchw(background))[0].amin(dim=0).numpy()
    assert line_after[on_line].mean() < 0.7 * (40 / 127.5)
    np.testing.assert_allclose(output.detach()[..., :, :10].numpy(), o_r[..., :, :10].numpy(), atol=1e-6)
    with pytest.raises(JRGRError, match="needs crops larger than 9 px"):
        rain_line_penalty(o_r[..., :8, :8], o_r[..., :8, :8])


def test_the_other_line_forms_count_a_streak_turned_dark_or_coloured() -> None:
    """``loss.streak_lines``: where the rainy image shows a grey line, an output with a dark line there (the streak
    subtracted twice) costs more under "grey_both" than under "grey", which sees only its bright side lobes; an
    output with the line in one channel only (a coloured line) costs nothing under "grey" and about a third of the
    grey line under "each_channel"; an unknown form is refused."""
    background = _background()
    rainy = _with_line(background, 0)
    o_r = _nchw(rainy)
    darkened = _nchw(np.clip(2 * background.astype(int) - rainy.astype(int), 0, 255).astype(np.uint8))
    assert float(rain_line_penalty(darkened, o_r, "grey_both")) > 2 * float(rain_line_penalty(darkened, o_r)) > 0
    kept_grey = float(rain_line_penalty(o_r, o_r))
    assert kept_grey <= float(rain_line_penalty(o_r, o_r, "grey_both")) < 1.6 * kept_grey  # plus its dark lobes
    assert abs(float(rain_line_penalty(o_r, o_r, "each_channel")) - kept_grey) < 0.05 * kept_grey
    coloured = _nchw(_with_line(background, 0, amplitude=(40, 0, 0)))
    assert float(rain_line_penalty(coloured, o_r)) < 0.01 * kept_grey  # the ramp's own faint ridges only
    each = float(rain_line_penalty(coloured, o_r, "each_channel"))
    assert 0.25 * kept_grey < each < 0.45 * kept_grey
    with pytest.raises(JRGRError, match="lines must be one of grey, grey_both, each_channel"):
        rain_line_penalty(o_r, o_r, "dark")
    with pytest.raises(JRGRError, match="streak_lines"):
        _small("loss.weights.streak_fr_or=1", "loss.streak_lines=dark")
    with pytest.raises(JRGRError, match="it needs loss.weights.streak_fr_or > 0"):
        _small("loss.streak_lines=each_channel")
    assert _small("loss.weights.streak_fr_or=1", "loss.streak_lines=each_channel").loss.streak_lines == "each_channel"


def test_the_streak_term_is_weighted_in_the_mse_group_and_reaches_f_r() -> None:
    """``loss.weights.streak_fr_or`` = w adds lambda_mse × w × `rain_line_penalty`(F_r(O_r), O_r) to the total,
    on the lean step (self-training stays removal-only) and on the joint graph, with a gradient on F_r."""
    self_training = ("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_r=0", "loss.weights.mse_fr_pl=1")
    config = _small(*self_training, "loss.weights.streak_fr_or=3")
    plain = _small(*self_training)
    torch.manual_seed(0)
    nets = JRGRNets(config)
    rainy = cv2.resize(_with_line(_background(), 0), (32, 32), interpolation=cv2.INTER_AREA)
    o_r = _nchw(rainy)
    o_s, b_s, p_r = (torch.rand(1, 3, 32, 32) * 2 - 1 for _ in range(3))
    terms, _ = GeneratorObjective(nets, config.loss)(o_s, b_s, o_r, None, p_r)
    with torch.no_grad():
        expected = rain_line_penalty(nets.f_r(o_r), o_r)
        without = GeneratorObjective(nets, plain.loss)(o_s, b_s, o_r, None, p_r)[0]["g_total"]
    torch.testing.assert_close(terms["streak_fr_or"], expected)
    torch.testing.assert_close(terms["g_total"], without + 3 * config.loss.lambda_mse * expected)
    nets.zero_grad(set_to_none=True)
    terms["streak_fr_or"].backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in nets.f_r.parameters())
    with pytest.raises(JRGRError, match="streak_fr_or must be >= 0"):
        _small("loss.weights.streak_fr_or=-1")


def test_the_lines_carving_takes_the_labels_own_lines_the_reference_lacks() -> None:
    """``loss.pl_streak_carving=lines``: the label's own lines (against its own blur) minus the reference's own
    lines along the same direction. A line only in the label is carved whole, `gain` times (clipped to uint8), and
    nothing else moves; a line in both is left, at any gain; an unknown carving is refused."""
    background = _background()
    label = _with_line(background, 0)
    own, angle = own_lines(label)
    layer, layer_angle = line_layer(label, background)
    assert layer_angle == angle
    np.testing.assert_allclose(layer, own, atol=1e-4)  # the ramp has no line of its own
    on_line = own > 0
    assert on_line.sum() > 50 and layer[on_line].max() > 20
    for gain in (1.0, 2.0):
        carved = carve_streaks(label, background, "lines", gain)
        expected = np.clip(np.rint(label.astype(np.float32) - gain * own[..., None]), 0, 255)
        np.testing.assert_array_equal(carved, expected.astype(np.uint8))
        np.testing.assert_array_equal(carved[~on_line], label[~on_line])
    assert carve_streaks(label, background, "lines", 2.0)[on_line].astype(int).sum() < \
        carve_streaks(label, background, "lines", 1.0)[on_line].astype(int).sum()
    assert line_layer(label, label)[0].max() == 0.0
    np.testing.assert_array_equal(carve_streaks(label, label, "lines", 3.0), label)
    with pytest.raises(JRGRError, match="expected one of"):
        carve_streaks(label, background, "ridges")


def test_the_detail_carving_takes_the_references_fine_structure_under_the_labels_tone() -> None:
    """``loss.pl_streak_carving=detail``: the label's blur plus the reference's detail. A dot and a line across the
    rain (no line along it: the line forms leave them) that the reference lacks are carved; the label's own tone,
    here brighter than the reference's everywhere, stays; a reference equal to the label changes nothing."""
    background = _background()
    label = _with_line(background, 90, half_length=10)  # a short horizontal streak: across any rain direction
    cv2.circle(label, (18, 18), 2, (230, 230, 230), -1)  # a drop, no line at all
    reference = np.clip(background.astype(int) - 25, 0, 255).astype(np.uint8)  # darker, no drop, no line
    carved = carve_streaks(label, reference, "detail")
    expected = cv2.GaussianBlur(label.astype(np.float32), (0, 0), TONE_BLUR_PX) + reference - \
        cv2.GaussianBlur(reference.astype(np.float32), (0, 0), TONE_BLUR_PX)
    np.testing.assert_array_equal(carved, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    drop, streak = (slice(16, 21), slice(16, 21)), (slice(35, 38), slice(28, 44))
    for where in (drop, streak):  # the drop and the streak lose most of their light over the background
        assert (carved[where].astype(int) - background[where]).mean() < \
            0.5 * (label[where].astype(int) - background[where]).mean()
    far = (slice(50, 72), slice(50, 72))  # away from both: the label's tone, not the reference's 25 levels darker
    assert np.abs(carved[far].astype(int) - label[far]).max() <= 1
    assert np.abs(detail_layer(label, label)).max() == 0.0
    np.testing.assert_array_equal(carve_streaks(label, label, "detail"), label)
    assert carve_streaks(label, reference, "residue")[drop].astype(int).sum() == label[drop].astype(int).sum()


@pytest.mark.parametrize(("overrides", "message"), [
    (("loss.pl_streak_carving=lines",), "need loss.pl_streak_reference"),
    (("loss.pl_streak_gain=2",), "need loss.pl_streak_reference"),
    (("loss.pl_streak_keep=proxy_*",), "need loss.pl_streak_reference"),
    (("loss.pl_streak_reference_passes=2",), "need loss.pl_streak_reference"),
    (("loss.pl_streak_reference=ref.safetensors", "loss.pl_streak_reference_passes=4"), r"must be in \[1, 3\]"),
    (("loss.pl_streak_reference=ref.safetensors", "loss.pl_streak_reference_passes=0"), r"must be in \[1, 3\]"),
    (("loss.pl_streak_reference=ref.safetensors", "loss.pl_streak_gain=0"), r"must be in \(0, 3\]"),
    (("loss.pl_streak_reference=ref.safetensors", "loss.pl_streak_gain=3.5"), r"must be in \(0, 3\]"),
    (("loss.pl_streak_reference=ref.safetensors", "loss.pl_streak_carving=edges"),
     "is not one of residue, lines, detail"),
])
def test_carving_switches_are_checked(dataset, overrides, message) -> None:  # noqa: F811
    with pytest.raises(JRGRError, match=message):
        small_config(dataset, "loss.weights.mse_fr_pl=1", *overrides)


def test_images_of_two_sizes_are_refused() -> None:
    with pytest.raises(JRGRError, match="one size"):
        streak_layer(_background(72, 72), _background(64, 72))


def test_labels_lose_the_streaks_the_reference_removes(dataset, tmp_path) -> None:  # noqa: F811
    """With ``loss.pl_streak_reference`` each label is `carve_streaks` of the net's output against the reference
    net's output on the same input. Here the labelling net is a fresh residual net, whose zero head returns the
    rainy image, and the reference is the shipped F_r, so the carving must take some of the data set's rain; the
    folder records the reference (no reference relabels), and the switch is refused without the labels' term."""
    config = small_config(dataset, "loss.weights.mse_fr_pl=1")
    sources = resolve_sources(config.data, need_real=True)
    f_r = JRGRNets(config).f_r.eval()
    reference_path = default_checkpoint()
    reference = load_net(reference_path, "f_r")
    loss = replace(config.loss, pl_veil_strength=0.0, pl_streak_reference=str(reference_path))
    # the labelling net's own multiple (its small depth); the reference pads to its own (16)
    pairs = make_pseudo_labels(sources, f_r, loss, tmp_path / "labels", multiple=4)
    real = UnpairedRainDataset(sources.real)
    rainy = [nchw_to_rgb(real[index]["o_r"][None].numpy())[0] for index in range(len(real))]
    carved = 0
    with torch.no_grad():
        for index, image in enumerate(rainy):
            np.testing.assert_array_equal(remove_rain(f_r, [image], multiple=4)[0], image)
            expected = carve_streaks(image, remove_rain(reference, [image], multiple=16)[0])
            np.testing.assert_array_equal(read_rgb(pairs[index][1]), expected)
            carved += int((expected < image).any())
    assert carved == len(rainy)  # every rainy image lost some streak
    recorded = json.loads((tmp_path / "labels" / PSEUDO_LABELS_FILE).read_text())
    assert recorded["streak_reference"] == str(reference_path)
    assert "streak_carving" not in recorded  # the residue carving at 1x: the keys labels had before the choice
    lines = replace(loss, pl_streak_carving="lines", pl_streak_gain=2.0)
    make_pseudo_labels(sources, f_r, lines, tmp_path / "labels", multiple=4)  # another carving labels anew
    with torch.no_grad():
        expected = carve_streaks(rainy[0], remove_rain(reference, [rainy[0]], multiple=16)[0], "lines", 2.0)
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), expected)
    recorded = json.loads((tmp_path / "labels" / PSEUDO_LABELS_FILE).read_text())
    assert (recorded["streak_carving"], recorded["streak_gain"]) == ("lines", 2.0)
    twice = replace(loss, pl_streak_carving="detail", pl_streak_reference_passes=2)
    make_pseudo_labels(sources, f_r, twice, tmp_path / "labels", multiple=4)  # the reference on its own output
    with torch.no_grad():
        once = remove_rain(reference, [rainy[0]], multiple=16)[0]
        expected = carve_streaks(rainy[0], remove_rain(reference, [once], multiple=16)[0], "detail")
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), expected)
    assert not np.array_equal(expected, carve_streaks(rainy[0], once, "detail"))
    recorded = json.loads((tmp_path / "labels" / PSEUDO_LABELS_FILE).read_text())
    assert (recorded["streak_carving"], recorded["streak_reference_passes"]) == ("detail", 2)
    assert json.loads((tmp_path / "labels" / STREAK_REFERENCE_DIR / PSEUDO_LABELS_FILE).read_text())["passes"] == 2
    kept_name = real.images[0].name  # loss.pl_streak_keep: the images whose file name matches stay uncarved
    make_pseudo_labels(sources, f_r, replace(loss, pl_streak_keep=kept_name), tmp_path / "labels", multiple=4)
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), rainy[0])
    assert all((read_rgb(label) < image).any() for (_, label), image in zip(pairs[1:], rainy[1:], strict=True))
    assert json.loads((tmp_path / "labels" / PSEUDO_LABELS_FILE).read_text())["streak_keep"] == kept_name
    make_pseudo_labels(sources, f_r, replace(loss, pl_streak_reference=""), tmp_path / "labels", multiple=4)
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), rainy[0])
    with pytest.raises(JRGRError, match="pl_streak_reference carves"):
        small_config(dataset, f"loss.pl_streak_reference={reference_path}")


def test_a_refresh_reads_the_references_outputs_back(dataset, tmp_path) -> None:  # noqa: F811
    """The reference's input is the same at every label refresh, so its outputs are written once
    (FOLDER/reference) and read back: a refresh carves against what is on disk (here a cached output replaced by
    its own input, which the reference then seems to leave alone: that image keeps its streaks), and another
    reference makes them again."""
    config = small_config(dataset, "loss.weights.mse_fr_pl=1")
    sources = resolve_sources(config.data, need_real=True)
    f_r = JRGRNets(config).f_r.eval()
    reference_path = str(default_checkpoint())
    loss = replace(config.loss, pl_veil_strength=0.0, pl_streak_reference=reference_path, pl_refresh_iters=1)
    folder = tmp_path / "labels"
    pairs = make_pseudo_labels(sources, f_r, loss, folder, multiple=4)
    cached = folder / STREAK_REFERENCE_DIR
    first = [read_rgb(label) for _, label in pairs]
    rainy = [read_rgb(rainy_path) for rainy_path, _ in pairs]
    assert not np.array_equal(first[0], rainy[0])  # the reference carved some streak
    write_rgb(cached / "000000.png", rainy[0])
    make_pseudo_labels(sources, f_r, loss, folder, multiple=4, step=1)  # a refresh
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), rainy[0])
    np.testing.assert_array_equal(read_rgb(pairs[1][1]), first[1])
    other = tmp_path / "other.safetensors"
    shutil.copy(reference_path, other)
    make_pseudo_labels(sources, f_r, replace(loss, pl_streak_reference=str(other)), folder, multiple=4, step=2)
    assert json.loads((cached / PSEUDO_LABELS_FILE).read_text())["reference"] == str(other)
    assert not np.array_equal(read_rgb(cached / "000000.png"), rainy[0])
