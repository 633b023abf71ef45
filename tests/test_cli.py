"""The `jrgr` entry points: help lists the sub-commands; importing the package stays cheap."""

import subprocess
import sys

from jrgr_deploy.app.cli import COMMAND_MODULES, main

EXPECTED = {"train", "adapt", "eval", "export", "derain", "rainify", "data", "bench", "info", "demo"}


def test_help_lists_subcommands(capsys):
    try:
        main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert len(COMMAND_MODULES) == len(EXPECTED)


def test_python_dash_m_and_cheap_import():
    code = (
        "import sys, jrgr_deploy, jrgr_deploy.app.cli;"
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'cv2', 'skimage') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    result = subprocess.run([sys.executable, "-m", "jrgr_deploy", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "jrgr-deploy" in result.stdout
