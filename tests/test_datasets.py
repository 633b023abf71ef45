"""Torch data sets on real image and video files: crop/flip determinism, value range, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from jrgr_deploy.datasets import PairedRainDataset, PseudoLabelledRealDataset, UnpairedRainDataset
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.nn.unet import frame_rows


def _noise(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture()
def paired_dir(tmp_path: Path) -> Path:
    for index in range(3):
        clean = _noise(index, 40, 50)
        rainy = np.clip(clean.astype(np.int16) + 30, 0, 255).astype(np.uint8)
        write_rgb(tmp_path / "rainy" / f"{index:03d}.png", rainy)
        write_rgb(tmp_path / "clean" / f"{index:03d}.png", clean)
    return tmp_path


def test_whole_image_items_are_rgb_in_minus_one_to_one(paired_dir: Path) -> None:
    dataset = PairedRainDataset.from_folders(paired_dir / "rainy", paired_dir / "clean")
    assert len(dataset) == 3
    item = dataset[1]
    assert item["name"] == "001.png"
    assert item["o_s"].dtype == torch.float32 and item["o_s"].shape == (3, 40, 50)
    clean = cv2.imread(str(paired_dir / "clean" / "001.png"))[..., ::-1]
    expected = torch.from_numpy(clean.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0)
    assert torch.allclose(item["b_s"], expected, atol=1e-6)  # RGB order, exact scaling
    assert item["b_s"].min() >= -1.0 and item["b_s"].max() <= 1.0


def test_crop_and_flip_keep_the_pair_aligned_and_are_deterministic(paired_dir: Path) -> None:
    def make(seed: int) -> PairedRainDataset:
        return PairedRainDataset.from_folders(
            paired_dir / "rainy", paired_dir / "clean", crop_size=16, flip=True, seed=seed
        )

    first, again, other = make(0), make(0), make(1)
    items = [first[i % 3] for i in range(12)]
    for item in items:
        assert item["o_s"].shape == item["b_s"].shape == (3, 16, 16)
        # rainy = clean + 30 clipped: the same crop/flip was applied to both images of the pair.
        expected = torch.clamp(item["b_s"] + 60 / 255.0, max=1.0)
        assert torch.allclose(item["o_s"], expected, atol=1e-5)
    assert all(torch.equal(first[i]["o_s"], again[i]["o_s"]) for i in range(3))
    assert not all(torch.equal(first[i]["o_s"], other[i]["o_s"]) for i in range(3))
    # Same (seed, epoch, index) -> same crop whenever asked; a new epoch draws new crops.
    assert torch.equal(first[2]["o_s"], first[2]["o_s"])
    before = [first[i]["o_s"] for i in range(3)]
    first.set_epoch(1)
    assert not all(torch.equal(before[i], first[i]["o_s"]) for i in range(3))


def test_crop_is_a_window_of_the_image_and_flip_mirrors_it(tmp_path: Path) -> None:
    image = _noise(7, 30, 30)
    write_rgb(tmp_path / "u" / "a.png", image)
    full = torch.from_numpy(image.transpose(2, 0, 1).copy())
    flips = 0
    for seed in range(12):
        item = UnpairedRainDataset(tmp_path / "u", crop_size=10, flip=True, seed=seed)[0]["o_r"]
        crop = ((item + 1.0) * 127.5).round().to(torch.uint8)
        windows = full.unfold(1, 10, 1).unfold(2, 10, 1)  # (3, 21, 21, 10, 10)
        direct = (windows == crop[:, None, None]).flatten(3).all(3).all(0)
        mirrored = (windows == crop.flip(2)[:, None, None]).flatten(3).all(3).all(0)
        assert direct.any() or mirrored.any()
        flips += int(not direct.any())
    assert 0 < flips < 12  # both orientations occur over seeds


def test_crops_of_height_and_width_are_full_height_strips_of_the_image(tmp_path: Path) -> None:
    """(height, width) crops (train.crop_size x train.crop_width): a strip as high as the image keeps its rows."""
    image = _noise(3, 32, 40)
    write_rgb(tmp_path / "u" / "a.png", image)
    full = torch.from_numpy(image.transpose(2, 0, 1).copy())
    lefts = set()
    for seed in range(8):
        strip = UnpairedRainDataset(tmp_path / "u", crop_size=(32, 8), flip=False, seed=seed)[0]["o_r"]
        assert strip.shape == (3, 32, 8)
        crop = ((strip + 1.0) * 127.5).round().to(torch.uint8)
        hits = [left for left in range(40 - 8 + 1) if torch.equal(full[:, :, left : left + 8], crop)]
        assert len(hits) == 1
        lefts.update(hits)
    assert len(lefts) > 1  # the strip's column is drawn
    with pytest.raises(JRGRError, match="height, width"):
        UnpairedRainDataset(tmp_path / "u", crop_size=(32, 0))


def test_items_carry_where_their_crop_lies_in_the_frame(tmp_path: Path) -> None:
    """rows_s / rows_r: the crop's rows as `frame_rows` of the whole image (a removal net built with row_coord
    reads them); rows of reflect padding continue the line; a pair, its re-toned copy and its label share them."""
    from jrgr_deploy.nn.unet import row_coordinate

    image = np.repeat(np.arange(0, 240, 8, dtype=np.uint8)[:, None, None], 20, axis=1).repeat(3, axis=2)  # 30 rows
    write_rgb(tmp_path / "u" / "a.png", image)
    write_rgb(tmp_path / "c" / "a.png", image)
    whole = UnpairedRainDataset(tmp_path / "u")[0]
    assert torch.allclose(whole["rows_r"], row_coordinate(whole["o_r"][None])[0, :, :, :1])
    tops = set()
    for seed in range(6):
        item = UnpairedRainDataset(tmp_path / "u", crop_size=(12, 8), flip=True, seed=seed)[0]
        top = int(round((float(item["o_r"][0, 0, 0]) + 1.0) * 127.5 / 8))  # the row's grey level names the row
        assert torch.allclose(item["rows_r"], frame_rows(30)[:, top : top + 12])
        tops.add(top)
    assert len(tops) > 1
    pair = PairedRainDataset([(tmp_path / "u" / "a.png", tmp_path / "c" / "a.png")], crop_size=12, seed=1)[0]
    assert pair["rows_s"].shape == (1, 12, 1)
    label = PseudoLabelledRealDataset([(tmp_path / "u" / "a.png", tmp_path / "c" / "a.png")], crop_size=12, seed=1)
    assert torch.equal(label[0]["rows_r"], pair["rows_s"])
    padded = UnpairedRainDataset(tmp_path / "u", crop_size=(34, 20))[0]["rows_r"]
    assert torch.allclose(padded, frame_rows(30, -2, 34))  # two padded rows above, two below


def test_small_images_are_reflect_padded_to_the_crop(tmp_path: Path) -> None:
    image = _noise(3, 6, 9)
    write_rgb(tmp_path / "u" / "small.png", image)
    item = UnpairedRainDataset(tmp_path / "u", crop_size=20)[0]["o_r"]
    assert item.shape == (3, 20, 20)
    # Padding reflects the image: every output pixel value occurs in the original image.
    original = {tuple(p) for p in image.reshape(-1, 3)}
    out = ((item.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().astype(np.uint8).reshape(-1, 3)
    assert {tuple(p) for p in out} <= original


def test_mismatched_pair_sizes_name_both_files(tmp_path: Path) -> None:
    write_rgb(tmp_path / "rainy" / "a.png", _noise(0, 10, 10))
    write_rgb(tmp_path / "clean" / "a.png", _noise(0, 12, 10))
    dataset = PairedRainDataset.from_folders(tmp_path / "rainy", tmp_path / "clean")
    with pytest.raises(JRGRError, match=r"rainy[/\\]a\.png.*clean[/\\]a\.png"):
        dataset[0]


def test_file_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    write_rgb(tmp_path / "u" / "good.png", _noise(0, 10, 10))
    (tmp_path / "u" / "broken.png").write_bytes(b"this is text, not a PNG")
    dataset = UnpairedRainDataset(tmp_path / "u")
    assert [p.name for p in dataset.images] == ["broken.png", "good.png"]
    with pytest.raises(JRGRError, match=r"broken\.png' is not a readable image"):
        dataset[0]


def test_empty_folder_and_bad_crop_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(JRGRError, match="holds no images"):
        UnpairedRainDataset(tmp_path / "empty")
    with pytest.raises(JRGRError, match="crop size"):
        UnpairedRainDataset([tmp_path / "x.png"], crop_size=0)


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video_frames_read_in_any_order_match_sequential_decode(tmp_path: Path, suffix: str, fourcc: str) -> None:
    path = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (48, 32))
    assert writer.isOpened()
    for index in range(9):
        frame = np.zeros((32, 48, 3), np.uint8)
        frame[:, :, 1] = 20 + 25 * index  # each frame has its own brightness
        writer.write(frame)
    writer.release()

    capture = cv2.VideoCapture(str(path))
    sequential = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        sequential.append(frame[..., ::-1])
    capture.release()
    assert len(sequential) == 9

    dataset = UnpairedRainDataset(path, frame_step=2)
    assert len(dataset) == 5
    for position in (3, 0, 4, 1, 2):  # seeks backwards and forwards
        item = dataset[position]
        assert item["name"] == f"clip{suffix}#{2 * position:06d}"
        assert item["o_r"].shape == (3, 32, 48)
        expected = torch.from_numpy(sequential[2 * position].transpose(2, 0, 1).astype(np.float32) / 127.5 - 1)
        assert torch.allclose(item["o_r"], expected, atol=1e-6)


def test_video_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "rain.mp4"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(JRGRError, match=r"rain\.mp4"):
        UnpairedRainDataset(bogus)
    with pytest.raises(JRGRError, match=r"missing\.avi' does not exist"):
        UnpairedRainDataset(tmp_path / "missing.avi")
    (tmp_path / "list.txt").write_text("a.png")
    with pytest.raises(JRGRError, match=r"list\.txt' is neither a folder of images nor a video file"):
        UnpairedRainDataset(tmp_path / "list.txt")


def test_from_root_reads_the_authors_layout(tmp_path: Path) -> None:
    for stem in ("1", "2"):
        write_rgb(tmp_path / "train" / "Os" / f"{stem}.png", _noise(1, 20, 20))
        write_rgb(tmp_path / "train" / "Bs" / f"{stem}.png", _noise(2, 20, 20))
    write_rgb(tmp_path / "train" / "Ot" / "r.png", _noise(3, 24, 24))
    paired = PairedRainDataset.from_root(tmp_path, "train", crop_size=8, flip=True)
    unpaired = UnpairedRainDataset.from_root(tmp_path, "train", crop_size=8)
    loader = torch.utils.data.DataLoader(paired, batch_size=2)
    batch = next(iter(loader))
    assert batch["o_s"].shape == (2, 3, 8, 8) and list(batch["name"]) == ["1.png", "2.png"]
    assert len(unpaired) == 1 and unpaired[0]["o_r"].shape == (3, 8, 8)


def test_video_frames_load_in_dataloader_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 16))
    for index in range(6):
        writer.write(np.full((16, 32, 3), 30 * index, np.uint8))
    writer.release()
    dataset = UnpairedRainDataset(path, crop_size=8, flip=True, seed=4)
    in_process = torch.stack([dataset[i]["o_r"] for i in range(len(dataset))])
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=2)
    batches = list(loader)
    # Each worker reopens the file; the items equal those read in the main process.
    assert torch.equal(torch.cat([b["o_r"] for b in batches]), in_process)
    assert sum(len(b["name"]) for b in batches) == 6
