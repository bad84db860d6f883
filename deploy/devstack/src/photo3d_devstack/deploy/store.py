"""The operations area of an environment's object store: ``ops/backups/<env>/`` (database dumps and their
manifests) and ``ops/deployments/<env>/`` (one record per deployment or rollback). The services never
read or write under ``ops/``; deleting a model touches only ``models/<id>/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .environment import Environment

OPS_PREFIX = "ops"


class OpsStore:
    def __init__(self, environment: Environment) -> None:
        import boto3
        from botocore.config import Config

        s = environment.settings
        self.bucket = environment.ops_bucket
        self.environment = environment.name
        options: dict[str, Any] = {
            "s3": {"addressing_style": s.get("S3_ADDRESSING_STYLE") or "path"},
            "retries": {"max_attempts": 3, "mode": "standard"},
            "connect_timeout": 5,
            "read_timeout": 60,
        }
        if (s.get("S3_CHECKSUM_WHEN_REQUIRED") or "").lower() in ("1", "true", "yes", "on"):
            # Cloudflare R2 rejects boto3's default aws-chunked checksummed uploads
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        self.client = boto3.client(
            "s3",
            endpoint_url=s.get("S3_ENDPOINT_URL") or None,
            aws_access_key_id=s.get("S3_ACCESS_KEY_ID"),
            aws_secret_access_key=s.get("S3_SECRET_ACCESS_KEY"),
            region_name=s.get("S3_REGION") or "us-east-1",
            config=Config(**options),
        )

    # keys ---------------------------------------------------------------------------------------
    def backups_prefix(self) -> str:
        return f"{OPS_PREFIX}/backups/{self.environment}/"

    def deployments_prefix(self) -> str:
        return f"{OPS_PREFIX}/deployments/{self.environment}/"

    # operations ---------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.client.exceptions.ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def reachable(self) -> None:
        """Raises unless the bucket answers to these keys."""
        self.client.head_bucket(Bucket=self.bucket)

    def put_json(self, key: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def get_json(self, key: str) -> dict[str, Any]:
        return json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def upload_file(self, path: Path, key: str, content_type: str) -> None:
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def download_file(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, key, str(path))

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in key order (our keys start with a UTC time, so: oldest first)."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
