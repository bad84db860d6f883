"""Optional error reporting with sentry-sdk: on when ``SENTRY_DSN`` is set, off by default. Error-level log
lines (every failure path logs once at error level) become events, tagged with the service, the version
as the release and the environment; no personal data is sent, and tokens and presigned URLs are masked
as in the logs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentry_sdk.types import Event as SentryEvent


def configure_error_reporting(service: str) -> bool:
    """Initialise Sentry for ``service`` when SENTRY_DSN is set. Returns whether it is on."""
    dsn = os.environ.get("SENTRY_DSN", "").strip()
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        release=os.environ.get("PHOTO3D_VERSION") or "dev",
        environment=os.environ.get("SENTRY_ENVIRONMENT")
        or os.environ.get("PHOTO3D_ENVIRONMENT")
        or "development",
        server_name=service,
        send_default_pii=False,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE") or 0),
        before_send=_scrub,
    )
    sentry_sdk.set_tag("service", service)
    return True


def _scrub(event: SentryEvent, _hint: dict[str, Any]) -> SentryEvent | None:
    from photo3d_common.logging import _mask

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return _mask(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    scrubbed: SentryEvent = clean(event)
    return scrubbed
