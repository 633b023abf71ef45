"""The real images' pseudo-labels (beyond the paper, ``loss.weights.mse_fr_pl``): the starting F_r's output with
part of its dark-channel veil removed, written once per run and cut with the same crop as the real image; the term
in the objective; a stage-2 run that uses it and resumes on the same labels."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jrgr_deploy.datasets import PseudoLabelledRealDataset, UnpairedRainDataset
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import nchw_to_rgb
from jrgr_deploy.image_files import read_rgb, write_rgb
from jrgr_deploy.moment_transfer import MomentTransfer, population_moments
from jrgr_deploy.training.data import PSEUDO_LABELS_FILE, make_pseudo_labels, resolve_sources
from jrgr_deploy.training.evaluate import remove_rain
from jrgr_deploy.training.losses import pseudo_label_detail_mse, pseudo_label_mse
from jrgr_deploy.training.run_log import read_log
from jrgr_deploy.training.system import Composition, GeneratorObjective, JRGRNets
from jrgr_deploy.training.trainer import PSEUDO_LABELS_DIR, train
from jrgr_deploy.veil_removal import remove_row_veil, remove_veil
from tests.test_method_switches import _small
from tests.test_training import dataset, small_config  # noqa: F401 - the module-scoped data set fixture


def test_labels_are_the_starting_net_then_veil_removal(dataset, tmp_path, caplog) -> None:  # noqa: F811
    config = small_config(dataset)
    sources = resolve_sources(config.data, need_real=True)
    torch.manual_seed(0)
    f_r = JRGRNets(config).f_r
    loss = replace(config.loss, pl_veil_strength=0.4)
    pairs = make_pseudo_labels(sources, f_r, loss, tmp_path, multiple=4)
    real = UnpairedRainDataset(sources.real)
    assert len(pairs) == len(real) and (tmp_path / PSEUDO_LABELS_FILE).is_file()
    rainy = nchw_to_rgb(real[1]["o_r"][None].numpy())[0]
    np.testing.assert_array_equal(read_rgb(pairs[1][0]), rainy)
    with torch.no_grad():
        (derained,) = remove_rain(f_r, [rainy], multiple=4)
    np.testing.assert_array_equal(read_rgb(pairs[1][1]), remove_veil(derained, 0.4))
    assert not np.array_equal(remove_veil(derained, 0.4), derained)  # the stage did change the net's output

    # reused while (count, strength) match: another net does not relabel; another strength does
    with torch.no_grad():
        for p in f_r.parameters():
            p.add_(0.5)
    with caplog.at_level(logging.INFO, logger="jrgr_deploy.training.data"):
        assert make_pseudo_labels(sources, f_r, loss, tmp_path, multiple=4, made="the test's labels") == pairs
    np.testing.assert_array_equal(read_rgb(pairs[1][1]), remove_veil(derained, 0.4))
    assert "the test's labels, reused from" in caplog.text and "into" not in caplog.text  # the log says so
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jrgr_deploy.training.data"):
        make_pseudo_labels(sources, f_r, replace(loss, pl_veil_strength=0.0), tmp_path, multiple=4, made="anew")
    assert not np.array_equal(read_rgb(pairs[1][1]), remove_veil(derained, 0.4))
    assert f"anew, into {tmp_path}" in caplog.text and "reused" not in caplog.text


def test_labels_are_reused_whatever_the_refresh_interval(dataset, tmp_path) -> None:  # noqa: F811
    """The labels of step N are the same whatever ``loss.pl_refresh_iters`` (the step says which net made them):
    a folder made under another interval, or with the interval in its record as before 2026-12-06, is reused;
    another step is not."""
    config = small_config(dataset)
    sources = resolve_sources(config.data, need_real=True)
    f_r = JRGRNets(config).f_r
    loss = replace(config.loss, pl_veil_strength=0.4, pl_refresh_iters=1000)
    pairs = make_pseudo_labels(sources, f_r, loss, tmp_path, multiple=4)
    done = tmp_path / PSEUDO_LABELS_FILE
    done.write_text(json.dumps({**json.loads(done.read_text()), "refresh_iters": 1000}) + "\n")
    with torch.no_grad():
        for p in f_r.parameters():
            p.add_(0.5)
    first = read_rgb(pairs[1][1])
    assert make_pseudo_labels(sources, f_r, replace(loss, pl_refresh_iters=7), tmp_path, multiple=4) == pairs
    np.testing.assert_array_equal(read_rgb(pairs[1][1]), first)  # reused: the changed net made none
    make_pseudo_labels(sources, f_r, replace(loss, pl_refresh_iters=7), tmp_path, multiple=4, step=7)
    assert not np.array_equal(read_rgb(pairs[1][1]), first)


def _derained_real(sources, f_r) -> list[np.ndarray]:
    real = UnpairedRainDataset(sources.real)
    rainy = [nchw_to_rgb(real[i]["o_r"][None].numpy())[0] for i in range(len(real))]
    with torch.no_grad():
        return remove_rain(f_r, rainy, multiple=4)


def test_moment_labels_remove_the_population_veil(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_veil_removal=moments``: each label is the starting net's output re-toned from the derained real
    set's cell moments to the clean set's (the pairs' backgrounds, or the real domain's clean set when there is
    one) at the strength; the labels' folder records the removal, so switching relabels."""
    config = small_config(dataset, "loss.pl_veil_removal=moments", "loss.moment_grid=2", "loss.pl_veil_strength=0.5")
    sources = resolve_sources(config.data, need_real=True)
    torch.manual_seed(0)
    f_r = JRGRNets(config).f_r
    derained = _derained_real(sources, f_r)
    pairs = make_pseudo_labels(sources, f_r, config.loss, tmp_path / "pairs_clean", multiple=4)
    towards_pairs = MomentTransfer(population_moments(derained, 2),
                                   population_moments([read_rgb(c) for _, c in sources.pairs], 2), jitter=0.0)
    for (_, label), net_output in zip(pairs, derained, strict=True):
        np.testing.assert_array_equal(read_rgb(label), towards_pairs.apply(net_output, 0.5))
    assert not np.array_equal(read_rgb(pairs[0][1]), derained[0])
    assert not (tmp_path / "pairs_clean" / "derained").exists()  # the first pass's outputs are gone

    # the real domain's clean set, when given, is the target instead of the pairs' backgrounds
    real_clean = [np.full((24, 24, 3), 90 + 40 * k, np.uint8) for k in range(2)]
    for k, image in enumerate(real_clean):
        write_rgb(tmp_path / "dry" / f"{k}.png", image)
    dry_sources = replace(sources, real_clean=tmp_path / "dry")
    dry_pairs = make_pseudo_labels(dry_sources, f_r, config.loss, tmp_path / "dry_clean", multiple=4)
    towards_dry = MomentTransfer(population_moments(derained, 2), population_moments(real_clean, 2), jitter=0.0)
    np.testing.assert_array_equal(read_rgb(dry_pairs[1][1]), towards_dry.apply(derained[1], 0.5))

    # the dark channel's labels in the same folder are not taken for the moments' (and back)
    dark = replace(config.loss, pl_veil_removal="dark_channel")
    make_pseudo_labels(sources, f_r, dark, tmp_path / "pairs_clean", multiple=4)
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), remove_veil(derained[0], 0.5))
    with pytest.raises(JRGRError, match="pl_veil_removal"):
        small_config(dataset, "loss.pl_veil_removal=haze")


def test_labels_with_the_veil_removed_first_and_row_by_row(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_veil_first``: each label is the starting net's output on the rainy image with its veil removed,
    F_r(V(O_r)), not V(F_r(O_r)); ``loss.pl_veil_removal=row_dark_channel``: V is `remove_row_veil` with the
    labels' patch (its band of rows) and airlight share. Each choice relabels the folder; the moments cannot go
    first (they are read from the derained images)."""
    config = small_config(dataset, "loss.pl_veil_strength=0.6", "loss.pl_veil_patch=0.2",
                          "loss.pl_airlight_fraction=0.05")
    sources = resolve_sources(config.data, need_real=True)
    torch.manual_seed(0)
    f_r = JRGRNets(config).f_r
    real = UnpairedRainDataset(sources.real)
    rainy = [nchw_to_rgb(real[i]["o_r"][None].numpy())[0] for i in range(len(real))]
    folder = tmp_path / "labels"
    after = make_pseudo_labels(sources, f_r, config.loss, folder, multiple=4)
    with torch.no_grad():
        derained = remove_rain(f_r, rainy[:1], multiple=4)[0]
    np.testing.assert_array_equal(read_rgb(after[0][1]), remove_veil(derained, 0.6, 0.2, 0.05))
    for removal, veil in (("dark_channel", remove_veil), ("row_dark_channel", remove_row_veil)):
        first = replace(config.loss, pl_veil_first=True, pl_veil_removal=removal)
        pairs = make_pseudo_labels(sources, f_r, first, folder, multiple=4)
        unveiled = veil(rainy[0], 0.6, 0.2, 0.05)
        assert not np.array_equal(unveiled, rainy[0])
        with torch.no_grad():
            np.testing.assert_array_equal(read_rgb(pairs[0][1]), remove_rain(f_r, [unveiled], multiple=4)[0])
        np.testing.assert_array_equal(read_rgb(pairs[0][0]), rainy[0])  # the net's input stays the rainy image
    rows_after = replace(config.loss, pl_veil_removal="row_dark_channel")
    make_pseudo_labels(sources, f_r, rows_after, folder, multiple=4)
    np.testing.assert_array_equal(read_rgb(after[0][1]), remove_row_veil(derained, 0.6, 0.2, 0.05))
    # ``loss.pl_veil_sky_tolerance``: the row stage with that tolerance, recorded in the folder's record
    tolerant = replace(config.loss, pl_veil_removal="row_dark_channel", pl_veil_first=True, pl_veil_sky_tolerance=30.0)
    pairs = make_pseudo_labels(sources, f_r, tolerant, folder, multiple=4)
    unveiled = remove_row_veil(rainy[0], 0.6, 0.2, 0.05, sky_tolerance=30.0)
    assert not np.array_equal(unveiled, remove_row_veil(rainy[0], 0.6, 0.2, 0.05))  # the tolerance changed it
    with torch.no_grad():
        np.testing.assert_array_equal(read_rgb(pairs[0][1]), remove_rain(f_r, [unveiled], multiple=4)[0])
    assert json.loads((folder / PSEUDO_LABELS_FILE).read_text())["sky_tolerance"] == 30.0
    with pytest.raises(JRGRError, match="pl_veil_sky_tolerance 20.0: expected 0 .none. or grey levels > 0 with "
                                        "loss.pl_veil_removal=row_dark_channel"):
        small_config(dataset, "loss.pl_veil_sky_tolerance=20")
    with pytest.raises(JRGRError, match="pl_veil_sky_tolerance -1.0"):
        small_config(dataset, "loss.pl_veil_removal=row_dark_channel", "loss.pl_veil_sky_tolerance=-1")
    with pytest.raises(JRGRError, match="pl_veil_first needs"):
        small_config(dataset, "loss.pl_veil_first=true", "loss.pl_veil_removal=moments")


def test_labels_made_at_a_larger_scale(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_label_scale`` F: each label is the net's output on the image enlarged F times (bicubic), shrunk
    back to the image's size (area), then the veil stage as before; the scale is in the folder's record (another
    scale relabels, scale 1 keeps the record it had before the switch existed); out of [1, 4] is refused."""
    import cv2

    config = small_config(dataset, "loss.pl_veil_strength=0.4", "loss.pl_label_scale=2.5")
    sources = resolve_sources(config.data, need_real=True)
    torch.manual_seed(0)
    f_r = JRGRNets(config).f_r
    real = UnpairedRainDataset(sources.real)
    rainy = nchw_to_rgb(real[0]["o_r"][None].numpy())[0]
    height, width = rainy.shape[:2]
    pairs = make_pseudo_labels(sources, f_r, config.loss, tmp_path, multiple=4)
    enlarged = cv2.resize(rainy, (round(width * 2.5), round(height * 2.5)), interpolation=cv2.INTER_CUBIC)
    with torch.no_grad():
        (big,) = remove_rain(f_r, [enlarged], multiple=4)
        (as_is,) = remove_rain(f_r, [rainy], multiple=4)
    expected = remove_veil(cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA), 0.4)
    label = read_rgb(pairs[0][1])
    np.testing.assert_array_equal(label, expected)
    assert label.shape == rainy.shape and not np.array_equal(label, remove_veil(as_is, 0.4))
    assert json.loads((tmp_path / PSEUDO_LABELS_FILE).read_text())["label_scale"] == 2.5
    make_pseudo_labels(sources, f_r, replace(config.loss, pl_label_scale=1.0), tmp_path, multiple=4)
    assert "label_scale" not in json.loads((tmp_path / PSEUDO_LABELS_FILE).read_text())
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), remove_veil(as_is, 0.4))
    for bad in ("0.5", "5"):
        with pytest.raises(JRGRError, match="pl_label_scale must be in"):
            small_config(dataset, f"loss.pl_label_scale={bad}")


def test_first_labels_from_another_net(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_label_net``: the first labels come from that checkpoint's removal net, not from the net stage 2
    trains (here two stage-1 runs of other seeds: the trained run's own net would label otherwise); the folder
    records the net, and the switch needs the labels' term and a net to run."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.trainer import STAGE1_FILE

    base = ("train.stage1_iters=2", "train.stage2_iters=3", "loss.weights.mse_fr_pl=1", "loss.pl_veil_strength=0.5",
            "train.lr=0.01")  # lr: two stage-1 steps that move the zero-headed nets apart
    labeller, run = tmp_path / "labeller", tmp_path / "run"
    assert train(small_config(dataset, *base, "train.seed=1"), labeller, stages=("stage1",), progress=False).complete
    config = small_config(dataset, *base, f"loss.pl_label_net={labeller / STAGE1_FILE}")
    assert train(config, run, stages=("stage1",), progress=False).complete
    assert train(config, run, resume=True, progress=False, max_steps=1).complete is False  # the labels stay
    real = UnpairedRainDataset(resolve_sources(config.data, need_real=True).real)
    rainy = [nchw_to_rgb(real[i]["o_r"][None].numpy())[0] for i in range(len(real))]
    outputs = {}
    for name, folder in (("labeller", labeller), ("run", run)):
        checkpoint = load_checkpoint(folder / STAGE1_FILE)
        with torch.no_grad():
            outputs[name] = remove_rain(load_net(checkpoint, checkpoint.removal_net), rainy,
                                        multiple=size_multiple(checkpoint.config, checkpoint.removal_net))
    labels = sorted((run / PSEUDO_LABELS_DIR / "label").iterdir())
    for label, by_labeller in zip(labels, outputs["labeller"], strict=True):
        np.testing.assert_array_equal(read_rgb(label), remove_veil(by_labeller, 0.5))
    assert not np.array_equal(outputs["labeller"][0], outputs["run"][0])  # the two nets differ
    recorded = json.loads((run / PSEUDO_LABELS_DIR / PSEUDO_LABELS_FILE).read_text())
    assert recorded["label_net"] == str(labeller / STAGE1_FILE)
    gone = small_config(dataset, *base, f"loss.pl_label_net={tmp_path / 'gone.safetensors'}")
    with pytest.raises(JRGRError, match="pl_label_net '.*gone.safetensors' does not exist"):
        train(gone, labeller, resume=True, progress=False, max_steps=1)
    with pytest.raises(JRGRError, match="pl_label_net names"):
        small_config(dataset, "loss.pl_label_net=v2.safetensors")  # no labels' term
    with pytest.raises(JRGRError, match="pl_label_net names"):
        small_config(dataset, "loss.weights.mse_fr_pl=1", "loss.pl_veil_only=true", "loss.pl_veil_strength=0.5",
                     "loss.pl_label_net=v2.safetensors")


def test_labelled_dataset_cuts_image_and_label_alike(tmp_path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    write_rgb(tmp_path / "rainy.png", image)
    write_rgb(tmp_path / "label.png", 255 - image)
    item = PseudoLabelledRealDataset([(tmp_path / "rainy.png", tmp_path / "label.png")], crop_size=16, flip=True,
                                     seed=5)[0]
    assert set(item) == {"o_r", "p_r", "rows_r", "name"} and item["o_r"].shape == (3, 16, 16)
    torch.testing.assert_close(item["p_r"], -item["o_r"], atol=1e-6, rtol=0)  # 255 - x is -x in [-1, 1]


def test_mse_fr_pl_term_closed_form_and_gradient() -> None:
    config = _small("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_s=0", "loss.weights.mse_r=0",
                    "loss.weights.mse_fr_pl=3")
    torch.manual_seed(0)
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r, p_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(4))
    terms, _ = objective(o_s, b_s, o_r, None, p_r)
    want = torch.mean((nets.f_r(o_r) - p_r) ** 2)
    torch.testing.assert_close(terms["mse_fr_pl"], want)
    torch.testing.assert_close(terms["g_total"], config.loss.lambda_mse * 3 * want)
    terms["g_total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.f_r.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in nets.g_r.parameters())
    with pytest.raises(JRGRError, match="pseudo-labels"):
        objective(o_s, b_s, o_r)


def test_highpass_labels_ignore_tone_and_keep_detail() -> None:
    """``loss.pl_highpass_px``: a difference smoother than the blur (a constant, a slow ramp) costs (almost) nothing,
    a pixel-scale one almost all of its MSE; σ = 0 is the plain MSE; the objective uses it; too small a crop and a
    negative σ are refused."""
    torch.manual_seed(0)
    p_r = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(pseudo_label_mse(p_r + 0.4, p_r, 0.0), torch.tensor(0.16))
    b_hat = p_r + torch.randn_like(p_r)
    assert torch.equal(pseudo_label_mse(b_hat, p_r, 0.0), F.mse_loss(b_hat, p_r))  # σ = 0 is mse_loss, bit for bit
    assert pseudo_label_mse(p_r + 0.4, p_r, 4.0) < 1e-10  # a tone offset: nothing to pay
    ramp = torch.linspace(-0.2, 0.2, 64).view(1, 1, 64, 1)
    assert pseudo_label_mse(p_r + ramp, p_r, 4.0) < 0.01 * pseudo_label_mse(p_r + ramp, p_r, 0.0)  # edges: reflected
    checker = 0.1 * (torch.arange(64).view(-1, 1) + torch.arange(64).view(1, -1)).remainder(2).mul(2).sub(1)
    detail = pseudo_label_mse(p_r + checker, p_r, 4.0)
    assert 0.95 * 0.01 < detail <= 0.01 + 1e-6  # a ±0.1 checkerboard keeps (nearly) all of its 0.01
    b_hat = (p_r + torch.randn_like(p_r) * 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: pseudo_label_mse(x, p_r.double()[:1, :1, :16, :16], 2.0),
                                    (b_hat.detach().double()[:1, :1, :16, :16].requires_grad_(True),))
    config = _small("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_s=0", "loss.weights.mse_r=0",
                    "loss.weights.mse_fr_pl=1", "loss.pl_highpass_px=2")
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(3))
    with torch.no_grad():
        shifted = nets.f_r(o_r) + 0.3  # labels = F_r's own output, a tone brighter
        terms, _ = objective(o_s, b_s, o_r, None, shifted)
    assert terms["mse_fr_pl"] < 1e-10
    with pytest.raises(JRGRError, match="pl_highpass_px=8.*larger than 24 px"):
        pseudo_label_mse(p_r[..., :20, :20], p_r[..., :20, :20], 8.0)
    with pytest.raises(JRGRError, match="pl_highpass_px"):
        _small("loss.pl_highpass_px=-1")


def test_detail_term_weighs_the_labels_fine_detail() -> None:
    """``loss.weights.mse_fr_pl_detail``: beside ``mse_fr_pl``, the difference's detail finer than a 3 px blur; a
    tone offset costs it nothing, a pixel-scale checkerboard nearly all of its MSE; in the objective the total is
    lambda_mse × (mse_fr_pl + λ × the detail term); without the labels' term, and on too small a crop, refused."""
    torch.manual_seed(0)
    p_r = torch.rand(2, 3, 32, 32) * 2 - 1
    assert pseudo_label_detail_mse(p_r + 0.4, p_r) < 1e-10
    checker = 0.1 * (torch.arange(32).view(-1, 1) + torch.arange(32).view(1, -1)).remainder(2).mul(2).sub(1)
    assert 0.95 * 0.01 < pseudo_label_detail_mse(p_r + checker, p_r) <= 0.01 + 1e-6
    config = _small("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_s=0", "loss.weights.mse_r=0",
                    "loss.weights.mse_fr_pl=1", "loss.weights.mse_fr_pl_detail=4")
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r, p_r = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(4))
    terms, _ = objective(o_s, b_s, o_r, None, p_r)
    with torch.no_grad():
        b_hat_r = nets.f_r(o_r)
    torch.testing.assert_close(terms["mse_fr_pl_detail"], pseudo_label_detail_mse(b_hat_r, p_r))
    assert 0 < terms["mse_fr_pl_detail"] < terms["mse_fr_pl"]  # noise labels: part of the difference is finer
    torch.testing.assert_close(terms["g_total"], config.loss.lambda_mse * (terms["mse_fr_pl"]
                                                                           + 4 * terms["mse_fr_pl_detail"]))
    with pytest.raises(JRGRError, match="larger than 9 px"):
        pseudo_label_detail_mse(p_r[..., :8, :8], p_r[..., :8, :8])
    with pytest.raises(JRGRError, match="mse_fr_pl_detail fits"):
        _small("loss.weights.mse_fr_pl_detail=1")


def test_stage2_with_pseudo_labels_logs_the_term_and_resumes(dataset, tmp_path) -> None:  # noqa: F811
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=3", "loss.weights.mse_fr_pl=1",
                          "loss.pl_veil_strength=0.5", "train.checkpoint_every=1")
    assert train(config, tmp_path, stages=("stage1",), progress=False).complete
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False  # stage 2: 1 of 3
    labels = sorted((tmp_path / PSEUDO_LABELS_DIR / "label").iterdir())
    first = [read_rgb(p) for p in labels]
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False  # 2 of 3
    assert all(np.array_equal(read_rgb(p), f) for p, f in zip(labels, first, strict=True))  # the same labels
    (tmp_path / PSEUDO_LABELS_DIR / PSEUDO_LABELS_FILE).unlink()
    with pytest.raises(JRGRError, match="pseudo-labels"):
        train(config, tmp_path, resume=True, progress=False, stages=("stage2",))
    (tmp_path / PSEUDO_LABELS_DIR / PSEUDO_LABELS_FILE).write_text(
        json.dumps({"count": len(labels), "veil_strength": 0.5}) + "\n")  # put back as it was
    assert train(config, tmp_path, resume=True, progress=False).complete
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage2"]
    assert records[-1]["mse_fr_pl"] > 0
    assert not (tmp_path / PSEUDO_LABELS_DIR).exists()  # a complete stage leaves no labels behind
    assert train(config, tmp_path, resume=True, progress=False).complete  # and a complete run needs none
    with pytest.raises(JRGRError, match="pl_veil_strength"):
        small_config(dataset, "loss.pl_veil_strength=1")


def test_refreshed_labels_come_from_the_net_of_the_refresh_step(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_refresh_iters``: at every N-th stage-2 step the labels are made again from the net the checkpoint
    then holds (F_r's EMA); a run stopped and resumed around a refresh ends with the weights of an uninterrupted
    one."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_weights_into
    from jrgr_deploy.training.trainer import STAGE2_FILE

    switches = ("train.stage1_iters=2", "train.stage2_iters=4", "loss.weights.mse_fr_pl=1",
                "loss.pl_veil_strength=0.5", "loss.pl_refresh_iters=2", "train.checkpoint_every=4",
                "train.ema_decay=0.5", "train.lr=0.01", "train.f_r_lr_ratio=1.0")  # lr: labels that change
    config = small_config(dataset, *switches)
    sources = resolve_sources(config.data, need_real=True)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for run in (whole, parts):
        assert train(config, run, stages=("stage1",), progress=False).complete
    assert train(config, parts, resume=True, progress=False, max_steps=1).complete is False
    labels = sorted((parts / PSEUDO_LABELS_DIR / "label").iterdir())
    first = [read_rgb(p) for p in labels]
    assert train(config, parts, resume=True, progress=False, max_steps=1).complete is False  # step 2: a refresh
    checkpoint = load_checkpoint(parts / STAGE2_FILE)
    assert checkpoint.step == 2  # saved before relabelling, though checkpoint_every is 4
    f_r = load_weights_into(checkpoint, "f_r", JRGRNets(config).f_r)
    real = UnpairedRainDataset(sources.real)
    rainy = [nchw_to_rgb(real[i]["o_r"][None].numpy())[0] for i in range(len(real))]
    with torch.no_grad():
        derained = remove_rain(f_r, rainy, multiple=4)
    for label, net_output in zip(labels, derained, strict=True):
        np.testing.assert_array_equal(read_rgb(label), remove_veil(net_output, 0.5))
    assert any(not np.array_equal(read_rgb(p), f) for p, f in zip(labels, first, strict=True))
    assert train(config, parts, resume=True, progress=False).complete
    assert train(config, whole, resume=True, progress=False).complete
    a, b = load_checkpoint(whole / STAGE2_FILE), load_checkpoint(parts / STAGE2_FILE)
    for name in ("f_r",):
        net_a = load_weights_into(a, name, JRGRNets(config).f_r)
        net_b = load_weights_into(b, name, JRGRNets(config).f_r)
        for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    with pytest.raises(JRGRError, match="pl_refresh_iters"):
        small_config(dataset, "loss.pl_refresh_iters=-1")


def test_refresh_until_schedule_closed_form(dataset) -> None:  # noqa: F811
    """``loss.pl_refresh_until``: refreshes every N steps up to step U, then the labels of the last one at or
    before U to the end; 0 keeps refreshing; a limit without refreshes, or a negative one, is refused."""
    every2_until5 = small_config(dataset, "loss.pl_refresh_iters=2", "loss.pl_refresh_until=5").loss
    assert [s for s in range(12) if every2_until5.refreshes_at(s)] == [2, 4]
    assert [every2_until5.labels_step(s) for s in (0, 1, 2, 3, 4, 5, 6, 11)] == [0, 0, 2, 2, 4, 4, 4, 4]
    unlimited = small_config(dataset, "loss.pl_refresh_iters=2").loss
    assert [s for s in range(9) if unlimited.refreshes_at(s)] == [2, 4, 6, 8]
    assert unlimited.labels_step(9) == 8
    assert small_config(dataset).loss.labels_step(9) == 0 and not small_config(dataset).loss.refreshes_at(2)
    with pytest.raises(JRGRError, match="needs loss.pl_refresh_iters > 0"):
        small_config(dataset, "loss.pl_refresh_until=4")
    with pytest.raises(JRGRError, match="pl_refresh_until must be >= 0"):
        small_config(dataset, "loss.pl_refresh_iters=2", "loss.pl_refresh_until=-1")


def test_refreshes_stop_after_the_limit_and_a_resume_keeps_their_labels(dataset, tmp_path) -> None:  # noqa: F811
    """A run with refreshes every 2 steps until step 3 relabels at step 2 only: stopped at step 5 and at step 7,
    its labels are still those of step 2, and the stopped-and-resumed run ends with the weights of an
    uninterrupted one."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_weights_into
    from jrgr_deploy.training.trainer import STAGE2_FILE

    switches = ("train.stage1_iters=2", "train.stage2_iters=8", "loss.weights.mse_fr_pl=1",
                "loss.pl_veil_strength=0.5", "loss.pl_refresh_iters=2", "loss.pl_refresh_until=3",
                "train.checkpoint_every=8", "train.ema_decay=0.5", "train.lr=0.01", "train.f_r_lr_ratio=1.0")
    config = small_config(dataset, *switches)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for run in (whole, parts):
        assert train(config, run, stages=("stage1",), progress=False).complete
    labels_json = parts / PSEUDO_LABELS_DIR / PSEUDO_LABELS_FILE
    for stop_at in (5, 7):
        done = load_checkpoint(parts / STAGE2_FILE).step if (parts / STAGE2_FILE).is_file() else 0
        assert train(config, parts, resume=True, progress=False, max_steps=stop_at - done).complete is False
        assert load_checkpoint(parts / STAGE2_FILE).step == stop_at
        assert json.loads(labels_json.read_text())["step"] == 2  # no refresh at 4 or 6: past the limit
    assert train(config, parts, resume=True, progress=False).complete
    assert train(config, whole, resume=True, progress=False).complete
    a, b = load_checkpoint(whole / STAGE2_FILE), load_checkpoint(parts / STAGE2_FILE)
    net_a = load_weights_into(a, "f_r", JRGRNets(config).f_r)
    net_b = load_weights_into(b, "f_r", JRGRNets(config).f_r)
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_keep_blur_takes_the_first_blur_and_the_new_detail() -> None:
    """Closed form on pictures with one band each: a flat first label and a new one with a ramp (low) and a fine
    checkerboard (detail): the result keeps the flat level and the checkerboard, not the ramp."""
    from jrgr_deploy.training.data import keep_blur

    yy, xx = np.mgrid[0:64, 0:64]
    first = np.full((64, 64, 3), 100, np.uint8)
    checker = np.where((yy + xx) % 2 == 0, 20.0, -20.0)
    new = np.clip(60 + xx * 1.5 + checker, 0, 255).round().astype(np.uint8)[..., None].repeat(3, axis=2)
    mixed = keep_blur(first, new, 4.0).astype(np.float64)
    inner = mixed[16:48, 16:48, 0]
    np.testing.assert_allclose(inner - 100.0, checker[16:48, 16:48], atol=1.5)
    np.testing.assert_array_equal(keep_blur(first, first, 4.0), first)  # the same image: unchanged


def test_refresh_detail_keeps_the_first_labels_blur(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_refresh_detail_px``: at a refresh the label is blur(first label) + (new - blur(new)), the new
    being what a whole refresh writes; the first labels stay in the folder until the stage completes."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_weights_into
    from jrgr_deploy.training.data import FIRST_LABELS_DIR, keep_blur
    from jrgr_deploy.training.trainer import STAGE2_FILE

    switches = ("train.stage1_iters=2", "train.stage2_iters=4", "loss.weights.mse_fr_pl=1",
                "loss.pl_veil_strength=0.5", "loss.pl_veil_first=true", "loss.pl_refresh_iters=2",
                "loss.pl_refresh_detail_px=3", "train.checkpoint_every=4", "train.ema_decay=0.5", "train.lr=0.01",
                "train.f_r_lr_ratio=1.0")
    config = small_config(dataset, *switches)
    sources = resolve_sources(config.data, need_real=True)
    assert train(config, tmp_path, stages=("stage1",), progress=False).complete
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False
    folder = tmp_path / PSEUDO_LABELS_DIR
    labels = sorted((folder / "label").iterdir())
    first = [read_rgb(p) for p in labels]
    assert all(np.array_equal(read_rgb(folder / FIRST_LABELS_DIR / p.name), f) for p, f in zip(labels, first,
                                                                                                strict=True))
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False  # step 2: refresh
    f_r = load_weights_into(load_checkpoint(tmp_path / STAGE2_FILE), "f_r", JRGRNets(config).f_r)
    real = UnpairedRainDataset(sources.real)
    unveiled = [remove_veil(nchw_to_rgb(real[i]["o_r"][None].numpy())[0], 0.5) for i in range(len(real))]
    with torch.no_grad():
        new = remove_rain(f_r, unveiled, multiple=4)
    for label, start, net_output in zip(labels, first, new, strict=True):
        np.testing.assert_array_equal(read_rgb(label), keep_blur(start, net_output, 3.0))
    assert any(not np.array_equal(read_rgb(p), f) for p, f in zip(labels, first, strict=True))
    assert train(config, tmp_path, resume=True, progress=False).complete
    assert not folder.exists()
    with pytest.raises(JRGRError, match="needs loss.pl_refresh_iters > 0"):
        small_config(dataset, "loss.pl_refresh_detail_px=8")
    with pytest.raises(JRGRError, match="pl_refresh_detail_px must be >= 0"):
        small_config(dataset, "loss.pl_refresh_detail_px=-1", "loss.pl_refresh_iters=2")


def test_veil_only_labels_run_no_net_and_a_refresh_takes_the_nets_detail(dataset, tmp_path) -> None:  # noqa: F811
    """``loss.pl_veil_only``: the first labels are V(O_r) exactly, whatever the net (a net whose weights change
    does not change them), and a refresh labels with the net being trained on the rainy image itself (its detail
    over the first labels' blur with ``pl_refresh_detail_px``); the switch is refused where it means nothing."""
    from jrgr_deploy.training.data import keep_blur

    config = small_config(dataset, "loss.weights.mse_fr_pl=1", "loss.pl_veil_removal=row_dark_channel",
                          "loss.pl_veil_only=true", "loss.pl_veil_strength=0.8", "loss.pl_veil_patch=0.1",
                          "loss.pl_airlight_fraction=0.05", "loss.pl_refresh_iters=2", "loss.pl_refresh_detail_px=3")
    sources = resolve_sources(config.data, need_real=True)
    torch.manual_seed(0)
    f_r = JRGRNets(config).f_r
    with torch.no_grad():  # a fresh residual net returns its input: make it change it
        for p in f_r.parameters():
            p.add_(0.01)
    real = UnpairedRainDataset(sources.real)
    rainy = [nchw_to_rgb(real[i]["o_r"][None].numpy())[0] for i in range(len(real))]
    unveiled = [remove_row_veil(image, 0.8, 0.1, 0.05) for image in rainy]
    folder = tmp_path / "labels"
    pairs = make_pseudo_labels(sources, f_r, config.loss, folder, multiple=4)
    with torch.no_grad():
        assert not np.array_equal(remove_rain(f_r, [unveiled[0]], multiple=4)[0], unveiled[0])
    for (rainy_path, label_path), image, label in zip(pairs, rainy, unveiled, strict=True):
        np.testing.assert_array_equal(read_rgb(rainy_path), image)
        np.testing.assert_array_equal(read_rgb(label_path), label)
    assert json.loads((folder / PSEUDO_LABELS_FILE).read_text())["veil_only"] is True
    with torch.no_grad():
        for p in f_r.parameters():
            p.add_(0.01)
    assert make_pseudo_labels(sources, f_r, config.loss, folder, multiple=4) == pairs  # reused, not relabelled
    np.testing.assert_array_equal(read_rgb(pairs[0][1]), unveiled[0])
    make_pseudo_labels(sources, f_r, config.loss, folder, multiple=4, step=2)  # a refresh: the net's detail
    with torch.no_grad():
        new = remove_rain(f_r, rainy, multiple=4)
    for (_, label_path), first, net_output in zip(pairs, unveiled, new, strict=True):
        np.testing.assert_array_equal(read_rgb(label_path), keep_blur(first, net_output, 3.0))
    for bad in (("loss.pl_veil_removal=moments",), ("loss.pl_veil_first=true",), ("loss.pl_veil_strength=0",)):
        with pytest.raises(JRGRError, match="pl_veil_only labels"):
            small_config(dataset, "loss.weights.mse_fr_pl=1", "loss.pl_veil_only=true", *bad)
