"""What the fault-injection tests run in child processes that they kill: a checkpoint writer that saves without
pause, a training run, and a local MJPEG camera over HTTP with basic authentication.

The checkpoint children are started by a multiprocessing fork server that has imported torch once (a fresh
interpreter per kill would spend seconds importing it); the camera is a script of its own (`python
fault_children.py mjpeg PORT_FILE USER PASSWORD`), so that killing it is a real dead server.
"""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path


def save_forever(path: str, start_step: int, ready) -> None:  # noqa: ANN001 - a multiprocessing Event
    """Save a checkpoint with resume state at steps start_step+1, +2, ... until killed; `ready` is set once the
    first of them is complete. Every step is marked in the weights (f_r's first parameter) and in the state
    (`marker`), so a reader can tell whether a file mixes two saves."""
    import torch
    from tiny_checkpoints import perturbed_tiny_nets

    from jrgr_deploy.checkpoint import TrainState, save_checkpoint

    torch.set_num_threads(1)
    config, nets = perturbed_tiny_nets(("f_s", "f_r", "g_r", "g_s"))
    first = next(nets["f_r"].parameters())
    moments = torch.rand(1024, 1024)  # ~4 MB of optimiser-like state, so that a save takes a while
    step = start_step
    while True:
        step += 1
        with torch.no_grad():
            first.fill_(float(step))
        state = TrainState({"marker": torch.full((4,), float(step)), "opt.m": moments + step},
                           {"step": step, "stage": "stage2"})
        save_checkpoint(path, config=config, nets=nets, stage="stage2", step=step, train_state=state)
        ready.set()  # after the first save: every kill then lands in the back-to-back saves, however slow they are


def train_forever(config_json: str, run_dir: str, ready) -> None:  # noqa: ANN001 - a multiprocessing Event
    """Resume (or start) the run in `run_dir` and train until done or killed."""
    import torch

    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.training.trainer import train

    torch.set_num_threads(1)
    ready.set()
    train(JRGRConfig.from_json(config_json), run_dir, resume=True, progress=False)


def serve_mjpeg(port_file: str, user: str, password: str, fps: float = 10.0) -> None:
    """An MJPEG camera on 127.0.0.1 (any free port, written to `port_file`) that asks for HTTP basic
    authentication and streams numbered frames at `fps` until killed."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import cv2
    import numpy as np

    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Camera(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            index = 0
            due = time.monotonic()
            try:
                while True:
                    frame = np.full((96, 128, 3), 40 + (index * 7) % 180, np.uint8)
                    cv2.putText(frame, str(index), (8, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
                    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    index += 1
                    due += 1.0 / fps
                    time.sleep(max(0.0, due - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "mjpeg":
        serve_mjpeg(sys.argv[2], sys.argv[3], sys.argv[4])
