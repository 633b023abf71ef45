"""The camera list of a multi-camera run: names, `NAME=SOURCE` labels, a YAML/JSON file, per-camera outputs.

A camera is a name and a source (anything `open_source` takes: a video file, an image folder or glob, a camera
index, an rtsp:// / http:// URL, a `FrameSource`). Names label the outputs (`DIR/NAME.mp4`), the statistics,
the operator view's tiles and its `/stream/NAME.mjpg`: letters, digits, `_ . -`, unique within a run. A name
not given is made from the source (file stem, `camera0`, the URL's host and path, never its credentials).

A camera file (`--cameras cams.yaml`, JSON too) is a list, or a mapping with a `cameras:` list, of entries:

    cameras:
      - name: front
        source: rtsp://user:password@192.0.2.10/stream
      - {name: rear, source: 1}
      - side=drive.mp4                       # the command line's NAME=SOURCE form
      - source: yard.mp4                     # named "yard"
        live: true                           # replayed as a camera at its frame rate
        output: recordings/yard.avi          # this camera's output instead of --output's

Relative paths are taken from the working directory, as on the command line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.redaction import redact
from jrgr_deploy.runtime.sources import STREAM_SCHEMES, FrameSource

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
CAMERA_KEYS = ("name", "source", "output", "live")


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a run: `name` (see the module docstring), `source` (what `open_source` takes), `output`
    (this camera's output, overriding the run's; None: the run's), `live` (replay a file as a camera; None: the
    run's `live`)."""

    name: str
    source: Any
    output: str | None = None
    live: bool | None = None


def check_name(name: str, where: str = "camera name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise JRGRError(f"{where} {redact(repr(name))} is not a valid camera name: use {NAME_RULE}")
    return name


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return slug[:64] or "camera"


def default_name(source: Any, position: int) -> str:
    """A name for an unnamed camera: `camera0` for index 0, a file's stem, a folder's name, a URL's host and
    path (without its credentials), a FrameSource's name; `stream<position>` for anything else."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return f"camera{int(source)}"
    if isinstance(source, FrameSource):
        return _slug(redact(source.name))
    if isinstance(source, str | Path):
        text = str(source)
        if text.lower().startswith(STREAM_SCHEMES):
            parts = urlsplit(text)
            return _slug(f"{parts.hostname or 'stream'}{parts.path}")
        path = Path(text)
        if any(ch in text for ch in "*?[") and not path.exists():
            return _slug(path.parent.name or "images")
        return _slug(path.stem if path.suffix else path.name)
    return f"stream{position}"


def parse_camera_arg(text: str | int | Path | Any) -> CameraSpec | Any:
    """A command-line source: `NAME=SOURCE` gives a named camera, anything else is the source itself (an
    existing file whose name holds '=' stays a file; a URL's query may hold '=')."""
    if not isinstance(text, str) or "=" not in text or Path(text).exists():
        return text
    label, source = text.split("=", 1)
    if "://" in label or "/" in label:  # a URL or a path with '=' further on
        return text
    if not source:
        raise JRGRError(f"camera '{label}=' has no source: expected NAME=SOURCE, e.g. front=rtsp://192.0.2.10/s")
    return CameraSpec(check_name(label, "camera label"), source)


def _entry(item: Any, where: str) -> CameraSpec | Any:
    if isinstance(item, str | int):
        return parse_camera_arg(item)
    if not isinstance(item, Mapping):
        raise JRGRError(f"{where}: expected a camera (a mapping with 'source', or NAME=SOURCE), got {item!r}")
    unknown = sorted(set(item) - set(CAMERA_KEYS))
    if unknown:
        raise JRGRError(f"{where}: unknown key(s) {unknown}; a camera has {list(CAMERA_KEYS)}")
    if "source" not in item or item["source"] in (None, ""):
        raise JRGRError(f"{where}: no 'source' (a video file, image folder, camera index or rtsp:// URL)")
    source = item["source"]
    if not isinstance(source, str | int) or isinstance(source, bool):
        raise JRGRError(f"{where}: 'source' must be a text or a camera index, got {redact(repr(source))}")
    live = item.get("live")
    if live is not None and not isinstance(live, bool):
        raise JRGRError(f"{where}: 'live' must be true or false, got {live!r}")
    output = item.get("output")
    if output is not None and not isinstance(output, str):
        raise JRGRError(f"{where}: 'output' must be a path or 'null', got {output!r}")
    name = item.get("name")
    if name is None:
        return CameraSpec("", source, output, live)  # named from the source by `camera_specs`
    return CameraSpec(check_name(str(name), f"{where}: name"), source, output, live)


def load_camera_file(path: str | Path) -> list[CameraSpec | Any]:
    """The cameras of a YAML or JSON file (see the module docstring); errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise JRGRError(f"camera file '{path}' does not exist (expected a YAML or JSON list of cameras)")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as error:  # json.JSONDecodeError
            raise JRGRError(f"camera file '{path}' is not valid JSON: {error}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise JRGRError(
                f"camera file '{path}' is YAML, which needs PyYAML (pip install pyyaml); or write it as JSON "
                "(cams.json)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise JRGRError(f"camera file '{path}' is not valid YAML: {redact(str(error))}") from None
    if isinstance(data, Mapping) and set(data) == {"cameras"}:
        data = data["cameras"]
    if not isinstance(data, list) or not data:
        raise JRGRError(
            f"camera file '{path}': expected a non-empty list of cameras (or 'cameras:' with one), "
            f"e.g. [{{name: front, source: rtsp://192.0.2.10/stream}}]"
        )
    return [_entry(item, f"camera file '{path}', entry {number}") for number, item in enumerate(data, 1)]


def camera_specs(
    sources: Iterable[Any] | Mapping[str, Any] = (), camera_file: str | Path | None = None
) -> list[CameraSpec]:
    """Named cameras from command-line sources (`NAME=SOURCE` or a bare source), a mapping name -> source,
    CameraSpecs, and the entries of `camera_file`, in that order. Duplicate names are an error naming both."""
    if isinstance(sources, Mapping):
        entries: list[Any] = [CameraSpec(check_name(str(name)), source) for name, source in sources.items()]
    else:
        entries = [parse_camera_arg(source) for source in sources]
    if camera_file is not None:
        entries += load_camera_file(camera_file)
    if not entries:
        raise JRGRError("no source: give one or more SOURCEs (NAME=SOURCE to label them) or --cameras FILE")
    specs: list[CameraSpec] = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(entries):
        spec = entry if isinstance(entry, CameraSpec) else CameraSpec("", entry)
        given = bool(spec.name)
        if not given:
            spec = CameraSpec(default_name(spec.source, position), spec.source, spec.output, spec.live)
        if spec.name in seen:
            hint = "" if given else f" (named from its source: label it, e.g. {spec.name}-2=SOURCE)"
            raise JRGRError(
                f"duplicate camera name '{spec.name}': cameras {seen[spec.name] + 1} and {position + 1}{hint}; "
                "every camera needs its own name"
            )
        seen[spec.name] = position
        specs.append(spec)
    return specs


def camera_outputs(specs: Sequence[CameraSpec], output: str | Path | None) -> dict[str, str | None]:
    """Each camera's output. One camera: `output` as given. Several: `output` is a folder (DIR/NAME.mp4), a
    template holding `{name}` (`out/{name}.avi`, `frames/{name}/` for PNG folders) or 'null'. A camera's own
    `output` wins. Two cameras writing to one file is an error."""
    text = None if output is None else str(output)
    outputs: dict[str, str | None] = {}
    for spec in specs:
        if spec.output is not None:
            outputs[spec.name] = spec.output
        elif text is None or len(specs) == 1 or text.lower() in ("null", "none", "-"):
            outputs[spec.name] = text
        elif "{name}" in text:
            outputs[spec.name] = text.replace("{name}", spec.name)
        elif Path(text).suffix and not Path(text).is_dir():
            raise JRGRError(
                f"--output '{text}' is one file, but there are {len(specs)} cameras: give a folder (DIR -> "
                f"DIR/NAME.mp4) or a template with {{name}} (e.g. out/{{name}}.avi)"
            )
        else:
            outputs[spec.name] = str(Path(text) / f"{spec.name}.mp4")
    written: dict[str, str] = {}
    for name, out in outputs.items():
        if out is None or out.lower() in ("null", "none", "-"):
            continue
        key = str(Path(out).resolve())
        if key in written:
            raise JRGRError(f"cameras '{written[key]}' and '{name}' would both write '{out}'")
        written[key] = name
    return outputs


__all__ = [
    "CAMERA_KEYS",
    "CameraSpec",
    "camera_outputs",
    "camera_specs",
    "check_name",
    "default_name",
    "load_camera_file",
    "parse_camera_arg",
]
