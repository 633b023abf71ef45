"""The one redaction rule: the user name and password of a URL become `***` in everything the package writes."""

from __future__ import annotations

import logging

import pytest

from jrgr_deploy.redaction import RedactingFilter, redact, redact_data, redact_logging


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://alice:s3cretPW@127.0.0.1:8080/s.mjpg", "http://***@127.0.0.1:8080/s.mjpg"),
        ("rtsp://admin@cam.local/stream", "rtsp://***@cam.local/stream"),
        ("rtsp://admin:p@ss@192.0.2.10:554/ch1?x=1", "rtsp://***@192.0.2.10:554/ch1?x=1"),  # raw @ in the password
        ("RTSPS://u:%40pw@h", "RTSPS://***@h"),
        ("stream 'rtsp://u:pw@h/s' cannot be opened; reconnect to rtsp://u:pw@h/s failed",
         "stream 'rtsp://***@h/s' cannot be opened; reconnect to rtsp://***@h/s failed"),
        ("http://127.0.0.1:8080/path@2x.mjpg", "http://127.0.0.1:8080/path@2x.mjpg"),  # an @ in the path is no secret
        ("mail me at someone@example.org", "mail me at someone@example.org"),
        ("drive.mp4", "drive.mp4"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


def test_redact_data_reaches_every_string() -> None:
    data = {"run": {"source": "http://a:b@h/x", "errors": ["capture: http://a:b@h/x lost"], "n": 3},
            "list": ("rtsp://a:b@h",), "none": None}
    assert redact_data(data) == {"run": {"source": "http://***@h/x", "errors": ["capture: http://***@h/x lost"],
                                         "n": 3}, "list": ("rtsp://***@h",), "none": None}


def test_logging_filter_redacts_messages_arguments_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("test_redaction")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        redact_logging(logger)
        redact_logging(logger)  # once per handler
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("%s; reconnecting", "http://alice:s3cretPW@127.0.0.1/s.mjpg")
        try:
            raise RuntimeError("cannot open rtsp://bob:hunter2@cam/1")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "s3cretPW" not in err and "hunter2" not in err and "alice" not in err
    assert "http://***@127.0.0.1/s.mjpg; reconnecting" in err and "rtsp://***@cam/1" in err
