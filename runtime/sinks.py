"""Frame sinks for the streaming pipeline: video file (mp4/avi/...), image folder, window, null, callback.

A sink receives (index, frame) with frame (H, W, 3) uint8 BGR — through `emit(info, frame)`, whose
`FrameInfo` also carries the capture stamp and the input file's name. `close()` finalises the output (a video
file is only playable after its writer is released, so the pipeline closes sinks on every exit path,
Ctrl-C included). Files are written under a temporary name and renamed when complete
(`jrgr_deploy.output_files`): a crash never leaves a half-written file under the final name.

Live streams keep wall-clock time in a video file: the pipeline calls `begin_live(fps)`, and each frame is
placed at its capture time on the file's timeline at `fps`, the previous frame repeated over drops and outages
(`frames_duplicated`), so a minute of camera is a minute of video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import IMAGE_SUFFIXES, write_bgr
from jrgr_deploy.output_files import check_not_input, ensure_folder
from jrgr_deploy.video_files import DEFAULT_FPS, FOURCC_BY_SUFFIX, VIDEO_SUFFIXES, VideoWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameInfo:
    """What a sink may want to know about an output frame besides its pixels: `index` (capture order),
    `captured_ns` (the pipeline's monotonic clock, `stats.now_ns`), `name` (the input file's name, if any),
    `input_frame` (the (H, W, 3) uint8 BGR input the output was made from, for sinks that show both, such as the
    operator view's rainy|derained tiles; the pipeline never changes it after it is emitted)."""

    index: int
    captured_ns: int = 0
    name: str | None = None
    input_frame: np.ndarray | None = field(default=None, repr=False, compare=False)


class StopStream(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a sink to end the stream early and cleanly (e.g. 'q' pressed in the window)."""


class FrameSink(Closing):
    """Base class: `write(index, frame)` and `close()`; context manager. The pipeline calls `emit`, which
    calls `write` unless a sink needs more (`FrameInfo`). `output_path`: the file or folder written (None for
    none); `keeps_names`: its files are named after the input files."""

    name: str = "sink"
    output_path: Path | None = None
    keeps_names: bool = False
    frames_duplicated: int = 0

    def begin(self, fps: float | None) -> None:
        """Called once the source is open, with its frame rate (None if unknown)."""

    def begin_live(self, fps: float | None) -> None:
        """Called after `begin` when the source is live (frames come at wall-clock times, some dropped)."""

    def emit(self, info: FrameInfo, frame: np.ndarray) -> None:
        """Take one output frame (the pipeline's entry point)."""
        self.write(info.index, frame)

    def end_live(self, end_ns: int) -> None:
        """Called before `close` for a live source, with the time its capture ended."""

    def write(self, index: int, frame: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoFileSink(FrameSink):
    """Encode frames into a video file (`jrgr_deploy.video_files.VideoWriter`: codec by suffix, the first
    frame's size is the video's, written under a temporary name until `close`). fps: the source's frame rate
    unless given (default 25). For a live source frames are placed on the file's timeline by their capture
    time (see the module docstring)."""

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str | None = None) -> None:
        self._video = VideoWriter(path, fps=fps, fourcc=fourcc)
        self.path = self._video.path
        self.output_path = self.path
        self.name = str(self.path)
        self._explicit_fps = fps if fps and fps > 0 else None
        self._timeline: _WallClockTimeline | None = None

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

    def begin_live(self, fps: float | None) -> None:
        self._timeline = _WallClockTimeline(self._video.fps)

    def emit(self, info: FrameInfo, frame: np.ndarray) -> None:
        if self._timeline is None:
            self.write(info.index, frame)
            return
        for _ in range(self._timeline.repeats_before(info.captured_ns)):
            self._video.write_again()  # the previous frame, over the drop/outage before this one
            self.frames_duplicated += 1
        self.write(info.index, frame)

    def end_live(self, end_ns: int) -> None:
        if self._timeline is not None:
            for _ in range(self._timeline.repeats_before(end_ns, last=True)):
                self._video.write_again()
                self.frames_duplicated += 1

    def write(self, index: int, frame: np.ndarray) -> None:
        self._video.write(frame, index)

    def close(self) -> None:
        self._video.close()


class _WallClockTimeline:
    """A video timeline of 1/fps s slots from the first frame's capture time: how often the previous frame must
    be repeated so that a frame captured at t lands in its slot. Frames are never dropped: a frame whose slot is
    taken goes into the next one (a camera faster than its stated rate then runs slightly behind)."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps if fps and fps > 0 else DEFAULT_FPS
        self._t0_ns: int | None = None
        self._frames = 0  # frames on the timeline so far

    def repeats_before(self, t_ns: int, last: bool = False) -> int:
        """Repeats of the previous frame before a new frame captured at `t_ns`; `last`: the repeats that make
        the timeline reach `t_ns` (the end of the stream), no new frame."""
        if self._t0_ns is None:
            if not last:
                self._t0_ns, self._frames = t_ns, 1
            return 0
        slot = int(round((t_ns - self._t0_ns) * 1e-9 * self.fps))
        repeats = max(0, slot - self._frames)
        self._frames += repeats + (0 if last else 1)
        return repeats


class ImageFolderSink(FrameSink):
    """Write each frame as an image in `folder`: named after its input file when it has one (an image folder
    keeps its names), else `<index:06d><suffix>` (PNG by default: lossless). Each file is written under a
    temporary name and renamed."""

    keeps_names = True

    def __init__(self, folder: str | Path, suffix: str = ".png") -> None:
        self.folder = Path(folder)
        self.name = str(self.folder)
        self.output_path = self.folder
        if suffix not in IMAGE_SUFFIXES:
            raise JRGRError(f"image suffix '{suffix}' is not one of {IMAGE_SUFFIXES}")
        self.suffix = suffix
        self.frames_written = 0
        self._names: set[str] = set()
        self._created = False

    def _file_name(self, info: FrameInfo) -> str:
        name = info.name or f"{info.index:06d}{self.suffix}"
        if name in self._names:  # two inputs of one name (a glob over several folders): keep both
            name = f"{info.index:06d}_{name}"
        self._names.add(name)
        return name

    def emit(self, info: FrameInfo, frame: np.ndarray) -> None:
        if not self._created:
            ensure_folder(self.folder)
            self._created = True
        write_bgr(self.folder / self._file_name(info), frame)
        self.frames_written += 1

    def write(self, index: int, frame: np.ndarray) -> None:
        self.emit(FrameInfo(index), frame)


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


def open_sink(output: str | Path, fps: float | None = None, inputs: Sequence[Path] = ()) -> FrameSink:
    """A sink from an output argument: a video suffix -> video file; 'null' -> discard; an image
    suffix pattern is not supported (give a folder); anything else -> image folder.

    `inputs`: the files/folders the run reads; an output that is one of them, lies inside an input folder, or
    (a folder output keeps the input files' names) is an input file's folder is refused before anything is
    created."""
    text = str(output)
    if text.lower() in ("null", "none", "-"):
        return NullSink()
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        check_not_input(path, inputs, "output video")
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
    check_not_input(path, inputs, "output folder", keeps_names=True)
    # a file in the way, or a folder that cannot be made or written: said now, not later; made at the first frame
    ensure_folder(path, create=False)
    return ImageFolderSink(path)


__all__ = [
    "CallbackSink",
    "FrameInfo",
    "FrameSink",
    "ImageFolderSink",
    "NullSink",
    "StopStream",
    "VideoFileSink",
    "WindowSink",
    "gui_available",
    "open_sink",
]
