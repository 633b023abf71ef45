"""The JRGR training loop: stage 1 (supervised pre-training) and stage 2 (joint training).

Stage 1 (authors' code): ONE removal U-Net is trained on paired synthetic data with the MSE
||F(O_s) - B_s||² and saved as both F_s and F_r in ``RUN_DIR/stage1.safetensors`` (the supervised-only
baseline every quality comparison needs).

Stage 2 (paper Eq. 3-8): every iteration makes one generator step (F_s, F_r, G_s, G_r together, the
discriminators frozen), then one discriminator step (D_B, D_Or, D_Os on pooled fakes). F_s and F_r start
from stage 1 when ``RUN_DIR/stage1.safetensors`` exists (then F_r runs at lr/10 and F_s at lr/100); the final
weights of all seven nets go to ``RUN_DIR/stage2.safetensors``.

Files in RUN_DIR: ``config.yaml`` (the resolved config), ``stage1.safetensors``, ``stage2.safetensors``
(each replaced atomically every ``train.checkpoint_every`` steps and at the end; the resume state travels
inside, so one rename publishes weights and state together and a kill at any moment leaves a complete
checkpoint), ``log.jsonl``, ``images/stage{1,2}_step0000100.png``.

Safety: a loss that turns NaN or inf stops the run with `TrainingDivergedError` (exit 2) before anything is saved,
so the last good checkpoint stays; SIGINT/SIGTERM (`stop`, see `jrgr_deploy.stop_signals`) finish the step in
hand, checkpoint and stop; temporary files of a save that was killed are removed on the next start.

Resume (``resume=True``) continues the same run: weights, Adam moments, history pools (and their random
generators), the step, hence the lr schedule and the data order (a pure function of seed and step).
On a CPU it reproduces the uninterrupted run bit for bit.

Multi-process (torchrun): gradients are averaged by DistributedDataParallel around the one-forward
objectives of `system.py`; ``train.batch_size`` is the global batch. BatchNorm statistics stay
per-process (no SyncBatchNorm), as in DDP's default.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jrgr_deploy.checkpoint import (
    TrainState,
    load_checkpoint,
    load_train_state,
    load_weights_into,
    remove_stale_partials_of,
    save_checkpoint,
)
from jrgr_deploy.config import ROW_INPUTS, JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import DISCRIMINATORS, GENERATORS
from jrgr_deploy.nn.build import build_net, size_multiple
from jrgr_deploy.output_files import ensure_folder, write_text_atomic
from jrgr_deploy.stop_signals import StopRequest
from jrgr_deploy.training.data import (
    PSEUDO_LABELS_FILE,
    BatchStream,
    DataSources,
    fit_moment_transfer,
    load_removal_net,
    make_paired_dataset,
    make_pseudo_labels,
    make_real_clean_dataset,
    make_real_dataset,
    resolve_sources,
    steps_for,
)
from jrgr_deploy.training.distributed import (
    DistContext,
    any_over_ranks,
    barrier,
    init_distributed,
    mean_over_ranks,
    replica_checksums,
)
from jrgr_deploy.training.grid import save_fig6_grid, save_grid
from jrgr_deploy.training.pool import ImagePool
from jrgr_deploy.training.run_log import RunLog
from jrgr_deploy.training.schedule import apply_lr, current_lrs, group_lr, lr_factor, make_adam, stage2_lrs
from jrgr_deploy.training.system import (
    Composition,
    DiscriminatorObjective,
    GeneratorObjective,
    JointOutputs,
    JRGRNets,
)

logger = logging.getLogger(__name__)

STAGE1_FILE = "stage1.safetensors"
STAGE2_FILE = "stage2.safetensors"
PSEUDO_LABELS_DIR = "pseudo_labels"  # RUN_DIR/pseudo_labels: the real images' labels of loss.weights.mse_fr_pl
ANCHOR_PREFIX = "anchor_f_r."  # resume-state tensors: F_r's anchor weights (train.f_r_anchor, f_r_anchor_step)
# The seven history pools: D_B's real backgrounds and its four kinds of fake, and the two translated images.
POOL_NAMES = ("b_s", "b_hat_s", "b_hat_otr", "b_hat_r", "b_hat_ots", "o_tilde_r", "o_tilde_s")


class TrainingDivergedError(JRGRError):
    """A loss became NaN or inf: training stopped without saving, the last good checkpoint is kept."""


@dataclass
class StageResult:
    stage: str
    checkpoint: Path
    step: int
    total_steps: int
    images_per_s: float = math.nan
    stopped_by: str = ""  # the signal (SIGINT / SIGTERM) that stopped the stage early, checkpointed

    @property
    def complete(self) -> bool:
        return self.step >= self.total_steps


@dataclass
class TrainResult:
    run_dir: Path
    stages: list[StageResult] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(s.complete for s in self.stages)


def train(
    config: JRGRConfig,
    run_dir: str | Path,
    *,
    stages: tuple[str, ...] = ("stage1", "stage2"),
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Run the requested stages in order. `max_steps` stops each stage after that many steps in this call
    (checkpointing first, so ``resume=True`` continues): for time-sliced jobs and resume tests. `stop`: once
    requested (a signal), the step in hand is finished, checkpointed, and the stage returns `stopped_by` it.
    Raises `TrainingDivergedError` when a loss turns NaN/inf (nothing saved after the last good checkpoint)."""
    for stage in stages:
        if stage not in ("stage1", "stage2"):
            raise JRGRError(f"stage '{stage}' is not one of stage1, stage2")
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    ctx = init_distributed(config.train.device)
    run_dir = Path(run_dir)
    files = {"stage1": STAGE1_FILE, "stage2": STAGE2_FILE}
    if not resume:
        for stage in stages:
            if (run_dir / files[stage]).exists():
                raise JRGRError(
                    f"'{run_dir / files[stage]}' exists: pass --resume to continue that run, or choose another --out"
                )
    elif ctx.is_main and not any((run_dir / name).exists() for name in files.values()):
        logger.info("--resume: no checkpoint in %s yet, starting a new run", run_dir)
    amp = _amp_dtype(config, ctx.device)
    if ctx.is_main:
        ensure_folder(run_dir, "run folder (--out)")
        for stale in remove_stale_partials_of(run_dir / name for name in files.values()):
            logger.info("removed %s, left by a save that was killed", stale)
        write_text_atomic(run_dir / "config.yaml", config.to_yaml())
    barrier(ctx)
    log = RunLog(run_dir, enabled=ctx.is_main)
    result = TrainResult(run_dir=run_dir)
    try:
        for stage in stages:
            kind = _Stage1 if stage == "stage1" else _Stage2
            stage_result = kind(config, ctx, run_dir, log, amp, progress, stop).run(resume, max_steps)
            result.stages.append(stage_result)
            if not stage_result.complete or (stop is not None and stop.requested):
                break  # a signal during a stage's last step: the next stage does not start
    finally:
        log.close()
    return result


def _amp_dtype(config: JRGRConfig, device: torch.device) -> torch.dtype | None:
    """AMP is CUDA-only: on another device a requested AMP mode is refused loudly, not silently ignored."""
    if config.train.amp == "none":
        return None
    if device.type != "cuda":
        raise JRGRError(
            f"train.amp={config.train.amp} needs a CUDA device, but training runs on {device}: "
            "set train.amp=none on a CPU"
        )
    return torch.bfloat16 if config.train.amp == "bf16" else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _wrap(module: nn.Module, ctx: DistContext, find_unused_parameters: bool = False) -> nn.Module:
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


# ---- resume state: optimisers, scaler, RNGs, pools -> tensors + JSON (no pickle) ---------------------------


def _optimizer_to_state(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optimizer_from_state(
    optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], info: dict[str, Any]
) -> None:
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1 :].split(".", 1)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in info["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in info["param_groups"]]
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    np_state = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64))}
    py_state = random.getstate()
    info = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, info


def _restore_rng(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    kind, pos, has_gauss, gauss = info["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = info["python"]
    random.setstate((version, tuple(internal), gauss_next))


class _WindowStats:
    """Loss sums over the steps since the last log line (kept as tensors: no per-step device sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        for key, value in terms.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.steps += 1

    def means(self) -> dict[str, float]:
        return {key: float(value) / max(1, self.steps) for key, value in self.sums.items()}


class _FiniteGuard:
    """Whether every loss since the last check was finite, kept on the device (no per-step sync)."""

    def __init__(self) -> None:
        self._finite: torch.Tensor | None = None
        self.checked_step = 0

    def add(self, *losses: torch.Tensor) -> None:
        finite = torch.stack([torch.isfinite(loss.detach()).all() for loss in losses]).all()
        self._finite = finite if self._finite is None else self._finite & finite

    def failed(self, ctx: DistContext) -> bool:
        """True when a loss since the last call was NaN/inf on any process (all ranks call it together)."""
        bad = self._finite is not None and not bool(self._finite)
        self._finite = None
        return any_over_ranks(bad, ctx)


class _StageBase:
    stage = ""
    file_name = ""

    def __init__(
        self, config: JRGRConfig, ctx: DistContext, run_dir: Path, log: RunLog, amp: torch.dtype | None,
        progress: bool, stop: StopRequest | None = None,
    ) -> None:
        self.config, self.ctx, self.run_dir, self.log, self.amp = config, ctx, run_dir, log, amp
        self.train_cfg = config.train
        self.progress = progress and ctx.is_main
        self.path = run_dir / self.file_name
        self.stop = stop
        self.stopped_by = ""
        self.guard = _FiniteGuard()

    def _loop(self, start: int, total: int, max_steps: int | None) -> Iterator[int]:
        from tqdm import tqdm

        end = total if max_steps is None else min(total, start + max_steps)
        bar = tqdm(total=total, initial=start, desc=self.stage, unit="it", disable=not self.progress,
                   dynamic_ncols=True)
        self.guard.checked_step = start
        try:
            for step in range(start, end):
                yield step
                bar.update(1)
                if self.progress and hasattr(self, "postfix"):
                    bar.set_postfix_str(self.postfix, refresh=False)
                if self._stop_requested(step + 1, end):
                    break
        finally:
            bar.close()

    def _stop_requested(self, done: int, end: int) -> bool:
        """After a finished step: whether a signal asked to stop (decided by all processes together)."""
        asked = self.stop is not None and self.stop.requested
        if done >= end or not any_over_ranks(asked, self.ctx):
            return False
        self.stopped_by = self.stop.name if asked and self.stop is not None else "a signal on another process"
        if self.ctx.is_main:
            logger.warning("%s: stopping after step %d (%s); saving a checkpoint", self.stage, done, self.stopped_by)
        return True

    def _check_finite(self, step: int) -> None:
        """Raise TrainingDivergedError when a loss since the last check was NaN/inf; nothing is saved then."""
        since = self.guard.checked_step
        self.guard.checked_step = step
        if not self.guard.failed(self.ctx):
            return
        if self.path.exists():
            try:
                kept = f"the last good checkpoint '{self.path}' (step {load_checkpoint(self.path).step}) is kept"
            except JRGRError as error:
                kept = f"'{self.path}' was not touched ({error})"
        else:
            kept = f"no checkpoint of {self.stage} was written yet"
        raise TrainingDivergedError(
            f"{self.stage}: the loss became NaN or inf between steps {since} and {step}; training stopped and "
            f"{kept}. Lower train.lr (or check the data), then continue with --resume or start a new --out"
        )

    def _log(self, window: _WindowStats, step: int, total: int, epoch: int, lrs: dict[str, float]) -> _WindowStats:
        means = mean_over_ranks(window.means(), self.ctx)
        elapsed = time.perf_counter() - window.start
        images_per_s = window.steps * self.train_cfg.batch_size / elapsed if elapsed > 0 else math.nan
        record = {"stage": self.stage, "step": step, "total_steps": total, "epoch": epoch,
                  **{k: round(v, 6) for k, v in means.items()}, **lrs, "images_per_s": round(images_per_s, 3)}
        self.log.write(record)
        self._check_finite(step)
        self.images_per_s.append(images_per_s)
        key = "g_total" if "g_total" in means else "mse"
        self.postfix = f"{key}={means.get(key, math.nan):.4f} {images_per_s:.1f} img/s"
        return _WindowStats()

    def _check_replicas(self, modules: list[nn.Module], step: int) -> None:
        """Under DDP, record every rank's parameter checksum; they must be identical."""
        if not self.ctx.enabled:
            return
        sums = replica_checksums(modules, self.ctx)
        identical = all(v == sums[0] for v in sums)
        self.log.write({"stage": self.stage, "step": step, "event": "replica_check", "checksums": sums,
                        "identical": identical})
        if not identical and self.ctx.is_main:
            logger.warning("DDP replicas differ at step %d: parameter checksums %s", step, sums)

    def _restore_rng_after_seek(self) -> None:
        """Restore a resumed run's random generators AFTER its data streams are positioned: creating a
        DataLoader iterator draws from torch's generator, which the uninterrupted run did before the saved
        step (at its epoch's start), so restoring first would shift every later draw (the physics G_r's veil
        noise draws from it)."""
        saved = getattr(self, "_saved_rng", None)
        if saved is not None:
            _restore_rng(*saved)
            self._saved_rng = None

    def _image_path(self, step: int) -> Path:
        return self.run_dir / "images" / f"{self.stage}_step{step:07d}.png"


class _Stage1(_StageBase):
    """Supervised pre-training of one removal net (saved as F_s and F_r)."""

    stage = "stage1"
    file_name = STAGE1_FILE

    def run(self, resume: bool, max_steps: int | None) -> StageResult:
        cfg, ctx = self.train_cfg, self.ctx
        sources = resolve_sources(self.config.data, need_real=False)
        stream = BatchStream(make_paired_dataset(sources, cfg), cfg.batch_size, ctx.rank, ctx.world_size,
                             cfg.seed, cfg.num_workers, "paired synthetic")
        total = steps_for(cfg.stage1_iters, cfg.stage1_epochs, stream, "stage1")
        torch.manual_seed(cfg.seed)
        net = build_net(self.config, "f_s").to(ctx.device)
        optimizer = make_adam({"f_s": net}, {"f_s": cfg.lr}, cfg)
        start = 0
        self.ema = None
        if resume and self.path.exists():
            start = self._restore(net, optimizer)
            logger.info("resuming stage 1 at step %d/%d from %s", start, total, self.path)
        elif cfg.init_from:
            checkpoint = load_checkpoint(cfg.init_from)
            _check_same_model(checkpoint.config, self.config, checkpoint.path, removal_only=True)
            source = checkpoint.removal_net
            load_weights_into(checkpoint, source, net)
            if ctx.is_main:
                logger.info("stage 1 starts from %s of %s (%s, step %d)", source, checkpoint.path, checkpoint.stage,
                            checkpoint.step)
        if cfg.ema_decay > 0 and self.ema is None:  # a new run: the average starts at the initial weights
            self.ema = _ParameterEMA(net, cfg.ema_decay)
        if start >= total:
            return StageResult(self.stage, self.path, start, total)
        self.log.rewind((self.stage,), start)
        if ctx.is_main:
            logger.info("stage 1: %d steps, global batch %d, %s", total, cfg.batch_size, sources.description)
        model = _wrap(net, ctx)
        scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        stream.seek(start)
        self._restore_rng_after_seek()
        net.train()
        window, self.images_per_s = _WindowStats(), []
        done = start
        for step in self._loop(start, total, max_steps):
            apply_lr(optimizer, lr_factor(step, total, cfg.decay_fraction))
            batch = stream.next()
            o_s, b_s = batch["o_s"].to(ctx.device), batch["b_s"].to(ctx.device)
            with _autocast(ctx.device, self.amp):
                b_hat_s = model(o_s, batch["rows_s"].to(ctx.device))
                loss = F.mse_loss(b_hat_s.float(), b_s)
            optimizer.zero_grad(set_to_none=True)
            _backward_step(loss, optimizer, scaler)
            if self.ema is not None:
                self.ema.update(net)
            window.add({"mse": loss})
            self.guard.add(loss)
            done = step + 1
            if done % cfg.log_every == 0 or done == total:
                window = self._log(window, done, total, stream.epoch, current_lrs(optimizer))
            if ctx.is_main and cfg.image_every and (done % cfg.image_every == 0 or done == total):
                save_grid(self._image_path(done), [[("O_s", o_s[0]), ("F(O_s)", b_hat_s[0]), ("B_s", b_s[0])]])
            if done % cfg.checkpoint_every == 0 or done == total:
                self._check_replicas([net], done)
                self._save(net, optimizer, done, total)
        if done % cfg.checkpoint_every and done != total:
            self._save(net, optimizer, done, total)  # stopped by max_steps or a signal: leave a resumable checkpoint
        return StageResult(self.stage, self.path, done, total, _median(self.images_per_s), self.stopped_by)

    def _save(self, net: nn.Module, optimizer: torch.optim.Optimizer, step: int, total: int) -> None:
        self._check_finite(step)
        if self.ctx.is_main:
            tensors, opt_info = _optimizer_to_state(optimizer, "opt")
            rng_tensors, rng_info = _rng_state()
            saved, raw_tensors = net, {}
            if self.ema is not None:  # the checkpoint holds the average; Adam's raw weights travel in the state
                saved = self.ema.module
                raw_tensors = _prefixed("raw_f_s.", net.state_dict())
            state = TrainState({**tensors, **rng_tensors, **raw_tensors},
                               {"stage": self.stage, "step": step, "total_steps": total, "opt": opt_info,
                                "rng": rng_info, "ema_decay": self.train_cfg.ema_decay})
            # Stage 1 trains one net; the authors load it into both removal nets.
            save_checkpoint(self.path, config=self.config, nets={"f_s": saved, "f_r": saved}, stage=self.stage,
                            step=step, train_state=state)
        barrier(self.ctx)

    def _restore(self, net: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        checkpoint = load_checkpoint(self.path)
        _check_same_model(checkpoint.config, self.config, self.path)
        load_weights_into(checkpoint, "f_s", net)
        state = _load_matching_state(checkpoint)
        if self.train_cfg.ema_decay > 0:
            raw = _under(state.tensors, "raw_f_s.")
            if not raw:
                raise JRGRError(f"cannot resume '{self.path}' with train.ema_decay > 0: it was saved without an EMA")
            self.ema = _ParameterEMA(net, self.train_cfg.ema_decay)  # the checkpoint's net is the average
            net.load_state_dict(raw)
        _optimizer_from_state(optimizer, "opt", state.tensors, state.info["opt"])
        self._saved_rng = (state.tensors, state.info["rng"])
        return int(state.info["step"])


class _Stage2(_StageBase):
    """Joint training of the seven nets (Eq. 3-8)."""

    stage = "stage2"
    file_name = STAGE2_FILE

    def run(self, resume: bool, max_steps: int | None) -> StageResult:
        cfg, ctx = self.train_cfg, self.ctx
        _check_crop_fits_discriminators(self.config)
        sources = resolve_sources(self.config.data, need_real=True)
        transfer = fit_moment_transfer(sources, self.config.loss) if self.config.loss.weights.mse_fr_mt > 0 else None
        pairs = make_paired_dataset(sources, cfg, transfer, self.config.loss)
        paired = BatchStream(pairs, cfg.batch_size, ctx.rank, ctx.world_size, cfg.seed, cfg.num_workers,
                             "paired synthetic")
        real_clean = None
        if sources.real_clean is not None:
            real_clean = BatchStream(make_real_clean_dataset(sources, cfg), cfg.batch_size, ctx.rank,
                                     ctx.world_size, cfg.seed + 2, cfg.num_workers, "real-domain clean")
        total = steps_for(cfg.stage2_iters, cfg.stage2_epochs, paired, "stage2")
        torch.manual_seed(cfg.seed)
        nets = JRGRNets(self.config).to(ctx.device)
        named = nets.named_nets()
        start, pretrained = 0, False
        resuming = resume and self.path.exists()
        if not resuming:
            pretrained = self._init_from(nets) if cfg.init_from else self._load_stage1(nets)
        lrs = stage2_lrs(cfg, pretrained)
        opt_g = make_adam({n: named[n] for n in GENERATORS}, lrs, cfg)
        opt_d = make_adam({n: named[n] for n in DISCRIMINATORS}, lrs, cfg)
        pools = {name: ImagePool(self.config.loss.pool_size, seed=cfg.seed * 1000 + ctx.rank * 10 + k)
                 for k, name in enumerate(POOL_NAMES)}
        # EMA of F_r's weights (train.ema_decay > 0): starts as F_r; saved as the checkpoint's f_r, while the raw
        # weights Adam works on travel in the resume state.
        self.ema = _ParameterEMA(nets.f_r, cfg.ema_decay) if cfg.ema_decay > 0 else None
        # train.f_r_anchor: F_r's weights at the start (or at train.f_r_anchor_step), kept to pull it back towards
        # them (a resume reads them from its state instead)
        self.anchor = _WeightAnchor(cfg.f_r_anchor) if cfg.f_r_anchor > 0 else None
        if self.anchor is not None and cfg.f_r_anchor_step >= total:
            raise JRGRError(f"train.f_r_anchor_step={cfg.f_r_anchor_step} is never reached: stage 2 has {total} "
                            "steps")
        if self.anchor is not None and cfg.f_r_anchor_step == 0:
            self.anchor.take(nets.f_r)
        f_r_start = self._starting_f_r() if self.config.loss.weights.mse_fr_keep > 0 else None
        self.objective = GeneratorObjective(nets, self.config.loss, Composition.from_config(self.config),
                                            f_r_start=f_r_start)
        if resuming:
            start, pretrained = self._restore(nets, opt_g, opt_d, pools)
            logger.info("resuming stage 2 at step %d/%d from %s", start, total, self.path)
        # Lines a killed attempt logged after the checkpoint (a fresh start: all of them) are logged again.
        self.log.rewind((self.stage,) if resuming else (self.stage, "veil_warmup"), start)
        if not resuming and cfg.veil_warmup_iters:
            self._warm_up_veil(nets, sources, cfg.lr)
        if start >= total:
            return StageResult(self.stage, self.path, start, total)
        # The real images' pseudo-labels come from the net stage 2 starts from (and, with loss.pl_refresh_iters,
        # from the net of each refresh step): made before the first step and kept in the run folder until the
        # stage completes, so a resumed run trains on the same labels.
        pseudo_labelled = self.config.loss.weights.mse_fr_pl > 0
        labelled = self._pseudo_labels(sources, nets, resuming, start) if pseudo_labelled else None
        real = BatchStream(make_real_dataset(sources, cfg, labelled), cfg.batch_size, ctx.rank, ctx.world_size,
                           cfg.seed + 1, cfg.num_workers, "unpaired real")
        joint = self.objective.joint
        if ctx.is_main:
            logger.info("stage 2: %d steps, global batch %d, F nets %s, %s", total, cfg.batch_size,
                        "from stage 1" if pretrained else "from scratch", sources.description)
            if not joint:
                logger.info("stage 2 trains the removal nets alone: no weighted term reaches G_s, G_r or a "
                            "discriminator (no joint graph, no discriminator step, no sample grid)")
        # without the joint graph the generation nets (and an unweighted F_s) take no part in the loss
        g_model = _wrap(self.objective, ctx, find_unused_parameters=not joint)
        d_model = _wrap(DiscriminatorObjective(nets, self.config.loss), ctx) if joint else None
        discriminators = [nets.d_b, nets.d_or, nets.d_os]
        scaler_g = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        scaler_d = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        paired.seek(start)
        real.seek(start)
        if real_clean is not None:
            real_clean.seek(start)
        self._restore_rng_after_seek()
        nets.train()
        window, self.images_per_s = _WindowStats(), []
        self._pretrained = pretrained
        done = start
        for step in self._loop(start, total, max_steps):
            factor = lr_factor(step, total, cfg.decay_fraction)
            apply_lr(opt_g, factor)
            apply_lr(opt_d, factor)
            batch_s, batch_r = paired.next(), real.next()
            o_s, b_s = batch_s["o_s"].to(ctx.device), batch_s["b_s"].to(ctx.device)
            o_r = batch_r["o_r"].to(ctx.device)
            o_mt = batch_s["o_mt"].to(ctx.device) if "o_mt" in batch_s else None
            p_r = batch_r["p_r"].to(ctx.device) if "p_r" in batch_r else None
            rows_s, rows_r = batch_s["rows_s"].to(ctx.device), batch_r["rows_r"].to(ctx.device)

            # Generator step: all four generators (the removal nets alone without the joint graph), discriminators
            # frozen (Eq. 8).
            _set_requires_grad(discriminators, False)
            with _autocast(ctx.device, self.amp):
                g_terms, images = g_model(o_s, b_s, o_r, o_mt, p_r, rows_s, rows_r)
            opt_g.zero_grad(set_to_none=True)
            _backward_step(g_terms["g_total"].float(), opt_g, scaler_g)
            if self.anchor is not None:
                self.anchor.pull(nets.f_r, group_lr(opt_g, "f_r"))
            if self.ema is not None:
                self.ema.update(nets.f_r)
            if self.anchor is not None and step + 1 == cfg.f_r_anchor_step:  # the net evaluation would use
                self.anchor.take(nets.f_r if self.ema is None else self.ema.module)
                logger.info("F_r's anchor taken at step %d (train.f_r_anchor_step)", step + 1)
            _set_requires_grad(discriminators, True)

            d_terms: dict[str, torch.Tensor] = {}
            if joint:
                # Discriminator step on pooled fakes (Eq. 3 and 4, discriminator side). With real-domain clean
                # images, D_B's real samples hold both domains' scenes.
                out = JointOutputs(**{k: v.detach().float() for k, v in images.items()})
                real_b = b_s if real_clean is None else torch.cat([b_s, real_clean.next()["o_r"].to(ctx.device)])
                with _autocast(ctx.device, self.amp):
                    d_terms = d_model(
                        pools["b_s"].query(real_b),
                        (pools["b_hat_s"].query(out.b_hat_s), pools["b_hat_otr"].query(out.b_hat_otr),
                         pools["b_hat_r"].query(out.b_hat_r), pools["b_hat_ots"].query(out.b_hat_ots)),
                        o_r, pools["o_tilde_r"].query(out.o_tilde_r),
                        o_s, pools["o_tilde_s"].query(out.o_tilde_s),
                    )
                opt_d.zero_grad(set_to_none=True)
                _backward_step(d_terms["d_total"].float(), opt_d, scaler_d)
            window.add({**g_terms, **d_terms})
            self.guard.add(g_terms["g_total"], *([d_terms["d_total"]] if d_terms else []))

            done = step + 1
            if done % cfg.log_every == 0 or done == total:
                window = self._log(window, done, total, paired.epoch, {**current_lrs(opt_g), **current_lrs(opt_d)})
            if ctx.is_main and cfg.image_every and joint and (done % cfg.image_every == 0 or done == total):
                save_fig6_grid(self._image_path(done), images)
            if done % cfg.checkpoint_every == 0 or done == total:
                self._check_replicas([nets], done)
                self._save(nets, opt_g, opt_d, pools, done, total)
            if pseudo_labelled and self.config.loss.refreshes_at(done) and done < total:
                if done % cfg.checkpoint_every:  # saved first: a run resumed here relabels from the same net
                    self._save(nets, opt_g, opt_d, pools, done, total)
                self._pseudo_labels(sources, nets, True, done)  # the same files: the real stream reads them anew
        saved_at_refresh = pseudo_labelled and self.config.loss.refreshes_at(done)
        if done % cfg.checkpoint_every and done != total and not saved_at_refresh:
            self._save(nets, opt_g, opt_d, pools, done, total)  # stopped by max_steps or a signal
        if labelled is not None and done == total and ctx.is_main:
            # only a resume reads them again, and a complete stage is not resumed: two images per real image
            # (~0.3 MB each at 384x384) are not left behind
            shutil.rmtree(self.run_dir / PSEUDO_LABELS_DIR)
            logger.info("stage 2 complete: its pseudo-labels %s removed", self.run_dir / PSEUDO_LABELS_DIR)
        return StageResult(self.stage, self.path, done, total, _median(self.images_per_s), self.stopped_by)

    def _warm_up_veil(self, nets: JRGRNets, sources, lr: float) -> None:
        """Fit the physics G_r's veil net alone to the real images' low-frequency statistics (`mom_or`) for
        ``train.veil_warmup_iters`` steps at ``train.lr``, on crops of its own (the training streams are left
        untouched)."""
        cfg = self.train_cfg
        if self.objective.moments is None:
            raise JRGRError("train.veil_warmup_iters needs model.rain_form=physics and loss.weights.mom_or > 0")
        from jrgr_deploy.datasets import PairedRainDataset, UnpairedRainDataset

        paired = PairedRainDataset(sources.pairs, crop_size=cfg.crop_hw, flip=True, seed=cfg.seed + 3)
        real = UnpairedRainDataset(sources.real, crop_size=cfg.crop_hw, flip=True, seed=cfg.seed + 4)
        rng = np.random.default_rng([cfg.seed, 0x7E11])
        veil = nets.g_r.veil
        optimizer = torch.optim.Adam(veil.parameters(), lr=lr, betas=tuple(cfg.betas))
        window = _WindowStats()
        for step in range(1, cfg.veil_warmup_iters + 1):
            b_s = paired[int(rng.integers(len(paired)))]["b_s"][None].to(self.ctx.device)
            o_r = real[int(rng.integers(len(real)))]["o_r"][None].to(self.ctx.device)
            loss = self.objective.moments(nets.g_r.veiled_background, b_s, o_r)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            window.add({"mom_or": loss})
            if step % cfg.log_every == 0 or step == cfg.veil_warmup_iters:
                self.log.write({"stage": "veil_warmup", "step": step, "total_steps": cfg.veil_warmup_iters,
                                **{k: round(v, 6) for k, v in window.means().items()}})
                window = _WindowStats()
        nets.zero_grad(set_to_none=True)
        if self.ctx.is_main:
            logger.info("veil net fitted to the real images' statistics in %d steps (mom_or %.6f)",
                        cfg.veil_warmup_iters, float(loss.detach()))

    def _pseudo_labels(self, sources: DataSources, nets: JRGRNets, resuming: bool,
                       step: int) -> list[tuple[Path, Path]]:
        """`make_pseudo_labels` into RUN_DIR/pseudo_labels (the main process writes, the others wait) from the net
        of the last refresh at or before `step` (`LossConfig.labels_step`; without refreshes, the starting F_r).
        The net of an earlier step than `step` is gone: a resumed run then needs the folder its first attempt
        wrote. At a refresh step the labels come from F_r's EMA when there is one (the net the checkpoint holds)."""
        loss = self.config.loss
        folder = self.run_dir / PSEUDO_LABELS_DIR
        labels_step = loss.labels_step(step)
        if resuming and labels_step != step and not (folder / PSEUDO_LABELS_FILE).is_file():
            raise JRGRError(f"cannot resume '{self.path}' with loss.weights.mse_fr_pl > 0: its pseudo-labels "
                            f"'{folder}' are missing (they come from the net of step {labels_step}); start anew")
        f_r = self.ema.module if self.ema is not None and labels_step > 0 else nets.f_r
        multiple = size_multiple(self.config, "f_r")
        label_net = loss.pl_label_net if labels_step == 0 else ""  # another net than the one trained: first labels
        if label_net:
            if not Path(loss.pl_label_net).is_file():
                raise JRGRError(f"loss.pl_label_net '{loss.pl_label_net}' does not exist: pass the checkpoint whose "
                                f"F_r makes the first pseudo-labels")
            f_r, multiple = load_removal_net(load_checkpoint(loss.pl_label_net), self.ctx.device)
        args = (sources, f_r, loss, folder, multiple, self.ctx.device, labels_step)
        if self.ctx.is_main:
            removal = {"dark_channel": "dark-channel", "row_dark_channel": "row-by-row dark-channel",
                       "moments": "population-moment"}[loss.pl_veil_removal]
            veil = f"{loss.pl_veil_strength:.2f} of the {removal} veil removed"
            if loss.pl_veil_sky_tolerance:
                veil += f" (sky tolerance {loss.pl_veil_sky_tolerance:g} grey levels)"
            labeller = f"F_r of {label_net}" if label_net else f"F_r of step {labels_step}"
            if loss.pl_veil_only:
                made = (labeller if labels_step else f"the rainy image's {veil}, no net")
            elif loss.pl_veil_first:
                made = f"the rainy image's {veil}, then {labeller}"
            else:
                made = f"{labeller}, then {veil}"
            if loss.pl_refresh_detail_px and labels_step:
                made += f" (its detail above a {loss.pl_refresh_detail_px:g} px blur; the step-0 labels' blur kept)"
            if loss.pl_streak_reference:
                passes = loss.pl_streak_reference_passes
                made += f", minus the streaks that {loss.pl_streak_reference} removes" + \
                    (f" in {passes} passes" if passes != 1 else "")
                if loss.carving_changed:
                    made += f" ({loss.pl_streak_carving} carving, {loss.pl_streak_gain:g}x)"
                if loss.pl_streak_keep:
                    made += f", except images named {loss.pl_streak_keep}"
            make_pseudo_labels(*args, made=made)
        barrier(self.ctx)
        return make_pseudo_labels(*args)  # the folder is complete now: this only lists it

    def _starting_f_r(self) -> nn.Module:
        """A frozen copy of the F_r stage 2 starts from (``loss.weights.mse_fr_keep``), read again from where it
        came from (``train.init_from`` or the stage-1 checkpoint), so that a resumed run holds F_r to the same net."""
        nets = JRGRNets(self.config)
        pretrained = self._init_from(nets) if self.train_cfg.init_from else self._load_stage1(nets)
        if not pretrained:
            raise JRGRError("loss.weights.mse_fr_keep holds F_r to the net stage 2 starts from: it needs "
                            "train.init_from or a finished stage 1, not removal nets from scratch")
        return nets.f_r.to(self.ctx.device)

    def _init_from(self, nets: JRGRNets) -> bool:
        """Every net `train.init_from` holds starts from its weights (shapes checked per net); True when both
        removal nets did (they then count as pre-trained)."""
        checkpoint = load_checkpoint(self.train_cfg.init_from)
        loaded = []
        saved = _gains_rows(checkpoint.config, self.config)
        for name, net in nets.named_nets().items():
            if name not in checkpoint.net_names:
                continue
            section = _model_section(name)
            if _section_of(saved, section) != _section_of(self.config, section):
                raise JRGRError(f"train.init_from '{checkpoint.path}': net {name} was trained with another "
                                f"model.{section} than this run's")
            load_weights_into(checkpoint, name, net)
            loaded.append(name)
        if self.ctx.is_main:
            logger.info("stage 2 starts from %s (%s, step %d): %s", checkpoint.path, checkpoint.stage,
                        checkpoint.step, ", ".join(loaded) or "no net")
        return "f_s" in loaded and "f_r" in loaded

    def _load_stage1(self, nets: JRGRNets) -> bool:
        path = self.run_dir / STAGE1_FILE
        if not path.exists():
            if self.ctx.is_main:
                logger.warning("no %s: F_s and F_r start from scratch (lr ratios not applied)", path)
            return False
        checkpoint = load_checkpoint(path)
        _check_same_model(checkpoint.config, self.config, path, removal_only=True)
        total = checkpoint.step
        if checkpoint.has_train_state:
            info = load_train_state(path).info
            if info["step"] < info["total_steps"]:
                raise JRGRError(
                    f"stage 1 in '{path}' stopped at step {info['step']} of {info['total_steps']}: finish it with "
                    "--stage 1 --resume before joint training"
                )
        load_weights_into(checkpoint, "f_s", nets.f_s)
        load_weights_into(checkpoint, "f_r", nets.f_r)
        if self.ctx.is_main:
            logger.info("F_s and F_r start from %s (stage 1, step %d)", path, total)
        return True

    def _save(self, nets: JRGRNets, opt_g, opt_d, pools: dict[str, ImagePool], step: int, total: int) -> None:
        self._check_finite(step)
        if self.ctx.is_main:
            g_tensors, g_info = _optimizer_to_state(opt_g, "opt_g")
            d_tensors, d_info = _optimizer_to_state(opt_d, "opt_d")
            rng_tensors, rng_info = _rng_state()
            pool_tensors: dict[str, torch.Tensor] = {}
            for name, pool in pools.items():
                pool_tensors.update(pool.state_tensors(f"pool.{name}"))
            saved_nets = nets.named_nets()
            raw_tensors: dict[str, torch.Tensor] = {}
            if self.objective.moments is not None:  # running means of the moment-matching term
                raw_tensors.update(_prefixed("moments.", self.objective.moments.state_dict()))
            if self.ema is not None:
                saved_nets["f_r"] = self.ema.module
                raw_tensors.update(_prefixed("raw_f_r.", nets.f_r.state_dict()))
            if self.anchor is not None and self.anchor.start is not None:
                raw_tensors.update(_prefixed(ANCHOR_PREFIX, self.anchor.start))
            state = TrainState(
                {**g_tensors, **d_tensors, **rng_tensors, **pool_tensors, **raw_tensors},
                {"stage": self.stage, "step": step, "total_steps": total, "opt_g": g_info, "opt_d": d_info,
                 "rng": rng_info, "pretrained": self._pretrained, "world_size": self.ctx.world_size,
                 "ema_decay": self.train_cfg.ema_decay},
            )
            save_checkpoint(self.path, config=self.config, nets=saved_nets, stage=self.stage, step=step,
                            train_state=state)
        barrier(self.ctx)

    def _restore(self, nets: JRGRNets, opt_g, opt_d, pools: dict[str, ImagePool]) -> tuple[int, bool]:
        checkpoint = load_checkpoint(self.path)
        _check_same_model(checkpoint.config, self.config, self.path)
        for name, net in nets.named_nets().items():
            load_weights_into(checkpoint, name, net)
        state = _load_matching_state(checkpoint)
        info = state.info
        if self.ema is not None:
            self.ema.module.load_state_dict(nets.f_r.state_dict())  # the checkpoint's f_r is the average
            raw = _under(state.tensors, "raw_f_r.")
            if not raw:
                raise JRGRError(f"cannot resume '{self.path}' with train.ema_decay > 0: it was saved without an EMA")
            nets.f_r.load_state_dict(raw)
        if self.anchor is not None:
            start = _under(state.tensors, ANCHOR_PREFIX)
            if start:
                self.anchor.load(start, nets.f_r)
            elif int(info["step"]) >= self.train_cfg.f_r_anchor_step:
                raise JRGRError(f"cannot resume '{self.path}' with train.f_r_anchor > 0: it was saved at step "
                                f"{info['step']} without F_r's anchor weights (a run without the anchor)")
            # else: saved before the anchor step, which takes it when the run gets there
        _optimizer_from_state(opt_g, "opt_g", state.tensors, info["opt_g"])
        if self.objective.moments is not None:
            moments = _under(state.tensors, "moments.")
            if moments:
                self.objective.moments.load_state_dict(moments)
            else:
                logger.warning("resuming with loss.weights.mom_or > 0 from a state without its running means")
        _optimizer_from_state(opt_d, "opt_d", state.tensors, info["opt_d"])
        self._saved_rng = (state.tensors, info["rng"])
        if info.get("world_size", 1) == self.ctx.world_size:
            # History pools are per process (rank 0's were saved); another world size starts them empty.
            for name, pool in pools.items():
                pool.load_state_tensors(f"pool.{name}", state.tensors, self.ctx.device)
        elif self.ctx.is_main:
            logger.warning("resuming with %d processes instead of %d: history pools start empty",
                           self.ctx.world_size, info.get("world_size", 1))
        return int(info["step"]), bool(info["pretrained"])


class _ParameterEMA:
    """An exponential moving average of a module's parameters (buffers copied as they are)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.module = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for average, current in zip(self.module.parameters(), module.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - self.decay)
        for average, current in zip(self.module.buffers(), module.buffers(), strict=True):
            average.copy_(current)


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`tensors` keyed under `prefix` for the resume state (read back by `_under`)."""
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def _under(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The resume-state tensors saved under `prefix` (a net's raw weights, running means), keyed without it."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


class _WeightAnchor:
    """A net's anchor weights and the decoupled pull back towards them (``train.f_r_anchor``, L2-SP): after
    each optimiser step θ ← θ − lr · rate · (θ − θ_start), so that, unlike an L2 term in the loss, Adam's
    per-weight scaling does not weaken or strengthen the pull. `start` is None (no pull) until `take` copies
    the weights (at stage 2's start, or at ``train.f_r_anchor_step``)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start: dict[str, torch.Tensor] | None = None

    def take(self, module: nn.Module) -> None:
        self.start = {name: p.detach().clone() for name, p in module.named_parameters()}

    def load(self, start: dict[str, torch.Tensor], module: nn.Module) -> None:
        params = dict(module.named_parameters())
        if start.keys() != params.keys():
            raise JRGRError("the saved anchor weights of F_r do not match its parameters")
        self.start = {name: start[name].to(params[name]) for name in params}

    @torch.no_grad()
    def pull(self, module: nn.Module, lr: float) -> None:
        if self.start is None:
            return
        weight = min(1.0, lr * self.rate)
        for name, p in module.named_parameters():
            p.lerp_(self.start[name], weight)


def _load_matching_state(checkpoint) -> TrainState:
    """The resume state of `checkpoint`, from the same step as its weights. A version-2 file holds both, so
    they always match; a version-1 pair (two files renamed one after the other) may not."""
    path, step = checkpoint.path, checkpoint.step
    if not checkpoint.has_train_state:
        raise JRGRError(f"cannot resume: '{path}' holds no resume state (it was saved for inference only)")
    state = load_train_state(path)
    if int(state.info["step"]) != step:
        raise JRGRError(
            f"cannot resume: '{path}' holds step {step} but its resume state step {state.info['step']} (a "
            "version-1 run stopped while saving); restore a consistent pair or start a new --out"
        )
    return state


def _backward_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler) -> None:
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _check_crop_fits_discriminators(config: JRGRConfig) -> None:
    """A PatchGAN of n layers needs about 3 * 2**n pixels at its coarsest scale: say so before training starts."""
    d = config.model.discriminator
    need = 3 * 2**d.n_layers * 2 ** (d.scales - 1)
    if min(config.train.crop_hw) < need:
        train = config.train
        names = f"train.crop_size={train.crop_size}"
        names += f", train.crop_width={train.crop_width}" if train.crop_width else ""
        raise JRGRError(f"{names} gives crops of {train.crop_hw[0]}x{train.crop_hw[1]} (height x width), too small for "
                        f"the discriminators (n_layers={d.n_layers}, scales={d.scales}): need crops of at least {need} "
                        "pixels")


def _model_section(net_name: str) -> str:
    """The part of `ModelConfig` that shapes net `net_name`."""
    if net_name in ("f_s", "f_r"):
        return "removal"
    if net_name in ("g_s", "g_r"):
        return "generation"
    return "discriminator"


def _section_of(config: JRGRConfig, section: str) -> Any:
    model = config.model
    if section == "generation":  # G_r's shape also depends on the rain form and its veil net
        return (model.generation, model.rain_form, model.veil)
    return getattr(model, section)


def _gains_rows(saved: JRGRConfig, current: JRGRConfig) -> JRGRConfig:
    """`saved` as `current` builds its removal nets when only ``model.removal.row_coord`` and/or ``row_context``
    are new in `current`: a net saved without them starts one with them (`jrgr_deploy.checkpoint.load_weights_into`)."""
    gained = {option: True for option in ROW_INPUTS
              if getattr(current.model.removal, option) and not getattr(saved.model.removal, option)}
    if not gained:
        return saved
    logger.info("the removal nets gain %s: the weights they add start at zero",
                " and ".join(f"model.removal.{option}" for option in gained))
    removal = replace(saved.model.removal, **gained)
    return replace(saved, model=replace(saved.model, removal=removal))


def _check_same_model(saved: JRGRConfig, current: JRGRConfig, path: Path, removal_only: bool = False) -> None:
    """Resuming with other network shapes cannot work: name the section that differs."""
    if removal_only:
        if _gains_rows(saved, current).model.removal != current.model.removal:
            raise JRGRError(
                f"'{path}' was trained with model.removal={saved.model.removal}, this run uses "
                f"{current.model.removal}"
            )
        return
    if saved.model != current.model:
        raise JRGRError(f"'{path}' was trained with another model config ({saved.model}) than this run's")
