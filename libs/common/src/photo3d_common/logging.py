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
from collections.abc import Iterator

import structlog

from photo3d_common.settings import LogSettings


def configure_logging(service: str, settings: LogSettings | None = None) -> None:
    settings = settings or LogSettings()
    level = logging.getLevelNamesMapping().get(settings.level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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
