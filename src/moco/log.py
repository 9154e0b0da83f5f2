"""structlog set-up shared by every moco program.

Output is one JSON object per line when the process runs in a Pod or its stderr is not a
terminal (what log collectors parse), and a coloured console line on a terminal. Context such
as ``cluster``, ``namespace`` and ``pod`` is bound with :func:`structlog.contextvars.bind_contextvars`
or ``logger.bind`` and shows up as keys.

Secrets never reach a log line: any key that names a password, secret or token has its value
replaced by ``"<redacted>"`` before rendering, whatever the caller passed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

Format = Literal["auto", "json", "console"]

_SENSITIVE = ("password", "passwd", "secret", "token", "credential")
REDACTED = "<redacted>"


def _is_sensitive(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in _SENSITIVE)


def redact(value: Any) -> Any:
    """Return ``value`` with every sensitive key of nested mappings redacted."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _is_sensitive(k) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _is_sensitive(key):
            event_dict[key] = REDACTED
        elif key != "event":
            event_dict[key] = redact(event_dict[key])
    return event_dict


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment.

    structlog's PrintLogger keeps the file object it was made with; when stderr is replaced
    (a test runner capturing output, a daemon redirecting it) a long-lived task would keep
    writing to a closed file and fail in the middle of its work.
    """

    def __init__(self, *_: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        try:
            print(message, file=sys.stderr, flush=True)
        except (ValueError, OSError):
            pass  # stderr closed under us: losing a log line beats failing the caller

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def _choose_format(fmt: Format) -> Literal["json", "console"]:
    if fmt != "auto":
        return fmt
    if os.environ.get("KUBERNETES_SERVICE_HOST") or not sys.stderr.isatty():
        return "json"
    return "console"


def setup(level: str | int = "INFO", fmt: Format = "auto") -> None:
    """Configure structlog (and the stdlib root logger, for libraries) once per process."""
    if isinstance(level, str):
        level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    chosen = _choose_format(fmt)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if chosen == "json":
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A lazily bound structlog logger; ``name`` is added as the ``component`` key."""
    if name is not None:
        initial["component"] = name
    # structlog.get_logger returns a lazy proxy: a logger made at import time still renders
    # with whatever setup() configures later.
    return structlog.get_logger(**initial)
