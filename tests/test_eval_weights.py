"""`jrgr eval --weights`: whole images through a removal net, same report keys as the no-weights mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jrgr_deploy.app.cli import main
from jrgr_deploy.checkpoint import save_checkpoint
from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.nn.build import build_net
from jrgr_deploy.pairing import match_pairs
from jrgr_deploy.training.evaluate import evaluate_removal, remove_rain

KEYS = {"n", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}


@pytest.fixture()
def folders(tmp_path):
    """Pairs whose sizes are NOT multiples of 16 (padding must be undone), two sizes (batching by size)."""
    rng = np.random.default_rng(0)
    rainy, clean = tmp_path / "rainy", tmp_path / "clean"
    for i, (h, w) in enumerate([(50, 70), (50, 70), (37, 45)]):
        background = rng.integers(40, 200, (h, w, 3), dtype=np.uint8)
        streaks = np.zeros_like(background)
        streaks[:, :: 6] = 80
        write_rgb(clean / f"img{i}.png", background)
        write_rgb(rainy / f"img{i}.png", np.clip(background.astype(int) + streaks, 0, 255).astype(np.uint8))
    return rainy, clean


@pytest.fixture()
def checkpoint(tmp_path):
    config = JRGRConfig.from_preset("tiny")
    torch.manual_seed(0)
    # Untrained tiny nets are residual with zero heads, i.e. the identity; f_s is perturbed so it is not.
    f_r, f_s = build_net(config, "f_r"), build_net(config, "f_s")
    with torch.no_grad():
        for p in f_s.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return save_checkpoint(tmp_path / "ckpt.safetensors", config=config, nets={"f_r": f_r, "f_s": f_s},
                           stage="stage2", step=5)


def test_identity_net_scores_like_the_rainy_input(folders, checkpoint, tmp_path) -> None:
    rainy, clean = folders
    assert main(["eval", "--rainy", str(rainy), "--clean", str(clean), "--json", str(tmp_path / "none.json")]) == 0
    assert main(["eval", "--weights", str(checkpoint), "--net", "f_r", "--rainy", str(rainy), "--clean", str(clean),
                 "--json", str(tmp_path / "f_r.json"), "--batch-size", "2"]) == 0
    none = json.loads((tmp_path / "none.json").read_text())
    f_r = json.loads((tmp_path / "f_r.json").read_text())
    assert KEYS <= set(f_r) and f_r["net"] == "f_r" and f_r["stage"] == "stage2" and f_r["step"] == 5
    assert len(f_r["sha256"]) == 64
    for key in KEYS:
        assert f_r[key] == pytest.approx(none[key], abs=1e-9), key
    assert [r["name"] for r in f_r["images"]] == [r["name"] for r in none["images"]]
    assert set(f_r["images"][0]) == set(none["images"][0])


def test_perturbed_net_changes_scores(folders, checkpoint, tmp_path) -> None:
    rainy, clean = folders
    assert main(["eval", "--weights", str(checkpoint), "--net", "f_s", "--rainy", str(rainy), "--clean", str(clean),
                 "--json", str(tmp_path / "f_s.json")]) == 0
    report = json.loads((tmp_path / "f_s.json").read_text())
    assert report["n"] == 3 and report["net"] == "f_s"
    assert main(["eval", "--rainy", str(rainy), "--clean", str(clean), "--json", str(tmp_path / "none.json")]) == 0
    assert report["psnr_y"] != pytest.approx(json.loads((tmp_path / "none.json").read_text())["psnr_y"])


def test_remove_rain_whole_images_in_order(folders) -> None:
    from jrgr_deploy.image_files import read_rgb

    rainy, _ = folders
    images = [read_rgb(p) for p in sorted(rainy.iterdir())]
    images = [images[0], images[2], images[1]]  # sizes interleaved: batching by size must keep the order

    def darker(x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % 16 == 0 and x.shape[-1] % 16 == 0  # padded to the contract
        return x - 0.5

    out = remove_rain(darker, images, multiple=16, batch_size=2)
    for original, derained in zip(images, out, strict=True):
        assert derained.shape == original.shape
        expected = np.clip(original.astype(int) - 64, 0, 255)
        assert np.abs(derained.astype(int) - expected).max() <= 1


def test_evaluate_removal_function(folders) -> None:
    rainy, clean = folders
    report = evaluate_removal(lambda x: x, match_pairs(rainy, clean), multiple=16)
    assert report["n"] == 3 and KEYS <= set(report) and len(report["images"]) == 3


def test_bad_net_and_missing_checkpoint(folders, checkpoint, tmp_path) -> None:
    from jrgr_deploy.training.evaluate import evaluate_checkpoint

    rainy, clean = folders
    with pytest.raises(JRGRError, match="not a removal net"):
        evaluate_checkpoint(checkpoint, "g_r", match_pairs(rainy, clean))
    assert main(["eval", "--weights", str(tmp_path / "nope.safetensors"), "--rainy", str(rainy),
                 "--clean", str(clean)]) == 2


@pytest.fixture()
def exported(tmp_path):
    """A checkpoint whose F_r is perturbed (not the identity), and its FP32 ONNX export (`jrgr export`) with
    dynamic height and width: the same net as a file."""
    config = JRGRConfig.from_preset("tiny")
    torch.manual_seed(1)
    f_r = build_net(config, "f_r")
    with torch.no_grad():
        for p in f_r.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = save_checkpoint(tmp_path / "perturbed.safetensors", config=config, nets={"f_r": f_r},
                           stage="stage2", step=7)
    assert main(["export", "--weights", str(ckpt), "--nets", "f_r", "--precision", "fp32",
                 "--out", str(tmp_path / "out")]) == 0
    return ckpt, tmp_path / "out" / "f_r.onnx"


def test_an_exported_file_scores_as_its_checkpoint(folders, exported, tmp_path) -> None:
    """`jrgr eval --weights f_r.onnx` runs the file through the runtime on whole images (sizes that are not its
    size multiple) and scores what the checkpoint's own net scores, up to the file's float error."""
    rainy, clean = folders
    ckpt, onnx_file = exported
    for name, weights in (("torch", ckpt), ("onnx", onnx_file), ("none", None)):
        weights_args = ["--weights", str(weights)] if weights else []
        assert main(["eval", *weights_args, "--rainy", str(rainy), "--clean", str(clean),
                     "--json", str(tmp_path / f"{name}.json")]) == 0
    torch_report, onnx_report, none_report = (json.loads((tmp_path / f"{n}.json").read_text())
                                              for n in ("torch", "onnx", "none"))
    assert onnx_report["n"] == 3 and onnx_report["precision"] == "fp32" and onnx_report["backend"] == "onnxruntime"
    assert onnx_report["net"] == "f_r (fp32, onnxruntime)" and onnx_report["weights"] == str(onnx_file)
    assert [r["name"] for r in onnx_report["images"]] == [r["name"] for r in torch_report["images"]]
    for key in KEYS - {"n"}:
        assert onnx_report[key] == pytest.approx(torch_report[key], abs=0.02), key
    assert abs(onnx_report["psnr_y"] - none_report["psnr_y"]) > 0.1  # the perturbed net changes the images


def test_an_exported_file_refuses_what_it_cannot_be(folders, exported, tmp_path, capsys) -> None:
    rainy, clean = folders
    _, onnx_file = exported
    pairs = ["--rainy", str(rainy), "--clean", str(clean)]
    assert main(["eval", "--weights", str(onnx_file), "--net", "f_s", *pairs]) == 2
    assert "holds one net" in capsys.readouterr().err
    other = tmp_path / "f_r.pt"
    other.write_bytes(b"not a known file")
    assert main(["eval", "--weights", str(other), *pairs]) == 2
    assert "expected a checkpoint (.safetensors)" in capsys.readouterr().err
    g_r = tmp_path / "g_r.onnx"  # the same file, its sidecar naming G_r: jrgr derain (and eval) refuse it
    g_r.write_bytes(onnx_file.read_bytes())
    sidecar = json.loads(onnx_file.with_name("f_r.onnx.json").read_text())
    g_r.with_name("g_r.onnx.json").write_text(json.dumps({**sidecar, "net": "g_r"}))
    assert main(["eval", "--weights", str(g_r), *pairs]) == 2
    assert "holds g_r (its sidecar's net), but jrgr derain runs f_r" in capsys.readouterr().err
