"""Object storage over any S3-compatible endpoint (R2, AWS, MinIO, SeaweedFS), with aioboto3.

Open it at startup (``async with ObjectStorage(settings) as storage``), never at import.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Self

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photo3d_common.settings import S3Settings

_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class ObjectNotFound(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object at {key!r}")
        self.key = key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None
    etag: str | None
    metadata: dict[str, str] = field(default_factory=dict)


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


def _info(key: str, response: dict[str, Any]) -> ObjectInfo:
    """What a GET or HEAD response says about the object."""
    return ObjectInfo(
        key=key,
        size=int(response.get("ContentLength", 0)),
        content_type=response.get("ContentType"),
        etag=(response.get("ETag") or "").strip('"') or None,
        metadata=dict(response.get("Metadata") or {}),
    )


def model_prefix(model_id: object) -> str:
    return f"models/{model_id}/"


def original_key(model_id: object, view: str) -> str:
    return f"models/{model_id}/originals/{view}"


def cutout_key(model_id: object, view: str) -> str:
    return f"models/{model_id}/cutouts/{view}.png"


#: A cut-out PNG's text chunk naming the photo whose outline, mirrored, stands in for this view (its own
#: photo could not be cut out): its shape is usable, its colours are the other side's.
STAND_IN_FOR_TEXT = "photo3d:outline-of"
#: A cut-out PNG's text chunk with the focal length of the camera that took its photo, in the cut-out's own
#: pixels (from the photo's EXIF, where the phone wrote one): the local reconstructor then knows how far away
#: each photo was taken instead of assuming it.
FOCAL_PIXELS_TEXT = "photo3d:focal-px"


def recorded_focal_pixels(info: Mapping[Any, Any]) -> float | None:
    """The focal length recorded under ``FOCAL_PIXELS_TEXT`` in an image's ``info`` (a cut-out's text
    chunks), or None when there is none or it is not a positive, finite number."""
    text = info.get(FOCAL_PIXELS_TEXT)
    try:
        focal = float(text) if isinstance(text, str | int | float) else math.nan
    except ValueError:
        return None
    return focal if math.isfinite(focal) and focal > 0 else None


def asset_key(model_id: object, filename: str) -> str:
    return f"models/{model_id}/assets/{filename}"


class ObjectStorage:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._session = aioboto3.Session()
        self._client_cm: Any = None
        self._client: Any = None

    def _config(self) -> Config:
        options: dict[str, Any] = {
            "s3": {"addressing_style": self.settings.addressing_style},
            "retries": {"total_max_attempts": self.settings.max_attempts, "mode": "standard"},
            "connect_timeout": self.settings.connect_timeout_s,
            "read_timeout": self.settings.read_timeout_s,
            "signature_version": "s3v4",
        }
        if self.settings.checksum_when_required:
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        return Config(**options)

    async def __aenter__(self) -> Self:
        self._client_cm = self._session.client(
            "s3",
            endpoint_url=self.settings.endpoint_url,
            region_name=self.settings.region,
            aws_access_key_id=self.settings.access_key_id,
            aws_secret_access_key=self.settings.secret_access_key.get_secret_value(),
            config=self._config(),
        )
        self._client = await self._client_cm.__aenter__()
        if self.settings.create_bucket:
            await self.ensure_bucket()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client_cm is not None:
            await self._client_cm.__aexit__(*exc)
        self._client = self._client_cm = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("ObjectStorage is not open: use 'async with ObjectStorage(settings)'")
        return self._client

    async def ping(self) -> None:
        """Raises unless the store answers for the bucket (readiness checks)."""
        await self.client.head_bucket(Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if not _is_missing(error) and error.response["Error"].get("Code") != "403":
                raise
            try:
                await self.client.create_bucket(Bucket=self.bucket)
            except ClientError as create_error:
                code = create_error.response["Error"].get("Code")
                if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        await self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )

    async def upload_stream(
        self, key: str, fileobj: IO[bytes], *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        """Stream a (possibly large) file object in parts: memory use is one part, not the file."""
        from boto3.s3.transfer import TransferConfig

        chunk = self.settings.multipart_chunk_bytes
        await self.client.upload_fileobj(
            fileobj,
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": metadata or {}},
            Config=TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=2),
        )

    async def get_bytes(self, key: str) -> bytes:
        return (await self.get_object(key))[1]

    async def get_object(self, key: str) -> tuple[ObjectInfo, bytes]:
        """The object's info (ETag, metadata: what ``head`` says) and its bytes, in one request."""
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                raise ObjectNotFound(key) from error
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return _info(key, response), data

    async def stream(
        self, key: str, *, chunk_bytes: int = 256 * 1024
    ) -> tuple[ObjectInfo, AsyncIterator[bytes]]:
        """The object's info and an iterator over its bytes, for proxying downloads without buffering."""
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                raise ObjectNotFound(key) from error
            raise
        info = _info(key, response)

        async def chunks() -> AsyncIterator[bytes]:
            body = response["Body"]
            try:
                async for chunk in body.iter_chunks(chunk_bytes):
                    yield chunk
            finally:
                body.close()

        return info, chunks()

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            response = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return _info(key, response)

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    async def delete_keys(self, keys: Iterable[str]) -> int:
        batch = [{"Key": key} for key in keys]
        deleted = 0
        for start in range(0, len(batch), 1000):  # S3 caps a batch delete at 1000 keys
            part = batch[start : start + 1000]
            await self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": part, "Quiet": True})
            deleted += len(part)
        return deleted

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix or not prefix.endswith("/"):
            raise ValueError("refusing to delete a prefix that is not a folder")
        return await self.delete_keys(await self.list_keys(prefix))

    async def presigned_get_url(self, key: str, *, expires_s: int = 900) -> str:
        url: str = await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url
