"""FLOP counting on real ONNX graphs exported from torch, against hand-computed costs."""

import pytest
import torch

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.flops import count_flops


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = torch.nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.grouped = torch.nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False)

    def forward(self, x):
        return self.grouped(torch.relu(self.up(self.down(x))))


def _export(tmp_path):
    path = tmp_path / "net.onnx"
    torch.onnx.export(
        _Net().eval(), torch.zeros(1, 3, 32, 32), str(path), input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}}, opset_version=19, dynamo=False,
    )
    return path


def test_counts_conv_and_transposed_conv(tmp_path):
    path = _export(tmp_path)
    n, h, w = 2, 64, 96
    cost = count_flops(path, (n, 3, h, w))
    down = 2 * n * 8 * (h // 2) * (w // 2) * 3 * 3 * 3
    up = 2 * n * 8 * (h // 2) * (w // 2) * 4 * 2 * 2
    grouped = 2 * n * 4 * h * w * 2 * 3 * 3
    assert cost.flops_by_op["Conv"] == down + grouped
    assert cost.flops_by_op["ConvTranspose"] == up
    assert cost.flops == down + up + grouped
    assert cost.other_nodes >= 1  # the ReLU
    # cost scales with the pixel count: the dynamic axes really were fixed to the given size
    assert count_flops(path, (n, 3, 2 * h, 2 * w)).flops == 4 * cost.flops


def test_bad_rank_is_clear(tmp_path):
    with pytest.raises(JRGRError, match="rank 4"):
        count_flops(_export(tmp_path), (3, 32, 32))
