"""The status API under hostile input and with a dependency down (issue 9): bounded parameters answer 4xx,
file responses are never sniffed, and a dead database or object store answers 503 fast, by name."""

from __future__ import annotations

import time
import uuid

import httpx

from photo3d_common.settings import S3Settings
from tests.support.outage import proxied

from .conftest import running_status

#: A dependency that is down must be reported this fast (issue 9): nothing hangs.
FAIL_FAST_S = 2.0


def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def envelope(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


async def test_an_offset_past_bigint_is_400_not_500(status_app):
    async with status_app.client(user()) as client:
        huge = await client.get("/api/models", params={"offset": "9223372036854775808"})
        past_limit = await client.get("/api/models", params={"offset": str(10**9 + 1)})
        negative = await client.get("/api/models", params={"limit": "0"})
        at_limit = await client.get("/api/models", params={"offset": str(10**9)})
    assert huge.status_code == 400 and envelope(huge)["code"] == "validation_error"
    assert past_limit.status_code == 400 and negative.status_code == 400
    assert at_limit.status_code == 200 and at_limit.json()["items"] == []


async def test_nul_and_control_characters_in_a_file_path_are_4xx(status_app):
    async with status_app.client(user()) as client:
        model_id = (await client.post("/api/models", json={})).json()["id"]
        nul = await client.get(f"/api/models/{model_id}/files/assets/model.glb%00")
        newline = await client.get(f"/api/models/{model_id}/files/assets/model%0A.glb")
        too_long = await client.get(f"/api/models/{model_id}/files/{'a' * 600}")
        dotdot = await client.get(f"/api/models/{model_id}/files/assets/%2E%2E/%2E%2E/x")
    for response in (nul, newline, too_long, dotdot):
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        envelope(response)
    assert nul.status_code == 400 and envelope(nul)["code"] == "validation_error"


async def test_a_name_with_nul_is_400_not_500(status_app):
    async with status_app.client(user()) as client:
        response = await client.post("/api/models", json={"name": "mug\u0000"})
    assert response.status_code == 400 and envelope(response)["code"] == "validation_error"


async def test_file_responses_carry_nosniff_their_type_and_disposition(status_app, s3_settings):
    async with status_app.client(user()) as client:
        model_id = (await client.post("/api/models", json={})).json()["id"]
        s3_settings.client().put_object(
            Bucket=s3_settings.bucket,
            Key=f"models/{model_id}/cutouts/front.png",
            Body=b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>",
            ContentType="image/png",
        )
        inline = await client.get(f"/api/models/{model_id}/files/cutouts/front.png")
        download = await client.get(
            f"/api/models/{model_id}/files/cutouts/front.png", params={"download": "true"}
        )
        missing = await client.get(f"/api/models/{model_id}/files/cutouts/back.png")
    assert inline.status_code == 200 and download.status_code == 200
    for response in (inline, download, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
    assert inline.headers["content-type"] == "image/png"
    assert inline.headers["content-disposition"] == "inline; filename*=UTF-8''front.png"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''front.png"
    assert missing.status_code == 404 and envelope(missing)["code"] == "not_found"


async def test_openapi_documents_the_error_envelope_on_every_route(status_app):
    async with status_app.client() as anonymous:
        document = (await anonymous.get("/schema/openapi.json")).json()
    envelope_ref = "#/components/schemas/ErrorEnvelope"
    api_operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    }
    assert len(api_operations) >= 6
    for (method, path), operation in api_operations.items():
        errors = {
            status: spec for status, spec in operation["responses"].items() if status.startswith(("4", "5"))
        }
        assert {"400", "401", "503"} <= set(errors) or path == "/api/dev/token", (
            method,
            path,
            sorted(errors),
        )
        for status, spec in errors.items():
            schema = spec["content"]["application/json"]["schema"]
            assert schema == {"$ref": envelope_ref}, (method, path, status, schema)
    assert set(document["components"]["schemas"]["ErrorEnvelope"]["required"]) == {"error"}
    assert {"404", "409"} <= set(document["paths"]["/api/models/{model_id}"]["delete"]["responses"])


async def test_a_hung_database_is_503_within_2s_on_every_model_route(
    status_settings_factory, status_database_url
):
    """A database that stops answering (SIGSTOP, a hung network) keeps its connections open: without a
    bound of its own, a request would wait for the pool's command timeout and then for asyncpg's clean-up."""
    async with proxied(status_database_url) as database:
        settings = status_settings_factory(
            database_url=database.url(status_database_url), migrate_on_start=False
        )
        async with running_status(settings) as app, app.client(user()) as client:
            created = await client.post("/api/models", json={"name": "mug"})
            assert created.status_code == 201, created.text
            model_id = created.json()["id"]
            await database.freeze()
            answers = {}
            for route in (
                f"/api/models/{model_id}",
                "/api/models",
                f"/api/models/{model_id}/files/cutouts/front.png",
            ):
                started = time.monotonic()
                answers[route] = (await client.get(route), time.monotonic() - started)
            started = time.monotonic()
            answers["create"] = (
                await client.post("/api/models", json={"name": "cup"}),
                time.monotonic() - started,
            )
            await database.thaw()
            again = await client.get(f"/api/models/{model_id}")
    print("database hung:", {route: f"{elapsed:.2f}s" for route, (_, elapsed) in answers.items()})
    for route, (response, elapsed) in answers.items():
        assert response.status_code == 503, (route, response.text)
        assert envelope(response)["code"] == "database_unavailable", route
        assert elapsed < 2.5, (route, elapsed)  # the 2 s bound, plus the request's own work
    assert again.status_code == 200, again.text


async def test_database_down_is_503_database_unavailable_fast_and_ready_says_so(
    status_settings_factory, status_database_url
):
    async with proxied(status_database_url) as database:
        settings = status_settings_factory(
            database_url=database.url(status_database_url), migrate_on_start=False
        )
        async with running_status(settings) as app, app.client(user()) as client:
            assert (await client.get("/api/models")).status_code == 200
            assert (await client.get("/ready")).status_code == 200
            await database.cut()

            started = time.monotonic()
            listed = await client.get("/api/models")
            list_s = time.monotonic() - started
            started = time.monotonic()
            created = await client.post("/api/models", json={"name": "mug"})
            create_s = time.monotonic() - started
            started = time.monotonic()
            ready = await client.get("/ready")
            ready_s = time.monotonic() - started
            health = await client.get("/health")

            await database.restore()
            recovered = await client.get("/api/models")
    print(f"database down: list {list_s:.3f}s, create {create_s:.3f}s, ready {ready_s:.3f}s")
    for response, elapsed in ((listed, list_s), (created, create_s)):
        assert response.status_code == 503, response.text
        assert envelope(response)["code"] == "database_unavailable"
        assert response.headers["retry-after"]
        assert elapsed < FAIL_FAST_S
    assert ready.status_code == 503 and ready_s < FAIL_FAST_S
    checks = ready.json()["checks"]
    assert ready.json()["status"] == "unavailable"
    assert (checks["database"]["status"], checks["broker"]["status"], checks["storage"]["status"]) == (
        "unavailable",
        "ok",
        "ok",
    )
    assert checks["database"]["error"]
    assert health.status_code == 200  # alive: a dead database is no reason to restart the service
    assert recovered.status_code == 200


async def test_object_store_down_is_503_storage_unavailable_fast(status_settings_factory, s3_settings):
    async with proxied(s3_settings.endpoint_url) as store:
        s3 = S3Settings(
            endpoint_url=store.url(s3_settings.endpoint_url),
            region=s3_settings.region,
            bucket=s3_settings.bucket,
            S3_ACCESS_KEY_ID=s3_settings.access_key_id,
            S3_SECRET_ACCESS_KEY=s3_settings.secret_access_key,
        )
        async with running_status(status_settings_factory(s3=s3)) as app, app.client(user()) as client:
            model_id = (await client.post("/api/models", json={})).json()["id"]
            await store.cut()
            started = time.monotonic()
            file = await client.get(f"/api/models/{model_id}/files/assets/model.glb")
            file_s = time.monotonic() - started
            deleted = await client.delete(f"/api/models/{model_id}")
            ready = await client.get("/ready")
            still_there = await client.get(f"/api/models/{model_id}")
    print(f"object store down: file {file_s:.3f}s")
    assert file.status_code == 503 and envelope(file)["code"] == "storage_unavailable", file.text
    assert file_s < FAIL_FAST_S
    assert deleted.status_code == 503 and envelope(deleted)["code"] == "storage_unavailable"
    assert still_there.status_code == 200  # a refused delete deletes nothing
    assert ready.status_code == 503 and ready.json()["checks"]["storage"]["status"] == "unavailable"
    assert ready.json()["checks"]["database"]["status"] == "ok"
