"""Shared builders for the runtime tests: fixture ONNX nets with sidecars, test videos whose frames carry
their index, a backend wrapper that is slower than the camera, a paced live source, and a network camera (HTTP
MJPEG) that can be unplugged."""

from __future__ import annotations

import http.server
import threading
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy import video_files
from jrgr_deploy.artifact import ArtifactInfo, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.backends.base import Backend
from jrgr_deploy.runtime.sources import FrameSource, SourceReadError

BLOCK = 12  # pixels per bit of the frame-index code
BITS = 8


def export_fixture_net(
    path: Path,
    kind: str = "tiny",
    net: str = "f_r",
    fixed_shape: tuple[int, int] | None = None,
    size_multiple: int = 4,
    train_frame_hw: list[int] | None = None,
) -> Path:
    """Export a small real conv net to ONNX (opset 19) with its sidecar.

    kind "tiny": out = clamp(x − 0.1·tanh(up4(conv(relu(conv(avgpool4(x)))))), an identity-ish deraining
    net whose size multiple is 4 (the pooling); "offset": out = x − 0.1 (a constant rain layer of 0.1);
    "identity": out = x; broken nets: "nan": out = sqrt(x − 2) (NaN everywhere), "shrink": out = x without
    its last 4 rows. fixed_shape (H, W): export without dynamic H/W. train_frame_hw: the sidecar's record
    of the training frames' size (for `--infer-size auto`).
    """
    import torch
    import torch.nn.functional as F

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = torch.nn.Conv2d(8, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if kind == "identity":
                return x * 1.0
            if kind == "offset":
                return x - 0.1
            if kind == "nan":
                return torch.sqrt(x - 2.0)
            if kind == "shrink":
                return x[:, :, :-4, :] * 1.0
            r = self.c2(F.relu(self.c1(F.avg_pool2d(x, 4))))
            r = F.interpolate(r, scale_factor=4.0, mode="nearest")
            return torch.clamp(x - 0.1 * torch.tanh(r), -1.0, 1.0)

    input_name, output_name = ("rainy", "clean") if net.startswith("f") else ("rain_layer", "real_rain_layer")
    height, width = fixed_shape or (32, 48)
    example = torch.zeros(1, 3, height, width)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Tiny().eval(),
            (example,),
            str(path),
            dynamo=False,
            opset_version=19,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes=None if fixed_shape else {input_name: axes, output_name: axes},
        )
    shape: list[int | None] = [1, 3, height, width] if fixed_shape else [None, 3, None, None]
    write_sidecar(
        path,
        ArtifactInfo(
            kind="onnx",
            net=net,
            precision="fp32",
            input_name=input_name,
            output_name=output_name,
            size_multiple=size_multiple,
            input_shape=shape,
            opset=19,
            train_frame_hw=train_frame_hw,
        ),
    )
    return path


def index_frame(index: int, height: int = 90, width: int = 150, seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 BGR frame: mid-grey texture with `index` written as 8 big black/white blocks
    along the top-left (bit i at block i), robust to lossy codecs and to an identity-ish net."""
    rng = np.random.default_rng(seed + index)
    frame = rng.integers(60, 190, size=(height, width, 3), dtype=np.uint8)
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = value
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Read back the index written by `index_frame` (block centres, threshold at mid-grey)."""
    index = 0
    for bit in range(BITS):
        centre = frame[2 : BLOCK - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2]
        if centre.mean() > 128:
            index |= 1 << bit
    return index


def write_video(path: Path, frames: list[np.ndarray], fps: float = 20.0) -> Path:
    """Encode BGR frames with the package's writer: mp4v for .mp4, MJPG for .avi."""
    return video_files.write_video(path, frames, fps)


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video, BGR; a video with no decodable frame is an empty list."""
    try:
        return video_files.read_video(path)
    except JRGRError:
        return []


class SlowBackend(Backend):
    """A real backend made slower by a fixed delay per call (a stand-in for a big net / slow device). With
    `concurrent_calls` (as the inner backend allows) several threads may call it at once; `most_at_once` is the
    most calls that ran at the same time."""

    def __init__(self, inner: Backend, delay_s: float, concurrent_calls: bool = False) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.name = f"slow-{inner.name}"
        self.device = inner.device
        self.path = inner.path
        self.input_contract = inner.input_contract
        self.concurrent_calls = concurrent_calls and inner.concurrent_calls
        self.calls = 0
        self.most_at_once = 0
        self.call_s: list[float] = []
        self._running = 0
        self._lock = threading.Lock()

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        started = time.perf_counter()
        try:
            time.sleep(self.delay_s)
            return self.inner(batch)
        finally:
            with self._lock:
                self._running -= 1
                self.call_s.append(time.perf_counter() - started)

    def _close(self) -> None:
        self.inner.close()


class PacedSource(FrameSource):
    """A live source that produces `count` index frames every `interval_s`, like a camera; read `fail_at`
    raises SourceReadError once (a dropped connection), `down_for` reconnect attempts fail after it."""

    def __init__(
        self,
        count: int,
        interval_s: float,
        fail_at: int | None = None,
        down_for: int = 0,
        frame_hw: tuple[int, int] = (48, 96),
        name: str = "paced test camera",
    ) -> None:
        super().__init__()
        self.name = name
        self.frame_hw = frame_hw
        self.live = True
        self.fps = 1.0 / interval_s
        self.count, self.interval_s = count, interval_s
        self.fail_at, self.down_for = fail_at, down_for
        self.next_index = 0
        self.opens = self.closes = 0
        self._due = 0.0

    def _open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.down_for > 0:
            self.down_for -= 1
            raise JRGRError("camera still unplugged")
        self._due = time.monotonic()

    def _read(self) -> np.ndarray | None:
        if self.next_index >= self.count:
            return None
        if self.fail_at is not None and self.next_index == self.fail_at:
            self.fail_at = None
            raise SourceReadError(f"{self.name}: connection lost")
        self._due += self.interval_s
        delay = self._due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        frame = index_frame(self.next_index, *self.frame_hw)
        self.next_index += 1
        return frame

    def _close(self) -> None:
        self.closes += 1


class MjpegCamera:
    """A network camera for the tests: index frames as HTTP MJPEG (multipart/x-mixed-replace) at `fps` on
    127.0.0.1, frame i due at t0 + i / fps as a real camera keeps time; `kill()` drops every connection and stops
    listening (the camera unplugged), `start()` again brings it back on the same port."""

    def __init__(self, fps: float = 20.0, frame_hw: tuple[int, int] = (48, 96), port: int = 0) -> None:
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while not camera.killed.is_set():
                        delay = camera.t0 + index / camera.fps - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        jpeg = cv2.imencode(".jpg", index_frame(index % 256, *camera.frame_hw))[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpeg), jpeg))
                        index += 1
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.fps, self.frame_hw = fps, frame_hw
        self.killed = threading.Event()
        self._handler = Handler
        self._port = port
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.t0 = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/camera.mjpg"

    def start(self) -> MjpegCamera:
        self.killed.clear()
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), self._handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def kill(self) -> None:
        self.killed.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
