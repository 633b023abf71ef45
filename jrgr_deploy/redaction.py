"""Credentials never leave the process: the one redaction rule for URLs.

A camera URL may carry a user name and a password (`rtsp://user:pass@192.0.2.10/stream`, RFC 3986's
*userinfo*). Every text the package writes about a source — log lines, error messages, progress labels,
statistics files, sidecars — goes through `redact`, which replaces the userinfo of every URL in it with `***`:

    http://alice:s3cretPW@127.0.0.1:8080/s.mjpg  ->  http://***@127.0.0.1:8080/s.mjpg

The userinfo is what FFmpeg takes as credentials: everything between `scheme://` and the *last* `@` before the
first `/`, `?` or `#` (so a password with a raw `@` in it is redacted whole). Text without such a URL is
returned unchanged. The URL itself (with its credentials) is only ever handed to the capture library.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "***"

# scheme "://" authority-up-to-its-last-"@" ; the authority ends at / ? # or at whitespace / quotes.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"<>]*)@")


def redact(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by `***`."""
    if "@" not in text:  # the common case, no regex
        return text
    return _USERINFO.sub(lambda match: f"{match['scheme']}{REDACTED}@", text)


def redact_data(value: Any) -> Any:
    """`redact` applied to every string inside a JSON-like value (dicts, lists, tuples); keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and an exception's text) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter renders the traceback from exc_info; pre-render it redacted instead.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redact_logging(logger: logging.Logger | None = None) -> None:
    """Put a `RedactingFilter` on every handler of `logger` (default: the root logger), once each: a filter on a
    handler sees every record that reaches it, also those propagated from the package's loggers."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


__all__ = ["REDACTED", "RedactingFilter", "redact", "redact_data", "redact_logging"]
