"""Frame sinks for the streaming pipeline: video file (mp4/avi/...), image folder, window, null, callback.

A sink receives (index, frame) with frame (H, W, 3) uint8 BGR. `close()` finalises the output (a video
file is only playable after its writer is released, so the pipeline closes sinks on every exit path,
Ctrl-C included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import IMAGE_SUFFIXES, write_bgr
from jrgr_deploy.video_files import FOURCC_BY_SUFFIX, VIDEO_SUFFIXES, VideoWriter

logger = logging.getLogger(__name__)



class StopStream(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a sink to end the stream early and cleanly (e.g. 'q' pressed in the window)."""


class FrameSink(Closing):
    """Base class: `write(index, frame)` and `close()`; context manager."""

    name: str = "sink"

    def begin(self, fps: float | None) -> None:
        """Called once the source is open, with its frame rate (None if unknown)."""

    def write(self, index: int, frame: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoFileSink(FrameSink):
    """Encode frames into a video file (`jrgr_deploy.video_files.VideoWriter`: codec by suffix, the first
    frame's size is the video's). fps: the source's frame rate unless given (default 25)."""

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str | None = None) -> None:
        self._video = VideoWriter(path, fps=fps, fourcc=fourcc)
        self.path = self._video.path
        self.name = str(self.path)
        self._explicit_fps = fps if fps and fps > 0 else None

    @property
    def fps(self) -> float:
        return self._video.fps

    @property
    def frames_written(self) -> int:
        return self._video.frames_written

    def begin(self, fps: float | None) -> None:
        """The output keeps the source's frame rate unless one was given explicitly."""
        if self._explicit_fps is None and fps and fps > 0:
            self._video.fps = fps

    def write(self, index: int, frame: np.ndarray) -> None:
        self._video.write(frame, index)

    def close(self) -> None:
        self._video.close()


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
        write_bgr(self.folder / f"{index:06d}{self.suffix}", frame)
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
