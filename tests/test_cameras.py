"""The camera list of a multi-camera run: NAME=SOURCE labels, names made from sources, YAML/JSON files,
per-camera outputs, and the clear errors for duplicates and bad entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.cameras import (
    CameraSpec,
    camera_outputs,
    camera_specs,
    default_name,
    load_camera_file,
    parse_camera_arg,
)


def test_labels_and_names_made_from_sources(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    specs = camera_specs(["front=drive.mp4", "0", "rtsp://admin:hunter2@192.0.2.10:554/ch1?x=1", "yard.avi",
                          str(tmp_path / "frames"), "rear=rtsp://u:p@cam/s?a=b"])  # fmt: skip
    assert [s.name for s in specs] == ["front", "camera0", "192.0.2.10-ch1", "yard", "frames", "rear"]
    assert specs[0].source == "drive.mp4" and specs[5].source == "rtsp://u:p@cam/s?a=b"
    assert all("hunter2" not in s.name and "admin" not in s.name for s in specs)
    # a URL whose query holds '=' is a source, not a label; so is an existing file with '=' in its name
    assert parse_camera_arg("http://host/s.mjpg?fps=10") == "http://host/s.mjpg?fps=10"
    odd = tmp_path / "a=b.mp4"
    odd.write_bytes(b"")
    assert parse_camera_arg(str(odd)) == str(odd)
    assert camera_specs({"north": 1, "south": "s.mp4"}) == [CameraSpec("north", 1), CameraSpec("south", "s.mp4")]
    assert default_name(iter([]), 3) == "stream3"


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["a=x.mp4", "a=y.mp4"], r"duplicate camera name 'a': cameras 1 and 2; every camera"),
        (["x.mp4", "other/x.mp4"], r"duplicate camera name 'x'.*named from its source: label it, e.g. x-2=SOURCE"),
        (["my cam=x.mp4"], r"camera label 'my cam' is not a valid camera name: use 1-64 letters"),
        (["front="], r"camera 'front=' has no source"),
        ([], r"no source: give one or more SOURCEs"),
    ],
)
def test_bad_camera_lists_are_clear_errors(sources: list[str], message: str) -> None:
    with pytest.raises(JRGRError, match=message):
        camera_specs(sources)


def test_yaml_and_json_camera_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "cams.yaml"
    yaml_file.write_text(
        "cameras:\n"
        "  - name: front\n    source: rtsp://user:pw@192.0.2.10/stream\n"
        "  - {name: rear, source: 1, live: true}\n"
        "  - side=drive.mp4\n"
        "  - source: yard.mp4\n    output: rec/yard.avi\n"
    )
    specs = camera_specs(["extra=e.mp4"], yaml_file)
    assert specs == [
        CameraSpec("extra", "e.mp4"), CameraSpec("front", "rtsp://user:pw@192.0.2.10/stream"),
        CameraSpec("rear", 1, live=True), CameraSpec("side", "drive.mp4"),
        CameraSpec("yard", "yard.mp4", output="rec/yard.avi"),
    ]  # fmt: skip
    json_file = tmp_path / "cams.json"
    json_file.write_text(json.dumps([{"name": "a", "source": "a.mp4"}, "b=b.mp4"]))
    assert [s.name for s in camera_specs([], json_file)] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cameras:\n  - {name: a, sorce: x.mp4}\n", r"entry 1: unknown key\(s\) \['sorce'\]"),
        ("- {name: a}\n", r"entry 1: no 'source'"),
        ("- {name: 'bad name', source: x.mp4}\n", r"entry 1: name 'bad name' is not a valid camera name"),
        ("- {source: x.mp4, live: sometimes}\n", r"entry 1: 'live' must be true or false"),
        ("cameras: []\n", r"expected a non-empty list of cameras"),
        ("cameras: [a, b\n", r"is not valid YAML"),
        ("- 3.5\n", r"entry 1: expected a camera"),
    ],
)
def test_bad_camera_files_name_the_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cams.yaml"
    path.write_text(text)
    with pytest.raises(JRGRError, match=rf"camera file '{path}'.*" + message.replace("entry 1", "")):
        load_camera_file(path)
    with pytest.raises(JRGRError, match="camera file '.*missing.yaml' does not exist"):
        load_camera_file(tmp_path / "missing.yaml")


def test_camera_file_errors_never_show_credentials(tmp_path: Path) -> None:
    path = tmp_path / "cams.yaml"
    path.write_text("- {name: a, source: 'rtsp://admin:hunter2@cam/s', colour: red}\n- {name: 'x y', source: 1}\n")
    with pytest.raises(JRGRError) as caught:
        load_camera_file(path)
    assert "hunter2" not in str(caught.value)


def test_outputs_per_camera(tmp_path: Path) -> None:
    specs = camera_specs(["front=a.mp4", "rear=b.mp4", CameraSpec("side", "c.mp4", output="keep/side.avi")])
    assert camera_outputs(specs, tmp_path / "out") == {
        "front": str(tmp_path / "out" / "front.mp4"), "rear": str(tmp_path / "out" / "rear.mp4"),
        "side": "keep/side.avi",
    }  # fmt: skip
    assert camera_outputs(specs, "frames/{name}/")["rear"] == "frames/rear/"
    assert camera_outputs(specs, "null")["front"] == "null" and camera_outputs(specs, None)["front"] is None
    assert camera_outputs(specs[:1], "one.mp4") == {"front": "one.mp4"}  # one camera: as for one source
    with pytest.raises(JRGRError, match=r"--output 'x.mp4' is one file, but there are 3 cameras"):
        camera_outputs(specs, "x.mp4")
    clash = [CameraSpec("a", "a.mp4", output="same.mp4"), CameraSpec("b", "b.mp4", output="same.mp4")]
    with pytest.raises(JRGRError, match=r"cameras 'a' and 'b' would both write 'same.mp4'"):
        camera_outputs(clash, None)
