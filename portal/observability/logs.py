"""Log lines: `LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, request_id, job_id and
the line's extra fields); `text` keeps Python's usual lines. Every record carries `request_id` and `job_id`
(None outside a request or a job), whatever the handler, because the record factory stamps them."""

import logging
import sys
import threading
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from portal.observability import context

LOG_FORMATS = ("json", "text")
_configured_lock = threading.Lock()
_configured = False


def _install_record_factory() -> None:
    original = logging.getLogRecordFactory()
    if getattr(original, "portal_stamps_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        record.request_id = context.request_id.get()
        record.job_id = context.job_id.get()
        return record

    factory.portal_stamps_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


class UTCJsonFormatter(JsonFormatter):
    """time (ISO 8601, UTC), level, logger, message, request_id, job_id, then the record's `extra` fields; gunicorn's
    `--log-config-json` names it by class."""

    converter = time.gmtime

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%SZ",
        )


def configure(settings: dict) -> None:
    """Once per process: with LOG_FORMAT=json, the root logger writes JSON lines to stderr at LOG_LEVEL, and the
    handlers gunicorn and Huey installed write JSON too. With `text` nothing changes but the level of the
    portal's own loggers."""
    global _configured
    log_format = settings.get("LOG_FORMAT", "text")
    if log_format not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    with _configured_lock:
        if _configured:
            return
        _configured = True
        level = getattr(logging, str(settings.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
        logging.getLogger("portal").setLevel(level)
        if log_format != "json":
            return
        root = logging.getLogger()
        if not json_enabled():  # gunicorn's --log-config-json (`make run`) may have installed it already
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(UTCJsonFormatter())
            root.addHandler(handler)
        root.setLevel(level)
        for name in ("gunicorn.error", "gunicorn.access", "huey"):
            adopt_handlers(logging.getLogger(name))


def adopt_handlers(logger: logging.Logger) -> None:
    """JSON lines from the handlers another library installed on `logger` (gunicorn's, the Huey consumer's), and
    no second copy of them through the root logger."""
    if not logger.handlers:
        return
    for handler in logger.handlers:
        handler.setFormatter(UTCJsonFormatter())
    logger.propagate = False


def json_enabled() -> bool:
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
