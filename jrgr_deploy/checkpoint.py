"""JRGR checkpoints: one `.safetensors` file of weights that describes itself; never pickle.

Weights file ``<name>.safetensors``: every tensor of every saved net, keyed ``<net>.<state-dict key>``
(e.g. ``f_r.enc.0.0.weight``). Its safetensors metadata (str -> str) holds:

- ``format_version``: ``CHECKPOINT_FORMAT_VERSION``; loading refuses another version, naming both;
- ``format``: ``jrgr-checkpoint``;
- ``config``: the run's `JRGRConfig` as JSON (so the nets can be rebuilt without any other file);
- ``stage``: ``stage1`` | ``stage2``; ``step``: the training step; ``nets``: JSON list of net names.

Resume state (optimisers, history pools, RNG states, step counters) lies beside it in
``<name>.state.safetensors``: tensors in the file, everything else as JSON in its metadata under
``state``. Both files are written atomically (temporary file in the same folder, then rename).
`torch.load` is used nowhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError

CHECKPOINT_FORMAT = "jrgr-checkpoint"
CHECKPOINT_FORMAT_VERSION = "1"
TRAIN_STATE_FORMAT = "jrgr-train-state"
STAGES = ("stage1", "stage2")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded weights file. `state_dicts[net]` maps state-dict keys (without the net prefix) to tensors."""

    path: Path
    config: JRGRConfig
    stage: str
    step: int
    net_names: tuple[str, ...]
    state_dicts: dict[str, dict[str, torch.Tensor]]
    sha256: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainState:
    """Resume state: `tensors` (flat name -> tensor) and `info` (JSON-able data)."""

    tensors: dict[str, torch.Tensor]
    info: dict[str, Any]


def state_path(path: str | Path) -> Path:
    """``run/stage2.safetensors`` -> ``run/stage2.state.safetensors``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".state.safetensors")


def checkpoint_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the weights file (what exported artefacts record as their source)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        # mkstemp makes the file private (0600); a checkpoint gets the permissions of any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain_tensor(tensor: torch.Tensor) -> torch.Tensor:
    # safetensors refuses shared storage and non-contiguous views: give each tensor its own memory.
    return tensor.detach().to("cpu").contiguous().clone()


def save_checkpoint(
    path: str | Path,
    *,
    config: JRGRConfig,
    nets: Mapping[str, nn.Module],
    stage: str,
    step: int,
    train_state: TrainState | None = None,
) -> Path:
    """Write the nets' weights (+ the resume state beside them when given), atomically. Returns `path`."""
    if stage not in STAGES:
        raise JRGRError(f"stage '{stage}' is not one of {', '.join(STAGES)}")
    if not nets:
        raise JRGRError("save_checkpoint needs at least one net")
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        module = getattr(net, "module", net)  # unwrap DistributedDataParallel
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = _plain_tensor(value)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "config": config.to_json(),
        "stage": stage,
        "step": str(int(step)),
        "nets": json.dumps(list(nets)),
    }
    if train_state is not None:
        save_train_state(state_path(path), train_state)
    _atomic_save(tensors, path, metadata)
    return path


def _open_safetensors(path: Path, what: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not path.exists():
        raise JRGRError(f"{what} '{path}' does not exist")
    if not path.is_file():
        raise JRGRError(f"{what} '{path}' is not a file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise JRGRError(
            f"{what} '{path}' is not a readable .safetensors file (truncated or corrupt?): {error}"
        ) from None
    return metadata, tensors


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a weights file written by `save_checkpoint`; clear JRGRError on anything wrong with it."""
    path = Path(path)
    metadata, tensors = _open_safetensors(path, "checkpoint")
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise JRGRError(
            f"'{path}' is a safetensors file but not a JRGR checkpoint (no format={CHECKPOINT_FORMAT} metadata)"
        )
    version = metadata.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise JRGRError(
            f"checkpoint '{path}' has format_version {version}, this jrgr-deploy reads version "
            f"{CHECKPOINT_FORMAT_VERSION}"
        )
    try:
        config = JRGRConfig.from_json(metadata["config"])
        net_names = tuple(json.loads(metadata["nets"]))
        stage, step = metadata["stage"], int(metadata["step"])
    except (KeyError, ValueError, JRGRError) as error:
        raise JRGRError(f"checkpoint '{path}' has broken metadata: {error}") from None
    state_dicts: dict[str, dict[str, torch.Tensor]] = {name: {} for name in net_names}
    for key, value in tensors.items():
        name, _, sub = key.partition(".")
        if name not in state_dicts:
            raise JRGRError(f"checkpoint '{path}' holds tensor '{key}' of a net not listed in its metadata")
        state_dicts[name][sub] = value
    return Checkpoint(
        path=path, config=config, stage=stage, step=step, net_names=net_names, state_dicts=state_dicts,
        sha256=checkpoint_sha256(path), metadata=metadata,
    )


def load_weights_into(checkpoint: Checkpoint, name: str, net: nn.Module) -> nn.Module:
    """Copy net `name`'s weights from `checkpoint` into `net` (strict: every key must match)."""
    if name not in checkpoint.state_dicts:
        raise JRGRError(
            f"checkpoint '{checkpoint.path}' has no net '{name}'; it holds {', '.join(checkpoint.net_names)}"
        )
    module = getattr(net, "module", net)
    try:
        result = module.load_state_dict(checkpoint.state_dicts[name], strict=False)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[1:2]
        raise JRGRError(
            f"checkpoint '{checkpoint.path}' net '{name}' does not fit its config: {' '.join(first).strip()}"
        ) from None
    if result.missing_keys or result.unexpected_keys:
        raise JRGRError(
            f"checkpoint '{checkpoint.path}' net '{name}' does not fit its config: missing "
            f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return net


def load_net(path: str | Path | Checkpoint, name: str) -> nn.Module:
    """Net `name` rebuilt from the checkpoint's own config, weights loaded, in eval mode."""
    from jrgr_deploy.nn.build import build_net

    checkpoint = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    if name not in checkpoint.net_names:
        raise JRGRError(
            f"checkpoint '{checkpoint.path}' has no net '{name}'; it holds {', '.join(checkpoint.net_names)}"
        )
    net = build_net(checkpoint.config, name)
    load_weights_into(checkpoint, name, net)
    return net.eval()


def save_train_state(path: str | Path, state: TrainState) -> Path:
    """Write resume state atomically: tensors as tensors, `info` as JSON metadata."""
    path = Path(path)
    tensors = {key: _plain_tensor(value) for key, value in state.tensors.items()}
    metadata = {
        "format": TRAIN_STATE_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "state": json.dumps(state.info),
    }
    _atomic_save(tensors, path, metadata)
    return path


def load_train_state(path: str | Path) -> TrainState:
    path = Path(path)
    metadata, tensors = _open_safetensors(path, "training state")
    if metadata.get("format") != TRAIN_STATE_FORMAT:
        raise JRGRError(f"'{path}' is not a JRGR training-state file")
    version = metadata.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise JRGRError(
            f"training state '{path}' has format_version {version}, this jrgr-deploy reads version "
            f"{CHECKPOINT_FORMAT_VERSION}"
        )
    return TrainState(tensors=tensors, info=json.loads(metadata["state"]))
