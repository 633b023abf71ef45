"""Reading and writing video files with errors that name the file (OpenCV's FFmpeg backend, no torch).

The one place video files are decoded and encoded: the runtime's file source and video sink, the data sets'
real-rain videos, export calibration, the demo's clips and the benchmarks all come here. Frames are
(H, W, 3) uint8 BGR, OpenCV's order.

The frame-count rule (one, for everybody): a container states a frame count, which can be an estimate
(duration x fps). The frames of a video are the frames that decode, in order. When decoding ends more than 2 %
(plus one frame) short of the stated count, the file is truncated or corrupt: an error naming it, raised when
the end is reached. `count_frames` applies the rule up front (the data sets and calibration index frames);
`VideoReader` applies it as it streams (`stated_frames` is then the progress bar's total).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.output_files import PartialFile, ensure_parent, remove_stale_partials

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
# FourCC per container; mp4v/MJPG are the codecs OpenCV's bundled FFmpeg always writes.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
# FFmpeg's tty demuxer "plays" any text file as ANSI art: never what a user meant by a video.
_TEXT_FOURCCS = (b"ansi", b"tty\x00")
# Decoding may end this much short of the container's stated count before the file counts as truncated.
_COUNT_SLACK = 0.02
DEFAULT_FPS = 25.0


class VideoReadError(JRGRError):
    """A video file ended early (truncated/corrupt) or a frame of it could not be decoded."""


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def frame_rate(capture: cv2.VideoCapture) -> float | None:
    """The frame rate an OpenCV capture reports, None when it reports nothing plausible."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps < 1000 else None


class VideoReader(Closing):
    """Frames of a video file in order: `read()` gives the next (H, W, 3) uint8 BGR frame, None at the end.

    Opening checks that the file exists, is a video and that its first frame decodes (errors name the file).
    `fps` (None if the container does not say), `stated_frames` (the container's count, None if unknown) and
    `frames_read` describe it; the end of the file raises VideoReadError when it breaks the frame-count rule.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise JRGRError(f"video file '{self.path}' does not exist")
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise JRGRError(
                f"'{self.path}' is not a readable video file (OpenCV/FFmpeg cannot open it: not a video, "
                "or truncated/corrupt); expected e.g. .mp4/.avi/.mkv"
            )
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little", signed=False)
        if fourcc in _TEXT_FOURCCS:
            capture.release()
            raise JRGRError(
                f"'{self.path}' is not a readable video file (FFmpeg sees text, codec '{fourcc.decode()}'); "
                "expected e.g. .mp4/.avi/.mkv"
            )
        ok, frame = capture.read()
        if not ok or frame is None:
            capture.release()
            raise JRGRError(f"'{self.path}' opens as a video but no frame can be decoded (corrupt file?)")
        self._capture: cv2.VideoCapture | None = capture
        self._first: np.ndarray | None = frame
        self.fps = frame_rate(capture)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.stated_frames = count if count > 0 else None
        self.frames_read = 0

    def _ended(self) -> None:
        stated = self.stated_frames
        if stated is not None and self.frames_read < stated * (1 - _COUNT_SLACK) - 1:
            raise VideoReadError(
                f"'{self.path}' ended after {self.frames_read} of {stated} frames: the file is truncated or corrupt"
            )

    def _capture_or_closed(self) -> cv2.VideoCapture:
        if self._capture is None:
            raise JRGRError(f"video file '{self.path}' is closed")
        return self._capture

    def read(self) -> np.ndarray | None:
        """The next frame, (H, W, 3) uint8 BGR; None at the end of the file."""
        capture = self._capture_or_closed()
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            ok, frame = capture.read()
            if not ok or frame is None:
                self._ended()
                return None
        self.frames_read += 1
        return frame

    def skip(self) -> bool:
        """Step over the next frame without converting it to BGR; False at the end of the file."""
        capture = self._capture_or_closed()
        if self._first is not None:
            self._first = None
        elif not capture.grab():
            self._ended()
            return False
        self.frames_read += 1
        return True

    def seek(self, index: int) -> None:
        """Make frame `index` the next one `read()` returns."""
        capture = self._capture_or_closed()
        if index == self.frames_read:
            return
        self._first = None
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        self.frames_read = index

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._first = None


def count_frames(path: str | Path) -> int:
    """The number of frames of a video file (the frame-count rule: every frame is stepped over once)."""
    with VideoReader(path) as reader:
        while reader.skip():
            pass
        return reader.frames_read


class VideoFrames:
    """Random access to the frames of a video file: `len()` by the frame-count rule, `read_bgr(i)` / `read_rgb(i)`.

    Sequential indices are read without seeking. The file is reopened lazily once per process, so an instance
    can be pickled into DataLoader workers (a cv2.VideoCapture cannot).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = count_frames(self.path)
        self._reader: VideoReader | None = None
        self._inherited: list[VideoReader] = []
        self._pid = -1

    def __len__(self) -> int:
        return self.count

    def read_bgr(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 BGR."""
        if not 0 <= index < self.count:
            raise JRGRError(f"video file '{self.path}' has {self.count} frames; frame {index} does not exist")
        if self._reader is None or self._pid != os.getpid():
            if self._reader is not None:
                # Inherited through fork (a DataLoader worker): destroying it here would tear down the
                # parent's decoder threads, which do not exist in this process, and can deadlock.
                # Keep it alive, unused, and open a reader of our own.
                self._inherited.append(self._reader)
            self._reader, self._pid = VideoReader(self.path), os.getpid()
        self._reader.seek(index)
        frame = self._reader.read()
        if frame is None:
            raise VideoReadError(f"could not decode frame {index} of video file '{self.path}'")
        return frame

    def read_rgb(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 RGB."""
        return np.ascontiguousarray(self.read_bgr(index)[..., ::-1])

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_reader"], state["_pid"], state["_inherited"] = None, -1, []
        return state


class VideoWriter(Closing):
    """Encode (H, W, 3) uint8 BGR frames into a video file; the codec follows the suffix (`FOURCC_BY_SUFFIX`).

    The file opens on the first frame, whose size is the video's; a frame of another size is an error. `fps`
    may be changed until then (the runtime's sink takes the source's). The folder is created (a clear error
    when it cannot be). The video is written under a temporary name in the same folder and renamed to `path`
    by `close()` (`jrgr_deploy.output_files.PartialFile`): until then, and forever after a crash or a failed
    write, nothing (or the previous file) lies under `path`.

    Odd frame sizes (the codecs' 4:2:0 chroma needs even ones; OpenCV's FFmpeg writer would silently cut the
    last column/row): `.avi` is written by OpenCV's own Motion-JPEG encoder, which keeps the exact size;
    `.mp4`/`.mkv`/`.mov` are padded to even by repeating the last column/row (the frame is intact in the
    top-left corner), with a warning naming both sizes. `frame_hw` / `video_hw` say what happened.
    """

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if fourcc is None:
            if suffix not in FOURCC_BY_SUFFIX:
                raise JRGRError(
                    f"output video '{self.path}': unsupported suffix '{suffix}'; use one of {sorted(FOURCC_BY_SUFFIX)}"
                )
            fourcc = FOURCC_BY_SUFFIX[suffix]
        self.fourcc = fourcc
        self.fps = fps if fps and fps > 0 else DEFAULT_FPS
        self._writer: cv2.VideoWriter | None = None
        self.frame_hw: tuple[int, int] | None = None  # the frames' size
        self.video_hw: tuple[int, int] | None = None  # the encoded size (frame_hw, or padded to even)
        self._last: np.ndarray | None = None
        self._failed = False
        self.frames_written = 0
        ensure_parent(self.path, "output video", create=False)  # its folder is made at the first frame
        remove_stale_partials(self.path)  # what a killed writer of the same video left
        self._partial = PartialFile(self.path)

    def _open(self, height: int, width: int) -> None:
        ensure_parent(self.path, "output video")
        even = (height + height % 2, width + width % 2)
        backend = cv2.CAP_FFMPEG
        if even != (height, width) and self.fourcc == "MJPG" and self.path.suffix.lower() == ".avi":
            backend, even = cv2.CAP_OPENCV_MJPEG, (height, width)  # OpenCV's own MJPEG: any size
        elif even != (height, width):
            logger.warning(
                "frames are %dx%d (WxH) but %s (%s) needs even sizes: '%s' is padded to %dx%d by repeating the "
                "last column/row (write .avi or an image folder to keep the exact size)",
                width, height, self.path.suffix, self.fourcc, self.path, even[1], even[0],
            )
        writer = cv2.VideoWriter(
            str(self._partial.path), backend, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (even[1], even[0])
        )
        if not writer.isOpened():
            self._partial.discard()
            raise JRGRError(
                f"cannot write video '{self.path}' ({self.fourcc}, {width}x{height} @ {self.fps:g} fps): "
                "OpenCV/FFmpeg refused it (folder not writable, or codec unavailable)"
            )
        self._writer, self.frame_hw, self.video_hw = writer, (height, width), even

    def write(self, frame: np.ndarray, index: int | None = None) -> None:
        """Append `frame`; `index` only names it in an error."""
        height, width = frame.shape[:2]
        if self._writer is None:
            self._open(height, width)
        elif (height, width) != self.frame_hw:
            what = f"frame {index}" if index is not None else f"frame {self.frames_written}"
            raise JRGRError(
                f"{what} is {width}x{height} but the output video '{self.path}' is "
                f"{self.frame_hw[1]}x{self.frame_hw[0]}: a video holds one frame size (write to an image folder "
                "instead)"
            )
        assert self.video_hw is not None
        pad_h, pad_w = self.video_hw[0] - height, self.video_hw[1] - width
        if pad_h or pad_w:
            frame = cv2.copyMakeBorder(frame, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        self._last = np.ascontiguousarray(frame)
        self._put(self._last)

    def write_again(self) -> None:
        """Append the last frame once more (a live recording keeping wall-clock time over a gap)."""
        if self._last is not None:
            self._put(self._last)

    def _put(self, frame: np.ndarray) -> None:
        assert self._writer is not None
        try:
            self._writer.write(frame)
        except BaseException:
            self._failed = True
            raise
        self.frames_written += 1

    def close(self) -> None:
        """Finalise the file (a video is only playable after this) and give it its name; a writer that failed
        leaves no file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if self._failed:
                self._partial.discard()
                logger.warning("discarded the unfinished video %s (a write failed)", self.path)
            else:
                self._partial.publish()
                logger.info("wrote %d frames to %s", self.frames_written, self.path)
        self._last = None


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float | None = None) -> Path:
    """Encode BGR `frames` into `path` (codec by suffix) and finalise it; returns `path`."""
    with VideoWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def read_video(path: str | Path) -> list[np.ndarray]:
    """Every frame of a (short) video file, BGR, by the frame-count rule."""
    frames = []
    with VideoReader(path) as reader:
        while (frame := reader.read()) is not None:
            frames.append(frame)
    return frames


__all__ = [
    "DEFAULT_FPS",
    "FOURCC_BY_SUFFIX",
    "VIDEO_SUFFIXES",
    "VideoFrames",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
    "count_frames",
    "frame_rate",
    "is_video_path",
    "read_video",
    "write_video",
]
