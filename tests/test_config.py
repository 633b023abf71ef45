"""Config: presets as data, strict loading (unknown keys, types), overrides, round trips."""

from __future__ import annotations

import pytest

from jrgr_deploy.config import PRESETS, JRGRConfig, load_config
from jrgr_deploy.errors import JRGRError


def test_presets_match_design() -> None:
    official = JRGRConfig.from_preset("official")
    assert official.model.removal.arch == "unet" and official.model.removal.depth == 7
    assert official.model.removal.base_channels == 64 and official.model.removal.max_channels == 512
    assert official.model.removal.norm == "batch" and not official.model.removal.residual
    assert official.model.generation.arch == "resnet" and official.model.generation.n_blocks == 9
    assert official.loss.gan_mode == "lsgan" and official.loss.pool_size == 50
    assert (official.loss.lambda_mse, official.loss.lambda_adv, official.loss.lambda_cyc) == (40, 4, 40)
    assert official.train.betas == (0.5, 0.999)

    paper = JRGRConfig.from_preset("paper")
    assert (paper.loss.alpha, paper.loss.lambda_adv, paper.loss.lambda_cyc, paper.loss.lambda_mse) == (4, 10, 1, 10)
    assert paper.model.generation.arch == "unet" and paper.model.removal.arch == "unet"
    assert paper.train.batch_size == 16 and paper.train.crop_size == 256

    tiny = JRGRConfig.from_preset("tiny")
    assert tiny.model.removal.residual and tiny.model.generation.arch == "unet"
    assert tiny.model.removal.depth == 4 and tiny.model.removal.base_channels == 16


@pytest.mark.parametrize("name", PRESETS)
def test_dict_round_trip(name: str) -> None:
    config = JRGRConfig.from_preset(name)
    assert JRGRConfig.from_dict(config.to_dict()) == config
    assert JRGRConfig.from_json(config.to_json()) == config


def test_yaml_round_trip_and_partial_file(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("preset: tiny\ntrain:\n  batch_size: 8\nmodel:\n  removal:\n    depth: 5\n")
    config = JRGRConfig.from_yaml(path)
    assert config.train.batch_size == 8
    assert config.model.removal.depth == 5
    assert config.model.generation.depth == 4  # untouched parts keep the preset's values
    full = tmp_path / "full.yaml"
    full.write_text(config.to_yaml())
    assert JRGRConfig.from_yaml(full) == config


def test_unknown_key_names_key_and_section(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("preset: tiny\ntrain:\n  batch_sise: 8\n")
    with pytest.raises(JRGRError, match=r"bad.yaml.*unknown key 'batch_sise' in section 'train'"):
        JRGRConfig.from_yaml(path)
    with pytest.raises(JRGRError, match=r"unknown key 'widht' in section 'model.removal'"):
        JRGRConfig.from_dict({"model": {"removal": {"widht": 3}}})
    with pytest.raises(JRGRError, match="unknown key 'trian' in section 'config'"):
        JRGRConfig.from_dict({"trian": {}})


def test_type_and_choice_errors() -> None:
    with pytest.raises(JRGRError, match="'train.batch_size' must be an integer"):
        JRGRConfig.from_dict({"train": {"batch_size": "eight"}})
    with pytest.raises(JRGRError, match="gan_mode 'wgan' is not one of lsgan, vanilla"):
        JRGRConfig.from_dict({"loss": {"gan_mode": "wgan"}})
    with pytest.raises(JRGRError, match="norm 'group'"):
        JRGRConfig.from_dict({"model": {"removal": {"norm": "group"}}})


def test_unknown_preset_lists_allowed() -> None:
    with pytest.raises(JRGRError, match="paper, official, tiny"):
        JRGRConfig.from_preset("huge")
    with pytest.raises(JRGRError, match="paper, official, tiny"):
        load_config("huge")


def test_overrides() -> None:
    config = load_config("tiny", ["train.batch_size=8", "loss.gan_mode=vanilla", "train.betas=[0.9, 0.99]",
                                  "data.real=/x/y", "train.lr=1e-3"])
    assert config.train.batch_size == 8
    assert config.loss.gan_mode == "vanilla"
    assert config.train.betas == (0.9, 0.99)
    assert config.data.real == "/x/y"
    assert config.train.lr == pytest.approx(1e-3)
    assert config.preset == "tiny+overrides"
    with pytest.raises(JRGRError, match="unknown key 'nope' in section 'train'"):
        load_config("tiny", ["train.nope=1"])
    with pytest.raises(JRGRError, match="section.key=value"):
        load_config("tiny", ["train.batch_size"])


def test_overrides_are_checked_as_a_whole_in_any_order() -> None:
    """A switch that needs another may come before it on the command line; a later value wins on the same key;
    the cross-key check still refuses the switch alone."""
    switches = ["loss.weights.mse_fr_pl=1", "loss.pl_streak_reference=v1.safetensors", "loss.pl_streak_carving=lines",
                "loss.weights.streak_fr_or=0.15", "loss.streak_lines=each_channel"]
    for order in (switches, switches[::-1]):
        config = load_config("tiny", order)
        assert (config.loss.pl_streak_carving, config.loss.streak_lines) == ("lines", "each_channel")
    assert load_config("tiny", ["train.lr=1e-3", "train.lr=2e-3"]).train.lr == pytest.approx(2e-3)
    assert load_config("tiny", ["loss.weights.mse_s=0", "loss.weights.mse_r=0"]).loss.weights.mse_s == 0.0
    with pytest.raises(JRGRError, match="need loss.pl_streak_reference"):
        load_config("tiny", ["loss.weights.mse_fr_pl=1", "loss.pl_streak_carving=lines"])


def test_missing_file() -> None:
    with pytest.raises(JRGRError, match="does not exist"):
        load_config("/nonexistent/run.yaml")


def test_train_config_checks_run_to_the_end() -> None:
    """Every check of TrainConfig.__post_init__ runs, the last (betas) included, for a config built directly."""
    from jrgr_deploy.config import TrainConfig

    with pytest.raises(JRGRError, match="betas"):
        TrainConfig(betas=(0.5,))
    with pytest.raises(JRGRError, match="crop_width"):
        TrainConfig(crop_width=-1)
