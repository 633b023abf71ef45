"""Stage 2 without the joint graph (`losses.removal_only`): when only the removal nets' supervised terms are
weighted (self-training on pseudo-labels), a step computes just those terms and skips the discriminator step;
the loss and the removal nets' gradients are the joint graph's."""

from __future__ import annotations

import pytest
import torch

from jrgr_deploy.checkpoint import load_checkpoint
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.nn.unet import frame_rows
from jrgr_deploy.training.losses import removal_only
from jrgr_deploy.training.run_log import read_log
from jrgr_deploy.training.system import Composition, GeneratorObjective, JRGRNets
from jrgr_deploy.training.trainer import STAGE2_FILE, train
from tests.test_method_switches import _small
from tests.test_training import dataset, small_config  # noqa: F401 - the module-scoped data set fixture

SELF_TRAINING = ("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_r=0", "loss.weights.mse_fr_pl=2",
                 "loss.weights.mse_fr_os=1")


def test_removal_only_is_read_from_the_weights() -> None:
    assert removal_only(_small(*SELF_TRAINING).loss)
    assert not removal_only(_small().loss)
    assert not removal_only(_small(*SELF_TRAINING[:2]).loss)  # Eq. 7's F_r(Õ_r) needs G_r
    assert not removal_only(_small("loss.lambda_adv=0", "loss.weights.mse_r=0").loss)  # the cycles count
    # the adversarial group off term by term rather than by its lambda
    zero_adv = [f"loss.weights.{t}=0" for t in ("adv_b_fs_os", "adv_b_fr_otr", "adv_b_fr_or", "adv_b_fs_ots",
                                                "adv_or", "adv_os")]
    assert removal_only(_small(*zero_adv, "loss.lambda_cyc=0", "loss.weights.mse_r=0").loss)


@pytest.mark.parametrize("row_coord", [False, True])
def test_lean_step_has_the_joint_graphs_loss_and_gradients(row_coord: bool) -> None:
    """With ``row_coord`` the crops' rows (`frame_rows`: crops from the middle of a 64-row frame) reach the removal
    nets on both paths: equal to each other, and not the loss the crops give read as whole frames."""
    config = _small(*SELF_TRAINING, f"model.removal.row_coord={str(row_coord).lower()}")
    torch.manual_seed(0)
    nets = JRGRNets(config)
    with torch.no_grad():  # off the start (where a residual net returns its input) and onto the row channel
        for param in [*nets.f_s.parameters(), *nets.f_r.parameters()]:
            param.add_(torch.randn_like(param) * 0.1)
    o_s, b_s, o_r, p_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(4))
    rows_s = torch.stack([frame_rows(64, 8, 16), frame_rows(64, 40, 16)])
    rows_r = torch.stack([frame_rows(64, 24, 16)] * 2)
    results = {}
    for joint in (True, False):
        objective = GeneratorObjective(nets, config.loss, Composition.from_config(config), joint=joint)
        nets.zero_grad(set_to_none=True)
        terms, images = objective(o_s, b_s, o_r, None, p_r, rows_s, rows_r)
        terms["g_total"].backward()
        results[joint] = (terms, images, {n: p.grad.clone() for n, p in nets.named_parameters()
                                          if p.grad is not None and n.startswith(("f_s.", "f_r."))})
    (joint_terms, joint_images, joint_grads), (lean_terms, lean_images, lean_grads) = results[True], results[False]
    assert GeneratorObjective(nets, config.loss).joint is False  # chosen from the weights
    assert set(lean_terms) == {"mse_s", "mse_fr_os", "mse_fr_pl", "g_total"} and lean_images == {}
    assert "adv_or" in joint_terms and joint_images
    for name in lean_terms:
        torch.testing.assert_close(lean_terms[name], joint_terms[name])
    assert lean_terms["g_total"] > 0
    assert set(lean_grads) == set(joint_grads) and any(n.startswith("f_s.") for n in lean_grads)
    for name, grad in lean_grads.items():
        torch.testing.assert_close(grad, joint_grads[name])
    assert all(p.grad is None for n, p in nets.named_parameters() if n.startswith(("g_s.", "g_r.")))  # lean pass
    with torch.no_grad():
        as_frames = GeneratorObjective(nets, config.loss)(o_s, b_s, o_r, None, p_r)[0]["g_total"]
    assert (abs(float(as_frames - lean_terms["g_total"].detach())) > 1e-4) == row_coord


def test_nothing_weighted_is_refused() -> None:
    config = _small(*SELF_TRAINING, "loss.weights.mse_s=0", "loss.weights.mse_fr_pl=0", "loss.weights.mse_fr_os=0")
    with pytest.raises(JRGRError, match="nothing to train"):
        GeneratorObjective(JRGRNets(config), config.loss)


def test_stage2_removal_only_keeps_the_discriminators_and_resumes(dataset, tmp_path) -> None:  # noqa: F811
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=3", "train.checkpoint_every=1",
                          "train.image_every=1", *SELF_TRAINING)
    assert train(config, tmp_path, stages=("stage1",), progress=False).complete
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False  # stage 2: 1 of 3
    first = load_checkpoint(tmp_path / STAGE2_FILE)
    assert train(config, tmp_path, resume=True, progress=False).complete
    last = load_checkpoint(tmp_path / STAGE2_FILE)
    assert (first.step, last.step) == (1, 3)
    for name in ("d_b", "d_or", "d_os", "g_s", "g_r"):  # no term reaches them: untouched
        for key, value in first.state_dicts[name].items():
            torch.testing.assert_close(last.state_dicts[name][key], value, rtol=0, atol=0)
    assert any(not torch.equal(last.state_dicts["f_r"][k], v) for k, v in first.state_dicts["f_r"].items())
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage2"]
    assert records and all("d_total" not in r and r["mse_fr_pl"] > 0 for r in records)
    assert not list(tmp_path.rglob("*stage2*.png"))  # no Fig. 6 grid without the joint graph


KEEP = (*SELF_TRAINING, "loss.weights.mse_fr_keep=3")


def test_keep_term_is_the_mse_to_the_frozen_start_and_reaches_f_r_alone() -> None:
    """``mse_fr_keep`` = ||F_r(O_s) − F_r⁰(O_s)||² with F_r⁰ frozen: 0 with no gradient at the start; off it, the
    closed form, a gradient on F_r and none on F_r⁰; the same on the joint graph's path."""
    import copy

    config = _small(*KEEP)
    torch.manual_seed(0)
    nets = JRGRNets(config)
    start = copy.deepcopy(nets.f_r)
    o_s, b_s, o_r, p_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(4))
    terms, _ = GeneratorObjective(nets, config.loss, f_r_start=start)(o_s, b_s, o_r, None, p_r)
    assert float(terms["mse_fr_keep"].detach()) == 0.0
    with torch.no_grad():
        for param in nets.f_r.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    for joint in (False, True):
        nets.zero_grad(set_to_none=True)
        objective = GeneratorObjective(nets, config.loss, Composition.from_config(config), joint=joint,
                                       f_r_start=start)
        terms, _ = objective(o_s, b_s, o_r, None, p_r)
        with torch.no_grad():
            expected = ((nets.f_r(o_s) - start(o_s)) ** 2).mean()
        torch.testing.assert_close(terms["mse_fr_keep"], expected)
        assert float(expected) > 0
        terms["mse_fr_keep"].backward()
        assert all(p.grad is None for p in start.parameters()) and not any(p.requires_grad for p in start.parameters())
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in nets.f_r.parameters())
        # its weight multiplies it into the total, in the MSE group
        without = _small(*SELF_TRAINING)
        with torch.no_grad():
            plain = GeneratorObjective(nets, without.loss, joint=joint)(o_s, b_s, o_r, None, p_r)[0]["g_total"]
            total = objective(o_s, b_s, o_r, None, p_r)[0]["g_total"]
        torch.testing.assert_close(total, plain + 3 * config.loss.lambda_mse * expected)
    assert "mse_fr_keep" not in dict(GeneratorObjective(nets, config.loss, f_r_start=start).named_modules())
    with pytest.raises(JRGRError, match="mse_fr_keep"):
        GeneratorObjective(nets, config.loss)


def test_stage2_keep_holds_to_the_checkpoint_it_started_from_and_resumes(dataset, tmp_path) -> None:  # noqa: F811
    """A run with ``mse_fr_keep`` reads its F_r⁰ from the stage-1 checkpoint (also when resumed) and logs the
    term; without a pre-trained F_r it is refused."""
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=3", "train.checkpoint_every=1",
                          "train.lr=0.05", *KEEP)
    with pytest.raises(JRGRError, match="mse_fr_keep"):
        train(config, tmp_path / "scratch", stages=("stage2",), progress=False)
    assert train(config, tmp_path, stages=("stage1",), progress=False).complete
    assert train(config, tmp_path, resume=True, progress=False, max_steps=1).complete is False
    assert train(config, tmp_path, resume=True, progress=False).complete
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage2"]
    assert [r["step"] for r in records][-1] == 3 and all("mse_fr_keep" in r for r in records)
    assert records[-1]["mse_fr_keep"] > 0  # F_r started as F_r⁰ and moved off it
    assert not any(k.startswith("mse_fr_keep") for k in load_checkpoint(tmp_path / STAGE2_FILE).state_dicts)
