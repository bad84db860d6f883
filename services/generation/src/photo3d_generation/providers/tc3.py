"""TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0, for requests sent with httpx.

The key derivation and the final HMAC come from the official SDK (``tencentcloud.common.sign.Sign.sign_tc3``).
The SDK builds the canonical request inside its own client classes, tied to its own HTTP stack, so the
canonical request, string to sign and headers are assembled here exactly as the SDK does (JSON body from
``json.dumps(params)``, ``Content-Type: application/json``, signed headers ``content-type;host``);
tests check the result is byte-identical to the SDK's and to Tencent's published example.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tencentcloud.common.sign import Sign

ALGORITHM = "TC3-HMAC-SHA256"
JSON_CONTENT_TYPE = "application/json"
SIGNED_HEADERS = "content-type;host"


def canonical_request(
    *, method: str, uri: str, query: str, content_type: str, host: str, payload: bytes
) -> str:
    payload_hash = hashlib.sha256(payload).hexdigest()
    canonical_headers = f"content-type:{content_type}\nhost:{host}\n"
    return f"{method}\n{uri}\n{query}\n{canonical_headers}\n{SIGNED_HEADERS}\n{payload_hash}"


def credential_date(timestamp: int) -> str:
    # Always the UTC date of the timestamp (a local date breaks requests around midnight).
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def string_to_sign(*, timestamp: int, service: str, canonical: str) -> str:
    scope = f"{credential_date(timestamp)}/{service}/tc3_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    payload: bytes,
    content_type: str = JSON_CONTENT_TYPE,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str:
    """The ``Authorization`` header value for one request."""
    canonical = canonical_request(
        method=method, uri=uri, query=query, content_type=content_type, host=host, payload=payload
    )
    to_sign = string_to_sign(timestamp=timestamp, service=service, canonical=canonical)
    date = credential_date(timestamp)
    signature = Sign.sign_tc3(secret_key, date, service, to_sign)
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


@dataclass(frozen=True)
class SignedRequest:
    headers: dict[str, str]
    body: bytes


def sign_json_request(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    action: str,
    version: str,
    region: str | None,
    params: Mapping[str, Any],
    timestamp: int,
    token: str | None = None,
    language: str | None = None,
    request_client: str | None = None,
) -> SignedRequest:
    """Headers and body of a signed JSON POST to ``https://{host}/``, as the official SDK sends them."""
    body = json.dumps(params).encode("utf-8")
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    if request_client:
        headers["X-TC-RequestClient"] = request_client
    if region:
        headers["X-TC-Region"] = region
    if token:
        headers["X-TC-Token"] = token
    if language:
        headers["X-TC-Language"] = language
    headers["Authorization"] = authorization(
        secret_id=secret_id,
        secret_key=secret_key,
        service=service,
        host=host,
        timestamp=timestamp,
        payload=body,
    )
    return SignedRequest(headers=headers, body=body)
