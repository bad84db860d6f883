"""Bearer-token verification shared by the HTTP services. ``sub`` is the owner of models."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from photo3d_common.errors import Unauthenticated
from photo3d_common.settings import AuthSettings


@dataclass(frozen=True)
class Principal:
    subject: str


class TokenVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        # PyJWKClient caches the issuer's keys and refetches on an unknown key id.
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None

    @property
    def needs_network(self) -> bool:
        """True when verifying may fetch keys (run it off the event loop then)."""
        return self._jwks is not None

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg", "")
            if algorithm not in self.settings.algorithms:
                raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
            if algorithm.startswith("HS"):
                if self.settings.jwt_secret is None:
                    raise Unauthenticated("HMAC tokens are not accepted here")
                key: Any = self.settings.jwt_secret.get_secret_value()  # a secret, or a JWK's key
            elif self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                raise Unauthenticated("no key to verify this token")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={"require": ["sub", "exp"], "verify_aud": self.settings.audience is not None},
            )
        except Unauthenticated:
            raise
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("the token has expired: sign in again") from error
        except (jwt.PyJWTError, ValueError) as error:
            raise Unauthenticated(f"invalid token: {error}") from error
        subject = str(claims["sub"]).strip()
        if not subject:
            raise Unauthenticated("the token has no subject")
        return Principal(subject=subject)


def mint_dev_token(settings: AuthSettings, subject: str, *, ttl_s: int | None = None) -> str:
    """An HS256 token for local runs and tests. The API exposes it only when dev tokens are enabled."""
    if settings.jwt_secret is None:
        raise RuntimeError("dev tokens need AUTH_JWT_SECRET")
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + (ttl_s or settings.dev_token_ttl_s)}
    if settings.audience:
        claims["aud"] = settings.audience
    if settings.issuer:
        claims["iss"] = settings.issuer
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
