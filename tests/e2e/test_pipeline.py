"""One model's whole journey through the real system, and its failures, as a user sees them over HTTP."""

from __future__ import annotations

import asyncio
import io
import zipfile

import pytest
import trimesh
from PIL import Image

from photo3d_common.events import VIEWS
from photo3d_generation import meshio
from tests.fakes.tencent import ScriptedJob
from tests.support.photos import blank_photo, make_photo

pytestmark = pytest.mark.e2e


def photos() -> dict[str, bytes]:
    kinds = {"front": "vase", "left": "vase", "right": "vase", "back": "vase"}
    return {view: make_photo(kinds[view], size=(1024, 768), seed=3).jpeg() for view in VIEWS}


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


async def upload_all(user, model_id: str, images: dict[str, bytes]) -> None:
    responses = await asyncio.gather(*(user.upload(model_id, view, data) for view, data in images.items()))
    for response in responses:
        assert response.status_code == 201, response.text


async def test_four_photos_become_cutouts_and_a_downloadable_glb(alice, mallory):
    model = await alice.create_model(name="vase")
    assert model["status"] == "draft"

    await upload_all(alice, model["id"], photos())
    done = await alice.wait_for(model["id"], {"completed"})

    assert all(done["cutouts"][view] for view in VIEWS)
    for view in VIEWS:
        response = await alice.file(model["id"], f"cutouts/{view}.png")
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).mode == "RGBA"
    glb = await alice.file(model["id"], "assets/model.glb")
    assert glb.status_code == 200
    mesh = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh")
    # the texture atlas splits vertices along its seams; welded, the surface is closed
    assert meshio.welded(mesh).is_watertight and len(mesh.faces) > 100
    assert mesh.visual.kind == "texture"  # coloured from the photos
    assert done["vertex_count"] == len(mesh.vertices)
    # the owner's files are nobody else's
    assert (await mallory.file(model["id"], "assets/model.glb")).status_code == 404
    assert (
        await mallory.http.get(f"{mallory.system.status_url}/api/models/{model['id']}")
    ).status_code == 404


async def test_a_model_with_a_real_size_and_a_face_budget_comes_out_so_in_every_format(alice):
    model = await alice.create_model(name="vase 30 cm", height_m=0.3, target_faces=5000)
    assert model["options"] == {"height_m": 0.3, "width_m": None, "target_faces": 5000, "texture": True}
    await upload_all(alice, model["id"], photos())
    done = await alice.wait_for(model["id"], {"completed"})

    assert 4500 <= done["face_count"] <= 5500 and done["options"] == model["options"]
    assert done["dimensions_m"]["y"] == pytest.approx(0.3, rel=0.01)
    assert {"glb", "obj", "stl", "usdz"} <= set(done["assets"])
    for fmt in ("glb", "obj", "stl"):
        response = await alice.file(model["id"], f"assets/model.{fmt}")
        mesh = trimesh.load(io.BytesIO(response.content), file_type=fmt, force="mesh", process=False)
        assert len(mesh.faces) == done["face_count"] and mesh.extents[1] == pytest.approx(0.3, rel=0.01)
    usdz = await alice.file(model["id"], "assets/model.usdz")
    assert usdz.status_code == 200 and usdz.headers["content-type"] == "model/vnd.usdz+zip"
    assert {"model.usdc", "texture.jpg"} <= set(zipfile.ZipFile(io.BytesIO(usdz.content)).namelist())


async def test_one_photo_without_an_object_is_stood_in_for_and_named_in_a_warning(alice):
    model = await alice.create_model(name="empty left")
    images = photos()
    images["left"] = jpeg(blank_photo((1024, 768)))
    await upload_all(alice, model["id"], images)

    done = await alice.wait_for(model["id"], {"completed"})
    assert [w["code"] for w in done["photo_warnings"]["left"]] == ["outline_from_opposite"]
    assert "the right photo's, mirrored" in done["photo_warnings"]["left"][0]["message"]
    assert done["assets"]["glb"]


async def test_opposite_photos_without_an_object_fail_then_a_replaced_photo_and_rerun_complete(alice):
    model = await alice.create_model(name="empty sides")
    images = photos()
    images["left"] = images["right"] = jpeg(blank_photo((1024, 768)))
    await upload_all(alice, model["id"], images)

    failed = await alice.wait_for(model["id"], {"failed"})
    assert failed["error_stage"] == "background_removal"
    assert failed["error_code"] == "no_subject_found" and "left photo" in failed["error_message"]

    replaced = await alice.upload(model["id"], "left", photos()["left"])
    assert replaced.status_code == 201, replaced.text
    waiting = await alice.model(model["id"])
    assert waiting["status"] == "failed"  # a replacement waits for the re-run
    rerun = await alice.rerun("background_removal", model["id"])
    assert rerun.status_code == 202, rerun.text
    done = await alice.wait_for(model["id"], {"completed"}, newer_than=waiting)
    assert [w["code"] for w in done["photo_warnings"]["right"]] == ["outline_from_opposite"]


async def test_generation_failure_reports_its_reason_and_a_rerun_completes(alice, running_system):
    running_system.fake_tencent.script_job(
        ScriptedJob(
            outcome="FAIL", error_code="FailedOperation", error_message="the model could not be built"
        ),
        ScriptedJob(run_polls=2),
    )
    model = await alice.create_model(name="cloud", provider="tencent")
    await upload_all(alice, model["id"], photos())

    failed = await alice.wait_for(model["id"], {"failed"})
    assert failed["error_stage"] == "generation" and failed["error_message"]

    rerun = await alice.rerun("generation", model["id"])
    assert rerun.status_code == 202, rerun.text
    done = await alice.wait_for(model["id"], {"completed"}, newer_than=failed)
    assert done["provider"] == "tencent"
    glb = await alice.file(model["id"], "assets/model.glb")
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    assert len(running_system.fake_tencent.calls("SubmitHunyuanTo3DProJob")) == 2


async def test_a_rerun_is_refused_while_the_model_is_not_failed(alice):
    model = await alice.create_model(name="busy")
    response = await alice.rerun("generation", model["id"])
    assert response.status_code == 409
    assert response.json()["error"]["message"]
