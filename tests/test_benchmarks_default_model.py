"""`benchmarks/train_default_model.py`: the real-rain split keeps near-duplicates on one side; bad paths are clear
errors (exit 2) before any data is made."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from jrgr_deploy.errors import JRGRError


def _photo(path: Path, seed: int, size_wh: tuple[int, int] = (64, 48)) -> Path:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # coarse content: survives resizing
    cv2.imwrite(str(path), cv2.resize(small, size_wh, interpolation=cv2.INTER_CUBIC))
    return path


def test_real_rain_split_keeps_near_duplicates_together(tmp_path: Path) -> None:
    script = load_benchmark("train_default_model")
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(14):
        _photo(folder / f"p{i:02d}.png", i)
    _photo(folder / "p00_big.png", 0, (128, 96))  # the same photograph at another size
    parts = script.split_real_rain(folder, holdout=4, seed=1, out=tmp_path / "split")
    held, train = set(parts["holdout"]), set(parts["train"])
    assert len(held) >= 4 and not held & train and len(held | train) == 15
    assert ({"p00.png", "p00_big.png"} <= held) or ({"p00.png", "p00_big.png"} <= train)
    assert sorted(p.name for p in (tmp_path / "split" / "holdout").iterdir()) == parts["holdout"]


def test_proxy_real_images_join_the_photographs_evenly_spaced(tmp_path: Path) -> None:
    """`--with-proxy-real N`: the photographs plus every (size // N)-th image of the benchmark's real split,
    prefixed so that no name collides; an unchanged folder is kept, a count the split cannot give is a clear error."""
    script = load_benchmark("train_default_model")
    photos, pool = tmp_path / "photos", tmp_path / "pool"
    photos.mkdir()
    pool.mkdir()
    for i in range(3):
        _photo(photos / f"{i}.jpg", i)
    for i in range(10):
        _photo(pool / f"{i:06d}.png", 10 + i)
    out = tmp_path / "mixed"
    names = script.add_proxy_real(photos, pool, 4, out)
    assert names == ["proxy_000000.png", "proxy_000002.png", "proxy_000004.png", "proxy_000006.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["0.jpg", "1.jpg", "2.jpg", *names])
    assert (out / "proxy_000004.png").read_bytes() == (pool / "000004.png").read_bytes()
    stamp = (out / "0.jpg").stat().st_mtime_ns
    assert script.add_proxy_real(photos, pool, 4, out) == names and (out / "0.jpg").stat().st_mtime_ns == stamp
    assert len(script.add_proxy_real(photos, pool, 5, out)) == 5 and len(list(out.iterdir())) == 8
    for count in (0, 11):
        with pytest.raises(JRGRError, match=f"--with-proxy-real {count}: .* holds 10 images"):
            script.add_proxy_real(photos, pool, count, out)


def test_training_photographs_are_shrunk_to_the_sheets_scale(tmp_path: Path, capsys) -> None:
    """`--real-max-side PX`: each training photograph's longer side at most PX (a smaller one as it is, as PNG),
    an unchanged folder kept; a side too small to train on is a clear error before any data is made."""
    from jrgr_deploy.image_files import read_rgb

    script = load_benchmark("train_default_model")
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "big.jpg", 0, (200, 100))
    _photo(photos / "small.png", 1, (40, 30))
    out = script.shrink_photos(photos, 80, tmp_path / "shrunk")
    assert sorted(p.name for p in out.iterdir()) == ["big.png", "small.png"]
    assert read_rgb(out / "big.png").shape == (40, 80, 3)
    np.testing.assert_array_equal(read_rgb(out / "small.png"), read_rgb(photos / "small.png"))
    stamp = (out / "big.png").stat().st_mtime_ns
    assert script.shrink_photos(photos, 80, out) == out and (out / "big.png").stat().st_mtime_ns == stamp
    code = script.main(["--real-max-side", "8", "--backgrounds", str(tmp_path), "--work", str(tmp_path / "w"),
                        "--quality-work", str(tmp_path / "q")])
    assert code == 2 and "--real-max-side 8" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_missing_start_checkpoint_is_a_clear_error(tmp_path: Path, capsys) -> None:
    script = load_benchmark("train_default_model")
    code = script.main(["--init-from", str(tmp_path / "none.safetensors"), "--backgrounds", str(tmp_path),
                        "--work", str(tmp_path / "w"), "--quality-work", str(tmp_path / "q")])
    assert code == 2
    assert f"--init-from '{tmp_path / 'none.safetensors'}' does not exist" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()  # nothing made


def test_a_bad_switch_is_a_clear_error_before_any_data(tmp_path: Path, capsys) -> None:
    script = load_benchmark("train_default_model")
    code = script.main(["--set", "model.removal.row_cord=true", "--backgrounds", str(tmp_path),
                        "--work", str(tmp_path / "w"), "--quality-work", str(tmp_path / "q")])
    assert code == 2
    assert "row_cord" in capsys.readouterr().err
    assert not (tmp_path / "q").exists() and not (tmp_path / "w").exists()


def test_a_switch_is_checked_beside_the_methods_own(tmp_path: Path, capsys) -> None:
    """`loss.pl_refresh_until` needs the refreshes that the method's switches turn on: accepted beside a refreshing
    method (the run goes on to the next check, the missing backgrounds folder), refused beside one without."""
    script = load_benchmark("train_default_model")
    common = ["--set", "loss.pl_refresh_until=500", "--backgrounds", str(tmp_path / "none"),
              "--work", str(tmp_path / "w"), "--quality-work", str(tmp_path / "q")]
    assert script.main(["--method", "self_training_dc33_first_detail250", *common]) == 2
    assert f"backgrounds folder '{tmp_path / 'none'}' does not exist" in capsys.readouterr().err
    assert script.main(["--method", "jrgr_plus", *common]) == 2
    assert "needs loss.pl_refresh_iters > 0" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_a_net_size_switch_holds_for_stage_1_too(tmp_path: Path) -> None:
    """A `--set model.…` switch (the removal nets' size) builds the supervised stage-1 net as well, since a stage-1
    checkpoint of the `tiny` preset cannot start a wider net's stage 2; a loss switch stays stage 2's."""
    script = load_benchmark("train_default_model")
    quality = load_benchmark("quality")
    plan = script.stage1_plan(["model.removal.depth=5", "model.removal.max_channels=256", "loss.weights.mse_fr_pl=1"])
    assert plan.net_overrides == ("model.removal.depth=5", "model.removal.max_channels=256")
    config = quality._task_config(plan, quality.Work(tmp_path), 0, "supervised")
    assert (config.model.removal.depth, config.model.removal.max_channels) == (5, 256)
    assert config.loss.weights.mse_fr_pl == quality._task_config(quality.Plan(), quality.Work(tmp_path), 0,
                                                                 "supervised").loss.weights.mse_fr_pl
    assert script.stage1_plan(["loss.weights.mse_fr_pl=1"]).net_overrides == ()
