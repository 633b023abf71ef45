"""PyTorch reference backend: run a network straight from a `.safetensors` checkpoint.

The only runtime module that touches torch, and only when this backend is chosen: the import happens in
the constructor, so `import jrgr_deploy.runtime` stays torch-free. Useful as the accuracy reference for
the exported artefacts and for quick runs before anything is exported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.runtime.backends.base import Backend, InputContract

logger = logging.getLogger(__name__)


class TorchBackend(Backend):
    """Network `net` (f_r by default; f_s, g_r, g_s also live in a JRGR checkpoint) in eval mode.

    device: "cpu" or "cuda". `threads` sets torch's intra-op threads (default: torch's own choice).
    """

    name = "torch"

    def __init__(
        self, path: str | Path, net: str = "f_r", device: str = "cpu", threads: int | None = None
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise JRGRError(f"checkpoint '{self.path}' does not exist")
        try:
            import torch
        except ImportError as error:
            raise MissingDependencyError(
                "torch", "train", "backend 'torch' (the exported ONNX/TensorRT artefacts run without it)"
            ) from error
        from jrgr_deploy.checkpoint import load_checkpoint, load_net
        from jrgr_deploy.nn.build import size_multiple

        if device == "cuda" and not torch.cuda.is_available():
            raise JRGRError("backend 'torch' on device 'cuda' asked for, but torch sees no CUDA GPU")
        if device not in ("cpu", "cuda"):
            raise JRGRError(f"torch device '{device}' is not one of ['cpu', 'cuda']")
        if threads:
            torch.set_num_threads(threads)
        self._torch: Any = torch
        self.device = device
        self.net_name = net
        config = load_checkpoint(self.path).config
        self._module = load_net(self.path, net).to(device).eval()
        self.input_contract = InputContract(
            input_name="rainy" if net.startswith("f") else "rain_layer",
            output_name="clean" if net.startswith("f") else "real_rain_layer",
            size_multiple=int(size_multiple(config, net)),
            shape=(None, 3, None, None),
            precision="fp32",
        )
        logger.info("loaded %s from %s on %s", net, self.path, device)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            out = self._module(tensor)
            return out.float().cpu().numpy()

    def _close(self) -> None:
        self._module = None


__all__ = ["TorchBackend"]
