"""Two CPU processes under torchrun (gloo): replicas stay identical, and the result matches one process
with the same global batch.

Equivalence needs per-sample arithmetic only: instance norm (no cross-sample BatchNorm statistics) and
no history pools (each process would keep its own), so that the mean gradient over 2 x 2 images equals
the one over 4 images."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from jrgr_deploy.checkpoint import load_checkpoint
from jrgr_deploy.training.run_log import read_log

OVERRIDES = [
    "model.removal.base_channels=4", "model.removal.max_channels=16", "model.removal.depth=2",
    "model.removal.convs_per_level=0", "model.removal.norm=instance", "model.generation.base_channels=4",
    "model.generation.max_channels=16", "model.generation.depth=2", "model.generation.convs_per_level=0",
    "model.generation.norm=instance", "model.discriminator.base_channels=4", "model.discriminator.n_layers=2",
    "model.discriminator.norm=instance", "loss.pool_size=0", "train.crop_size=32", "train.batch_size=4",
    "train.stage2_iters=3", "train.log_every=1", "train.image_every=0", "train.device=cpu", "train.lr=1e-3",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from jrgr_deploy.data_synth import synthesize_dataset

    root = tmp_path_factory.mktemp("ds")
    synthesize_dataset(root, n_synthetic=8, n_real=8, n_test=2, n_val=2, size=40, workers=1, progress=False,
                       preview=False, force=True)
    return root


def _args(dataset, out) -> list[str]:
    args = ["--config", "tiny", "--data", str(dataset), "--out", str(out), "--stage", "2", "--no-progress"]
    for item in OVERRIDES:
        args += ["--set", item]
    return args


def _weights(path) -> dict[str, torch.Tensor]:
    checkpoint = load_checkpoint(path)
    return {f"{net}.{k}": v for net, sd in checkpoint.state_dicts.items() for k, v in sd.items()}


def test_two_process_ddp_matches_single_process(dataset, tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "jrgr_deploy.training", *_args(dataset, ddp_out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    checks = [r for r in read_log(ddp_out / "log.jsonl") if r.get("event") == "replica_check"]
    assert checks and all(len(r["checksums"]) == 2 and r["identical"] for r in checks)
    # only rank 0 writes: one loss record per step, not two
    assert [r["step"] for r in read_log(ddp_out / "log.jsonl") if "g_total" in r] == [1, 2, 3]

    from jrgr_deploy.training.__main__ import main

    assert main(_args(dataset, single_out)) == 0
    ddp, single = _weights(ddp_out / "stage2.safetensors"), _weights(single_out / "stage2.safetensors")
    init = _weights_at_init(dataset, tmp_path)
    moved = max((single[k] - init[k]).abs().max().item() for k in single)
    worst = max((ddp[k] - single[k]).abs().max().item() for k in single)
    assert moved > 1e-3  # three Adam steps at lr 1e-3 do move the weights...
    assert worst < 1e-5 + 1e-2 * moved, (worst, moved)  # ...and both runs moved them the same way


def _weights_at_init(dataset, tmp_path) -> dict[str, torch.Tensor]:
    from jrgr_deploy.training.__main__ import main

    out = tmp_path / "init"
    assert main([*_args(dataset, out), "--set", "train.lr=0.0"]) == 0
    return _weights(out / "stage2.safetensors")
