"""Offline backgrounds, their disjoint split, and the `jrgr data synth` builder end to end."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jrgr_deploy.backgrounds import (
    Background,
    load_backgrounds,
    random_patch,
    skimage_data_dir,
    split_backgrounds,
)
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import list_images, read_rgb, write_rgb
from jrgr_deploy.pairing import resolve_root

REPO = Path(__file__).resolve().parents[1]
TINY = {"n_synthetic": 3, "n_real": 3, "n_test": 2, "n_val": 1, "size": 64}


def _fake(name: str, group: str | None = None) -> Background:
    return Background(name, group or name, "test", np.zeros((4, 4, 3), np.uint8))


def test_default_backgrounds_are_the_colour_photographs_shipped_with_skimage() -> None:
    backgrounds = load_backgrounds()
    names = {b.name for b in backgrounds}
    assert {"astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right"} <= names
    for background in backgrounds:
        assert background.source.startswith("skimage:")
        assert (skimage_data_dir() / background.source.split(":", 1)[1]).is_file()
        image = background.image
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        # Colour photographs: the channels differ (no greyscale image slipped in).
        assert np.abs(image[..., 0].astype(int) - image[..., 2]).mean() > 5


def test_background_folder_is_read_recursively_and_shrunk(tmp_path: Path) -> None:
    write_rgb(tmp_path / "a.png", np.full((100, 300, 3), 90, np.uint8))
    write_rgb(tmp_path / "sub" / "b.jpg", np.full((50, 60, 3), 10, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    backgrounds = load_backgrounds(tmp_path, max_short_side=40)
    assert [(b.name, b.image.shape) for b in backgrounds] == [("a", (40, 120, 3)), ("sub/b", (40, 48, 3))]
    assert [b.group for b in backgrounds] == ["a", "sub/b"]
    # The two views of a stereo pair are one scene.
    write_rgb(tmp_path / "street_left.png", np.zeros((8, 8, 3), np.uint8))
    write_rgb(tmp_path / "street-Right.png", np.zeros((8, 8, 3), np.uint8))
    groups = {b.name: b.group for b in load_backgrounds(tmp_path)}
    assert groups["street_left"] == groups["street-Right"] == "street"
    (tmp_path / "empty").mkdir()
    with pytest.raises(JRGRError, match="holds no images"):
        load_backgrounds(tmp_path / "empty")


def test_split_is_disjoint_by_group_deterministic_and_order_free() -> None:
    backgrounds = [_fake(f"p{i}") for i in range(8)] + [_fake("stereo_l", "stereo"), _fake("stereo_r", "stereo")]
    split = split_backgrounds(backgrounds, seed=3)
    parts = split.names()
    assert all(parts[p] for p in ("synthetic", "real", "val", "test"))
    groups = {p: {b.group for b in getattr(split, p)} for p in ("synthetic", "real", "val", "test")}
    for a, b in itertools.combinations(groups, 2):
        assert not groups[a] & groups[b], (a, b)
    assert sum(len(v) for v in parts.values()) == len(backgrounds)
    assert any({"stereo_l", "stereo_r"} <= set(v) for v in parts.values())  # a scene stays together
    assert split_backgrounds(list(reversed(backgrounds)), seed=3).names() == parts
    assert any(split_backgrounds(backgrounds, seed=s).names() != parts for s in range(4, 10))
    three = [_fake("a"), _fake("b1", "b"), _fake("c")]
    with pytest.raises(JRGRError, match="at least 4 different scenes"):
        split_backgrounds(three)
    no_val = split_backgrounds(three, with_val=False)
    assert not no_val.val and all(getattr(no_val, p) for p in ("synthetic", "real", "test"))
    with pytest.raises(JRGRError, match="at least 3 different scenes"):
        split_backgrounds([_fake("a"), _fake("b1", "b"), _fake("b2", "b")], with_val=False)


def test_random_patch_scales_flips_and_is_seeded() -> None:
    image = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    patches = [random_patch(image, 32, np.random.default_rng(s)) for s in range(20)]
    for patch, params in patches:
        assert patch.shape == (32, 32, 3) and patch.dtype == np.uint8
        assert 0 <= params["top"] <= 120 - params["side"] and 0 <= params["left"] <= 200 - params["side"]
    sides = {params["side"] for _, params in patches}
    assert min(sides) < 60 and max(sides) > 80  # a range of scales, not one fixed crop
    assert {params["flip"] for _, params in patches} == {True, False}
    again, _ = random_patch(image, 32, np.random.default_rng(5))
    assert np.array_equal(again, patches[5][0])
    # Without upscaling, the only patch of an image of the patch size is the image (maybe mirrored).
    small = image[:32, :32]
    patch, params = random_patch(small, 32, np.random.default_rng(1), max_upscale=1.0)
    assert params["side"] == 32 and np.array_equal(patch, small[:, ::-1] if params["flip"] else small)


def _rain_available() -> bool:
    try:
        from jrgr_deploy.rain import render_rain  # noqa: F401
    except ImportError:
        return False
    return True


needs_rain = pytest.mark.skipif(not _rain_available(), reason="jrgr_deploy.rain.render_rain not built yet")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jrgr_deploy.data_synth import synthesize_dataset

    out = tmp_path_factory.mktemp("synth") / "set"
    manifest = synthesize_dataset(out, **TINY, preset="mix", seed=0, progress=False)
    assert manifest == out / "manifest.json"
    return out


@needs_rain
def test_layout_counts_and_manifest(tiny_set: Path) -> None:
    files = {
        "train/synthetic/rainy": 3,
        "train/synthetic/clean": 3,
        "train/real/rainy": 3,
        "val/realistic/rainy": 1,
        "val/realistic/clean": 1,
        "test/realistic/rainy": 2,
        "test/realistic/clean": 2,
        "test/synthetic/rainy": 2,
        "test/synthetic/clean": 2,
    }
    for folder, count in files.items():
        images = list_images(tiny_set / folder)
        assert [p.name for p in images] == [f"{i:05d}.png" for i in range(count)], folder
        assert read_rgb(images[0]).shape == (64, 64, 3)
    assert not (tiny_set / "train" / "real" / "clean").exists()  # the real domain is unpaired
    assert read_rgb(tiny_set / "preview.png").shape[0] > 200
    assert not list(tiny_set.parent.glob(".set.*"))  # the temporary folder was renamed away

    manifest = json.loads((tiny_set / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["size"] == 64 and manifest["counts"]["n_test"] == 2
    parts = manifest["backgrounds"]
    for a, b in itertools.combinations(("synthetic", "real", "val", "test"), 2):
        assert not set(parts[a]) & set(parts[b]), (a, b)
    allowed = {
        "train/synthetic": "synthetic",
        "train/real": "real",
        "val/realistic": "val",
        "test/realistic": "test",
        "test/synthetic": "test",
    }
    models = {"train/synthetic": "synthetic", "test/synthetic": "synthetic"}
    assert len(manifest["images"]) == 3 + 3 + 1 + 2 + 2
    for record in manifest["images"]:
        assert record["background"] in parts[allowed[record["part"]]], record
        assert record["model"] == models.get(record["part"], "realistic")
        assert record["preset"] in ("light", "medium", "heavy")
        assert isinstance(record["rain_params"], dict)
    # The test split renders both models on the same clean patches.
    assert np.array_equal(
        read_rgb(tiny_set / "test/realistic/clean/00001.png"), read_rgb(tiny_set / "test/synthetic/clean/00001.png")
    )
    assert not np.array_equal(
        read_rgb(tiny_set / "test/realistic/rainy/00001.png"), read_rgb(tiny_set / "test/synthetic/rainy/00001.png")
    )
    # The readers understand the written layout.
    train = resolve_root(tiny_set, "train")
    assert len(train.pairs) == 3 and len(train.unpaired) == 3
    assert len(resolve_root(tiny_set, "test").pairs) == 2


@needs_rain
def test_same_seed_gives_identical_files_with_any_worker_count(tiny_set: Path, tmp_path: Path) -> None:
    from jrgr_deploy.data_synth import synthesize_dataset

    synthesize_dataset(tmp_path / "again", **TINY, preset="mix", seed=0, workers=2, progress=False, preview=False)
    names = sorted(p.relative_to(tiny_set).as_posix() for p in tiny_set.rglob("*.png") if p.name != "preview.png")
    assert names == sorted(p.relative_to(tmp_path / "again").as_posix() for p in (tmp_path / "again").rglob("*.png"))
    for name in names:
        assert (tiny_set / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert (tiny_set / "manifest.json").read_text() == (tmp_path / "again" / "manifest.json").read_text()


@needs_rain
def test_refuses_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    from jrgr_deploy.data_synth import synthesize_dataset

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(JRGRError, match="not empty; pass --force"):
        synthesize_dataset(out, **TINY, progress=False, preview=False)
    assert (out / "keep.txt").read_text() == "precious"
    synthesize_dataset(
        out,
        **{**TINY, "n_synthetic": 1, "n_real": 1, "n_val": 0, "n_test": 1},
        force=True,
        progress=False,
        preview=False,
    )
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folders left


def test_bad_arguments_fail_before_any_work(tmp_path: Path) -> None:
    from jrgr_deploy.data_synth import synthesize_dataset

    with pytest.raises(JRGRError, match="preset must be one of"):
        synthesize_dataset(tmp_path / "x", preset="drizzle")
    with pytest.raises(JRGRError, match="n_real must be >= 0"):
        synthesize_dataset(tmp_path / "x", n_real=-1)
    with pytest.raises(JRGRError, match="background folder .* does not exist"):
        synthesize_dataset(tmp_path / "x", backgrounds=tmp_path / "none")
    assert sorted(tmp_path.iterdir()) == []


@needs_rain
def test_cli_runs_and_reports_errors_in_one_line(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "jrgr_deploy",
        "data",
        "synth",
        "--out",
        str(tmp_path / "cli"),
        "--n-synthetic",
        "1",
        "--n-real",
        "1",
        "--n-test",
        "1",
        "--n-val",
        "0",
        "--size",
        "32",
        "--workers",
        "1",
        "--no-preview",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / "test" / "realistic" / "rainy" / "00000.png").is_file()
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "not empty; pass --force" in again.stderr
    assert "Traceback" not in again.stderr


@needs_rain
def test_street_canyon_depth_changes_model_b_only_and_is_recorded(tiny_set: Path, tmp_path: Path) -> None:
    from jrgr_deploy.data_synth import synthesize_dataset

    out = tmp_path / "canyon"
    synthesize_dataset(out, **TINY, preset="mix", seed=0, progress=False, preview=False, depth_model="street_canyon")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["depth_model"] == "street_canyon"
    assert json.loads((tiny_set / "manifest.json").read_text())["depth_model"] == "ground_plane"
    for name in sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")):
        same = (tiny_set / name).read_bytes() == (out / name).read_bytes()
        # model A takes no depth: its files (and every clean patch) are the ground-plane set's bytes
        assert same == ("synthetic" in name or "/clean/" in name), name
    for record in manifest["images"]:
        geometry = record["rain_params"].get("depth")
        if record["model"] == "realistic":
            assert geometry["model"] == "street_canyon" and 0 < geometry["vanishing_x"] < TINY["size"]
        else:
            assert geometry == "ground_plane"  # model A's haze keeps the ground-plane proxy
    with pytest.raises(JRGRError, match="depth model must be one of ground_plane, street_canyon, got 'sky'"):
        synthesize_dataset(tmp_path / "x", **TINY, depth_model="sky")
