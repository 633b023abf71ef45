"""Frame sinks for the streaming pipeline: video file (mp4/avi/...), image folder, window, null, callback.

A sink receives (index, frame) with frame (H, W, 3) uint8 BGR. `close()` finalises the output (a video
file is only playable after its writer is released, so the pipeline closes sinks on every exit path,
Ctrl-C included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import IMAGE_SUFFIXES, VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

# FourCC per container; mp4v/MJPG are the codecs OpenCV's bundled FFmpeg always writes.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class StopStream(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a sink to end the stream early and cleanly (e.g. 'q' pressed in the window)."""


class FrameSink:
    """Base class: `write(index, frame)` and `close()`; context manager."""

    name: str = "sink"

    def begin(self, fps: float | None) -> None:
        """Called once the source is open, with its frame rate (None if unknown)."""

    def write(self, index: int, frame: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class VideoFileSink(FrameSink):
    """Encode frames into a video file; the writer opens on the first frame (its size fixes the video's).

    fps: the source's frame rate (default 25). A frame of another size than the first is an error.
    """

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        suffix = self.path.suffix.lower()
        if fourcc is None:
            if suffix not in FOURCC_BY_SUFFIX:
                raise JRGRError(
                    f"output video '{self.path}': unsupported suffix '{suffix}'; "
                    f"use one of {sorted(FOURCC_BY_SUFFIX)}"
                )
            fourcc = FOURCC_BY_SUFFIX[suffix]
        self.fourcc = fourcc
        self._explicit_fps = fps if fps and fps > 0 else None
        self.fps = self._explicit_fps or 25.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def begin(self, fps: float | None) -> None:
        """The output keeps the source's frame rate unless one was given explicitly."""
        if self._explicit_fps is None and fps and fps > 0:
            self.fps = fps

    def write(self, index: int, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if self._writer is None:
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (width, height))
            if not writer.isOpened():
                raise JRGRError(
                    f"cannot write video '{self.path}' ({self.fourcc}, {width}x{height} @ {self.fps:g} fps): "
                    "OpenCV/FFmpeg refused it (folder not writable, or codec unavailable)"
                )
            self._writer, self._size = writer, (width, height)
        elif (width, height) != self._size:
            raise JRGRError(
                f"frame {index} is {width}x{height} but the output video '{self.path}' is "
                f"{self._size[0]}x{self._size[1]}: a video holds one frame size (write to an image folder instead)"
            )
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            logger.info("wrote %d frames to %s", self.frames_written, self.path)


class ImageFolderSink(FrameSink):
    """Write frame i as `<folder>/<index:06d><suffix>` (PNG by default: lossless)."""

    def __init__(self, folder: str | Path, suffix: str = ".png") -> None:
        self.folder = Path(folder)
        self.name = str(self.folder)
        if suffix not in IMAGE_SUFFIXES:
            raise JRGRError(f"image suffix '{suffix}' is not one of {IMAGE_SUFFIXES}")
        if self.folder.exists() and not self.folder.is_dir():
            raise JRGRError(f"output folder '{self.folder}' exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix
        self.frames_written = 0

    def write(self, index: int, frame: np.ndarray) -> None:
        path = self.folder / f"{index:06d}{self.suffix}"
        ok, encoded = cv2.imencode(self.suffix, frame)
        if not ok:
            raise JRGRError(f"could not encode frame {index} as '{self.suffix}'")
        encoded.tofile(str(path))
        self.frames_written += 1


def gui_available() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() != "NONE"
    return True


class WindowSink(FrameSink):
    """Show frames in an OpenCV window; 'q' or Esc ends the stream (StopStream)."""

    def __init__(self, title: str = "jrgr derain") -> None:
        self.name = f"window '{title}'"
        self.title = title
        if not gui_available():
            raise JRGRError(
                "--show needs an OpenCV build with GUI support, but the installed OpenCV has none "
                "(opencv-python-headless); install opencv-python instead (pip uninstall "
                "opencv-python-headless && pip install opencv-python), or write to --output"
            )
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as error:
            raise JRGRError(f"cannot open a window for --show (no display?): {error}") from error
        self._open = True

    def write(self, index: int, frame: np.ndarray) -> None:
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            raise StopStream(f"window closed by key '{chr(key) if key != 27 else 'Esc'}'")

    def close(self) -> None:
        if self._open:
            self._open = False
            cv2.destroyWindow(self.title)


class NullSink(FrameSink):
    """Discard frames (benchmarks: the pipeline without encoding)."""

    name = "null"

    def __init__(self) -> None:
        self.frames_written = 0

    def write(self, index: int, frame: np.ndarray) -> None:
        self.frames_written += 1


class CallbackSink(FrameSink):
    """Call `callback(index, frame)` for every output frame (embedding into another application)."""

    def __init__(self, callback: Callable[[int, np.ndarray], object], name: str = "callback") -> None:
        self.callback = callback
        self.name = name

    def write(self, index: int, frame: np.ndarray) -> None:
        self.callback(index, frame)


def open_sink(output: str | Path, fps: float | None = None) -> FrameSink:
    """A sink from an output argument: a video suffix -> video file; 'null' -> discard; an image
    suffix pattern is not supported (give a folder); anything else -> image folder."""
    text = str(output)
    if text.lower() in ("null", "none", "-"):
        return NullSink()
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return VideoFileSink(path, fps=fps)
    if suffix in IMAGE_SUFFIXES:
        raise JRGRError(
            f"output '{path}' looks like one image file; give a video file (.mp4/.avi) or a folder for images"
        )
    if suffix and not path.is_dir():
        raise JRGRError(
            f"output '{path}': unknown suffix '{suffix}'; give a video file ({', '.join(sorted(FOURCC_BY_SUFFIX))}), "
            "a folder (frames as PNG) or 'null'"
        )
    return ImageFolderSink(path)


__all__ = [
    "CallbackSink",
    "FrameSink",
    "ImageFolderSink",
    "NullSink",
    "StopStream",
    "VideoFileSink",
    "WindowSink",
    "gui_available",
    "open_sink",
]
