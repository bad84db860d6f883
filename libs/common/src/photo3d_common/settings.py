"""Settings blocks shared by several services. Each service composes these into its own settings class
with its own env prefix (``STATUS_``, ``UPLOAD_``, ``BGREMOVAL_``, ``GENERATION_``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def list_from_env(value: Any) -> Any:
    """For list settings: accept a JSON list or a comma-separated string (``local,tencent``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = Field("", description="prepended to every topic name; tests isolate runs with it")
    partitions: int = Field(3, ge=1, description="partition count for topics created at start")
    replication_factor: int = Field(1, ge=1)
    create_topics: bool = Field(
        True, description="create missing topics at start (off where ops manage topics)"
    )
    hand_over_offsets: bool = Field(
        True,
        description="at a worker's start, copy the offsets of the per-topic consumer groups of releases "
        "before ADR 0010 to the service's group when it has none (off: the group starts where "
        "auto_offset_reset says)",
    )
    session_timeout_ms: int = Field(10_000, description="group joins take about half of this")
    heartbeat_interval_ms: int = 1_000
    fetch_max_wait_ms: int = Field(
        500,
        ge=100,
        le=30_000,
        description="how long an idle consumer's fetch waits at the broker (aiokafka's default). 5000 "
        "halved Tansu's idle CPU but raised the status service's apply lag from 0.16 to 1.3 s under load",
    )
    graceful_timeout_s: float = Field(
        120.0, gt=0, description="on shutdown, how long the message in hand may take to finish"
    )
    request_timeout_ms: int = Field(
        40_000,
        ge=1_000,
        description="longest wait for one broker request, metadata included (a publish to a dead broker "
        "fails after it); consumers need more than the session timeout, since a group join waits for it",
    )
    handler_attempts: int = Field(
        3, ge=1, description="tries of a failing handler before the message is parked (outages excepted)"
    )
    retry_first_delay_s: float = Field(
        0.5, gt=0, description="first wait before retrying a message while a dependency is down"
    )
    retry_max_delay_s: float = Field(
        15.0, gt=0, description="cap of that wait (retries go on without end, jittered)"
    )
    enable_idempotence: bool = Field(
        False,
        description="idempotent producer (InitProducerId): Apache Kafka supports it, Tansu 0.6 answers "
        "UnknownError; off by default since every consumer drops duplicates by event_id anyway "
        "(docs/adr/0004-no-idempotent-producer.md)",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """Consumer groups share the topics' namespace: two deployments (or two test systems) on one
        broker must never meet in a group, where members subscribed to different topics can leave one
        waiting for its assignment forever (docs/adr/0010-one-consumer-per-worker-service.md)."""
        return f"{self.topic_prefix}{name}"


class S3Settings(BaseSettings):
    """Any S3-compatible store: Cloudflare R2, AWS S3, MinIO, SeaweedFS."""

    model_config = SettingsConfigDict(env_prefix="S3_", extra="ignore", populate_by_name=True)

    endpoint_url: str | None = Field(
        "http://127.0.0.1:8333", description="None means AWS S3 itself (region endpoint)"
    )
    region: str = Field("us-east-1", description="'auto' for Cloudflare R2")
    bucket: str = "photo3d"
    access_key_id: str = Field(
        "photo3d", validation_alias=AliasChoices("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
    )
    secret_access_key: SecretStr = Field(
        SecretStr("photo3d-dev-secret"),
        validation_alias=AliasChoices("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    )
    checksum_when_required: bool = Field(
        False,
        description="send checksums only when an operation requires them: Cloudflare R2 rejects "
        "the aws-chunked CRC32 uploads boto3 >= 1.36 sends by default",
    )
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    create_bucket: bool = Field(True, description="create the bucket at start when it is missing")
    multipart_chunk_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    connect_timeout_s: float = Field(2.0, gt=0, description="longest wait for a connection to the store")
    read_timeout_s: float = Field(
        15.0, gt=0, description="longest wait for the store's answer to one request (or its next bytes)"
    )
    max_attempts: int = Field(
        2,
        ge=1,
        description="tries of one request, the first included: a store that is down fails the request "
        "within about a second, instead of botocore's default backoff of tens of seconds",
    )


class AuthSettings(BaseSettings):
    """Bearer JWTs: an HS256 secret, or a JWKS URL for any OIDC issuer. ``sub`` is the owner."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["HS256", "RS256", "ES256"])
    audience: str | None = None
    issuer: str | None = None
    leeway_s: int = 30
    dev_tokens_enabled: bool = Field(
        False, description="lets POST /api/dev/token mint tokens: local runs only"
    )
    dev_token_ttl_s: int = 12 * 3600

    @model_validator(mode="after")
    def _one_key_source(self) -> AuthSettings:
        if self.jwt_secret is None and self.jwks_url is None:
            raise ValueError(
                "set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL: every API call needs a verified token"
            )
        if self.dev_tokens_enabled and self.jwt_secret is None:
            raise ValueError("AUTH_DEV_TOKENS_ENABLED needs AUTH_JWT_SECRET to sign the dev tokens")
        return self


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    level: str = "INFO"
    format: Literal["console", "json"] = "console"
