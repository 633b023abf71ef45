"""Training that loses nothing: a diverging loss stops the run and keeps the last good checkpoint, Ctrl-C /
SIGTERM checkpoint the step in hand, and log.jsonl is strict JSON with timestamps and no step twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

pytest.importorskip("torch")

from test_training import SMALL_NETS, dataset, small_config  # noqa: E402, F401 - the module's data-set fixture

from jrgr_deploy.app.cli import main  # noqa: E402
from jrgr_deploy.checkpoint import load_checkpoint  # noqa: E402
from jrgr_deploy.errors import JRGRError  # noqa: E402
from jrgr_deploy.training.run_log import read_log  # noqa: E402
from jrgr_deploy.training.trainer import TrainingDivergedError, train  # noqa: E402


def strict_records(path) -> list[dict]:
    """log.jsonl parsed as strict JSON (NaN / Infinity are not JSON: refused)."""
    def refuse(constant: str) -> None:
        raise ValueError(f"non-JSON constant {constant}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(dataset, tmp_path, capsys) -> None:  # noqa: F811
    # lr 1e38: the first Adam step pushes the weights to ~1e38 (finite, saved), the next forward overflows
    config = small_config(dataset, "train.stage1_iters=6", "train.checkpoint_every=1", "train.log_every=1",
                          "train.lr=1e38")
    with pytest.raises(TrainingDivergedError, match=r"stage1: the loss became NaN or inf between steps 1 and 2; "
                                                    r"training stopped and the last good checkpoint .* \(step 1\)"):
        train(config, tmp_path / "api", stages=("stage1",), progress=False)
    assert load_checkpoint(tmp_path / "api" / "stage1.safetensors").step == 1  # loads: finite, checksums agree
    # 4 KB of random bytes inside the weights: --resume refuses the file, naming it, instead of training on NaN
    good = tmp_path / "api" / "stage1.safetensors"
    data = bytearray(good.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    middle = start + (len(data) - start) // 2
    data[middle:middle + 4096] = os.urandom(4096)
    good.write_bytes(bytes(data))
    with pytest.raises(JRGRError, match=r"stage1\.safetensors' is corrupt: the bytes of tensor"):
        train(config, tmp_path / "api", stages=("stage1",), resume=True, progress=False)
    records = strict_records(tmp_path / "api" / "log.jsonl")
    assert records[-1]["step"] == 2 and records[-1]["mse"] is None  # NaN is written as null
    out = tmp_path / "cli"
    code = main(["train", "--config", "tiny", "--data", str(dataset), "--out", str(out), "--stage", "1",
                 "--no-progress", *sum((["--set", s] for s in SMALL_NETS), []),
                 "--set", "train.stage1_iters=6", "--set", "train.crop_size=32", "--set", "train.batch_size=2",
                 "--set", "train.device=cpu", "--set", "train.checkpoint_every=1", "--set", "train.lr=1e38"])
    assert code == 2
    err = capsys.readouterr().err
    assert "the loss became NaN or inf" in err and "last good checkpoint" in err and "Traceback" not in err
    assert load_checkpoint(out / "stage1.safetensors").step == 1


def test_log_is_strict_json_with_timestamps_and_no_step_twice_after_a_resume(dataset, tmp_path) -> None:  # noqa: F811
    config = small_config(dataset, "train.stage1_iters=6", "train.stage2_iters=4", "train.log_every=1",
                          "train.checkpoint_every=4")
    train(config, tmp_path, stages=("stage1",), progress=False)
    train(config, tmp_path, stages=("stage2",), max_steps=3, resume=True, progress=False)  # checkpointed at 3
    # a killed attempt logged stage-2 steps 4.. without reaching a checkpoint: append such lines by hand
    with open(tmp_path / "log.jsonl", "a") as handle:
        handle.write(json.dumps({"stage": "stage2", "step": 4, "g_total": 1.0}) + "\n")
        handle.write('{"stage": "stage2", "step": 5, "g_to')  # cut by the kill mid-line
    train(config, tmp_path, resume=True, progress=False)
    records = strict_records(tmp_path / "log.jsonl")
    steps = [(r["stage"], r["step"]) for r in records]
    assert steps == [("stage1", k) for k in range(1, 7)] + [("stage2", k) for k in range(1, 5)]
    for record in records:
        stamp = datetime.fromisoformat(record["time"])
        assert stamp.tzinfo is not None and abs(time.time() - stamp.timestamp()) < 3600


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finishes_the_step_checkpoints_and_resume_continues(dataset, tmp_path, signum, code) -> None:  # noqa: F811
    out = tmp_path / "run"
    command = [sys.executable, "-m", "jrgr_deploy", "train", "--config", "tiny", "--data", str(dataset), "--out",
               str(out), "--stage", "1", "--no-progress", *sum((["--set", s] for s in SMALL_NETS), []),
               "--set", "train.stage1_iters=100000", "--set", "train.crop_size=32", "--set", "train.batch_size=2",
               "--set", "train.device=cpu", "--set", "train.log_every=1", "--set", "train.checkpoint_every=100000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = out / "log.jsonl"
    deadline = time.monotonic() + 300
    while not (log.exists() and len(log.read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.1)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == code, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr and "--resume continues" in stderr
    checkpoint = load_checkpoint(out / "stage1.safetensors")  # no checkpoint was due: the signal saved this one
    logged = [r["step"] for r in read_log(log)]
    assert checkpoint.step == logged[-1] >= 3  # the step in hand was finished and is in the checkpoint
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    resumed = small_config(dataset, f"train.stage1_iters={checkpoint.step + 2}", "train.log_every=1")
    assert train(resumed, out, stages=("stage1",), resume=True, progress=False).stages[0].step == checkpoint.step + 2
