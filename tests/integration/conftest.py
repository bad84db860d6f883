"""Fixtures shared by integration tests: the object store of this run, opened through libs/common."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from photo3d_common.settings import S3Settings
from photo3d_common.storage import ObjectStorage


@pytest.fixture(scope="session")
def common_s3_settings(s3_settings) -> S3Settings:
    return S3Settings(
        endpoint_url=s3_settings.endpoint_url,
        region=s3_settings.region,
        bucket=s3_settings.bucket,
        access_key_id=s3_settings.access_key_id,
        secret_access_key=s3_settings.secret_access_key,
    )


@pytest.fixture
async def object_storage(common_s3_settings: S3Settings) -> AsyncIterator[ObjectStorage]:
    async with ObjectStorage(common_s3_settings) as storage:
        yield storage
