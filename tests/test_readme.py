"""The README's commands stay true: every `jrgr` line parses, the embedding example runs, the main job runs."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from jrgr_deploy.app.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _jrgr_lines() -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("jrgr "):
                lines.append(command)
            elif command.startswith("torchrun ") and "-m jrgr_deploy.training" in command:
                lines.append("jrgr train " + command.split("-m jrgr_deploy.training", 1)[1])
    return lines


def test_readme_has_the_two_setup_commands():
    setup = _blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in setup.strip().splitlines()] == ["make demo", "make test"]


@pytest.mark.parametrize("line", _jrgr_lines())
def test_every_jrgr_command_in_the_readme_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)


def test_readme_lists_every_command_family():
    commands = {shlex.split(line)[1] for line in _jrgr_lines()}
    assert {"train", "eval", "export", "derain", "rainify", "data", "bench", "info"} <= commands


def _write_video(path: Path, n_frames: int = 4, size=(96, 64)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def test_embedding_example_runs(tmp_path, monkeypatch):
    (example,) = _blocks("python")
    monkeypatch.chdir(tmp_path)
    _write_video(tmp_path / "rainy.mp4")
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["report"].stats["frames_out"] == 4
    assert (namespace["height"], namespace["width"]) == (64, 96)
    assert (tmp_path / "derained.mp4").stat().st_size > 0


def test_info_and_demo_run(tmp_path):
    info = subprocess.run([sys.executable, "-m", "jrgr_deploy", "info"], capture_output=True, text=True, check=True)
    assert "f_r.onnx" in info.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "jrgr_deploy", "demo", "--out", str(tmp_path / "demo"), "--frames", "4",
         "--size", "320x192"],
        capture_output=True, text=True,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "PSNR-Y over 4 frames" in demo.stdout and "capture->output" in demo.stdout
    for name in ("side_by_side.mp4", "frames.png", "stats.json", "demo.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
