"""`jrgr derain` with several cameras end to end: NAME=SOURCE and --cameras files, per-camera outputs and
statistics, the operator view of a running process (token, SIGTERM), and the clear messages for bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from runtime_fixtures import MjpegCamera, decode_index, export_fixture_net, index_frame, read_video, write_video

from jrgr_deploy.app.cli import main

JRGR = [sys.executable, "-m", "jrgr_deploy"]
TOKEN = "cli-token-0123456789"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cams")
    export_fixture_net(folder / "f_r.onnx")
    write_video(folder / "a.mp4", [index_frame(i) for i in range(16)], fps=20)
    write_video(folder / "b.mp4", [index_frame(i, 48, 96) for i in range(10)], fps=20)
    write_video(folder / "long.mp4", [index_frame(i % 200) for i in range(400)], fps=20)
    return folder


def derain(work: Path, *args: str) -> int:
    return main(["derain", *args, "--weights", str(work / "f_r.onnx"), "--no-progress"])


def test_named_cameras_to_a_folder_with_stats(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats_path = tmp_path / "cams.json"
    code = derain(work, f"front={work / 'a.mp4'}", str(work / "b.mp4"), "-o", str(tmp_path / "out"),
                  "--stats", str(stats_path), "--side-by-side")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    front = read_video(tmp_path / "out" / "front.mp4")
    assert [decode_index(f) for f in front] == list(range(16)) and front[0].shape == (90, 300, 3)
    assert len(read_video(tmp_path / "out" / "b.mp4")) == 10
    stats = json.loads(stats_path.read_text())
    assert stats["streams"].keys() == {"front", "b"} and stats["total"]["frames_out"] == 26
    for name, frames in (("front", 16), ("b", 10)):
        stream = stats["streams"][name]
        assert stream["frames_out"] == frames and stream["run"]["camera"] == name
        assert {"p50", "p95", "p99"} <= stream["capture_to_output_ms"].keys() and "outage_s" in stream
    assert "front" in err and "total" in err and "frames per call" in err


def test_camera_file_with_a_template_output(work: Path, tmp_path: Path) -> None:
    cams = tmp_path / "cams.yaml"
    cams.write_text(f"cameras:\n  - name: left\n    source: {work / 'a.mp4'}\n  - right={work / 'b.mp4'}\n")
    assert derain(work, "--cameras", str(cams), "-o", str(tmp_path / "{name}.avi")) == 0
    assert len(read_video(tmp_path / "left.avi")) == 16 and len(read_video(tmp_path / "right.avi")) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x=a.mp4", "x=b.mp4"], r"duplicate camera name 'x': cameras 1 and 2"),
        (["a.mp4", "a.mp4"], r"duplicate camera name 'a'.*label it"),
        (["a.mp4", "nowhere.mp4"], r"source 'nowhere.mp4' does not exist"),
        (["a.mp4", "b.mp4", "-o", "one.mp4"], r"--output 'one.mp4' is one file, but there are 2 cameras"),
        (["a.mp4", "b.mp4", "--serve", "0.0.0.0:0"], r"would let anyone on the network watch the cameras"),
        (["a.mp4", "--token", TOKEN], r"--token / --token-file protect the operator view"),
        (["a.mp4", "b.mp4", "--show"], r"--show shows one camera, not 2: use --serve"),
        (["--cameras", "missing.yaml"], r"camera file 'missing.yaml' does not exist"),
        ([], r"no source: give a SOURCE"),
        (["gone=http://admin:hunter2@127.0.0.1:9/x.mjpg"], r"camera 'gone': stream 'http://\*\*\*@127.0.0.1:9/x"),
    ],
)
def test_bad_input_is_one_clear_line(work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     args: list[str], message: str) -> None:  # fmt: skip
    import re

    monkeypatch.chdir(work)
    assert derain(work, *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err and "hunter2" not in err


def test_port_in_use(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert derain(work, str(work / "a.mp4"), "--serve", f"127.0.0.1:{port}") == 2
    assert f"--serve 127.0.0.1:{port}: the port is in use" in capsys.readouterr().err


def test_a_camera_that_never_connects_while_a_file_runs(work: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    unplugged = MjpegCamera().start()
    url = unplugged.url.replace("127.0.0.1", "admin:hunter2@127.0.0.1")
    unplugged.kill()
    code = derain(work, f"gone={url}", f"file={work / 'a.mp4'}", "-o", str(tmp_path / "out"), "--reconnect-timeout",
                  "1")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(read_video(tmp_path / "out" / "file.mp4")) == 16  # the other camera ran to its end
    assert "camera 'gone' failed: connect: never connected" in err and "hunter2" not in err


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_serving_process_with_a_token_stops_cleanly_on_sigterm(work: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stats_path = tmp_path / "stats.json"
    process = subprocess.Popen(
        [*JRGR, "derain", f"north={work / 'long.mp4'}", f"south={work / 'long.mp4'}", "--live", "--weights",
         str(work / "f_r.onnx"), "-o", str(tmp_path / "out"), "--serve", f"127.0.0.1:{port}", "--token-file",
         str(token_file), "--stats", str(stats_path), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            try:
                code, body = _get(base + "api/stats", TOKEN)
            except OSError:
                time.sleep(0.2)
                continue
            status = json.loads(body)
            if code == 200 and all(c["frames_out"] >= 3 for c in status["cameras"]):
                break
            time.sleep(0.2)
        assert status is not None and [c["state"] for c in status["cameras"]] == ["live", "live"], status
        assert _get(base + "api/stats")[0] == 401 and _get(base, "wrong-token-000")[0] == 401
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err[-3000:]  # 128 + SIGTERM, as a shell reports it
    assert f"operator view at http://127.0.0.1:{port}/ (token required)" in err
    assert TOKEN not in err + out
    stats = json.loads(stats_path.read_text())
    assert stats["run"]["interrupted"] and stats["streams"]["north"]["run"]["end_reason"] == "interrupted"
    written = read_video(tmp_path / "out" / "north.mp4")  # finalised and playable after SIGTERM
    north = stats["streams"]["north"]
    assert len(written) == north["frames_out"] + north["frames_duplicated"] and north["frames_out"] > 0
