"""The HTTP API over real HTTP, with real Postgres, SeaweedFS and the Kafka broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import jwt

from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    ModelFailed,
    PhotoUploaded,
    Stage,
    ViewWarning,
)
from photo3d_status.repository import ModelRepository

from .conftest import running_status

VIEWS = ("front", "left", "right", "back")


def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


async def create(client: httpx.AsyncClient, **body) -> dict:
    response = await client.post("/api/models", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def all_photos(model_id: str, view: str = "back") -> PhotoUploaded:
    keys = {v: f"models/{model_id}/originals/{v}" for v in VIEWS}
    return PhotoUploaded(
        model_id=uuid.UUID(model_id),
        producer="upload",
        view=view,
        object_key=keys[view],
        content_type="image/png",
        width=1,
        height=1,
        size_bytes=1,
        sha256="0",
        original_keys=keys,
        all_views_uploaded=True,
        start_processing=True,
    )


# --- auth ------------------------------------------------------------------------------------------------


async def test_missing_invalid_and_expired_tokens_are_401(status_app):
    async with status_app.client() as anonymous:
        missing = await anonymous.get("/api/models")
        invalid = await anonymous.get("/api/models", headers={"Authorization": "Bearer not-a-jwt"})
        expired = await anonymous.get(
            "/api/models", headers={"Authorization": f"Bearer {status_app.token('alice', ttl_s=-120)}"}
        )
        forged = await anonymous.get(
            "/api/models",
            headers={
                "Authorization": "Bearer "
                + jwt.encode({"sub": "alice", "exp": 9999999999}, "wrong-secret-0123456789abcdef0123")
            },
        )
    for response in (missing, invalid, expired, forged):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    assert "expired" in expired.json()["error"]["message"]


async def test_public_routes_need_no_token(status_app):
    async with status_app.client() as anonymous:
        health = await anonymous.get("/health")
        ready = await anonymous.get("/ready")
        config = await anonymous.get("/config.json")
        schema = await anonymous.get("/schema/openapi.json")
        asyncapi = await anonymous.get("/asyncapi.json")
        swagger = await anonymous.get("/schema/swagger")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert {name: check["status"] for name, check in ready.json()["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
        "storage": "ok",
    }
    assert config.json() == {
        "uploadBaseUrl": "http://127.0.0.1:8001",
        "statusBaseUrl": "",
        "creationEnabled": True,
        "creationNotice": None,
    }
    operations = [
        op for path in schema.json()["paths"].values() for op in path.values() if isinstance(op, dict)
    ]
    assert operations and all(op.get("operationId") for op in operations)
    assert {"createModel", "listModels", "getModel", "deleteModel", "watchModel", "getModelFile"} <= {
        op["operationId"] for op in operations
    }
    assert asyncapi.json()["asyncapi"].startswith("3.")
    assert swagger.status_code == 200 and "swagger" in swagger.text.lower()


async def test_dev_token_signs_in(status_app):
    async with status_app.client() as anonymous:
        response = await anonymous.post("/api/dev/token", json={"user": "carol"})
        assert response.status_code == 200
        token = response.json()["token"]
        mine = await anonymous.post("/api/models", json={}, headers={"Authorization": f"Bearer {token}"})
        bad = await anonymous.post("/api/dev/token", json={"user": ""})
    assert mine.status_code == 201 and mine.json()["owner"] == "carol"
    assert bad.status_code == 400


async def test_dev_token_route_absent_when_disabled(status_settings_factory):
    from photo3d_common.settings import AuthSettings

    settings = status_settings_factory(auth=AuthSettings(jwt_secret="another-secret-of-enough-length-0123"))
    async with running_status(settings) as app, app.client() as anonymous:
        response = await anonymous.post("/api/dev/token", json={"user": "mallory"})
    assert response.status_code == 404


# --- models --------------------------------------------------------------------------------------------


async def test_create_and_get(status_app):
    owner = user()
    async with status_app.client(owner) as client:
        model = await create(client, name="  Teapot  ", provider="tencent")
        fetched = await client.get(f"/api/models/{model['id']}")
    assert fetched.status_code == 200 and fetched.json() == model
    assert (model["owner"], model["name"], model["status"], model["provider"]) == (
        owner,
        "Teapot",
        "draft",
        "tencent",
    )
    assert model["photos"] == dict.fromkeys(VIEWS) and model["cutouts"] == dict.fromkeys(VIEWS)
    assert model["photo_warnings"] == {view: [] for view in VIEWS}
    assert model["assets"] == {} and model["progress"] == 0.0 and model["completed_at"] is None


async def test_create_defaults_and_validation(status_app):
    async with status_app.client(user()) as client:
        unnamed = await create(client)
        unknown = await client.post("/api/models", json={"provider": "dall-e"})
        too_long = await client.post("/api/models", json={"name": "x" * 201})
    assert unnamed["name"] == "Untitled model" and unnamed["provider"] is None
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_input"
    assert "local" in unknown.json()["error"]["message"]
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "validation_error"


async def test_create_with_generation_options_stores_and_shows_them(status_app):
    async with status_app.client(user()) as client:
        sized = await create(client, height_m=0.3, target_faces=5000, texture=False)
        wide = await create(client, width_m=1.2)
        plain = await create(client)
        fetched = (await client.get(f"/api/models/{sized['id']}")).json()
        listed = (await client.get("/api/models")).json()["items"]
    assert sized["options"] == {"height_m": 0.3, "width_m": None, "target_faces": 5000, "texture": False}
    assert fetched["options"] == sized["options"] and sized["dimensions_m"] is None
    assert wide["options"] == {"height_m": None, "width_m": 1.2, "target_faces": 20000, "texture": True}
    # left out: the settings' defaults, filled in
    assert plain["options"] == {"height_m": None, "width_m": None, "target_faces": 20000, "texture": True}
    assert {item["id"]: item["options"] for item in listed}[sized["id"]] == sized["options"]


async def test_bad_generation_options_are_400_with_the_field_and_store_nothing(status_app):
    bad_bodies = [
        {"height_m": 0.001},  # under a centimetre
        {"height_m": 101},
        {"width_m": 0},
        {"height_m": 0.3, "width_m": 0.2},  # both sizes
        {"target_faces": 999},
        {"target_faces": 300_001},
        {"target_faces": "many"},
        {"texture": "sometimes"},
        {"height_m": "NaN"},
    ]
    async with status_app.client(user()) as client:
        answers = [await client.post("/api/models", json=body) for body in bad_bodies]
        total = (await client.get("/api/models")).json()["total"]
    for body, answer in zip(bad_bodies, answers, strict=True):
        assert answer.status_code == 400, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_error", body
        assert any(name in json.dumps(error) for name in body), (body, error)
    assert total == 0


async def test_list_is_mine_newest_first_and_paginated(status_app):
    owner = user()
    async with status_app.client(owner) as client, status_app.client(user()) as stranger:
        await create(stranger, name="not mine")
        created = [await create(client, name=f"m{i}") for i in range(5)]
        first = (await client.get("/api/models", params={"limit": 2})).json()
        second = (await client.get("/api/models", params={"limit": 2, "offset": 2})).json()
        last = (await client.get("/api/models", params={"limit": 2, "offset": 4})).json()
        too_many = await client.get("/api/models", params={"limit": 1000})
    newest_first = [m["id"] for m in reversed(created)]
    assert [m["id"] for m in first["items"] + second["items"] + last["items"]] == newest_first
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert too_many.status_code == 400


async def test_another_users_model_is_404(status_app):
    async with status_app.client(user()) as owner, status_app.client(user()) as stranger:
        model = await create(owner)
        responses = [
            await stranger.get(f"/api/models/{model['id']}"),
            await stranger.delete(f"/api/models/{model['id']}"),
            await stranger.get(f"/api/models/{model['id']}/events"),
            await stranger.get(f"/api/models/{model['id']}/files/assets/model.glb"),
            await owner.get(f"/api/models/{uuid.uuid4()}"),
        ]
        still_there = await owner.get(f"/api/models/{model['id']}")
    assert [r.status_code for r in responses] == [404] * 5
    assert all(r.json()["error"]["code"] == "not_found" for r in responses)
    assert still_there.status_code == 200


# --- delete --------------------------------------------------------------------------------------------


async def test_delete_removes_the_model_and_its_stored_objects(status_app, s3_settings):
    s3 = s3_settings.client()
    async with status_app.client(user()) as client:
        model, other = await create(client), await create(client)
        keys = [
            f"models/{model['id']}/originals/front",
            f"models/{model['id']}/cutouts/front.png",
            f"models/{model['id']}/assets/model.glb",
        ]
        for key in keys:
            s3.put_object(Bucket=s3_settings.bucket, Key=key, Body=b"data")
        kept = f"models/{other['id']}/originals/front"
        s3.put_object(Bucket=s3_settings.bucket, Key=kept, Body=b"other")
        deleted = await client.delete(f"/api/models/{model['id']}")
        gone = await client.get(f"/api/models/{model['id']}")
        again = await client.delete(f"/api/models/{model['id']}")
    assert deleted.status_code == 204 and gone.status_code == 404 and again.status_code == 404
    listed = s3.list_objects_v2(Bucket=s3_settings.bucket, Prefix=f"models/{model['id']}/")
    assert listed.get("KeyCount", 0) == 0
    assert s3.get_object(Bucket=s3_settings.bucket, Key=kept)["Body"].read() == b"other"


async def test_delete_while_processing_is_409_unless_forced(status_app, pool):
    repository = ModelRepository(pool)
    async with status_app.client(user()) as client:
        model = await create(client)
        await repository.apply(all_photos(model["id"]))
        await repository.apply(
            BackgroundRemovalStarted(model_id=uuid.UUID(model["id"]), producer="bgremoval")
        )
        refused = await client.delete(f"/api/models/{model['id']}")
        forced = await client.delete(f"/api/models/{model['id']}", params={"force": "true"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "model_busy"
    assert refused.json()["error"]["detail"] == {"status": "removing_background"}
    assert forced.status_code == 204
    # the worker finishing later finds no model: ignored, nothing crashes
    late = await repository.apply(
        BackgroundRemovalStarted(model_id=uuid.UUID(model["id"]), producer="bgremoval")
    )
    assert late.outcome == "ignored"


async def test_photo_warnings_show_on_the_model_and_in_the_list_until_the_next_run(status_app, pool):
    repository = ModelRepository(pool)
    async with status_app.client(user()) as client:
        model = await create(client)
        model_id = uuid.UUID(model["id"])
        await repository.apply(all_photos(model["id"]))
        await repository.apply(BackgroundRemovalStarted(model_id=model_id, producer="bgremoval"))
        warning = ViewWarning(code="cutout_corrected", message="a part of the background was removed")
        await repository.apply(
            BackgroundRemoved(
                model_id=model_id,
                producer="bgremoval",
                source_fingerprint="f",
                cutout_keys={v: f"models/{model_id}/cutouts/{v}.png" for v in VIEWS},
                view_warnings={"left": [warning]},
            )
        )
        fetched = (await client.get(f"/api/models/{model_id}")).json()
        listed = (await client.get("/api/models")).json()["items"][0]
        await repository.apply(
            ModelFailed(
                model_id=model_id,
                producer="generation",
                stage=Stage.GENERATION,
                reason="the generation timed out",
                error_code="timeout",
                retryable=True,
            )
        )
        await repository.apply(BackgroundRemovalStarted(model_id=model_id, producer="bgremoval"))
        rerun = (await client.get(f"/api/models/{model_id}")).json()
    expected = {"front": [], "left": [warning.model_dump()], "right": [], "back": []}
    assert fetched["photo_warnings"] == expected and listed["photo_warnings"] == expected
    assert rerun["status"] == "removing_background" and rerun["photo_warnings"] == {v: [] for v in VIEWS}


# --- files ---------------------------------------------------------------------------------------------


async def test_files_stream_with_content_type_and_disposition(status_app, s3_settings):
    s3 = s3_settings.client()
    async with status_app.client(user()) as client:
        model = await create(client)
        prefix = f"models/{model['id']}/"
        payload = bytes(range(256)) * 4096  # 1 MiB: more than one chunk
        s3.put_object(Bucket=s3_settings.bucket, Key=prefix + "assets/model.glb", Body=payload)
        s3.put_object(
            Bucket=s3_settings.bucket,
            Key=prefix + "originals/front",
            Body=b"\xff\xd8jpeg",
            ContentType="image/jpeg",
        )
        glb = await client.get(f"/api/models/{model['id']}/files/assets/model.glb")
        download = await client.get(
            f"/api/models/{model['id']}/files/assets/model.glb", params={"download": "1"}
        )
        original = await client.get(f"/api/models/{model['id']}/files/originals/front")
        missing = await client.get(f"/api/models/{model['id']}/files/assets/model.stl")
        escape = await client.get(f"/api/models/{model['id']}/files/assets/..%2F..%2Fother")
        dotted = await client.get(f"/api/models/{model['id']}/files/a/../../x")
    assert glb.status_code == 200 and glb.content == payload
    assert glb.headers["content-type"] == "model/gltf-binary"
    assert glb.headers["content-disposition"].startswith("inline")
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''model.glb"
    assert original.content == b"\xff\xd8jpeg" and original.headers["content-type"] == "image/jpeg"
    assert missing.status_code == 404
    # an encoded '..' reaches the service, which refuses the path; a literal one is resolved by the client
    # (RFC 3986 dot-segment removal) into a path no route serves
    assert escape.status_code == 422 and escape.json()["error"]["code"] == "invalid_file_path"
    assert dotted.status_code == 404


# --- live status ---------------------------------------------------------------------------------------


async def read_events(response: httpx.Response, events: asyncio.Queue) -> None:
    kind, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line.startswith(":"):
            await events.put(("comment", line))
        elif line == "" and kind:
            await events.put((kind, json.loads("\n".join(data))))
            kind, data = None, []


async def next_event(events: asyncio.Queue, kind: str = "status", timeout: float = 10):
    async def wait():
        while True:
            got_kind, payload = await events.get()
            if got_kind == kind:
                return payload

    return await asyncio.wait_for(wait(), timeout)


async def test_sse_follows_changes_applied_by_another_process(
    status_app, status_settings_factory, status_database_url
):
    """The stream is served by a second instance; the change is written through a separate connection
    pool (as the consumer of any instance would): Postgres LISTEN/NOTIFY carries it across."""
    import asyncpg

    owner = user()
    async with running_status(status_settings_factory()) as second, second.client(owner) as client:
        model = await create(client, name="watched")
        events: asyncio.Queue = asyncio.Queue()
        async with client.stream("GET", f"/api/models/{model['id']}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(read_events(response, events))
            try:
                first = await next_event(events)
                assert first["status"] == "draft" and first["id"] == model["id"]
                other_pool = await asyncpg.create_pool(status_database_url, min_size=1, max_size=2)
                try:
                    await ModelRepository(other_pool).apply(all_photos(model["id"]))
                finally:
                    await other_pool.close()
                changed = await next_event(events)
                assert changed["status"] == "photos_uploaded" and changed["photos"]["left"]
                await next_event(events, "comment")  # keep-alive while idle
                deleted = await client.delete(f"/api/models/{model['id']}")
                assert deleted.status_code == 204
                assert (await next_event(events, "deleted")) == {"id": model["id"]}
                await asyncio.wait_for(reader, 5)  # the server ended the stream
            finally:
                reader.cancel()


async def test_sse_client_disconnect_and_shutdown_end_streams(status_settings_factory):
    settings = status_settings_factory()
    async with running_status(settings) as app:
        hub = app.app.state.hub
        async with app.client(user()) as client:
            model = await create(client)
            async with client.stream("GET", f"/api/models/{model['id']}/events") as response:
                lines = response.aiter_lines()
                while not (await anext(lines)).startswith("data:"):
                    pass
                assert hub.subscriber_count == 1
            for _ in range(50):  # the client went away: the server notices and unsubscribes
                if hub.subscriber_count == 0:
                    break
                await asyncio.sleep(0.1)
            assert hub.subscriber_count == 0
        client = app.client(user())
        model = await create(client)
        response = await client.send(
            client.build_request("GET", f"/api/models/{model['id']}/events"), stream=True
        )
        lines = response.aiter_lines()
        while not (await anext(lines)).startswith("data:"):
            pass
        started = time.monotonic()
    # leaving running_status shut the server down with a stream open: the stream ended, without waiting
    # for uvicorn's graceful-shutdown timeout
    assert time.monotonic() - started < 3

    async def rest() -> list[str]:
        try:
            return [line async for line in lines]
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return []

    await asyncio.wait_for(rest(), 5)
    await client.aclose()


# --- the web page ----------------------------------------------------------------------------------------


async def test_frontend_is_served_with_spa_fallback(status_settings_factory, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>photo3d</title>")
    (tmp_path / "assets" / "app.js").write_text("console.log('hi')")
    settings = status_settings_factory(frontend_dir=tmp_path, public_upload_url="https://upload.example")
    async with running_status(settings) as app, app.client() as anonymous:
        root = await anonymous.get("/")
        script = await anonymous.get("/assets/app.js")
        deep = await anonymous.get("/models/123")
        api_missing = await anonymous.get("/api/nothing-here")
        config = await anonymous.get("/config.json")
        health = await anonymous.get("/health")
    assert (
        root.status_code == 200
        and "photo3d" in root.text
        and root.headers["content-type"].startswith("text/html")
    )
    assert script.text == "console.log('hi')"
    assert deep.status_code == 200 and "photo3d" in deep.text
    assert api_missing.status_code == 404 and "photo3d" not in api_missing.text
    assert config.json()["uploadBaseUrl"] == "https://upload.example"
    assert health.status_code == 200


async def test_cors_allows_configured_origins_only(status_settings_factory):
    settings = status_settings_factory(cors_origins=["http://localhost:5173"])
    async with running_status(settings) as app, app.client() as anonymous:
        headers = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
        allowed = await anonymous.options(
            "/api/models", headers={"Origin": "http://localhost:5173", **headers}
        )
        refused = await anonymous.options("/api/models", headers={"Origin": "http://evil.example", **headers})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in refused.headers


async def test_creation_switch_is_served_and_refuses_new_models_without_a_restart(status_app, pool):
    from photo3d_status.creation_switch import write_switch

    notice = "New models are paused while we upgrade."
    try:
        await write_switch(pool, enabled=False, notice=notice, changed_by="test")
        async with status_app.client() as anonymous:
            config = (await anonymous.get("/config.json")).json()
        assert (config["creationEnabled"], config["creationNotice"]) == (False, notice)
        async with status_app.client("alice") as alice:
            refused = await alice.post("/api/models", json={"name": "paused"})
            listed = await alice.get("/api/models")
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert (error["code"], error["message"]) == ("creation_disabled", notice)
        assert listed.status_code == 200  # existing models stay readable
    finally:
        await write_switch(pool, enabled=True, notice=None, changed_by="test")
    async with status_app.client("alice") as alice:
        assert (await alice.post("/api/models", json={"name": "again"})).status_code == 201
