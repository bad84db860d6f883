"""ObjectStorage against a real S3-compatible server (SeaweedFS): what every service relies on."""

import io
import uuid

import httpx
import pytest
from pydantic import SecretStr

from photo3d_common.settings import S3Settings
from photo3d_common.storage import ObjectNotFound, ObjectStorage


async def test_put_get_head_list_and_delete_prefix(object_storage: ObjectStorage):
    prefix = f"models/{uuid.uuid4()}/"
    await object_storage.put_bytes(prefix + "a.txt", b"hello", content_type="text/plain", metadata={"k": "v"})
    await object_storage.put_bytes(prefix + "sub/b.bin", b"\x00\x01", content_type="application/octet-stream")

    assert await object_storage.get_bytes(prefix + "a.txt") == b"hello"
    info = await object_storage.head(prefix + "a.txt")
    assert info is not None and info.size == 5 and info.content_type == "text/plain"
    assert info.metadata == {"k": "v"}
    assert sorted(await object_storage.list_keys(prefix)) == [prefix + "a.txt", prefix + "sub/b.bin"]

    assert await object_storage.delete_prefix(prefix) == 2
    assert await object_storage.list_keys(prefix) == []
    assert await object_storage.head(prefix + "a.txt") is None
    with pytest.raises(ObjectNotFound):
        await object_storage.get_bytes(prefix + "a.txt")


async def test_delete_prefix_refuses_a_non_folder(object_storage: ObjectStorage):
    with pytest.raises(ValueError, match="not a folder"):
        await object_storage.delete_prefix("models")


async def test_large_upload_streams_in_parts_and_round_trips(object_storage: ObjectStorage):
    key = f"models/{uuid.uuid4()}/big.bin"
    payload = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB: more than one 8 MiB part
    await object_storage.upload_stream(key, io.BytesIO(payload), content_type="application/octet-stream")
    info, chunks = await object_storage.stream(key)
    received = b"".join([chunk async for chunk in chunks])
    assert info.size == len(payload) and received == payload


async def test_presigned_url_is_enforced_by_the_server(object_storage: ObjectStorage):
    key = f"models/{uuid.uuid4()}/photo.jpg"
    await object_storage.put_bytes(key, b"jpeg-bytes", content_type="image/jpeg")
    url = await object_storage.presigned_get_url(key, expires_s=60)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"jpeg-bytes"
        tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        assert (await client.get(tampered)).status_code == 403


async def test_checksum_when_required_mode_still_uploads(common_s3_settings: S3Settings):
    # The mode Cloudflare R2 needs: no aws-chunked CRC32 on uploads. It must still work elsewhere.
    settings = common_s3_settings.model_copy(update={"checksum_when_required": True})
    key = f"models/{uuid.uuid4()}/r2.txt"
    async with ObjectStorage(settings) as storage:
        await storage.upload_stream(key, io.BytesIO(b"x" * 1000), content_type="text/plain")
        assert await storage.get_bytes(key) == b"x" * 1000


async def test_wrong_credentials_are_refused(common_s3_settings: S3Settings):
    settings = common_s3_settings.model_copy(
        update={"secret_access_key": SecretStr("wrong"), "create_bucket": False}
    )
    async with ObjectStorage(settings) as storage:
        with pytest.raises(Exception, match=r"(?i)signature|denied|forbidden|403"):
            await storage.put_bytes("x", b"y", content_type="text/plain")
