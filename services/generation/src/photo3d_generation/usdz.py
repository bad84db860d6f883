"""USDZ (for phones' AR viewers: iOS AR Quick Look, ``model-viewer``'s ``ios-src``) with Pixar's usd-core.

The stage holds one ``Mesh`` prim in the output convention of :mod:`meshio` at real scale: ``upAxis = Y``
and ``metersPerUnit = 1``, so a model 0.3 units tall opens 30 cm tall. A textured mesh gets a
``UsdPreviewSurface`` whose diffuse colour reads the texture (packaged inside the archive) through the
``st`` primvar; vertex colours become ``displayColor``. The archive is made by ``UsdUtils``'s ARKit packager,
which checks what AR Quick Look needs (a single layer, PNG/JPEG textures).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from .textures import mark_for_export, texture_file_name

MESH_PATH = "/Model/Mesh"


def _texture_image(mesh: trimesh.Trimesh) -> Image.Image | None:
    """The mesh's texture as stored (:func:`textures.mark_for_export`), or None when it has none."""
    visual = mesh.visual
    if not isinstance(visual, trimesh.visual.TextureVisuals) or visual.uv is None:
        return None
    material = visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return mark_for_export(image) if isinstance(image, Image.Image) else None


def to_usdz_bytes(mesh: trimesh.Trimesh) -> bytes:
    """One USDZ archive of the mesh (with its texture when it has one)."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt  # a large library: load on use

    with tempfile.TemporaryDirectory(prefix="photo3d-usdz-") as folder:
        root = Path(folder)
        layer_path = root / "model.usdc"
        stage = Usd.Stage.CreateNew(str(layer_path))
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, 1.0)
        model = UsdGeom.Xform.Define(stage, "/Model")
        stage.SetDefaultPrim(model.GetPrim())
        Usd.ModelAPI(model.GetPrim()).SetKind("component")

        usd_mesh = UsdGeom.Mesh.Define(stage, MESH_PATH)
        vertices = np.asarray(mesh.vertices, dtype=np.float32)
        faces = np.asarray(mesh.faces, dtype=np.int32)
        usd_mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(vertices))
        usd_mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, dtype=np.int32)))
        usd_mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces.reshape(-1)))
        usd_mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)  # triangles as they are, not a subdiv cage
        usd_mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
        usd_mesh.CreateDoubleSidedAttr(False)
        normals = np.asarray(mesh.vertex_normals, dtype=np.float32)
        usd_mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(normals))
        usd_mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
        low, high = mesh.bounds
        usd_mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, low)), Gf.Vec3f(*map(float, high))]))

        material = UsdShade.Material.Define(stage, "/Model/Material")
        surface = UsdShade.Shader.Define(stage, "/Model/Material/Surface")
        surface.CreateIdAttr("UsdPreviewSurface")
        surface.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.8)
        surface.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
        material.CreateSurfaceOutput().ConnectToSource(surface.ConnectableAPI(), "surface")

        image = _texture_image(mesh)
        primvars = UsdGeom.PrimvarsAPI(usd_mesh)
        if image is not None and isinstance(mesh.visual, trimesh.visual.TextureVisuals):
            # in the format and with the parameters of the GLB's and the OBJ's copy (_texture_image)
            texture_name = texture_file_name(image)
            image.save(root / texture_name, format=image.format, **image.encoderinfo)
            # trimesh keeps UVs with the origin bottom-left, as USD's st does: no flip.
            uv = np.asarray(mesh.visual.uv, dtype=np.float32)
            st = primvars.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex)
            st.Set(Vt.Vec2fArray.FromNumpy(uv))
            reader = UsdShade.Shader.Define(stage, "/Model/Material/STReader")
            reader.CreateIdAttr("UsdPrimvarReader_float2")
            reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
            texture = UsdShade.Shader.Define(stage, "/Model/Material/Texture")
            texture.CreateIdAttr("UsdUVTexture")
            texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(f"./{texture_name}")
            texture.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
            texture.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("clamp")
            texture.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("clamp")
            texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
                reader.ConnectableAPI(), "result"
            )
            texture.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
            surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
                texture.ConnectableAPI(), "rgb"
            )
        else:
            colours = _vertex_colours(mesh)
            if colours is not None:
                display = primvars.CreatePrimvar(
                    "displayColor", Sdf.ValueTypeNames.Color3fArray, UsdGeom.Tokens.vertex
                )
                display.Set(Vt.Vec3fArray.FromNumpy(colours))
                reader = UsdShade.Shader.Define(stage, "/Model/Material/ColorReader")
                reader.CreateIdAttr("UsdPrimvarReader_float3")
                reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
                reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
                surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
                    reader.ConnectableAPI(), "result"
                )
            else:
                surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(0.8, 0.8, 0.8))
        UsdShade.MaterialBindingAPI.Apply(usd_mesh.GetPrim()).Bind(material)
        stage.GetRootLayer().Save()
        del stage

        archive = root / "model.usdz"
        if not UsdUtils.CreateNewARKitUsdzPackage(Sdf.AssetPath(str(layer_path)), str(archive)):
            raise RuntimeError("usd-core could not package the USDZ archive")
        return archive.read_bytes()


def _vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    visual = mesh.visual
    if not isinstance(visual, trimesh.visual.ColorVisuals) or str(visual.kind) not in ("vertex", "face"):
        return None
    colours = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
    return colours if len(colours) == len(mesh.vertices) else None
