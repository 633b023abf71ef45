"""The operator view (runtime/server.py) under real HTTP requests while cameras run through one backend: the page,
/api/stats, /metrics parsed by Prometheus' own parser, MJPEG parts decoded as JPEG frames, a camera shown down,
the token refused or accepted, credentials never shown; a headless-Chromium screenshot of the page."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_fixtures import PacedSource, decode_index, export_fixture_net

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime import Deraining
from jrgr_deploy.runtime.multi import MultiStream
from jrgr_deploy.runtime.server import FrameTap, OperatorServer, check_bind, parse_bind, read_token

TOKEN = "s3cret-token-for-tests"
SECRET_URL = "rtsp://admin:hunter2@192.0.2.10/ch1"


@pytest.fixture(scope="module")
def f_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_fixture_net(tmp_path_factory.mktemp("nets") / "f_r.onnx")


class Running:
    """A multi-camera run in a thread with its operator view on a free loopback port."""

    def __init__(self, multi: MultiStream, server: OperatorServer) -> None:
        self.multi, self.server = multi, server
        self.thread = threading.Thread(target=multi.run, name="test-multi-run", daemon=True)

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.server.url + path.lstrip("/"), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def stats(self, **headers: str) -> dict:
        return json.loads(self.get("/api/stats", headers)[2])

    def wait_for(self, predicate, timeout_s: float = 30.0, **headers: str) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.stats(**headers)
            if predicate(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"not reached in {timeout_s} s: {status}")


def start(model: Deraining, cameras: dict, token: str | None = None, **options) -> Running:  # noqa: ANN003
    taps = {name: FrameTap(name) for name in cameras}
    multi = model.multi_stream(cameras, taps=taps, **options)
    server = OperatorServer("127.0.0.1", 0, multi.status, taps, token).start()
    running = Running(multi, server)
    running.thread.start()
    return running


@pytest.fixture
def running(f_r: Path) -> Iterator[Running]:
    cameras = {
        "north": PacedSource(count=100_000, interval_s=0.05, name=SECRET_URL),
        "south": PacedSource(count=100_000, interval_s=0.05, fail_at=30, down_for=100_000, name="south cam"),
    }
    with Deraining(f_r) as model:
        run = start(model, cameras, reconnect_backoff_s=(0.05, 0.2), reconnect_timeout_s=120)
        try:
            yield run
        finally:
            run.multi.request_stop()
            run.thread.join(timeout=30)
            run.server.close()
    assert not run.thread.is_alive()


def read_mjpeg_parts(url: str, parts: int, headers: dict[str, str] | None = None) -> list[np.ndarray]:
    """Read `parts` JPEG frames of a multipart/x-mixed-replace response and decode them."""
    request = urllib.request.Request(url, headers=headers or {})
    frames = []
    with urllib.request.urlopen(request, timeout=20) as response:
        kind = response.headers["Content-Type"]
        assert kind.startswith("multipart/x-mixed-replace; boundary=")
        boundary = b"--" + kind.split("boundary=")[1].encode()
        while len(frames) < parts:
            line = response.readline().strip()
            if not line:
                continue
            assert line == boundary, line
            fields = {}
            while (header := response.readline().strip()):
                key, value = header.decode().split(":", 1)
                fields[key.lower()] = value.strip()
            assert fields["content-type"] == "image/jpeg"
            jpeg = response.read(int(fields["content-length"]))
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"  # a whole JPEG file
            frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert frame is not None
            frames.append(frame)
    return frames


def test_page_stats_metrics_and_mjpeg_over_http(running: Running) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    running.wait_for(lambda s: all(c["frames_out"] >= 5 for c in s["cameras"]))

    code, headers, body = running.get("/")
    page = body.decode()
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert 'id="camera-north"' in page and 'src="side/north.mjpg"' in page and 'id="camera-south"' in page
    assert "rtsp://***@192.0.2.10/ch1" in page and "hunter2" not in page and "admin" not in page

    status = running.stats()
    north = status["cameras"][0]
    assert north["name"] == "north" and north["state"] == "live" and north["fps"] > 0
    assert north["source"] == "rtsp://***@192.0.2.10/ch1" and north["latency_ms"]["p50"] > 0
    assert status["total"]["cameras"] == 2 and status["batches"]["calls"] > 0

    code, headers, body = running.get("/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    assert {"jrgr_camera_up", "jrgr_camera_fps", "jrgr_frames_out", "jrgr_frames_dropped", "jrgr_reconnects",
            "jrgr_outage_seconds", "jrgr_capture_to_output_ms", "jrgr_backend_calls"} <= families.keys()
    out = {s.labels["camera"]: s.value for s in families["jrgr_frames_out"].samples if s.name.endswith("_total")}
    assert out.keys() == {"north", "south"} and out["north"] >= 5
    quantiles = {s.labels["quantile"] for s in families["jrgr_capture_to_output_ms"].samples}
    assert quantiles == {"0.5", "0.95", "0.99"}
    assert "hunter2" not in body.decode()

    derained = read_mjpeg_parts(running.server.url + "stream/north.mjpg", 3)
    side = read_mjpeg_parts(running.server.url + "side/north.mjpg", 2)
    assert all(frame.shape == (48, 96, 3) for frame in derained)
    assert all(frame.shape == (48, 192, 3) for frame in side)
    indices = [decode_index(frame) for frame in derained]
    assert indices == sorted(indices) and len(set(indices)) == 3  # three successive frames, newest first
    assert running.get("/stream/nowhere.mjpg")[0] == 404 and running.get("/nothing")[0] == 404


def test_a_camera_that_drops_is_shown_down(running: Running) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    status = running.wait_for(lambda s: s["cameras"][1]["state"] == "down" and s["cameras"][1]["outage_s"] >= 0.5)
    north, south = status["cameras"]
    assert north["state"] == "live" and north["frames_out"] > south["frames_out"]  # the other camera goes on
    families = {f.name: f for f in text_string_to_metric_families(running.get("/metrics")[2].decode())}
    up = {s.labels["camera"]: s.value for s in families["jrgr_camera_up"].samples}
    assert up == {"north": 1.0, "south": 0.0}
    assert "DOWN – reconnecting" in running.get("/")[2].decode()  # the words the page shows for that state


def test_requests_without_the_token_are_refused(f_r: Path) -> None:
    with Deraining(f_r) as model:
        run = start(model, {"cam": PacedSource(count=100_000, interval_s=0.05, name=SECRET_URL)}, token=TOKEN)
        try:
            for path in ("/", "/api/stats", "/metrics", "/stream/cam.mjpg"):
                code, headers, body = run.get(path)
                assert code == 401 and headers["WWW-Authenticate"].startswith("Basic")
                assert TOKEN not in body.decode()
            assert run.get("/", {"Authorization": "Bearer wrong-token-123"})[0] == 401
            basic = "Basic " + base64.b64encode(f"operator:{TOKEN}".encode()).decode()
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            status = run.wait_for(lambda s: s["cameras"][0]["frames_out"] >= 2, Authorization=f"Bearer {TOKEN}")
            assert TOKEN not in json.dumps(status) and "hunter2" not in json.dumps(status)
            code, _, page = run.get("/", {"Authorization": basic})
            assert code == 200 and TOKEN not in page.decode()
            assert read_mjpeg_parts(run.server.url + "stream/cam.mjpg", 1, bearer)[0].shape == (48, 96, 3)
        finally:
            run.multi.request_stop()
            run.thread.join(timeout=30)
            run.server.close()


def test_bind_rules_port_in_use_and_tokens(tmp_path: Path) -> None:
    assert parse_bind(":8080") == ("127.0.0.1", 8080) and parse_bind("8080") == ("127.0.0.1", 8080)
    assert parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000) and parse_bind("[::1]:80") == ("::1", 80)
    with pytest.raises(JRGRError, match=r"--serve 'here' is not HOST:PORT"):
        parse_bind("here")
    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    with pytest.raises(JRGRError, match=r"--serve on '0.0.0.0' would let anyone on the network.*--token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    assert read_token(None, token_file) == TOKEN and read_token(None, None) is None
    with pytest.raises(JRGRError, match="at least 8 characters"):
        read_token("short", None)
    with pytest.raises(JRGRError, match="not both"):
        read_token(TOKEN, token_file)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(JRGRError, match=rf"--serve 127.0.0.1:{port}: the port is in use"):
            OperatorServer("127.0.0.1", port, lambda: {}, {})


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    # --timeout: the MJPEG tiles never finish loading; stop waiting for them after 4 s and render what is there
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,720",
                           "--timeout=4000", *args, url], capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_browser_renders_the_live_tiles(running: Running, tmp_path: Path) -> None:
    running.wait_for(lambda s: all(c["frames_out"] >= 5 for c in s["cameras"]))
    for attempt in range(3):  # the page's script polls /api/stats once a second; a loaded machine may be late
        dom = chromium(running.server.url, tmp_path / f"profile-dom-{attempt}", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        if "frames per backend call" in dom.stdout:  # written by the script from /api/stats, not by the server
            break
    else:
        raise AssertionError(f"the page's script did not update the page: {dom.stdout[-2000:]}")
    assert 'class="tile live" id="camera-north"' in dom.stdout and "hunter2" not in dom.stdout
    fps = dom.stdout.split('data-key="fps">')[1].split("<")[0]
    assert float(fps) > 0
    shot = tmp_path / "page.png"
    done = chromium(running.server.url, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image.shape == (720, 1280, 3)
    # the live tiles' green borders (#2f9e44, BGR 68 158 47) are drawn, and so are camera frames (texture)
    green = np.all(np.abs(image.astype(int) - (68, 158, 47)) < 20, axis=2)
    assert green.sum() > 500
    assert image[60:250, 20:620].std() > 20
