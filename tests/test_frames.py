"""Frame <-> tensor conversion and the pad/unpad contract (docs/ARCHITECTURE.md, "Contracts")."""

import numpy as np
import pytest

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import (
    bgr_to_nchw,
    check_size_contract,
    nchw_to_bgr,
    nchw_to_rgb,
    pad_to_multiple,
    padded_hw,
    rgb_to_nchw,
    unpad,
)


def test_round_trip_is_exact():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    batch = bgr_to_nchw(frame)
    assert batch.shape == (1, 3, 37, 53) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    np.testing.assert_array_equal(nchw_to_bgr(batch)[0], frame)
    np.testing.assert_array_equal(nchw_to_rgb(rgb_to_nchw(frame))[0], frame)


def test_bgr_is_converted_to_rgb():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[..., 0] = 255  # blue in OpenCV order
    batch = bgr_to_nchw(frame)
    assert np.all(batch[0, 2] == 1.0) and np.all(batch[0, 0] == -1.0)


def test_values_outside_range_are_clipped():
    batch = np.full((1, 3, 2, 2), 3.0, np.float32)
    assert np.all(nchw_to_rgb(batch) == 255)
    assert np.all(nchw_to_rgb(-batch) == 0)


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (5, 70)])
def test_pad_unpad(size):
    rng = np.random.default_rng(1)
    batch = rng.standard_normal((2, 3, *size)).astype(np.float32)
    padded, original = pad_to_multiple(batch, 16)
    assert padded.shape[-2] % 16 == 0 and padded.shape[-1] % 16 == 0
    assert padded.shape[-2:] == padded_hw(*size, 16)
    np.testing.assert_array_equal(unpad(padded, original), batch)


def test_reflect_padding_mirrors_the_border():
    batch = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6).repeat(3, axis=1).repeat(10, axis=2)
    padded, _ = pad_to_multiple(batch, 8)
    # reflect excludes the edge sample: ... 4 5 | 4 3
    assert padded[0, 0, 0, 6] == 4 and padded[0, 0, 0, 7] == 3


def test_contract_error_names_sizes():
    check_size_contract(32, 64, 16)
    with pytest.raises(JRGRError, match=r"30x64.*multiples of 16.*32x64"):
        check_size_contract(30, 64, 16)


def test_bad_input_is_clear():
    with pytest.raises(JRGRError, match="uint8"):
        bgr_to_nchw(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(JRGRError, match="HxWx3"):
        bgr_to_nchw(np.zeros((4, 4), np.uint8))
