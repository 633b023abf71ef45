"""Frame sources for the streaming pipeline: camera index, video file, RTSP/HTTP URL, image folder/glob,
or any Python iterable of frames.

Every source yields (H, W, 3) uint8 BGR frames (OpenCV order). `read()` returns a frame, None at the
clean end of the stream, or raises `SourceReadError` when a read fails. A *live* source (camera, network
stream, or a file replayed in real time with `live=True`) produces frames whether or not anyone keeps up,
so the pipeline keeps only the newest and reconnects it on failure; a non-live source (file, folder) is
read as fast as it is consumed and never loses a frame.

A source's `name` is what messages, progress and statistics show: a URL's user name and password are never in
it (`jrgr_deploy.redaction`). `input_paths` lists the files and folders it reads, so that no output is
written onto them; `frame_name` names the frame just read when it has a name of its own (an image file).
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import IMAGE_SUFFIXES, is_image_path, list_images, read_bgr
from jrgr_deploy.redaction import redact
from jrgr_deploy.video_files import DEFAULT_FPS, VideoReader, VideoReadError, frame_rate

logger = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class SourceReadError(JRGRError):
    """Reading a frame failed: a live source disconnected, or a file is truncated/corrupt."""


class FrameSource:
    """Base class of the sources. Subclasses implement `_open`, `_read` and `_close`.

    `name`: shown in messages and stats (credentials redacted); `live`: see the module docstring; `fps`:
    nominal frame rate (None if unknown); `frame_count`: number of frames if known (files), else None;
    `input_paths`: the files/folders read (outputs must not overwrite them); `frame_name`: the file name of the
    frame just read (None when frames have no names of their own); `frames_skipped`: unreadable frames passed
    over (image folders without `strict`).
    """

    name: str = "source"
    live: bool = False
    fps: float | None = None
    frame_count: int | None = None
    input_paths: tuple[Path, ...] = ()
    frame_name: str | None = None

    def __init__(self) -> None:
        self.frames_read = 0
        self.frames_skipped = 0
        self._opened = False

    def open(self) -> FrameSource:
        """Open the source; raises JRGRError naming it when it cannot be opened. Returns self."""
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def read(self) -> np.ndarray | None:
        """The next (H, W, 3) uint8 BGR frame; None at the end; SourceReadError on failure."""
        if not self._opened:
            self.open()
        frame = self._read()
        if frame is not None:
            self.frames_read += 1
        return frame

    @property
    def reconnectable(self) -> bool:
        """Whether a failed read is worth a reconnect: live devices and streams recover, files do not."""
        return self.live

    def reconnect(self) -> None:
        """Close and re-open (live sources, after a failure); raises JRGRError if it cannot."""
        self.close()
        self.open()

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self._close()

    def _open(self) -> None:
        pass

    def _read(self) -> np.ndarray | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, live={self.live})"


def _check_frame(frame: np.ndarray, name: str) -> np.ndarray:
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise SourceReadError(f"{name}: expected HxWx3 uint8 BGR frames, got {frame.dtype} {frame.shape}")
    return frame


class VideoFileSource(FrameSource):
    """A video file (`jrgr_deploy.video_files.VideoReader`: its frame-count rule says when a file is truncated).

    realtime=True replays the file as a live camera would deliver it: frames are released at the
    file's frame rate (the pipeline then drops frames it cannot keep up with), which simulates a
    camera with real footage. The end of the file ends the stream either way.
    """

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = str(self.path)
        self.input_paths = (self.path,)
        self.live = realtime
        self._reader: VideoReader | None = None
        self._t0 = 0.0

    @property
    def reconnectable(self) -> bool:
        return False  # a truncated file stays truncated, even when replayed as a live camera

    def _open(self) -> None:
        self._reader = VideoReader(self.path)
        self.fps = self._reader.fps
        self.frame_count = self._reader.stated_frames
        self._t0 = time.monotonic()

    def _read(self) -> np.ndarray | None:
        assert self._reader is not None
        if self.live:
            # Release frame i at t0 + i/fps, like a camera that keeps running whoever is listening.
            due = self._t0 + self.frames_read / (self.fps or DEFAULT_FPS)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            frame = self._reader.read()
        except VideoReadError as error:
            raise SourceReadError(str(error)) from error
        return None if frame is None else _check_frame(frame, self.name)

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _LiveCaptureSource(FrameSource):
    """A live OpenCV capture (camera or network stream): a failed read is a lost connection, which the pipeline
    answers by reconnecting."""

    live = True
    _capture: cv2.VideoCapture | None = None
    _lost: str = "no frame"

    def _read(self) -> np.ndarray | None:
        assert self._capture is not None
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceReadError(f"{self.name}: {self._lost}")
        return _check_frame(frame, self.name)

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CameraSource(_LiveCaptureSource):
    """A local camera by index (V4L2 on Linux). Live; optional requested size and frame rate."""

    _lost = "no frame (disconnected?)"

    def __init__(
        self, index: int, width: int | None = None, height: int | None = None, fps: float | None = None
    ) -> None:
        super().__init__()
        self.index = index
        self.name = f"camera {index}"
        self._size = (width, height)
        self._want_fps = fps
        self._capture: cv2.VideoCapture | None = None

    def _open(self) -> None:
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            capture.release()
            raise JRGRError(f"camera {self.index} cannot be opened (no such device, or busy)")
        # A one-frame driver buffer: a deep buffer would hand us stale frames (latency).
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self._size[0] and self._size[1]:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        if self._want_fps:
            capture.set(cv2.CAP_PROP_FPS, self._want_fps)
        self.fps = frame_rate(capture)
        self._capture = capture



class StreamSource(_LiveCaptureSource):
    """An RTSP/RTMP/HTTP/UDP stream through OpenCV's FFmpeg backend. Live."""

    _lost = "no frame (connection lost?)"

    def __init__(self, url: str, open_timeout_ms: int = 10000, read_timeout_ms: int = 5000) -> None:
        super().__init__()
        self._url = url  # with its credentials: for the capture library only, never shown
        self.name = redact(url)
        self._timeouts = (open_timeout_ms, read_timeout_ms)
        self._capture: cv2.VideoCapture | None = None

    def _open(self) -> None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self._timeouts[0],
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, self._timeouts[1],
        ]  # fmt: skip
        capture = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise JRGRError(f"stream '{self.name}' cannot be opened (unreachable, wrong URL, or not a video)")
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.fps = frame_rate(capture)
        self._capture = capture



class ImageFilesSource(FrameSource):
    """Image files in a given order (a folder's images sorted by name, or a glob's matches). Not live.

    An unreadable file (empty, truncated, not an image) is skipped with a warning and counted in
    `frames_skipped`; `strict=True` makes it an error that ends the stream instead. `folder`: the folder the
    images were listed from (an output must not go inside it). Each frame is named after its file.
    """

    def __init__(
        self, paths: list[Path], name: str, fps: float | None = None, strict: bool = False,
        folder: Path | None = None,
    ) -> None:
        super().__init__()
        if not paths:
            raise JRGRError(f"{name}: no image files (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.paths = paths
        self.name = name
        self.fps = fps
        self.frame_count = len(paths)
        self.strict = strict
        self.input_paths = (*paths, *((folder,) if folder is not None else ()))
        self._next = 0

    def _open(self) -> None:
        self._next = 0
        self.frames_skipped = 0

    def _read(self) -> np.ndarray | None:
        while self._next < len(self.paths):
            path = self.paths[self._next]
            self._next += 1
            try:
                frame = read_bgr(path)
            except JRGRError as error:
                if self.strict:
                    raise SourceReadError(f"{error} (--strict: stopping)") from error
                self.frames_skipped += 1
                logger.warning("skipping %s (%d skipped so far; --strict stops instead)", error, self.frames_skipped)
                continue
            self.frame_name = path.name
            return frame
        return None


class IterableSource(FrameSource):
    """Frames from a Python iterable of (H, W, 3) uint8 BGR arrays (embedding, tests).

    live=True makes the pipeline treat it as a camera (keep newest, drop the rest).
    """

    def __init__(self, frames: Iterable[np.ndarray], live: bool = False, fps: float | None = None) -> None:
        super().__init__()
        self._frames = frames
        self._iterator: Iterator[np.ndarray] | None = None
        self.name = f"<{type(frames).__name__}>"
        self.live = live
        self.fps = fps
        try:
            self.frame_count = len(frames)  # type: ignore[arg-type]
        except TypeError:
            self.frame_count = None

    def _open(self) -> None:
        if self._iterator is None:
            self._iterator = iter(self._frames)

    def _read(self) -> np.ndarray | None:
        assert self._iterator is not None
        frame = next(self._iterator, None)
        if frame is None:
            return None
        return _check_frame(np.asarray(frame), self.name)


def open_source(
    spec: str | int | Path | FrameSource | Iterable[np.ndarray], live: bool = False, strict: bool = False
) -> FrameSource:
    """Make a source from what a user typed (or passed, when embedding).

    - a FrameSource: returned as is;
    - an int or a string of digits: camera index;
    - a URL (rtsp://, http://, ...): network stream;
    - a string with * ? [ : image glob; an existing folder: its images; an image file: that image;
    - any other existing file: a video file (live=True replays it in real time as a camera would);
    - a Python iterable of frames: IterableSource.
    `strict`: an unreadable image of a folder/glob ends the stream instead of being skipped.
    The source is not opened yet (the pipeline opens it; errors name the input).
    """
    if isinstance(spec, FrameSource):
        return spec
    if isinstance(spec, int):
        return CameraSource(spec)
    if not isinstance(spec, str | Path):
        return IterableSource(spec, live=live)
    text = str(spec)
    if text.isdigit():
        return CameraSource(int(text))
    if text.lower().startswith(STREAM_SCHEMES):
        return StreamSource(text)
    path = Path(text)
    if path.is_dir():
        return ImageFilesSource(list_images(path), name=f"image folder '{path}'", strict=strict, folder=path)
    if any(ch in text for ch in "*?[") and not path.exists():
        matches = sorted(Path(p) for p in glob.glob(text) if is_image_path(Path(p)))
        if not matches:
            raise JRGRError(f"image glob '{text}' matches no image files ({', '.join(IMAGE_SUFFIXES)})")
        return ImageFilesSource(matches, name=f"image glob '{text}'", strict=strict)
    if not path.exists():
        raise JRGRError(
            f"source '{redact(text)}' does not exist: expected a video file, an image folder or glob, a camera "
            "index (0, 1, ...) or an rtsp:// / http:// URL"
        )
    if is_image_path(path):
        return ImageFilesSource([path], name=f"image '{path}'", strict=True)
    return VideoFileSource(path, realtime=live)


__all__ = [
    "CameraSource",
    "FrameSource",
    "ImageFilesSource",
    "IterableSource",
    "SourceReadError",
    "StreamSource",
    "VideoFileSource",
    "open_source",
]
