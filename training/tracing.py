"""Training traced on a validation set: slices of training, a snapshot and a val score after each.

Used by the quality benchmark and by `jrgr adapt`. Each slice is a resumed call of `train` (bit-exact: the
trainer's resume restores weights, optimiser moments, pools and the data order), so a traced run equals an
uninterrupted one, and an interrupted trace continues where it stopped: snapshots and scores are kept in
``RUN_DIR/snapshots/`` and ``RUN_DIR/val_trajectory.json``. A snapshot holds the nets only, not the resume state
(that is in the run's own checkpoint): it is scored, selected and exported, never resumed from.

Selection rule (the same for every row of a benchmark): the traced step with the best val PSNR-Y, never
step 0 (the starting net); `select_not_worse` also falls back to the start when no step beats it;
`select_within_guard` does the same among the steps that a second set (a guard) scores within a margin of the start.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError

logger = logging.getLogger(__name__)

METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
TRACE_FILE = "val_trajectory.json"


def snapshot_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "snapshots" / f"step{step:06d}.safetensors"


def score_checkpoint(weights: Path, pairs: Sequence[tuple[Path, Path]], net: str = "f_r") -> dict[str, float]:
    """Mean scores of a checkpoint's removal net on (rainy, clean) pairs (a stage-1 file holds one net as both
    f_s and f_r)."""
    from jrgr_deploy.training.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(weights, net, pairs)
    return {m: round(float(report[m]), 4) for m in METRICS}


def read_trace(run_dir: Path, file_name: str = TRACE_FILE) -> list[dict[str, Any]]:
    path = Path(run_dir) / file_name
    return json.loads(path.read_text()) if path.is_file() else []


Scorer = Callable[[Path, Sequence[tuple[Path, Path]]], dict[str, Any]]  # (weights, pairs) -> a point's scores


def _add_score(run_dir: Path, file_name: str, scores: list[dict[str, Any]], step: int, weights: Path,
               pairs: Sequence[tuple[Path, Path]], scorer: Scorer = score_checkpoint) -> dict[str, Any]:
    """Score `weights` on `pairs` as `step` (with `scorer`), add it to `scores` (kept sorted by step) and write
    them to ``RUN_DIR/file_name``; returns the new point."""
    from jrgr_deploy.output_files import write_text_atomic

    point = {"step": step, **scorer(weights, pairs)}
    scores.append(point)
    scores.sort(key=lambda p: p["step"])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / file_name, json.dumps(scores, indent=1) + "\n")
    return point


def train_traced(
    config: JRGRConfig,
    run_dir: str | Path,
    stage: str,
    val_pairs: Sequence[tuple[Path, Path]],
    marks: Sequence[int],
    start_weights: Path,
    on_slice: Callable[[int, float], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train `stage` ("stage1" or "stage2") of `config` in `run_dir` up to each step of `marks`, snapshotting
    and scoring F_r on `val_pairs` after each; `start_weights` is scored as step 0. Returns the trace
    (``[{"step", "psnr_y", ...}]`` sorted by step). `on_slice(step, seconds)` is called after each slice."""
    from jrgr_deploy.checkpoint import load_checkpoint, save_weights_only
    from jrgr_deploy.training.trainer import STAGE1_FILE, STAGE2_FILE, train

    run_dir = Path(run_dir)
    file_name = STAGE1_FILE if stage == "stage1" else STAGE2_FILE
    trace = read_trace(run_dir)

    def record(step: int, weights: Path) -> None:
        if any(point["step"] == step for point in trace):
            return
        point = _add_score(run_dir, TRACE_FILE, trace, step, weights, val_pairs)
        logger.info("%s: val PSNR-Y %.2f dB at step %d", run_dir.name, point["psnr_y"], step)

    record(0, start_weights)
    for mark in sorted(set(marks)):
        current = run_dir / file_name
        done = load_checkpoint(current).step if current.is_file() else 0
        if done < mark:
            began = time.perf_counter()
            result = train(config, run_dir, stages=(stage,), resume=True, max_steps=mark - done, progress=progress)
            done = result.stages[0].step
            if on_slice is not None:
                on_slice(mark, time.perf_counter() - began)
        snapshot = snapshot_path(run_dir, mark)
        if not snapshot.is_file():
            if done != mark:  # a run traced at other steps: its net at `mark` is gone, do not file another one as it
                raise JRGRError(f"'{run_dir}' holds a run at step {done} without a snapshot at step {mark}: it was "
                                "traced at other steps (another schedule); use a new folder")
            # the nets only (a stage-2 state is ~25x their bytes: 190 MB a snapshot at 640x360 crops); written
            # atomically: a kill mid-write must not leave a snapshot that is skipped forever
            save_weights_only(current, snapshot)
        record(mark, snapshot)
    return trace


def even_marks(total: int, points: int) -> list[int]:
    """`points` steps spread evenly over 1..total, ending at total."""
    return sorted({max(1, round(total * (k + 1) / points)) for k in range(points)})


def halving_marks(total: int, points: int) -> list[int]:
    """`points` steps ending at total, each half the next (total / 2**k): dense early, for a run whose useful
    stretch may be its first steps."""
    return sorted({max(1, round(total / 2**k)) for k in range(points)})


def val_selected_step(trace: Sequence[dict[str, Any]]) -> int:
    """The traced step whose F_r scored best on val (PSNR-Y); step 0 (the starting net) is not a candidate."""
    return max((p for p in trace if p["step"] > 0), key=lambda p: p["psnr_y"])["step"]


def select_not_worse(trace: Sequence[dict[str, Any]]) -> int:
    """The val-selected step, or 0 (keep the starting net) when no traced step beats the start on val."""
    start = next((p["psnr_y"] for p in trace if p["step"] == 0), float("-inf"))
    best = val_selected_step(trace)
    return best if next(p["psnr_y"] for p in trace if p["step"] == best) > start else 0


def score_steps(run_dir: Path, steps: Sequence[int], start_weights: Path, pairs: Sequence[tuple[Path, Path]],
                file_name: str, scorer: Scorer = score_checkpoint) -> list[dict[str, Any]]:
    """F_r of the snapshots of `train_traced` at `steps` (step 0: `start_weights`) scored on another set of pairs
    (by `scorer`: the usual metrics unless told otherwise), kept in ``RUN_DIR/file_name`` (a resumed call scores
    only what is missing); sorted by step."""
    run_dir = Path(run_dir)
    scores = read_trace(run_dir, file_name)
    for step in sorted(set(steps) - {p["step"] for p in scores}):
        _add_score(run_dir, file_name, scores, step, start_weights if step == 0 else snapshot_path(run_dir, step),
                   pairs, scorer)
    return scores


def steps_within_guard(trace: Sequence[dict[str, Any]], guard: Sequence[dict[str, Any]], max_drop_db: float
                       ) -> list[int]:
    """The traced steps whose PSNR-Y on the guard set is at most `max_drop_db` below the start's (step 0 of
    `guard`), step 0 always among them."""
    guard_at = {p["step"]: p["psnr_y"] for p in guard}
    floor = guard_at[0] - max_drop_db
    return [p["step"] for p in trace if p["step"] == 0 or guard_at.get(p["step"], float("-inf")) >= floor]


def select_within_guard(trace: Sequence[dict[str, Any]], guard: Sequence[dict[str, Any]], max_drop_db: float) -> int:
    """`select_not_worse` among the steps whose PSNR-Y on the guard set is at most `max_drop_db` below the start's
    (step 0 of `guard`); 0 when no step is within the guard."""
    allowed_steps = set(steps_within_guard(trace, guard, max_drop_db))
    allowed = [p for p in trace if p["step"] in allowed_steps]
    return select_not_worse(allowed) if len(allowed) > 1 else 0
