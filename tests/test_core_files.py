"""Image files and artefact sidecars: real files in tmp_path."""

import json

import cv2
import numpy as np
import pytest

from jrgr_deploy.artifact import ArtifactInfo, read_sidecar, sidecar_path, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import list_images, read_rgb, write_rgb
from jrgr_deploy.pairing import match_pairs


def test_image_round_trip_and_channel_order(tmp_path):
    image = np.zeros((8, 9, 3), np.uint8)
    image[..., 0] = 200  # red in RGB
    path = write_rgb(tmp_path / "sub" / "a.png", image)
    np.testing.assert_array_equal(read_rgb(path), image)
    bgr = cv2.imread(str(path))
    assert bgr[0, 0, 2] == 200  # OpenCV sees it as red too


def test_grey_and_16_bit_images(tmp_path):
    grey = np.full((4, 4), 77, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    assert read_rgb(tmp_path / "g.png").shape == (4, 4, 3)
    deep = np.full((4, 4, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    assert np.all(read_rgb(tmp_path / "d.png") == 255)


def test_errors_name_the_file(tmp_path):
    (tmp_path / "not_image.png").write_text("hello")
    with pytest.raises(JRGRError, match="not_image.png"):
        read_rgb(tmp_path / "not_image.png")
    with pytest.raises(JRGRError, match="does not exist"):
        read_rgb(tmp_path / "missing.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(JRGRError, match="holds no images"):
        list_images(empty)


def test_match_pairs_lists_unmatched(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    for name in ("a", "b", "c"):
        write_rgb(tmp_path / "rainy" / f"{name}.png", image)
    write_rgb(tmp_path / "clean" / "a.png", image)
    with pytest.raises(JRGRError, match=r"2 rainy image\(s\).*b\.png"):
        match_pairs(tmp_path / "rainy", tmp_path / "clean")


def _info(**overrides) -> ArtifactInfo:
    fields = dict(
        kind="onnx", net="f_r", precision="fp32", input_name="rainy", output_name="clean",
        size_multiple=16, input_shape=[None, 3, None, None], opset=19,
    )
    fields.update(overrides)
    return ArtifactInfo(**fields)


def test_sidecar_round_trip(tmp_path):
    artifact = tmp_path / "f_r.onnx"
    artifact.write_bytes(b"")
    info = _info(accuracy={"psnr_vs_torch_db": 80.0})
    assert write_sidecar(artifact, info) == sidecar_path(artifact) == tmp_path / "f_r.onnx.json"
    assert read_sidecar(artifact) == info


def test_sidecar_errors(tmp_path):
    artifact = tmp_path / "f_r.onnx"
    with pytest.raises(JRGRError, match="no sidecar"):
        read_sidecar(artifact)
    data = _info().to_dict()
    sidecar_path(artifact).write_text(json.dumps({**data, "colour": "x"}))
    with pytest.raises(JRGRError, match="unknown key.*colour"):
        read_sidecar(artifact)
    sidecar_path(artifact).write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(JRGRError, match="version 99"):
        read_sidecar(artifact)
    with pytest.raises(JRGRError, match="precision 'int4'"):
        _info(precision="int4")
