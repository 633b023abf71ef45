"""Fault injection (`pytest -m faults`): kill -9 at random moments of checkpoint saves and of training, then
resume; corrupted bytes; a camera URL's credentials in any output; an output that is the input. Real processes,
real signals, real files, a real HTTP camera on 127.0.0.1.

Every test here runs in the default `make test` (and so in CI) except the training run killed again and again,
which is also marked slow (`pytest -m "faults and slow"` or `pytest -m faults -o addopts=""`: every one).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runtime_fixtures import export_fixture_net, index_frame, read_video, write_video

from jrgr_deploy.app.cli import main
from jrgr_deploy.image_files import write_bgr

pytestmark = pytest.mark.faults

JRGR = [sys.executable, "-m", "jrgr_deploy"]
CHILDREN = Path(__file__).with_name("fault_children.py")
SEED = int(os.environ.get("JRGR_FAULT_SEED", "12"))


@pytest.fixture(scope="module")
def fork_server():
    """Processes forked from a server that imported torch and the trainer once (each start costs milliseconds,
    not the seconds of a fresh interpreter)."""
    pytest.importorskip("torch")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "jrgr_deploy.checkpoint", "jrgr_deploy.training.trainer",
                                    "fault_children"])
    return context


def _kill_after(
    context, target, args: tuple, delay_s: float, timeout_s: float = 300.0, inside: Path | None = None,  # noqa: ANN001
) -> bool:
    """Start `target(*args, ready)`, SIGKILL it `delay_s` after it says it is ready; False if it ended first.
    `inside`: then wait until a save's temporary file appears in that folder and kill `delay_s` after that, so
    that the kill lands at a random moment of a save however fast or slow the machine is."""
    ready = context.Event()
    process = context.Process(target=target, args=(*args, ready), daemon=True)
    process.start()
    assert ready.wait(timeout_s), "the child never got ready"
    if inside is not None:
        from jrgr_deploy.output_files import PARTIAL_MARK

        deadline = time.monotonic() + timeout_s
        while not any(PARTIAL_MARK in p.name for p in inside.iterdir()):
            assert time.monotonic() < deadline and process.is_alive(), "no save began"
            time.sleep(0.0005)
    time.sleep(delay_s)
    alive = process.is_alive()
    process.kill()  # SIGKILL: no handler, no clean-up, no flush
    process.join(timeout_s)
    return alive


# ---- checkpoints: kill -9 during saves, resume each time -------------------------------------------------------


def test_kill_9_at_random_moments_of_checkpoint_saves_always_leaves_a_consistent_checkpoint(
    fork_server, tmp_path: Path
) -> None:
    """24 times or more: a writer saving checkpoints back to back is killed at a random moment of a save (0-3 ms after
    a save's temporary file appears, after its first complete save); the file under the final name is then always
    one complete save (weights and resume state of the same step), the step never goes back, and the next writer
    resumes from it."""
    import fault_children

    from jrgr_deploy.checkpoint import load_checkpoint, load_train_state, remove_stale_partials_of
    from jrgr_deploy.output_files import PARTIAL_MARK

    rng = random.Random(SEED)
    path = tmp_path / "run" / "stage2.safetensors"
    path.parent.mkdir()
    step, mid_save, kills = 0, 0, 0
    # at least 24 kills and at least 12 of them inside a save (how many land there depends on the disk's speed: a
    # save's temporary file lives a few ms), at most 96 kills
    while kills < 24 or (mid_save < 12 and kills < 96):
        kills += 1
        assert _kill_after(fork_server, fault_children.save_forever, (str(path), step), rng.uniform(0.0, 0.003),
                           inside=path.parent)
        mid_save += any(PARTIAL_MARK in p.name for p in path.parent.iterdir())  # killed inside a save
        remove_stale_partials_of([path])  # what the trainer does on its next start
        assert [p.name for p in path.parent.iterdir()] == ["stage2.safetensors"]
        checkpoint = load_checkpoint(path)  # checksums verified
        state = load_train_state(path)
        assert state.info["step"] == checkpoint.step == int(state.tensors["marker"][0])
        marked = [v for v in checkpoint.state_dicts["f_r"].values() if bool((v == checkpoint.step).all())]
        assert marked, "weights and state of different saves"  # the writer set one f_r weight to its step
        assert checkpoint.step >= step
        step = checkpoint.step  # resume from what was saved
    assert step >= 24  # every writer saved at least once before its kill
    assert mid_save >= 12, f"only {mid_save} of {kills} kills landed inside a save"


@pytest.mark.slow
def test_training_killed_9_at_random_moments_resumes_bit_exactly(fork_server, tmp_path: Path) -> None:
    """Stage 1 and stage 2 checkpoint every step and are killed at random moments again and again; resuming
    each time ends with exactly the weights of an uninterrupted run, and log.jsonl holds each step once."""
    import fault_children
    import torch
    from test_training import small_config

    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.data_synth import synthesize_dataset
    from jrgr_deploy.training.run_log import read_log
    from jrgr_deploy.training.trainer import train

    data = tmp_path / "data"
    synthesize_dataset(data, n_synthetic=8, n_real=8, n_test=2, n_val=2, size=48, workers=1, progress=False,
                       preview=False, force=True)
    config = small_config(data, "train.stage1_iters=12", "train.stage2_iters=12", "train.checkpoint_every=1",
                          "train.log_every=1")
    straight = tmp_path / "straight"
    torch.set_num_threads(1)
    train(config, straight, progress=False)
    rng = random.Random(SEED + 1)
    pieces = tmp_path / "pieces"
    kills = 0
    for _ in range(40):
        if _kill_after(fork_server, fault_children.train_forever, (config.to_json(), str(pieces)),
                       rng.uniform(0.0, 1.5)):
            kills += 1
        if kills >= 8:
            break
    assert kills >= 8
    train(config, pieces, resume=True, progress=False)
    a, b = load_checkpoint(straight / "stage2.safetensors"), load_checkpoint(pieces / "stage2.safetensors")
    for name in a.net_names:
        for key, value in a.state_dicts[name].items():
            assert torch.equal(value, b.state_dicts[name][key]), f"{name}.{key}"
    steps = [(r["stage"], r["step"]) for r in read_log(pieces / "log.jsonl") if "mse" in r or "g_total" in r]
    assert steps == [(s, k) for s in ("stage1", "stage2") for k in range(1, 13)]
    assert not [p for p in pieces.iterdir() if p.name.startswith(".")]


# ---- corrupted bytes -------------------------------------------------------------------------------------------


def _corrupt(path: Path, out: Path) -> Path:
    import struct

    data = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", data[:8])[0]
    middle = start + (len(data) - start) // 2
    data[middle:middle + 4096] = random.Random(SEED).randbytes(4096)
    out.write_bytes(bytes(data))
    return out


def test_corrupted_checkpoint_bytes_are_refused_by_every_command(tmp_path: Path, capsys) -> None:
    """4 KB of random bytes inside the weights: export, the torch backend of derain and eval stop with exit 2 and
    one line naming the file — never garbage frames (a resumed training: test_training_safety)."""
    pytest.importorskip("torch")
    from tiny_checkpoints import save_tiny_checkpoint

    good = save_tiny_checkpoint(tmp_path / "good.safetensors")
    bad = _corrupt(good, tmp_path / "bad.safetensors")
    video = write_video(tmp_path / "clip.avi", [index_frame(i, 48, 64) for i in range(3)])
    for kind in ("rainy", "clean"):
        write_bgr(tmp_path / kind / "a.png", index_frame(0, 48, 64))
    commands = [
        ["export", "--weights", str(bad), "--nets", "f_r", "--out", str(tmp_path / "exported")],
        ["derain", str(video), "--weights", str(bad), "--backend", "torch", "-o", str(tmp_path / "o.avi"),
         "--no-progress"],
        ["eval", "--weights", str(bad), "--net", "f_r", "--rainy", str(tmp_path / "rainy"), "--clean",
         str(tmp_path / "clean")],
    ]
    for command in commands:
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "is corrupt: the bytes of tensor" in err and "bad.safetensors" in err, (command, err)
        assert "Traceback" not in err
    assert not (tmp_path / "o.avi").exists() and not (tmp_path / "exported" / "f_r.onnx").exists()


# ---- credentials -----------------------------------------------------------------------------------------------


@pytest.fixture()
def camera(tmp_path: Path):
    """A local MJPEG camera at 10 fps behind basic authentication; yields (process, port)."""
    port_file = tmp_path / "port"
    process = subprocess.Popen([sys.executable, str(CHILDREN), "mjpeg", str(port_file), "alice", "s3cretPW"])
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        assert time.monotonic() < deadline and process.poll() is None, "the camera did not start"
        time.sleep(0.05)
    yield process, int(port_file.read_text())
    process.kill()
    process.wait()


def test_stream_credentials_are_never_written_anywhere(camera, tmp_path: Path) -> None:
    """http://alice:s3cretPW@127.0.0.1:PORT/s.mjpg, then the camera is killed: reconnect warnings, the final
    messages, the statistics and the outputs never hold the user name or the password."""
    server, port = camera
    f_r = export_fixture_net(tmp_path / "f_r.onnx")
    url = f"http://alice:s3cretPW@127.0.0.1:{port}/s.mjpg"
    out, frames, stats = tmp_path / "cam.avi", tmp_path / "frames", tmp_path / "stats.json"
    runs = []
    for output in (out, frames):
        process = subprocess.Popen(
            [*JRGR, "derain", url, "--weights", str(f_r), "-o", str(output), "--stats", str(stats)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        runs.append(process)
    deadline = time.monotonic() + 90
    while not (frames.is_dir() and len(list(frames.glob("*.png"))) >= 5):
        assert time.monotonic() < deadline and all(p.poll() is None for p in runs), "no frames came"
        time.sleep(0.1)
    server.kill()  # the camera dies: reconnect attempts, warnings, errors
    server.wait()
    time.sleep(3.0)
    outputs = []
    for process in runs:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        outputs.append(stdout + stderr)
    text = "\n".join(outputs)
    assert "reconnecting" in text and "http://***@127.0.0.1" in text  # the source is still named, redacted
    written = [stats, out, *frames.iterdir(), *tmp_path.iterdir()]
    for blob in [text.encode(), *(p.read_bytes() for p in written if p.is_file())]:
        assert b"s3cretPW" not in blob and b"alice" not in blob
    summary = json.loads(stats.read_text())
    assert summary["run"]["source"] == f"http://***@127.0.0.1:{port}/s.mjpg"
    assert summary["outages"] >= 1 and summary["outage_s"] > 0


# ---- output == input, killed writers ---------------------------------------------------------------------------


def test_an_output_onto_the_input_is_refused_and_the_input_untouched(tmp_path: Path, capsys) -> None:
    f_r = export_fixture_net(tmp_path / "f_r.onnx")
    video = write_video(tmp_path / "x.mp4", [index_frame(i) for i in range(12)])
    folder = tmp_path / "frames"
    for i in range(3):
        write_bgr(folder / f"f{i}.png", index_frame(i))
    (tmp_path / "link.mp4").symlink_to(video)
    os.link(video, tmp_path / "hard.mp4")
    before = {p: p.read_bytes() for p in [video, *folder.iterdir(), f_r]}
    cases = [
        ([str(video), "-o", str(video)], "is the input"),
        ([str(video), "-o", str(tmp_path / "link.mp4")], "is the input"),
        ([str(video), "-o", str(tmp_path / "hard.mp4")], "is the input"),
        ([str(folder), "-o", str(folder)], "is the input"),
        ([str(folder), "-o", str(folder / "derained")], "lies inside the input folder"),
        ([str(folder), "-o", str(folder / "out.mp4")], "lies inside the input folder"),
        ([str(folder / "f*.png"), "-o", str(folder)], "would overwrite it"),
        ([str(video), "-o", "null", "--stats", str(video)], "is the input"),
        ([str(video), "-o", str(tmp_path / "o.mp4"), "--stats", str(tmp_path / "o.mp4")], "is the input"),
        ([str(video), "-o", "null", "--stats", str(f_r)], "is the input"),
    ]
    for arguments, message in cases:
        assert main(["derain", *arguments, "--weights", str(f_r), "--no-progress"]) == 2, arguments
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (arguments, err)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in folder.iterdir()) == ["f0.png", "f1.png", "f2.png"]


def test_a_killed_derain_leaves_no_half_written_file_under_the_final_name(tmp_path: Path) -> None:
    f_r = export_fixture_net(tmp_path / "f_r.onnx")
    video = write_video(tmp_path / "long.avi", [index_frame(i % 50) for i in range(300)], fps=10)
    out = tmp_path / "out.avi"
    process = subprocess.Popen([*JRGR, "derain", str(video), "--weights", str(f_r), "-o", str(out), "--live",
                                "--no-progress"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.partial-*.avi")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    process.kill()
    process.wait()
    assert not out.exists() and list(tmp_path.glob(".out.partial-*.avi"))
    short = write_video(tmp_path / "short.avi", [index_frame(i) for i in range(5)], fps=10)
    assert main(["derain", str(short), "--weights", str(f_r), "-o", str(out), "--no-progress"]) == 0
    assert len(read_video(out)) == 5 and not list(tmp_path.glob(".out.partial-*"))
