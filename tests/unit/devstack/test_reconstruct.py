"""``photo3d reconstruct`` end to end on synthetic cut-out files: files written, errors reported."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import trimesh
from PIL import Image, ImageDraw

from photo3d_devstack.reconstruct import main
from photo3d_generation import meshio

COLOURS = {"front": (220, 30, 30), "back": (30, 30, 220), "left": (30, 200, 30), "right": (230, 220, 20)}


def write_cutouts(folder: Path) -> dict[str, Path]:
    paths = {}
    for view, colour in COLOURS.items():
        image = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(image).ellipse([30, 20, 130, 140], fill=(*colour, 255))
        paths[view] = folder / f"{view}.png"
        image.save(paths[view])
    return paths


def args_for(paths: dict[str, Path]) -> list[str]:
    return [item for view in ("front", "left", "right", "back") for item in (f"--{view}", str(paths[view]))]


def test_reconstruct_writes_glb_obj_stl_and_preview(tmp_path: Path) -> None:
    paths = write_cutouts(tmp_path)
    out = tmp_path / "out" / "cup.glb"
    code = main(
        [
            "reconstruct",
            *args_for(paths),
            "--out",
            str(out),
            "--obj",
            "--stl",
            "--usdz",
            "--preview",
            "--resolution",
            "48",
            "--faces",
            "3000",
            "--height",
            "0.2",
            "-q",
        ]
    )
    assert code == 0
    mesh = trimesh.load(out, force="mesh")
    assert mesh.extents[1] == pytest.approx(0.2, rel=0.02)
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-6)
    assert meshio.vertex_colors(mesh).std() > 10  # coloured from the photos, not a flat default
    assert trimesh.load(out.with_suffix(".stl")).is_watertight
    assert (tmp_path / "out" / "cup.obj").stat().st_size > 1000
    assert "map_Kd texture.jpg" in (tmp_path / "out" / "cup.mtl").read_text()
    assert Image.open(tmp_path / "out" / "texture.jpg").size[0] >= 64
    assert Image.open(tmp_path / "out" / "cup-preview.png").size == (256, 256)
    assert zipfile.ZipFile(out.with_suffix(".usdz")).namelist() == ["model.usdc", "texture.jpg"]


def test_missing_photo_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_cutouts(tmp_path)
    paths["back"] = tmp_path / "nope.png"
    code = main([*args_for(paths), "--out", str(tmp_path / "m.glb")])
    assert code == 2
    assert "back photo" in capsys.readouterr().err
    assert not (tmp_path / "m.glb").exists()


def test_unusable_cutout_reports_the_reconstruction_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_cutouts(tmp_path)
    empty = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    empty.putpixel((3, 3), (1, 2, 3, 10))  # some transparency, but no object
    empty.save(paths["left"])
    code = main([*args_for(paths), "--out", str(tmp_path / "m.glb"), "--resolution", "32"])
    assert code == 1
    assert "No object was found in the left photo" in capsys.readouterr().err
