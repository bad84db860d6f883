"""Structured logs (structlog). Every line carries ``service`` and ``version``; the model id is bound per
message/request with ``bound_model`` (and the Kafka middleware binds ``event_id`` and ``topic``) so every
line written while handling it carries them. Bearer tokens, presigned-URL signatures and values of
secret-named fields are masked before anything is written. ``SENTRY_DSN`` turns on error reporting."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import structlog

from photo3d_common.settings import LogSettings

_NOISY_PREFIXES = ("aiokafka", "faststream", "kafka", "botocore", "aiobotocore", "asyncio", "uvicorn")


def configure_logging(service: str, settings: LogSettings | None = None) -> None:
    settings = settings or LogSettings()
    level = logging.getLevelNamesMapping().get(settings.level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        # Plain tracebacks: rich's, with every frame's locals, took seconds per error on a loaded machine,
        # blocking the event loop (a request waiting on a dead database then answered in 6 s, not 0.05 s).
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Third-party stdlib logging (uvicorn, aiokafka, faststream) goes through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if settings.format == "json" else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "botocore", "aiobotocore", "urllib3", "numba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    structlog.contextvars.bind_contextvars(
        service=service, version=os.environ.get("PHOTO3D_VERSION") or "dev"
    )
    from photo3d_common import metrics, reporting

    metrics.record_build(service)
    reporting.configure_error_reporting(service)


# A JWT (three base64url parts, the first a JSON header), a presigned URL's signature and credential, and
# an Authorization header's value.
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_PRESIGNED = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token))=[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_SECRET_KEY = re.compile(r"(secret|password|token|authorization|api_key|credential)", re.IGNORECASE)
_SAFE_KEYS = {"event", "logger", "level", "timestamp", "service", "version", "model_id", "event_id"}


def _mask(text: str) -> str:
    text = _TOKEN.sub("<token>", text)
    text = _PRESIGNED.sub(r"\1=<redacted>", text)
    return _BEARER.sub(r"\1<token>", text)


def redact_secrets(
    _logger: object, _name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Never write a token, a secret or a presigned URL, whoever logs it."""
    for key, value in list(event_dict.items()):
        if key not in _SAFE_KEYS and _SECRET_KEY.search(key) and value not in (None, "", False):
            event_dict[key] = "***"
        elif isinstance(value, str):
            event_dict[key] = _mask(value)
    return event_dict


def _identity(
    _logger: object, _name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event_dict


@contextlib.contextmanager
def bound_model(model_id: object) -> Iterator[None]:
    """Bind ``model_id`` to every log line written inside the block."""
    with structlog.contextvars.bound_contextvars(model_id=str(model_id)):
        yield


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


class RepeatFilter(logging.Filter):
    """Tames libraries that log the same warning on every reconnect attempt (aiokafka writes one per
    node and retry while the broker is down): the first record of a kind passes, repeats within
    ``window_s`` are dropped, and the first one after the window passes with the count of those dropped.
    A kind is (logger, level, message template); only third-party loggers are filtered."""

    def __init__(self, window_s: float = 60.0, prefixes: tuple[str, ...] = _NOISY_PREFIXES) -> None:
        super().__init__()
        self.window_s = window_s
        self.prefixes = prefixes
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            since, dropped = self._seen.get(key, (0.0, -1))
            if dropped >= 0 and now - since < self.window_s:
                self._seen[key] = (since, dropped + 1)
                return False
            self._seen[key] = (now, 0)
        if dropped > 0:
            record.msg = f"{record.getMessage()} [repeated {dropped} more times in {now - since:.0f} s]"
            record.args = None
            record.exc_info = record.exc_text = None  # its traceback was shown with the first one
        return True


class FailureBurst:
    """Logs a run of identical failures quietly: one error line when it starts (with the traceback the
    first time this kind of error is seen in the process), one line with the repeat count every
    ``every_s`` while it lasts, one line when it ends. For retry loops that wait for a dependency."""

    _tracebacks_shown: ClassVar[set[tuple[str, str]]] = set()

    def __init__(self, logger: Any, what: str, *, every_s: float = 60.0) -> None:
        self.logger = logger
        self.what = what
        self.every_s = every_s
        self.failures = 0
        self.started = 0.0
        self._last_report = 0.0

    @property
    def active(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException, **fields: Any) -> None:
        now = time.monotonic()
        self.failures += 1
        text = f"{type(error).__name__}: {error}"[:500]
        if self.failures == 1:
            self.started = self._last_report = now
            signature = (type(error).__name__, str(error).split("\n", 1)[0][:200])
            first_of_its_kind = signature not in self._tracebacks_shown
            self._tracebacks_shown.add(signature)
            self.logger.error(
                f"{self.what}: waiting", error=text, exc_info=error if first_of_its_kind else None, **fields
            )
        elif now - self._last_report >= self.every_s:
            self._last_report = now
            self.logger.error(
                f"{self.what}: still waiting",
                error=text,
                attempts=self.failures,
                waited_s=round(now - self.started, 1),
                **fields,
            )

    def recovered(self, **fields: Any) -> None:
        if self.failures:
            self.logger.warning(
                f"{self.what}: recovered",
                attempts=self.failures,
                waited_s=round(time.monotonic() - self.started, 1),
                **fields,
            )
        self.failures = 0
