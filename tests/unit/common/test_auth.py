"""Bearer tokens: HS256 with a shared secret, and RS256 from any issuer's JWKS (served here by a real
local HTTP server), with expiry, audience and issuer checks."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from photo3d_common.auth import TokenVerifier, mint_dev_token
from photo3d_common.errors import Unauthenticated
from photo3d_common.settings import AuthSettings

SECRET = "a-test-secret-that-is-at-least-32-bytes"


def _rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer_key():
    return _rsa_key()


@pytest.fixture(scope="module")
def jwks_url(issuer_key) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(issuer_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]}).encode()

    class JWKS(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def _rs256(key, **claims) -> str:
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "key-1"})


def test_dev_token_round_trips_to_its_subject():
    settings = AuthSettings(jwt_secret=SECRET)
    assert TokenVerifier(settings).verify(mint_dev_token(settings, "alice")).subject == "alice"


def test_expired_and_tampered_hs256_tokens_are_refused():
    settings = AuthSettings(jwt_secret=SECRET)
    verifier = TokenVerifier(settings)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(mint_dev_token(settings, "alice", ttl_s=-120))
    other = AuthSettings(jwt_secret="another-secret-that-is-at-least-32-bytes")
    with pytest.raises(Unauthenticated):
        verifier.verify(mint_dev_token(other, "alice"))


def test_token_without_subject_or_expiry_is_refused():
    verifier = TokenVerifier(AuthSettings(jwt_secret=SECRET))
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"))
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"))


def test_rs256_token_from_the_issuers_jwks_is_accepted(jwks_url, issuer_key):
    settings = AuthSettings(jwks_url=jwks_url, issuer="https://id.example", audience="photo3d")
    verifier = TokenVerifier(settings)
    assert verifier.needs_network
    token = _rs256(issuer_key, iss="https://id.example", aud="photo3d")
    assert verifier.verify(token).subject == "alice"


def test_rs256_token_signed_by_another_key_or_for_another_audience_is_refused(jwks_url, issuer_key):
    verifier = TokenVerifier(AuthSettings(jwks_url=jwks_url, issuer="https://id.example", audience="photo3d"))
    with pytest.raises(Unauthenticated):
        verifier.verify(_rs256(_rsa_key(), iss="https://id.example", aud="photo3d"))
    with pytest.raises(Unauthenticated):
        verifier.verify(_rs256(issuer_key, iss="https://id.example", aud="someone-else"))
    with pytest.raises(Unauthenticated):
        verifier.verify(_rs256(issuer_key, iss="https://evil.example", aud="photo3d"))


def test_hs256_token_is_refused_when_only_a_jwks_is_configured(jwks_url):
    verifier = TokenVerifier(AuthSettings(jwks_url=jwks_url))
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"))


def test_settings_demand_a_key_source(monkeypatch):
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    monkeypatch.delenv("AUTH_JWKS_URL", raising=False)
    with pytest.raises(ValueError, match="AUTH_JWT_SECRET"):
        AuthSettings()
