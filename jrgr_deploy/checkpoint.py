"""JRGR checkpoints: one `.safetensors` file that describes itself and checks itself; never pickle.

A checkpoint ``<name>.safetensors`` holds every tensor of every saved net, keyed ``<net>.<state-dict key>``
(e.g. ``f_r.enc.0.0.weight``), and — when written by the trainer — its resume state (optimisers, history
pools, RNG states, EMA and moment buffers) under the reserved key prefix ``__state__.``, so that one rename
publishes weights and state together: a kill at any moment leaves either the previous checkpoint or the new
one, complete (`jrgr_deploy.output_files.PartialFile`). Loading weights ignores the state. Its safetensors
metadata (str -> str) holds:

- ``format``: ``jrgr-checkpoint``; ``format_version``: ``CHECKPOINT_FORMAT_VERSION`` (2). Version 1 files
  (no checksums, resume state in a second file ``<name>.state.safetensors``) still load; another version is
  refused, naming both;
- ``config``: the run's `JRGRConfig` as JSON (so the nets can be rebuilt without any other file);
- ``stage``: ``stage1`` | ``stage2``; ``step``: the training step; ``nets``: JSON list of net names;
- ``tensor_sha256``: JSON object, the SHA-256 of every tensor's bytes (weights and state), checked on load:
  corrupted bytes are an error naming the file and the tensor, never weights that load;
- ``state``: the resume state's non-tensor part as JSON (only with a resume state).

Non-finite values (NaN/inf) are refused on save and on load. `torch.load` is used nowhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jrgr_deploy.config import ROW_INPUTS, JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import REMOVAL_NETS
from jrgr_deploy.output_files import PartialFile, ensure_parent

CHECKPOINT_FORMAT = "jrgr-checkpoint"
# 2: resume state inside the file (``__state__.`` keys, ``state`` metadata) and per-tensor SHA-256 checksums.
CHECKPOINT_FORMAT_VERSION = "2"
READABLE_VERSIONS = ("1", CHECKPOINT_FORMAT_VERSION)
TRAIN_STATE_FORMAT = "jrgr-train-state"  # the version-1 resume-state file beside the weights
STATE_PREFIX = "__state__."
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

    @property
    def removal_net(self) -> str:
        """The net that derains real rain: F_r, or F_s for a supervised (stage-1) checkpoint that holds no F_r."""
        return "f_r" if "f_r" in self.net_names else "f_s"

    @property
    def has_train_state(self) -> bool:
        """Whether the file holds a resume state (a version-1 file: whether its state file lies beside it)."""
        if "state" in self.metadata:
            return True
        return self.metadata.get("format_version") == "1" and state_path(self.path).is_file()


@dataclass(frozen=True)
class TrainState:
    """Resume state: `tensors` (flat name -> tensor) and `info` (JSON-able data)."""

    tensors: dict[str, torch.Tensor]
    info: dict[str, Any]


def state_path(path: str | Path) -> Path:
    """Where a version-1 checkpoint kept its resume state: ``run/stage2.safetensors`` ->
    ``run/stage2.state.safetensors`` (version 2 keeps it inside the checkpoint)."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".state.safetensors")


def checkpoint_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the weights file (what exported artefacts record as their source)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tensor_sha256(tensor: torch.Tensor) -> str:
    """Hex SHA-256 of a CPU tensor's bytes as safetensors stores them (row-major, little-endian)."""
    flat = tensor.detach().reshape(-1)
    if not flat.is_contiguous():
        flat = flat.contiguous()
    return hashlib.sha256(flat.view(torch.uint8).numpy().data).hexdigest()


def _plain_tensor(tensor: torch.Tensor) -> torch.Tensor:
    # safetensors refuses shared storage and non-contiguous views: give each tensor its own memory.
    return tensor.detach().to("cpu").contiguous().clone()


def _non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, else None."""
    for key, value in tensors.items():
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            return key
    return None


def _save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write one safetensors file through a temporary name and one rename (see `output_files.PartialFile`)."""
    from safetensors.torch import save

    ensure_parent(path, "checkpoint")
    payload = save(tensors, metadata=metadata)  # bytes: safetensors' save_file would write through a temporary
    # file of its own (`.tmpXXXXXX` beside the target), which a kill leaves behind under a name we do not own
    partial = PartialFile(path)
    try:
        partial.path.write_bytes(payload)
        partial.publish()
    except BaseException:
        partial.discard()
        raise


def save_checkpoint(
    path: str | Path,
    *,
    config: JRGRConfig,
    nets: Mapping[str, nn.Module],
    stage: str,
    step: int,
    train_state: TrainState | None = None,
) -> Path:
    """Write the nets' weights (+ the resume state, in the same file) atomically. Returns `path`.

    Refuses (JRGRError) weights or state holding NaN/inf: a checkpoint that was good is never replaced by a
    broken one. A version-1 state file beside `path` is removed once the new file is in place.
    """
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
        tensors.update({STATE_PREFIX + key: _plain_tensor(value) for key, value in train_state.tensors.items()})
        metadata["state"] = json.dumps(train_state.info)
    bad = _non_finite(tensors)
    if bad is not None:
        raise JRGRError(
            f"refusing to write checkpoint '{path}' at step {step}: tensor '{bad.removeprefix(STATE_PREFIX)}' holds "
            "NaN or inf values (the training diverged); the previous checkpoint is kept"
        )
    metadata["tensor_sha256"] = json.dumps({key: tensor_sha256(value) for key, value in tensors.items()})
    _save(path, tensors, metadata)
    legacy = state_path(path)
    if legacy.is_file():  # a run begun by a version-1 writer: its separate state is now stale
        legacy.unlink()
    return path


def _read_safetensors(
    path: Path, what: str, keep: Any = None
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and the tensors whose key `keep(key)` accepts (all when None) of a safetensors file; a clear
    JRGRError naming the file when it is missing or unreadable."""
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        raise JRGRError(f"{what} '{path}' does not exist")
    if not path.is_file():
        raise JRGRError(f"{what} '{path}' is not a file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys() if keep is None or keep(key)}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise JRGRError(
            f"{what} '{path}' is not a readable .safetensors file (truncated or corrupt?): {error}"
        ) from None
    return metadata, tensors


def _verify(path: Path, what: str, metadata: dict[str, str], tensors: Mapping[str, torch.Tensor]) -> None:
    """Check `tensors` against the file's recorded checksums (version 2) and for NaN/inf (every version)."""
    recorded = metadata.get("tensor_sha256")
    if recorded is not None:
        try:
            sums = json.loads(recorded)
        except ValueError:
            raise JRGRError(f"{what} '{path}' has a broken tensor_sha256 entry in its metadata") from None
        for key, value in tensors.items():
            expected = sums.get(key)
            if expected is None:
                raise JRGRError(f"{what} '{path}': tensor '{key}' has no recorded checksum (the file was altered)")
            if tensor_sha256(value) != expected:
                raise JRGRError(
                    f"{what} '{path}' is corrupt: the bytes of tensor '{key.removeprefix(STATE_PREFIX)}' do not "
                    "match their recorded SHA-256 (damaged on disk or in transfer); use another copy or an "
                    "earlier checkpoint"
                )
    bad = _non_finite(tensors)
    if bad is not None:
        raise JRGRError(
            f"{what} '{path}': tensor '{bad.removeprefix(STATE_PREFIX)}' holds NaN or inf values; a checkpoint "
            "with non-finite weights cannot be used"
        )


def _check_format(path: Path, metadata: dict[str, str]) -> str:
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise JRGRError(
            f"'{path}' is a safetensors file but not a JRGR checkpoint (no format={CHECKPOINT_FORMAT} metadata)"
        )
    version = metadata.get("format_version")
    if version not in READABLE_VERSIONS:
        raise JRGRError(
            f"checkpoint '{path}' has format_version {version}, this jrgr-deploy reads versions "
            f"{' and '.join(READABLE_VERSIONS)}"
        )
    return version


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read the weights of a file written by `save_checkpoint` (its resume state is not read); a clear
    JRGRError on anything wrong with it: unreadable, not a checkpoint, corrupted bytes, NaN/inf."""
    path = Path(path)
    metadata, tensors = _read_safetensors(path, "checkpoint", keep=lambda key: not key.startswith(STATE_PREFIX))
    _check_format(path, metadata)
    try:
        config = JRGRConfig.from_json(metadata["config"])
        net_names = tuple(json.loads(metadata["nets"]))
        stage, step = metadata["stage"], int(metadata["step"])
    except (KeyError, ValueError, JRGRError) as error:
        raise JRGRError(f"checkpoint '{path}' has broken metadata: {error}") from None
    _verify(path, "checkpoint", metadata, tensors)
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


def _read_weights(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A checkpoint's metadata and its nets' tensors (no resume state), checked like `load_checkpoint` checks them."""
    metadata, tensors = _read_safetensors(path, "checkpoint", keep=lambda key: not key.startswith(STATE_PREFIX))
    _check_format(path, metadata)
    _verify(path, "checkpoint", metadata, tensors)
    return metadata, tensors


def _save_weights(target: Path, metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> Path:
    """Write nets' tensors read by `_read_weights` (changed or not) to `target` without a resume state, their
    checksums made again. Returns `target`."""
    metadata = {key: value for key, value in metadata.items() if key not in ("state", "tensor_sha256")}
    metadata["tensor_sha256"] = json.dumps({key: tensor_sha256(value) for key, value in tensors.items()})
    _save(target, tensors, metadata)
    return target


def save_weights_only(source: str | Path, target: str | Path) -> Path:
    """Copy checkpoint `source` to `target` without its resume state (optimiser moments, discriminator image pools:
    most of a stage-2 file's bytes), atomically. `target` loads as `source` does (same nets, config, stage, step;
    checked like `load_checkpoint` on the way) but cannot resume a training. Returns `target`."""
    return _save_weights(Path(target), *_read_weights(Path(source)))


def mix_weights(start: str | Path, end: str | Path, target: str | Path, start_share: float) -> Path:
    """Write to `target` checkpoint `end` with every floating-point tensor of its nets replaced by
    ``start_share * start + (1 - start_share) * end``: a weight-space average of a fine-tuned net and the net it
    was fine-tuned from (both must have the same nets, keys and shapes; a tensor of a net that `start` lacks is
    kept as in `end`). `target` has `end`'s config, stage and step, no resume state, and records the mix in its
    metadata (``mixed_with``: the start's SHA-256 and the share). A removal net that gained row inputs since the
    start (``model.removal.row_coord`` / ``row_context``, as `load_weights_into` lets a run started from it) is
    mixed with the start as that run began from it, the weights they add at zero. Returns `target`."""
    if not 0.0 <= start_share <= 1.0:
        raise JRGRError(f"the start's share of a weight mix must be within 0-1, got {start_share:g}")
    end = Path(end)
    metadata, tensors = _read_weights(end)
    origin = load_checkpoint(start)
    origin_states = dict(origin.state_dicts)
    end_config = load_checkpoint(end).config
    if any(getattr(end_config.model.removal, option) and not getattr(origin.config.model.removal, option)
           for option in ROW_INPUTS):
        from jrgr_deploy.nn.build import build_net

        for name in (name for name in REMOVAL_NETS if name in origin_states):
            net = build_net(end_config, name)
            origin_states[name] = load_weights_into(origin, name, net).state_dict()
    for key, value in tensors.items():
        name, _, sub = key.partition(".")
        if name not in origin_states or not value.is_floating_point():
            continue
        other = origin_states[name].get(sub)
        if other is None or other.shape != value.shape:
            raise JRGRError(f"cannot mix '{end}' with '{origin.path}': net '{name}' tensor '{sub}' is "
                            f"{tuple(value.shape)} in one and {None if other is None else tuple(other.shape)} in "
                            "the other (another architecture)")
        tensors[key] = (start_share * other.to(value.dtype) + (1.0 - start_share) * value).contiguous()
    metadata["mixed_with"] = json.dumps({"start_sha256": origin.sha256, "start_share": start_share})
    return _save_weights(Path(target), metadata, tensors)


def load_weights_into(checkpoint: Checkpoint, name: str, net: nn.Module) -> nn.Module:
    """Copy net `name`'s weights from `checkpoint` into `net` (strict: every key must match). A removal net built
    with ``model.removal.row_coord`` or ``row_context`` takes weights saved without them (what they add starts
    at 0)."""
    if name not in checkpoint.state_dicts:
        raise JRGRError(
            f"checkpoint '{checkpoint.path}' has no net '{name}'; it holds {', '.join(checkpoint.net_names)}"
        )
    module = getattr(net, "module", net)
    state = checkpoint.state_dicts[name]
    saved = checkpoint.config.model.removal
    if name in REMOVAL_NETS and any(getattr(module, option, False) and not getattr(saved, option)
                                    for option in ROW_INPUTS):
        from jrgr_deploy.nn.unet import with_row_inputs

        state = with_row_inputs(state, module)  # a removal net gaining row inputs starts as the one saved
    try:
        result = module.load_state_dict(state, strict=False)
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


def load_train_state(path: str | Path) -> TrainState:
    """The resume state of checkpoint `path`: inside it (version 2), or in the version-1 state file beside it
    (`path` may also name that file). Checked like the weights; a clear JRGRError when there is none."""
    path = Path(path)
    if path.name.endswith(".state.safetensors") and not path.exists():
        path = path.with_name(path.name.removesuffix(".state.safetensors") + ".safetensors")
    metadata, tensors = _read_safetensors(path, "checkpoint", keep=lambda key: key.startswith(STATE_PREFIX))
    if metadata.get("format") == TRAIN_STATE_FORMAT:  # a version-1 state file itself
        return _load_legacy_state(path)
    version = _check_format(path, metadata)
    if version == "1":
        return _load_legacy_state(state_path(path))
    if "state" not in metadata:
        raise JRGRError(f"checkpoint '{path}' holds no resume state (it was saved for inference only)")
    _verify(path, "checkpoint", metadata, tensors)
    try:
        info = json.loads(metadata["state"])
    except ValueError:
        raise JRGRError(f"checkpoint '{path}' has a broken resume state in its metadata") from None
    return TrainState(tensors={key.removeprefix(STATE_PREFIX): value for key, value in tensors.items()}, info=info)


def _load_legacy_state(path: Path) -> TrainState:
    """A version-1 resume-state file (``<name>.state.safetensors``)."""
    metadata, tensors = _read_safetensors(path, "training state")
    if metadata.get("format") != TRAIN_STATE_FORMAT:
        raise JRGRError(f"'{path}' is not a JRGR training-state file")
    if metadata.get("format_version") != "1":
        raise JRGRError(
            f"training state '{path}' has format_version {metadata.get('format_version')}, expected 1"
        )
    _verify(path, "training state", metadata, tensors)
    return TrainState(tensors=tensors, info=json.loads(metadata["state"]))


def remove_stale_partials_of(paths: Iterable[str | Path]) -> list[Path]:
    """Remove the temporary files a killed save of these checkpoints left (also version 1's ``.*.tmp``)."""
    from jrgr_deploy.output_files import remove_stale_partials

    removed: list[Path] = []
    for path in map(Path, paths):
        removed += remove_stale_partials(path)
        if path.parent.is_dir():
            for name in (path.name, state_path(path).name):
                for stale in path.parent.glob(f".{name}.*.tmp"):
                    stale.unlink(missing_ok=True)
                    removed.append(stale)
    return removed
