"""Pairing conventions and data-set root layouts, on real PNG files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.pairing import match_pairs, resolve_root


def _png(path: Path, value: int = 0, size: tuple[int, int] = (8, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def _names(pairs: list[tuple[Path, Path]]) -> list[tuple[str, str]]:
    return [(rainy.name, clean.name) for rainy, clean in pairs]


def test_plain_stems_match_across_suffixes(tmp_path: Path) -> None:
    for stem in ("b", "a"):
        _png(tmp_path / "rainy" / f"{stem}.png")
        _png(tmp_path / "clean" / f"{stem}.jpg")
    assert _names(match_pairs(tmp_path / "rainy", tmp_path / "clean")) == [("a.png", "a.jpg"), ("b.png", "b.jpg")]


def test_raincityscape_several_rainy_share_one_clean(tmp_path: Path) -> None:
    clean_id = "aachen_000000_000019_leftImg8bit"
    rainy_names = [
        f"{clean_id}_rain_alpha_0.01_beta_0.005_dropsize_0.01_pattern_1.png",
        f"{clean_id}_rain_alpha_0.02_beta_0.01_dropsize_0.005_pattern_3.png",
    ]
    for name in rainy_names:
        _png(tmp_path / "rainy" / name)
    _png(tmp_path / "clean" / f"{clean_id}.png")
    _png(tmp_path / "clean" / "other_000001_leftImg8bit.png")
    pairs = match_pairs(tmp_path / "rainy", tmp_path / "clean")
    assert _names(pairs) == [(name, f"{clean_id}.png") for name in sorted(rainy_names)]


def test_spa_names_in_one_folder(tmp_path: Path) -> None:
    for stem in ("001_1", "001_2"):
        _png(tmp_path / f"{stem}_rain.png")
        _png(tmp_path / f"{stem}_gt.png")
    assert _names(match_pairs(tmp_path, tmp_path)) == [
        ("001_1_rain.png", "001_1_gt.png"),
        ("001_2_rain.png", "001_2_gt.png"),
    ]


def test_spa_names_in_two_folders(tmp_path: Path) -> None:
    _png(tmp_path / "r" / "7_rain.png")
    _png(tmp_path / "c" / "7_gt.png")
    assert _names(match_pairs(tmp_path / "r", tmp_path / "c")) == [("7_rain.png", "7_gt.png")]


def test_rain100_names_in_one_folder_ignore_rain_region_maps(tmp_path: Path) -> None:
    for stem in ("rain-001", "norain-001", "rainregion-001", "rain-002", "norain-002"):
        _png(tmp_path / f"{stem}.png")
    assert _names(match_pairs(tmp_path, tmp_path)) == [
        ("rain-001.png", "norain-001.png"),
        ("rain-002.png", "norain-002.png"),
    ]


def test_rain1400_index_suffix_is_a_fallback_after_exact_stems(tmp_path: Path) -> None:
    for name in ("12_1.jpg", "12_14.jpg", "frame_3.png"):
        _png(tmp_path / "rainy" / name)
    for name in ("12.jpg", "frame_3.png", "frame.png"):
        _png(tmp_path / "clean" / name)
    assert _names(match_pairs(tmp_path / "rainy", tmp_path / "clean")) == [
        ("12_1.jpg", "12.jpg"),
        ("12_14.jpg", "12.jpg"),
        ("frame_3.png", "frame_3.png"),  # the exact stem wins over the DDN rewrite to 'frame'
    ]


def test_unmatched_names_are_counted_and_listed(tmp_path: Path) -> None:
    for stem in ("a", "lonely1", "lonely2"):
        _png(tmp_path / "rainy" / f"{stem}.png")
    _png(tmp_path / "clean" / "a.png")
    with pytest.raises(JRGRError, match=r"2 rainy image\(s\) \(of 3\).*lonely1\.png.*lonely2\.png"):
        match_pairs(tmp_path / "rainy", tmp_path / "clean")


def test_empty_and_missing_folders_are_named(tmp_path: Path) -> None:
    (tmp_path / "rainy").mkdir()
    _png(tmp_path / "clean" / "a.png")
    (tmp_path / "rainy" / "notes.txt").write_text("not an image")
    with pytest.raises(JRGRError, match=r"rainy' holds no images"):
        match_pairs(tmp_path / "rainy", tmp_path / "clean")
    with pytest.raises(JRGRError, match=r"nowhere' does not exist"):
        match_pairs(tmp_path / "nowhere", tmp_path / "clean")


def test_mixed_folder_without_convention_names_is_an_error(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    with pytest.raises(JRGRError, match="0 rainy-named"):
        match_pairs(tmp_path, tmp_path)


def test_authors_layout_train_and_test_splits(tmp_path: Path) -> None:
    for split, stems in (("train", ("1", "2")), ("test", ("9",))):
        for stem in stems:
            _png(tmp_path / split / "Os" / f"{stem}.png")
            _png(tmp_path / split / "Bs" / f"{stem}.png")
    _png(tmp_path / "train" / "Ot" / "real_a.jpg")
    _png(tmp_path / "train" / "Ot" / "real_b.jpg")
    train = resolve_root(tmp_path, "train")
    assert _names(train.pairs) == [("1.png", "1.png"), ("2.png", "2.png")]
    assert all(rainy.parent.name == "Os" and clean.parent.name == "Bs" for rainy, clean in train.pairs)
    assert [p.name for p in train.unpaired] == ["real_a.jpg", "real_b.jpg"]
    test = resolve_root(tmp_path, "test")
    assert _names(test.pairs) == [("9.png", "9.png")] and test.unpaired == []
    # Pointing at the split folder itself works too.
    assert _names(resolve_root(tmp_path / "train").pairs) == _names(train.pairs)


def test_root_with_rainy_clean_folders_and_single_spa_folder(tmp_path: Path) -> None:
    _png(tmp_path / "plain" / "rainy" / "x.png")
    _png(tmp_path / "plain" / "clean" / "x.png")
    assert _names(resolve_root(tmp_path / "plain").pairs) == [("x.png", "x.png")]
    _png(tmp_path / "spa" / "5_rain.png")
    _png(tmp_path / "spa" / "5_gt.png")
    assert _names(resolve_root(tmp_path / "spa", "test").pairs) == [("5_rain.png", "5_gt.png")]


def test_resolve_root_errors(tmp_path: Path) -> None:
    with pytest.raises(JRGRError, match="not a folder"):
        resolve_root(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(JRGRError, match="no rain data set found"):
        resolve_root(tmp_path / "empty")
