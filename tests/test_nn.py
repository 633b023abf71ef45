"""Networks: shapes, the size contract, identity start of residual nets, ONNX export (opset 19) vs torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import NETS
from jrgr_deploy.nn.build import build_net, size_multiple


def _small_official() -> JRGRConfig:
    """The official architectures (pix2pix U-Net, ResNet-9, BatchNorm, Tanh) at a test-friendly width."""
    config = JRGRConfig.from_preset("official")
    return config.with_overrides(
        ["model.removal.base_channels=4", "model.removal.max_channels=16", "model.removal.depth=5",
         "model.generation.base_channels=4", "model.generation.n_blocks=2",
         "model.discriminator.base_channels=4"]
    )


def _perturb(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (residual nets start as the identity, which would hide wiring bugs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return net


@pytest.mark.parametrize("preset", ["tiny", "official-small"])
@pytest.mark.parametrize("name", NETS)
def test_shapes(preset: str, name: str) -> None:
    config = JRGRConfig.from_preset("tiny") if preset == "tiny" else _small_official()
    net = build_net(config, name).eval()
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        y = net(x)
    if name.startswith("d_"):
        # 70x70 PatchGAN: three stride-2 convs then two 4x4 stride-1 convs -> H/8 - 2.
        assert y.shape == (2, 1, 64 // 8 - 2, 96 // 8 - 2)
    else:
        assert y.shape == x.shape


def test_size_multiple() -> None:
    tiny = JRGRConfig.from_preset("tiny")
    assert size_multiple(tiny, "f_r") == 16
    assert size_multiple(tiny, "g_r") == 16
    official = JRGRConfig.from_preset("official")
    assert size_multiple(official, "f_s") == 128
    assert size_multiple(official, "g_s") == 4
    with pytest.raises(JRGRError, match="discriminator"):
        size_multiple(tiny, "d_b")


def test_unknown_net_lists_allowed() -> None:
    with pytest.raises(JRGRError, match="f_s, f_r, g_s, g_r, d_b, d_or, d_os"):
        build_net(JRGRConfig.from_preset("tiny"), "f_x")


@pytest.mark.parametrize("name", ["f_r", "g_r"])
def test_size_contract_error(name: str) -> None:
    config = _small_official()
    net = build_net(config, name)
    bad = 30 if name == "g_r" else 40  # ResNet needs multiples of 4, the depth-5 U-Net of 32
    with pytest.raises(JRGRError, match=f"multiples of {size_multiple(config, name)}"):
        net(torch.zeros(1, 3, 64, bad))
    with pytest.raises(JRGRError, match=r"\(N, 3, H, W\)"):
        net(torch.zeros(1, 4, 64, 64))


def test_residual_nets_start_as_identity() -> None:
    config = JRGRConfig.from_preset("tiny")
    assert config.model.removal.residual and config.model.generation.residual
    x = torch.rand(1, 3, 32, 48) * 4 - 2  # a rain layer may span [-2, 2]
    for name in ("f_s", "g_r"):
        net = build_net(config, name)
        assert torch.equal(net(x), x)


def test_non_residual_tanh_bounded() -> None:
    net = _perturb(build_net(_small_official(), "f_s"))
    y = net(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert y.abs().max() <= 1.0
    assert not torch.allclose(y, torch.zeros_like(y))


def _export_and_compare(net: torch.nn.Module, path, multiple: int) -> float:
    import onnx
    import onnxruntime as ort

    net.eval()
    example = torch.rand(1, 3, multiple * 2, multiple * 2) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (example,), str(path), opset_version=19, dynamo=False, input_names=["input"],
            output_names=["output"], dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}},
        )
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 19
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # Another size than the example: the H/W axes really are dynamic.
    x = torch.rand(2, 3, multiple * 3, multiple * 2) * 2 - 1
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = net(x).numpy()
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


@pytest.mark.parametrize("name", ["f_r", "g_r", "d_or"])
@pytest.mark.parametrize("preset", ["tiny", "official-small"])
def test_onnx_export_matches_torch(tmp_path, preset: str, name: str) -> None:
    config = JRGRConfig.from_preset("tiny") if preset == "tiny" else _small_official()
    net = _perturb(build_net(config, name))
    if preset == "official-small":
        # BatchNorm in eval mode uses running stats: give them non-trivial values.
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    multiple = size_multiple(config, name) if not name.startswith("d_") else 16
    multiple = max(multiple, 16)
    assert _export_and_compare(net, tmp_path / f"{name}.onnx", multiple) < 1e-4



# ---- model.removal.norm=instance_context (ContextInstanceNorm) ------------------------------------------------


def test_context_norm_starts_as_instance_norm() -> None:
    from jrgr_deploy.nn.layers import ContextInstanceNorm

    x = torch.randn(2, 8, 12, 10) * 3 + 1.5
    want = torch.nn.InstanceNorm2d(8, affine=False)(x)
    assert torch.allclose(ContextInstanceNorm(8)(x), want, atol=1e-5)
    # A whole net with it is, untrained, the plain net: the same weights give the same output.
    config = JRGRConfig.from_preset("tiny")
    plain = _perturb(build_net(config, "f_r"))
    context = build_net(config.with_overrides(["model.removal.norm=instance_context"]), "f_r")
    missing = context.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(".to_scale." in k or ".to_shift." in k for k in missing)
    image = torch.rand(1, 3, 32, 48) * 2 - 1
    assert torch.allclose(context(image), plain(image), atol=1e-5)


def test_context_norm_closed_form_and_gradient() -> None:
    from jrgr_deploy.nn.layers import ContextInstanceNorm

    torch.manual_seed(0)
    layer = ContextInstanceNorm(3)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(2, 3, 5, 7) * 2 + 0.7
    mean = x.mean(dim=(2, 3))
    std = torch.sqrt(x.var(dim=(2, 3), unbiased=False) + 1e-5)
    stats = torch.cat([mean, std], dim=1)  # (N, 2C)
    scale = 1 + stats @ layer.to_scale.weight.T + layer.to_scale.bias
    shift = stats @ layer.to_shift.weight.T + layer.to_shift.bias
    want = (x - mean[:, :, None, None]) / std[:, :, None, None] * scale[:, :, None, None] + shift[:, :, None, None]
    assert torch.allclose(layer(x), want, atol=1e-5)
    # The statistics reach the output: an image twice as bright moves the shift, which plain IN cannot see.
    assert not torch.allclose(layer(x * 2), layer(x), atol=1e-3)
    # Gradients reach the maps (zero-initialised, they must still learn) and the input through the statistics.
    fresh = ContextInstanceNorm(3)
    xg = x.clone().requires_grad_(True)
    (fresh(xg) * torch.randn_like(x)).sum().backward()
    assert fresh.to_scale.weight.grad.abs().sum() > 0 and fresh.to_shift.weight.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda t: layer.double()(t), (x.double()[:1, :, :3, :4].requires_grad_(True),))


def test_unknown_norm_is_refused_with_the_choices() -> None:
    with pytest.raises(JRGRError, match="instance_context"):
        JRGRConfig.from_preset("tiny").with_overrides(["model.removal.norm=context"])


# ---- model.removal.row_coord ------------------------------------------------------------------------------------


def test_row_coordinate_is_the_row_centre_in_minus_one_to_one() -> None:
    from jrgr_deploy.nn.unet import row_coordinate

    coord = row_coordinate(torch.zeros(2, 3, 5, 7))
    assert coord.shape == (2, 1, 5, 7)
    want = (2 * torch.arange(5, dtype=torch.float32) + 1) / 5 - 1  # -0.8, -0.4, 0, 0.4, 0.8
    assert torch.allclose(coord[1, 0, :, 3], want, atol=1e-6)
    assert torch.equal(coord[:, :, :, 0:1].expand(-1, -1, -1, 7), coord)  # the same along a row


def test_row_coord_net_starts_as_the_plain_net_and_then_reads_its_rows() -> None:
    plain = _perturb(build_net(JRGRConfig.from_preset("tiny"), "f_r"))
    net = build_net(JRGRConfig.from_preset("tiny").with_overrides(["model.removal.row_coord=true"]), "f_r")
    first = net.enc[0][0].weight
    assert first.shape[1] == 4 and torch.equal(first[:, 3], torch.zeros_like(first[:, 3]))
    state = plain.state_dict()
    state["enc.0.0.weight"] = torch.cat([state["enc.0.0.weight"], torch.zeros_like(first[:, 3:])], dim=1)
    net.load_state_dict(state)
    image = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(image), plain(image), atol=1e-6)
        # With weight on the row channel the same image gives another output: the net reads its rows.
        net.enc[0][0].weight[:, 3].normal_(0, 0.5)
        assert (net(image) - plain(image)).abs().max() > 1e-2


def test_row_coord_net_reads_a_crops_rows_when_given() -> None:
    """A training crop carries its rows (`frame_rows`); without them the input is taken as the whole frame."""
    from jrgr_deploy.nn.unet import frame_rows

    net = _perturb(build_net(JRGRConfig.from_preset("tiny").with_overrides(["model.removal.row_coord=true"]), "f_r"))
    image = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        net.enc[0][0].weight[:, 3].normal_(0, 0.5)
        assert torch.allclose(net(image, torch.stack([frame_rows(32)] * 2)), net(image), atol=1e-6)
        lower = torch.stack([frame_rows(64, 32, 32)] * 2)  # the same pixels as the lower half of a 64-row frame
        assert (net(image, lower) - net(image)).abs().max() > 1e-2
        with pytest.raises(JRGRError, match=r"rows must be \(N, 1, H, 1\) = \(2, 1, 32, 1\).*\(2, 1, 16, 1\)"):
            net(image, torch.stack([frame_rows(64, 0, 16)] * 2))
        plain = _perturb(build_net(JRGRConfig.from_preset("tiny"), "f_r"))
        assert torch.equal(plain(image, lower), plain(image))  # a net without the row channel reads no rows


def test_row_coord_is_a_unet_option_and_crop_width_is_checked() -> None:
    with pytest.raises(JRGRError, match="row_coord"):
        JRGRConfig.from_preset("official").with_overrides(["model.generation.row_coord=true"])
    with pytest.raises(JRGRError, match="crop_width"):
        JRGRConfig.from_preset("tiny").with_overrides(["train.crop_width=-1"])
    train = JRGRConfig.from_preset("tiny").with_overrides(["train.crop_size=384", "train.crop_width=96"]).train
    assert train.crop_hw == (384, 96)
    assert JRGRConfig.from_preset("tiny").train.crop_hw == (96, 96)


# ---- model.removal.row_context ----------------------------------------------------------------------------------


def test_row_context_net_starts_as_the_plain_net_and_then_reads_the_whole_row() -> None:
    """Without normalisation (instance norm's statistics span the whole image) a plain U-Net's output at the left
    edge does not depend on a pixel 120 columns away; with the row context it does, in that pixel's rows only."""
    from jrgr_deploy.nn.unet import with_row_inputs

    config = JRGRConfig.from_preset("tiny").with_overrides(["model.removal.norm=none"])
    plain = _perturb(build_net(config, "f_r"))
    net = build_net(config.with_overrides(["model.removal.row_context=true"]), "f_r")
    assert all(torch.equal(block.mix.weight, torch.zeros_like(block.mix.weight)) for block in net.context)
    net.load_state_dict(with_row_inputs(plain.state_dict(), net))
    image = torch.rand(1, 3, 256, 160) * 2 - 1
    far = image.clone()
    far[:, :, 126:130, 150:] = 1.0  # rows 126-129, the right edge
    with torch.no_grad():
        assert torch.allclose(net(image), plain(image), atol=1e-6)
        assert torch.equal(plain(far)[..., :16], plain(image)[..., :16])  # beyond the convolutions' reach
        for block in net.context:
            block.mix.weight.normal_(0, 0.5)
        change = (net(far) - net(image))[0, :, :, :16].abs().amax(dim=(0, 2))  # (256,) per row, left edge
    assert change[120:136].max() > 1e-3
    assert torch.equal(change[:16], torch.zeros(16))  # rows out of the convolutions' vertical reach: no change


def test_row_context_is_a_unet_option_and_gets_gradients() -> None:
    with pytest.raises(JRGRError, match="row_context"):
        JRGRConfig.from_preset("official").with_overrides(["model.generation.row_context=true"])
    net = _perturb(build_net(JRGRConfig.from_preset("tiny").with_overrides(["model.removal.row_context=true"]),
                             "f_r"))
    with torch.no_grad():
        for block in net.context:
            block.mix.weight.zero_()
    net(torch.rand(1, 3, 32, 48) * 2 - 1).square().mean().backward()
    assert all(block.mix.weight.grad.abs().sum() > 0 for block in net.context)  # zero start, not stuck there


@pytest.mark.parametrize("switch", ["model.removal.norm=instance_context", "model.removal.row_coord=true",
                                    "model.removal.row_context=true"])
def test_removal_net_switches_export_to_onnx(tmp_path, switch: str) -> None:
    """Exported at one size and run at another (`_export_and_compare`): the row channel follows the height, the
    row context pools whatever width it is given."""
    config = JRGRConfig.from_preset("tiny").with_overrides([switch])
    net = _perturb(build_net(config, "f_r"))
    assert _export_and_compare(net, tmp_path / "f_r.onnx", size_multiple(config, "f_r")) < 1e-4
