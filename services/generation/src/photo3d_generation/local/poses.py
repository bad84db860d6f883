"""The four cameras fitted jointly, so that the four silhouettes describe one object.

Each photo's first camera comes from its own silhouette box (:func:`photo3d_generation.local.views.load_views`):
its box height is taken as the object's height and its box centre as the object's axis. That is only right
for a level camera square to the object at a known distance. A photo taken from a little higher, or nearer,
or of an object much deeper than it is wide (a chair: its near legs look longer than its far ones) gets a
camera that is a few per cent off, and a carving cuts away what the other photos show: thin parts (legs)
vanish first.

This module adjusts each view's zoom (focal length), optical centre and tilt (elevation) so that the hull
carved from all four explains every silhouette -- *silhouette coherence* (Hernández, Schmitt & Cipolla,
"Silhouette Coherence for Camera Calibration under Circular Motion", PAMI 2007): for every pixel of a view's
silhouette, the ray through it must pass through a point that lies inside every other view's silhouette.
The fraction of each silhouette explained that way is its *coherence*; a least-squares fit maximises all
four at once, with a weak prior that keeps the cameras near their first guess (that also fixes the scale and
position of the model, which the photos cannot tell). A view that stays far less coherent than the others
(a cut-out that kept part of the backdrop, a photo of another side) is down-weighted and reported, so one
bad photo does not bend the other three cameras.

The fit works on small copies of the silhouettes (coarse to fine: 24, then 48 pixels of object height) and
takes its gradient from the active point of each ray (envelope theorem: the derivative of a max of mins is
that of the piece that attains it), so it costs a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from .views import View

log = logging.getLogger(__name__)

#: Parameters per view: log of the focal-length change, centre shift (u, v) in object heights of the
#: silhouette, elevation in radians.
PARAMETERS = 4
#: Prior spread of each parameter: how far a camera is expected to be from its first guess.
PRIOR_SIGMA = np.array([0.05, 0.03, 0.03, np.radians(8.0)])
#: Weight of that prior against the mean incoherence of the views (0..1 each).
PRIOR_WEIGHT = 2e-3
#: Search box per parameter: zoom ±25 %, centre ±15 % of the height, elevation -5°..30° (photos of an
#: object are taken from level or above; from below, a silhouette reads much like from above).
LOWER = np.array([-0.25, -0.15, -0.15, np.radians(-5.0)])
UPPER = np.array([0.25, 0.15, 0.15, np.radians(30.0)])
#: Coarse-to-fine stages: object height in pixels of the working copy, depth samples along each ray.
STAGES = ((24, 16), (48, 32))
#: Blur of the working silhouettes (pixels): a smooth edge gives the fit a slope to follow.
EDGE_BLUR = 1.0
#: A view whose incoherence exceeds both this and OUTLIER_RATIO times the others' median is an outlier.
OUTLIER_INCOHERENCE = 0.15
OUTLIER_RATIO = 2.0
#: An outlier's weight in the refit.
OUTLIER_WEIGHT = 0.05
#: How far beyond the model's middle (in object heights) rays are sampled, each way along the ray.
RAY_REACH = 0.9

_MIDDLE = np.array([0.0, 0.5, 0.0])
_STEP = 1e-4  # finite-difference step of the reduced (active-point) residuals


@dataclass(frozen=True)
class PoseFit:
    """The fitted views, how much of each silhouette the others explain before and after, and the
    views the fit had to down-weight because the others contradict them."""

    views: dict[str, View]
    coherence_before: dict[str, float]
    coherence_after: dict[str, float]
    outliers: tuple[str, ...] = ()


class _Problem:
    """One stage of the fit: working copies of the silhouettes and the rays through them."""

    def __init__(self, views: Mapping[str, View], object_pixels: int, samples: int) -> None:
        self.base = dict(views)
        self.names = list(views)
        self.depths = np.linspace(-RAY_REACH, RAY_REACH, samples)
        self.alpha: dict[str, np.ndarray] = {}
        self.zoom: dict[str, float] = {}
        self.pixels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, view in views.items():
            height = view.bbox[3] - view.bbox[1]
            zoom = object_pixels / height
            alpha = ndimage.gaussian_filter(ndimage.zoom(view.alpha, zoom, order=1), EDGE_BLUR)
            rows, cols = np.nonzero(alpha > 0.5)
            weights = alpha[rows, cols]
            # pixel centres of the working copy in the view's own pixels
            self.pixels[name] = (
                (cols + 0.5) / zoom - 0.5,
                (rows + 0.5) / zoom - 0.5,
                weights / weights.sum(),
            )
            self.alpha[name] = alpha.astype(np.float64)
            self.zoom[name] = zoom
        self.view_weights = dict.fromkeys(self.names, 1.0)
        self._active: tuple[bytes, list[tuple[np.ndarray, np.ndarray]]] | None = None

    def views_for(self, x: np.ndarray) -> dict[str, View]:
        return {name: self._view_for(index, x) for index, name in enumerate(self.names)}

    def _view_for(self, index: int, x: np.ndarray) -> View:
        view = self.base[self.names[index]]
        log_zoom, shift_u, shift_v, elevation = x[index * PARAMETERS : (index + 1) * PARAMETERS]
        assert view.focal is not None  # only perspective views are fitted
        height = view.bbox[3] - view.bbox[1]
        scale = float(np.exp(log_zoom))
        return dataclasses.replace(
            view,
            focal=view.focal * scale,
            pixels_per_unit=view.pixels_per_unit * scale,
            centre_u=view.centre_u + float(shift_u) * height,
            centre_v=view.centre_v + float(shift_v) * height,
            elevation=float(elevation),
        )

    def _rays(self, view: View, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The camera's position and the (unnormalised, unit depth) rays through its silhouette pixels."""
        assert view.focal is not None and view.distance is not None
        u, v, _ = self.pixels[name]
        direction, right, up = view.direction, view.right, view.up
        lateral = (u - view.centre_u) / view.focal
        vertical = -(v - view.centre_v) / view.focal
        rays = -direction[None, :] + lateral[:, None] * right[None, :] + vertical[:, None] * up[None, :]
        return _MIDDLE + view.distance * direction, rays

    def _sample(self, name: str, view: View, points: np.ndarray) -> np.ndarray:
        u, v, _ = view.project(points)
        zoom = self.zoom[name]
        sampled: np.ndarray = ndimage.map_coordinates(
            self.alpha[name], [(v + 0.5) * zoom - 0.5, (u + 0.5) * zoom - 0.5], order=1, mode="constant"
        )
        return sampled

    def coherence(self, views: Mapping[str, View]) -> tuple[dict[str, np.ndarray], dict[str, tuple]]:
        """Per view: how well each silhouette pixel is explained (0..1), and each ray's active point."""
        support: dict[str, np.ndarray] = {}
        active: dict[str, tuple] = {}
        for name, view in views.items():
            eye, rays = self._rays(view, name)
            assert view.distance is not None
            along = view.distance + self.depths
            count, samples = len(rays), len(along)
            flat = (eye + along[None, :, None] * rays[:, None, :]).reshape(-1, 3)
            lowest = np.full(len(flat), np.inf)
            which = np.zeros(len(flat), dtype=np.int8)
            for index, (other_name, other) in enumerate(views.items()):
                if other_name == name:
                    continue
                sampled = self._sample(other_name, other, flat)
                smaller = sampled < lowest
                lowest[smaller] = sampled[smaller]
                which[smaller] = index
            per_ray = lowest.reshape(count, samples)
            best = per_ray.argmax(axis=1)
            rows = np.arange(count)
            support[name] = per_ray[rows, best]
            active[name] = (self.depths[best], which.reshape(count, samples)[rows, best])
        return support, active

    def residuals(self, x: np.ndarray) -> np.ndarray:
        support, active = self.coherence(self.views_for(x))
        self._active = (x.tobytes(), [active[name] for name in self.names])
        return self._stack(support, x)

    def _stack(self, support: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        parts = [self._weights(name) * (1.0 - support[name]) for name in self.names]
        parts.append(np.sqrt(PRIOR_WEIGHT) * (x.reshape(-1, PARAMETERS) / PRIOR_SIGMA).ravel())
        return np.concatenate(parts)

    def _weights(self, name: str) -> np.ndarray:
        """Each silhouette pixel's residual weight: its share of the silhouette times its view's weight."""
        weights: np.ndarray = np.sqrt(self.pixels[name][2] * self.view_weights[name])
        return weights

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """The residuals' derivatives, each ray held at its active point and active view."""
        if self._active is None or self._active[0] != x.tobytes():
            self.residuals(x)
        assert self._active is not None
        active = self._active[1]
        views = self.views_for(x)
        # every silhouette pixel of every view, stacked: its ray's view, active view and active point
        ray_view = np.concatenate([np.full(len(self.pixels[n][0]), i) for i, n in enumerate(self.names)])
        active_view = np.concatenate([which for _, which in active])
        points = np.concatenate(
            [
                self._active_points(views[n], n, depths)
                for n, (depths, _) in zip(self.names, active, strict=True)
            ]
        )
        weights = np.concatenate([self._weights(n) for n in self.names])
        base = np.zeros(len(points))
        for index, name in enumerate(self.names):
            chosen = active_view == index
            base[chosen] = self._sample(name, views[name], points[chosen])
        prior = np.sqrt(PRIOR_WEIGHT) / np.tile(PRIOR_SIGMA, len(self.names))
        columns = np.zeros((len(points) + len(x), len(x)))
        for parameter in range(len(x)):
            index = parameter // PARAMETERS
            name = self.names[index]
            nudged_x = x.copy()
            nudged_x[parameter] += _STEP
            nudged = self._view_for(index, nudged_x)
            own = ray_view == index
            moved = points.copy()
            moved[own] = self._active_points(nudged, name, active[index][0])
            sampled = base.copy()
            for other_index, other_name in enumerate(self.names):
                # a view's parameters move its own rays and the samples taken in it, nothing else
                chosen = (active_view == other_index) & (own | (other_index == index))
                if chosen.any():
                    camera = nudged if other_index == index else views[other_name]
                    sampled[chosen] = self._sample(other_name, camera, moved[chosen])
            columns[: len(points), parameter] = -weights * (sampled - base) / _STEP
            columns[len(points) + parameter, parameter] = prior[parameter]
        return columns

    def _active_points(self, view: View, name: str, depths: np.ndarray) -> np.ndarray:
        eye, rays = self._rays(view, name)
        assert view.distance is not None
        points: np.ndarray = eye + (view.distance + depths)[:, None] * rays
        return points

    def coherence_of(self, views: Mapping[str, View]) -> dict[str, float]:
        support, _ = self.coherence(views)
        return {name: float((self.pixels[name][2] * support[name]).sum()) for name in self.names}


def fit_poses(views: Mapping[str, View]) -> PoseFit:
    """Adjust each perspective view's zoom, centre and elevation until the four silhouettes agree."""
    if any(view.focal is None or view.distance is None for view in views.values()):
        return PoseFit(dict(views), {}, {})  # orthographic views: nothing to fit
    x = np.zeros(len(views) * PARAMETERS)
    lower, upper = np.tile(LOWER, len(views)), np.tile(UPPER, len(views))
    scale = np.tile(PRIOR_SIGMA, len(views))
    outliers: set[str] = set()
    problem: _Problem | None = None
    for stage, (object_pixels, samples) in enumerate(STAGES):
        problem = _Problem(views, object_pixels, samples)
        if stage == 0:
            # a view far less coherent than the others from the start is not allowed to bend them
            outliers = _outliers(problem.coherence_of(views))
        problem.view_weights.update(dict.fromkeys(outliers, OUTLIER_WEIGHT))
        x = _solve(problem, x, lower, upper, scale)
    assert problem is not None
    before = problem.coherence_of(views)  # at the finest stage, as ``after``: the two compare
    after = problem.coherence_of(problem.views_for(x))
    # one bad view bends the others a little until it is down-weighted: look once more, but only when
    # the first look found none (the views it bent would look like outliers now)
    late = set() if outliers else _outliers(after)
    if late:
        outliers = late
        problem.view_weights.update(dict.fromkeys(outliers, OUTLIER_WEIGHT))
        x = _solve(problem, x, lower, upper, scale)
        after = problem.coherence_of(problem.views_for(x))
    fitted = problem.views_for(x)
    log.info(
        "cameras fitted to the silhouettes",
        extra={
            "coherence_before": {name: round(value, 3) for name, value in before.items()},
            "coherence_after": {name: round(value, 3) for name, value in after.items()},
            "outlier_views": sorted(outliers),
        },
    )
    return PoseFit(fitted, before, after, tuple(name for name in views if name in outliers))


def _outliers(coherence: Mapping[str, float]) -> set[str]:
    """The least coherent view, when its incoherence is large and well above the other views' median.

    One at most: with four views, two that disagree with the other two leave nothing to trust more.
    """
    incoherence = {name: 1.0 - value for name, value in coherence.items()}
    worst = max(incoherence, key=lambda name: incoherence[name])
    others = float(np.median([value for name, value in incoherence.items() if name != worst]))
    if incoherence[worst] > OUTLIER_INCOHERENCE and incoherence[worst] > OUTLIER_RATIO * others:
        return {worst}
    return set()


def _solve(
    problem: _Problem, x: np.ndarray, lower: np.ndarray, upper: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    # lsmr: the Jacobian is tall (one row per silhouette pixel) and narrow; an SVD of it costs more than
    # the whole fit
    result = optimize.least_squares(
        problem.residuals,
        np.clip(x, lower, upper),
        jac=problem.jacobian,
        bounds=(lower, upper),
        x_scale=scale,
        method="trf",
        tr_solver="lsmr",
        max_nfev=30,
        ftol=1e-3,
        xtol=1e-3,
        gtol=1e-4,
    )
    solution: np.ndarray = result.x
    return solution
