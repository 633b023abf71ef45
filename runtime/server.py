"""The operator view: one web page with a tile per camera, statistics as JSON and for Prometheus, MJPEG streams.

    GET /                    the page: per camera a [rainy | derained] MJPEG tile, live fps, latency, drops,
                             reconnects, and its state (live, connecting, down, ended, failed) in plain words
    GET /api/stats           JSON: every camera's state and numbers, the total, the backend's batches
    GET /metrics             Prometheus text format (version 0.0.4), one series per camera (label `camera`)
    GET /stream/NAME.mjpg    the camera's derained frames as MJPEG (multipart/x-mixed-replace), for a VMS
    GET /side/NAME.mjpg      [rainy | derained] side by side, what the tiles show

The standard library's threading HTTP server, no JavaScript build step (the page polls /api/stats with a few
lines of inline script; the tiles are plain <img> MJPEG). Frames reach the server through a `FrameTap` sink per
camera, which keeps only the newest pair; each frame is JPEG-encoded at most once per view, when a client
asks, and shared by every client.

Who may look: with a token (`token=`), every request must carry it, as `Authorization: Bearer TOKEN` (scripts,
Prometheus' `authorization`) or as the password of HTTP Basic authentication with any user name (browsers ask
for it; a VMS takes `http://user:TOKEN@host:port/stream/NAME.mjpg`); anything else is answered 401. Binding an
address other than loopback without a token is refused (`check_bind`). The token never appears in a page, a
response or a log line; sources are shown redacted (`jrgr_deploy.redaction`).
"""

from __future__ import annotations

import base64
import binascii
import errno
import hmac
import html
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.redaction import redact
from jrgr_deploy.runtime.sinks import FrameInfo, FrameSink

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
JPEG_QUALITY = 80
BOUNDARY = "jrgrframe"
VIEWS = ("stream", "side")  # /stream/NAME.mjpg: derained; /side/NAME.mjpg: [rainy | derained]


class FrameTap(FrameSink):
    """The newest (input, derained) pair of one camera, for the MJPEG streams (a sink of that camera).

    `emit` stores references to the input (`FrameInfo.input_frame`) and the result (no copy: the pipeline never
    changes a frame after it is written); `jpeg(view, after)` waits for a frame newer than `after` and returns
    (sequence number, JPEG bytes), encoded once per frame and view whoever asks.
    """

    def __init__(self, name: str) -> None:
        self.name = f"operator view of '{name}'"
        self._cond = threading.Condition()
        self._sequence = 0
        self._pair: tuple[np.ndarray, np.ndarray] | None = None
        self._encoded: dict[str, bytes] = {}
        self.closed = False

    def write(self, index: int, frame: np.ndarray) -> None:
        self.emit(FrameInfo(index), frame)

    def emit(self, info: FrameInfo, result: np.ndarray) -> None:
        frame = result if info.input_frame is None else info.input_frame
        # A side-by-side output is [input | derained]: the derained half is what /stream serves.
        derained = result[:, frame.shape[1] :] if result.shape[1] == 2 * frame.shape[1] else result
        with self._cond:
            self._sequence += 1
            self._pair = (frame, derained)
            self._encoded = {}
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def jpeg(self, view: str, after: int, timeout_s: float) -> tuple[int, bytes] | None:
        """The newest frame after sequence number `after` as a JPEG of `view`; None after `timeout_s` without
        one (or once closed)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._sequence > after or self.closed, timeout_s):
                return None
            if self._sequence <= after or self._pair is None:
                return None
            sequence, pair, cached = self._sequence, self._pair, self._encoded.get(view)
        if cached is None:
            frame, derained = pair
            image = derained if view == "stream" else np.hstack((frame, derained))
            ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
                return None
            cached = buffer.tobytes()
            with self._cond:
                if self._sequence == sequence:
                    self._encoded[view] = cached
        return sequence, cached


def parse_bind(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' (host 127.0.0.1), '[::1]:PORT' -> (host, port); a clear error otherwise."""
    raw = text.strip()
    host, _, port_text = raw.rpartition(":") if ":" in raw else ("", "", raw)
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise JRGRError(f"--serve '{text}' is not HOST:PORT (e.g. 127.0.0.1:8080, or :8080)") from None
    if not 0 <= port <= 65535:
        raise JRGRError(f"--serve '{text}': port {port} is not in 0-65535")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token: str | None, token_file: str | Path | None) -> str | None:
    """The access token from `--token` or the first line of `--token-file` (None: no token)."""
    if token is not None and token_file is not None:
        raise JRGRError("give --token or --token-file, not both")
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise JRGRError(f"token file '{path}' does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise JRGRError(f"token file '{path}' is empty: its first line is the token")
    if token is not None and len(token) < 8:
        raise JRGRError("the access token must have at least 8 characters")
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token."""
    if token is None and not is_loopback(host):
        raise JRGRError(
            f"--serve on '{host}' would let anyone on the network watch the cameras: give --token TOKEN or "
            "--token-file FILE (or bind 127.0.0.1)"
        )


# -- Prometheus text ----------------------------------------------------------------------------------------
# name, type, help, value of a camera's /api/stats entry
_CAMERA_METRICS: tuple[tuple[str, str, str, Callable[[dict[str, Any]], float | None]], ...] = (
    ("jrgr_camera_up", "gauge", "1 while the camera delivers frames, 0 when connecting, down or ended",
     lambda c: 1.0 if c["state"] == "live" else 0.0),
    ("jrgr_camera_fps", "gauge", "derained frames per second over the recent frames",
     lambda c: c["fps"]),
    ("jrgr_frames_captured_total", "counter", "frames read from the camera", lambda c: c["frames_captured"]),
    ("jrgr_frames_out_total", "counter", "derained frames delivered", lambda c: c["frames_out"]),
    ("jrgr_frames_dropped_total", "counter", "frames dropped to keep the newest (live cameras)",
     lambda c: c["frames_dropped"]),
    ("jrgr_reconnects_total", "counter", "reconnections after a lost connection", lambda c: c["reconnects"]),
    ("jrgr_outage_seconds_total", "counter", "seconds the camera was down", lambda c: c["outage_s"]),
)  # fmt: skip


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(status: dict[str, Any]) -> str:
    """/api/stats in the Prometheus text exposition format (0.0.4)."""
    lines: list[str] = []
    cameras = status["cameras"]
    for name, kind, help_text, value in _CAMERA_METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for camera in cameras:
            number = value(camera)
            if number is not None:
                lines.append(f'{name}{{camera="{_label(camera["name"])}"}} {float(number):g}')
    name = "jrgr_capture_to_output_ms"
    lines += [f"# HELP {name} capture-to-output latency over the recent frames (ms)", f"# TYPE {name} summary"]
    for camera in cameras:
        for key, quantile in (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")):
            number = camera["latency_ms"][key]
            if number is not None:
                lines.append(f'{name}{{camera="{_label(camera["name"])}",quantile="{quantile}"}} {number:g}')
    batches = status["batches"]
    lines += ["# HELP jrgr_backend_calls_total batched inference calls", "# TYPE jrgr_backend_calls_total counter",
              f"jrgr_backend_calls_total {batches['calls']}",
              "# HELP jrgr_backend_frames_total frames through the backend", "# TYPE jrgr_backend_frames_total counter",
              f"jrgr_backend_frames_total {batches['frames']}"]  # fmt: skip
    return "\n".join(lines) + "\n"


# -- the page -----------------------------------------------------------------------------------------------
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>jrgr operator view</title>
<style>
body {{ margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #15181c; color: #e8e8e8; }}
header {{ padding: 10px 16px; background: #20252b; display: flex; gap: 24px; align-items: baseline; }}
header h1 {{ font-size: 18px; margin: 0; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; padding: 12px; }}
.tile {{ background: #20252b; border: 3px solid #2f9e44; border-radius: 6px; overflow: hidden; }}
.tile.down, .tile.connecting, .tile.failed {{ border-color: #e03131; }}
.tile.ended {{ border-color: #868e96; }}
.view {{ position: relative; background: #000; min-height: 120px; }}
.view img {{ width: 100%; height: auto; display: block; }}
.state {{ position: absolute; inset: 0; display: none; align-items: center; justify-content: center;
  background: rgba(0, 0, 0, .65); font-size: 22px; font-weight: 600; color: #ff6b6b; text-align: center;
  white-space: pre-line; }}
.down .state, .connecting .state, .failed .state {{ display: flex; }}
.ended .state {{ display: flex; color: #ced4da; }}
.caption {{ display: flex; justify-content: space-between; padding: 2px 10px; color: #adb5bd; font-size: 12px; }}
.numbers {{ display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 6px 10px 10px; }}
.numbers b {{ color: #fff; }}
.name {{ font-weight: 600; font-size: 16px; }}
</style></head>
<body>
<header><h1>jrgr operator view</h1><span id="total">{total}</span></header>
<main>
{tiles}
</main>
<script>
function text(value, digits, unit) {{
  return value === null || value === undefined ? "–" : value.toFixed(digits) + (unit || "");
}}
const WORDS = {words};
async function refresh() {{
  try {{
    const response = await fetch("api/stats", {{cache: "no-store"}});
    if (!response.ok) return;
    const status = await response.json();
    for (const camera of status.cameras) {{
      const tile = document.getElementById("camera-" + camera.name);
      if (!tile) continue;
      tile.className = "tile " + camera.state;
      tile.querySelector(".state").textContent = WORDS[camera.state] +
        (camera.state === "down" ? " (" + camera.outage_s.toFixed(0) + " s)" : "") +
        (camera.message ? "\\n" + camera.message : "");
      const q = (key) => tile.querySelector("[data-key=" + key + "]");
      q("fps").textContent = text(camera.fps, 1);
      q("p50").textContent = text(camera.latency_ms.p50, 0, " ms");
      q("p99").textContent = text(camera.latency_ms.p99, 0, " ms");
      q("dropped").textContent = camera.frames_dropped;
      q("reconnects").textContent = camera.reconnects;
      q("out").textContent = camera.frames_out;
    }}
    const t = status.total;
    document.getElementById("total").textContent = t.live + " of " + t.cameras + " cameras live · " +
      t.fps.toFixed(1) + " fps in all · " + (status.batches.mean_size === null ? "–" :
      status.batches.mean_size.toFixed(2)) + " frames per backend call" +
      (status.batches.workers > 1 ? " · up to " + status.batches.workers + " calls at once" : "");
  }} catch (error) {{ /* the next poll retries */ }}
}}
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
"""

_TILE = """<section class="tile {state}" id="camera-{name}">
  <div class="view"><img src="side/{name}.mjpg" alt="{name}: rainy | derained">
    <div class="state">{state_text}</div></div>
  <div class="caption"><span>rainy</span><span>derained</span></div>
  <div class="numbers"><span class="name">{name}</span><span>{source}</span>
    <span>fps <b data-key="fps">{fps}</b></span>
    <span>latency p50 <b data-key="p50">{p50}</b> p99 <b data-key="p99">{p99}</b></span>
    <span>dropped <b data-key="dropped">{frames_dropped}</b></span>
    <span>reconnects <b data-key="reconnects">{reconnects}</b></span>
    <span>frames <b data-key="out">{frames_out}</b></span></div>
</section>"""
# What a tile says over its picture in each state (the page's script uses the same words).
STATE_WORDS = {"live": "", "connecting": "CONNECTING…", "down": "DOWN – reconnecting", "ended": "ENDED",
               "failed": "FAILED"}  # fmt: skip


def _number(value: float | None, digits: int, unit: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def render_page(status: dict[str, Any]) -> str:
    """The operator page for the cameras of `status`, with the numbers as they are now (the script updates
    them every second); names and redacted sources HTML-escaped."""
    tiles = "\n".join(
        _TILE.format(name=html.escape(camera["name"]), source=html.escape(camera["source"]), state=camera["state"],
                     state_text=html.escape(STATE_WORDS[camera["state"]]), fps=_number(camera["fps"], 1),
                     p50=_number(camera["latency_ms"]["p50"], 0, " ms"),
                     p99=_number(camera["latency_ms"]["p99"], 0, " ms"), frames_dropped=camera["frames_dropped"],
                     reconnects=camera["reconnects"], frames_out=camera["frames_out"])
        for camera in status["cameras"]
    )  # fmt: skip
    total = status["total"]
    return _PAGE.format(tiles=tiles, total=f"{total['live']} of {total['cameras']} cameras live",
                        words=json.dumps(STATE_WORDS, ensure_ascii=False))  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server: OperatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "jrgr"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        # The request line holds no secret (the token travels in a header); debug level: one line per request.
        logger.debug("%s %s", self.address_string(), redact(format % args))

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        offered = ""
        if scheme.lower() == "bearer":
            offered = value.strip()
        elif scheme.lower() == "basic":
            try:
                offered = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                offered = ""
        return hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8"))

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._authorised():
            self._send(HTTPStatus.UNAUTHORIZED, b"401: this operator view needs its access token\n",
                       "text/plain; charset=utf-8", {"WWW-Authenticate": 'Basic realm="jrgr operator view"'})
            return
        path = unquote(urlsplit(self.path).path)
        server = self.server
        try:
            if path in ("/", "/index.html"):
                body = render_page(server.status()).encode("utf-8")
                self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")
            elif path == "/api/stats":
                self._send(HTTPStatus.OK, json.dumps(server.status()).encode("utf-8"), "application/json")
            elif path == "/metrics":
                body = prometheus_text(server.status()).encode("utf-8")
                self._send(HTTPStatus.OK, body, "text/plain; version=0.0.4; charset=utf-8")
            elif path.endswith(".mjpg") and path.count("/") == 2 and path.split("/")[1] in VIEWS:
                view, name = path.split("/")[1], path.split("/")[2][: -len(".mjpg")]
                tap = server.taps.get(name)
                if tap is None:
                    self._send(HTTPStatus.NOT_FOUND, f"404: no camera '{name}'\n".encode(), "text/plain; charset=utf-8")
                elif self.command == "HEAD":
                    self._send(HTTPStatus.OK, b"", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                else:
                    self._mjpeg(tap, view)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"404: not here; try /, /api/stats, /metrics, /stream/NAME.mjpg\n",
                           "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away

    def _mjpeg(self, tap: FrameTap, view: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sequence = 0
        while not self.server.closing.is_set():
            got = tap.jpeg(view, sequence, timeout_s=0.5)
            if got is None:
                if tap.closed:
                    return
                continue
            sequence, jpeg = got
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            self.wfile.write(head + jpeg + b"\r\n")
            self.wfile.flush()


class OperatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], status: Callable[[], dict[str, Any]], taps: dict[str, FrameTap],
                 token: str | None) -> None:  # fmt: skip
        self.status = status
        self.taps = taps
        self.token = token
        self.closing = threading.Event()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)


class OperatorServer(Closing):
    """The operator view on `host:port` (port 0: any free port; `url` says which), serving `status()` (the
    multi-camera run's `MultiStream.status`) and the frames of `taps` (camera name -> FrameTap). `token`: see
    the module docstring; `check_bind` refuses a non-loopback host without one. Binds at construction (a port
    in use is a JRGRError, before anything else starts); `start()` serves in a thread; `close()` stops."""

    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]], taps: dict[str, FrameTap],
                 token: str | None = None) -> None:  # fmt: skip
        check_bind(host, token)
        try:
            self._httpd = OperatorHTTPServer((host, port), status, taps, token)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise JRGRError(
                    f"--serve {host}:{port}: the port is in use (another jrgr, or another server); pick another "
                    "port, or :0 for any free one"
                ) from None
            raise JRGRError(f"--serve {host}:{port}: cannot listen there: {error.strerror or error}") from None
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> OperatorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="jrgr-operator-view", daemon=True)  # fmt: skip
        self._thread.start()
        logger.info("operator view at %s%s", self.url, " (token required)" if self._httpd.token else "")
        return self

    def close(self) -> None:
        self._httpd.closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()


__all__ = [
    "DEFAULT_HOST",
    "FrameTap",
    "OperatorServer",
    "check_bind",
    "is_loopback",
    "parse_bind",
    "prometheus_text",
    "read_token",
    "render_page",
]
