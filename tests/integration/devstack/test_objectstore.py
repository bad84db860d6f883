"""The SeaweedFS launcher: a real S3 server that checks signatures and keeps objects across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from photo3d_devstack.infra import SeaweedFS, SeaweedPorts, s3_client


def test_seaweedfs_enforces_keys_and_keeps_objects_across_restarts(infra_tmp_dir: Path) -> None:
    server = SeaweedFS(
        infra_tmp_dir / "seaweedfs-restart",
        ports=SeaweedPorts.free(),
        access_key_id="launcher",
        secret_access_key="launcher-secret",
        buckets=("kept",),
    )
    with server:
        client = server.client()
        assert "kept" in {b["Name"] for b in client.list_buckets()["Buckets"]}
        client.put_object(Bucket="kept", Key="models/x/originals/front", Body=b"\x89PNG photo bytes")

        intruder = s3_client(server.endpoint_url, "launcher", "not-the-secret")
        with pytest.raises(ClientError) as refused:
            intruder.get_object(Bucket="kept", Key="models/x/originals/front")
        assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}

    with server:
        body = server.client().get_object(Bucket="kept", Key="models/x/originals/front")["Body"].read()
        assert body == b"\x89PNG photo bytes"


def test_seaweedfs_ports_keep_the_admin_grpc_offset() -> None:
    ports = SeaweedPorts.from_base(8333, 18330)
    assert ports.admin_grpc == ports.admin + 10000
    assert len({*ports.flags()}) == 10
    with pytest.raises(ValueError, match="admin gRPC"):
        SeaweedPorts(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)


def test_each_run_gets_its_own_bucket(s3_settings) -> None:
    client = s3_settings.client()
    assert s3_settings.bucket.startswith("photo3d-test-")
    client.put_object(Bucket=s3_settings.bucket, Key="probe", Body=b"ok")
    assert client.get_object(Bucket=s3_settings.bucket, Key="probe")["Body"].read() == b"ok"
