"""Run logging: one JSON object per line in RUN_DIR/log.jsonl (every loss term, learning rates,
images/s), mirrored to TensorBoard when the `tensorboard` package is importable. Rank 0 only.

Every line is strict JSON (a NaN or inf value is written as null) with a ``time`` stamp (UTC, ISO 8601).
A resumed stage first drops the lines it logged after its checkpoint (`RunLog.rewind`), so no step appears
twice.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jrgr_deploy.output_files import write_text_atomic

logger = logging.getLogger(__name__)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def log_line(record: dict[str, Any]) -> str:
    """`record` as one strict-JSON line: non-finite floats become null, a ``time`` stamp is added."""
    stamped = {**record, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
    return json.dumps(_finite_or_none(stamped), allow_nan=False) + "\n"


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "log.jsonl"
        self._writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.debug("tensorboard not installed: logging to %s only", self.path)
            else:
                self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """Append `record` (must hold ``stage`` and ``step``) as one JSON line."""
        if not self.enabled:
            return
        with open(self.path, "a") as handle:
            handle.write(log_line(record))
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key not in ("step", "epoch"):
                    self._writer.add_scalar(f"{record['stage']}/{key}", value, record["step"])

    def rewind(self, stages: tuple[str, ...], step: int) -> int:
        """Drop the lines of `stages` logged after `step` (a resumed stage restarts there and logs them again);
        the file is rewritten atomically. Returns how many lines were dropped."""
        if not self.enabled or not self.path.is_file():
            return 0
        kept, dropped = [], 0
        for line in self.path.read_text().splitlines(keepends=True):
            try:
                record = json.loads(line)
            except ValueError:  # a line cut by a kill mid-write: drop it
                dropped += 1
                continue
            if record.get("stage") in stages and int(record.get("step", 0)) > step:
                dropped += 1
            else:
                kept.append(line if line.endswith("\n") else line + "\n")
        if dropped:
            write_text_atomic(self.path, "".join(kept))
            logger.info("log.jsonl: dropped %d line(s) of %s after step %d (resumed there)", dropped,
                        "/".join(stages), step)
        return dropped

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a log.jsonl (for tests and reports)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
