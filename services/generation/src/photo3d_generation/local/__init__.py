"""The built-in offline reconstructor: four cut-outs -> a closed, coloured mesh on a CPU, no network.

How it works
    Silhouette carving (the visual hull). Each cut-out's alpha bounding box gives the object's height and
    vertical axis, so the four photos are scaled to a common height and centred. The front/back photos look
    along Z, the left/right photos along X (``meshio.VIEW_DIRECTIONS``). A voxel grid is sampled against
    all four silhouettes through a level pinhole camera 2.5 object heights away (``camera_distance``; its
    zoom and optical axis are solved from the silhouettes, since cut-outs are cropped; ``None`` =
    orthographic), scikit-image's marching cubes extracts the 0.5 level of the carved field, trimesh's
    Taubin filter smooths it without shrinking it, quadric decimation brings it to a face budget, and a
    texture atlas made of the photos themselves colours it: each triangle takes the photo that sees it
    most squarely (or, with ``texture_size=0``, each vertex blends the photos that see it).

What it cannot do (silhouettes only carry outlines)
    * Concavities are filled: the inside of a bowl or cup, the hollow of a chair seat, the space between an
      animal's legs seen only from front and back all stay solid. Four axis views also leave the hull
      boxy: an object round in plan comes out with bevelled, octagon-like corners (a sphere from four
      orthographic views becomes two crossed cylinders, +27 % volume). Level perspective cameras add
      low "roofs" above the top and below the base (a few % of the height).
    * The camera is assumed level with the object's middle at ``camera_distance``; photos from well
      above or below it, or much closer or further, fit the silhouettes less well. Thin parts (chair
      legs) suffer first.
    * Thin parts narrower than a voxel (about 1/128 of the object's largest side by default) may vanish.
    * Colours are projected photo pixels: lighting and shadows of the photos are baked in, seams show where
      photos of different exposure meet, and surfaces that no photo sees (the underside, deep folds) are
      textured from the nearest photo edge.
    * The photos must be taken level, from the four sides, with the object upright and whole in frame.
      The scale is unknown: the model is about ``settings.height`` units tall (the photos' object height).

Known cameras
    When the cameras are known (a calibrated rig; the quality benchmark's renderer), pass them as
    ``reconstruct(..., cameras={view: KnownCamera(...)})`` with uncropped photos: each view may then be
    turned (yaw) and raised (elevation) and at its own distance, and is carved as taken.

Entry point: :func:`reconstruct` (and :class:`ReconstructionSettings`, :class:`ReconstructionError`,
:class:`KnownCamera`).
"""

from .errors import ReconstructionError
from .reconstructor import ProgressCallback, ReconstructionSettings, reconstruct
from .views import KnownCamera

__all__ = ["KnownCamera", "ProgressCallback", "ReconstructionError", "ReconstructionSettings", "reconstruct"]
