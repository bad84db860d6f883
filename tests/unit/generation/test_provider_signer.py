"""TC3-HMAC-SHA256 signing: Tencent's published example, and byte-identical requests to the official SDK's."""

from __future__ import annotations

import hashlib
import json

import pytest
from tencentcloud.common import abstract_client
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from photo3d_generation.providers import tc3

# "Signature v3" in Tencent Cloud's API docs: a DescribeInstances call, step by step.
DOC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
DOC_CONTENT_TYPE = "application/json; charset=utf-8"


def test_published_example_step_by_step() -> None:
    assert (
        hashlib.sha256(DOC_PAYLOAD).hexdigest()
        == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    canonical = tc3.canonical_request(
        method="POST",
        uri="/",
        query="",
        content_type=DOC_CONTENT_TYPE,
        host="cvm.tencentcloudapi.com",
        payload=DOC_PAYLOAD,
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert tc3.string_to_sign(timestamp=1551113065, service="cvm", canonical=canonical) == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )


def test_published_example_authorization() -> None:
    header = tc3.authorization(
        secret_id=DOC_SECRET_ID,
        secret_key=DOC_SECRET_KEY,
        service="cvm",
        host="cvm.tencentcloudapi.com",
        timestamp=1551113065,
        payload=DOC_PAYLOAD,
        content_type=DOC_CONTENT_TYPE,
    )
    assert header == (
        f"TC3-HMAC-SHA256 Credential={DOC_SECRET_ID}/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_credential_date_is_utc() -> None:
    # 2019-02-26 00:44:25 in UTC+8 is still 2019-02-25 in UTC: the scope must say the 25th.
    assert tc3.credential_date(1551113065) == "2019-02-25"


def _sdk_request(monkeypatch, *, host, region, token, action, params, timestamp):
    monkeypatch.setattr(abstract_client.time, "time", lambda: float(timestamp))
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=HttpProfile(endpoint=host))
    client = CommonClient(
        "ai3d", "2025-05-13", Credential("AKIDsdk0123", "sdk-secret-key", token), region, profile
    )
    request = RequestInternal(host, "POST", "/")
    client._build_req_inter(action, params, request)
    return client, request


@pytest.mark.parametrize(
    ("host", "region", "token", "action", "params", "timestamp"),
    [
        (
            "ai3d.tencentcloudapi.com",
            "ap-guangzhou",
            None,
            "SubmitHunyuanTo3DProJob",
            {
                "ImageBase64": "iVBORw0KGgo=",
                "MultiViewImages": [{"ViewType": "left", "ViewImageBase64": "/9j/4A=="}],
                "EnablePBR": True,
                "FaceCount": 100000,
            },
            1764000000,
        ),
        (
            "ai3d.tencentcloudapi.com",
            "ap-shanghai",
            "sts-token",
            "QueryHunyuanTo3DProJob",
            {"JobId": "1357"},
            1551113065,
        ),
        ("127.0.0.1:8080", "ap-guangzhou", None, "QueryHunyuanTo3DProJob", {"JobId": "é 中文"}, 1700000000),
    ],
)
def test_byte_identical_to_the_official_sdk(
    monkeypatch, host, region, token, action, params, timestamp
) -> None:
    client, sdk = _sdk_request(
        monkeypatch, host=host, region=region, token=token, action=action, params=params, timestamp=timestamp
    )
    ours = tc3.sign_json_request(
        secret_id="AKIDsdk0123",
        secret_key="sdk-secret-key",
        service="ai3d",
        host=host,
        action=action,
        version="2025-05-13",
        region=region,
        params=params,
        timestamp=timestamp,
        token=token,
        request_client=client.request_client,
        language=client.profile.language,
    )
    assert ours.body == sdk.data.encode("utf-8")
    assert ours.headers == sdk.header
    assert ours.headers["Authorization"] == sdk.header["Authorization"]


def test_any_change_to_the_body_changes_the_signature() -> None:
    common = {
        "secret_id": "id",
        "secret_key": "key",
        "service": "ai3d",
        "host": "ai3d.tencentcloudapi.com",
        "timestamp": 1764000000,
    }
    body = json.dumps({"JobId": "1"}).encode()
    assert tc3.authorization(payload=body, **common) != tc3.authorization(
        payload=body.replace(b"1", b"2"), **common
    )
    assert tc3.authorization(payload=body, **common) != tc3.authorization(
        payload=body, **{**common, "secret_key": "other"}
    )
