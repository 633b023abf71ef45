"""History pools of generated images (Shrivastava et al. 2017), as in pytorch-CycleGAN-and-pix2pix.

Discriminators see a mix of the newest fakes and older ones, which damps oscillation. With probability
1/2 a query returns an image stored earlier (and stores the new one in its place), otherwise the new
image itself. Unlike the reference implementation the pool draws from its own `torch.Generator`, whose
state is saved with the pool's contents, so a resumed run makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

import torch


class ImagePool:
    """A pool of up to `size` images of shape (C, H, W); `size` 0 passes every batch through unchanged."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) newest fakes -> (N, C, H, W) mix of newest and stored, detached."""
        batch = batch.detach()
        if self.size == 0:
            return batch
        out = []
        for image in batch:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
                continue
            if torch.rand((), generator=self.generator).item() > 0.5:
                index = int(torch.randint(0, self.size, (), generator=self.generator).item())
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Contents and generator state as flat tensors for the resume-state file."""
        tensors = {f"{prefix}.generator": self.generator.get_state()}
        if self.images:
            tensors[f"{prefix}.images"] = torch.stack(self.images).cpu()
        return tensors

    def load_state_tensors(self, prefix: str, tensors: dict[str, torch.Tensor], device: torch.device) -> None:
        self.generator.set_state(tensors[f"{prefix}.generator"])
        images = tensors.get(f"{prefix}.images")
        self.images = [] if images is None else [image.to(device) for image in images]
