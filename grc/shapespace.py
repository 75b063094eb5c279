"""Blending and extrapolating grids in shape space instead of position space.

Linear shape keys mix positions: (1 − α) A + α B. Beyond the templates that balloons, shrinks and folds,
because what changes between templates — each part of the surface turning and stretching — is not
linear in positions. Here each triangle's change from the first template is split into a rotation and
a stretch (the polar decomposition of its deformation gradient, with Sumner and Popović's scaled
normal as third axis), rotations blended in log space and stretches in φ space,

    T(w) = exp(Σ w_k log R_k) · φ⁻¹(Σ w_k φ(S_k)),   φ(s) = log s below 1, s − 1 above (per eigenvalue)

and the positions whose triangle edges best match T(w) applied to the first template's are solved
for (a Poisson least-squares system over every triangle's three edges, each edge weighted by
1 / length², so relative errors count: plain least squares turned the petal's narrow base inside
out), with the centroid blended linearly: the centroid of the points every template shares where there are
some (a stem's base stays where it is, as with shape keys), else of all points.
So a petal that opens from template A to B keeps *opening* from B onwards (rotation continues), edges
that shrink do so geometrically (they never reach zero or turn inside out), edges that grow do so
linearly (as shape keys grow: geometric growth blew the petal's wide base up 7x at blend -1), and each template is
reproduced exactly (Alexa et al. 2000, as-rigid-as-possible shape interpolation; Xu et al. 2005,
Poisson shape interpolation; in the spirit of Winkler et al. 2010 and Heeren et al. 2012-14).

Numpy only (dense solves, one per blend; grids are small: 49-81 points).
"""

from __future__ import annotations

import numpy as np

from .errors import GRCError


def _triangles(rows: int, points: int) -> np.ndarray:
    """The grid's triangles (F, 3), each quad split along the same diagonal as grc.mesh.triangulate."""
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(points - 1), indexing="ij")
    a, b = (i * points + j).ravel(), (i * points + j + 1).ravel()
    c, d = ((i + 1) * points + j + 1).ravel(), ((i + 1) * points + j).ravel()
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


EDGE_WEIGHT_POWER = 2.0  # the Poisson fit weighs each edge by 1 / (its target length + floor) ** this:
EDGE_WEIGHT_FLOOR = 1e-3  # relative errors count, not absolute (floor: this share of the median length)


class ShapeSpace:
    """Shape-space blends of K grids (K, M, N, 3) that share one grid topology."""

    def __init__(self, rows: int, points: int, shared=None):
        """`shared`: booleans (rows * points,), the grid points that stay where they are (`shared_points`);
        none given or none true: the centroid of all points is blended."""
        self.rows, self.points = rows, points
        V = rows * points
        shared = np.zeros(V, bool) if shared is None else np.asarray(shared)
        if shared.dtype != bool or shared.shape != (V,):
            raise GRCError(f"expected {V} booleans, got {shared.dtype} {shared.shape}", field="shared")
        # each point's share of the centroid that pins the translation (`_blend`)
        self.anchor = shared / shared.sum() if shared.any() else np.full(V, 1 / V)
        self.triangles = _triangles(rows, points)
        F = len(self.triangles)
        # D: the three edges of every triangle (b - a, c - a, c - b) as differences of vertex positions (3F, V)
        D = np.zeros((3 * F, V))
        t, f = self.triangles, np.arange(F)
        for k, (i, j) in enumerate(((0, 1), (0, 2), (1, 2))):
            D[k * F + f, t[:, j]] += 1
            D[k * F + f, t[:, i]] -= 1
        self.D = D

    def _frames(self, grids) -> np.ndarray:
        """(..., F, 3, 3): per triangle the columns edge 1, edge 2, scaled normal."""
        v = grids.reshape(*grids.shape[:-3], -1, 3)
        p = v[..., self.triangles, :]  # (..., F, 3, 3): corners
        e1, e2 = p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :]
        n = np.cross(e1, e2)
        n = n / np.sqrt(np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-30))
        return np.stack([e1, e2, n], axis=-1)

    def logs(self, grids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each grid's change from the first as log-rotations (K, F, 3) and log-stretches (K, F, 3, 3),
        and the first grid's frames (F, 3, 3); grids (..., K, M, N, 3) give (..., K, F, 3) and so on."""
        grids = np.asarray(grids, float)
        if grids.ndim < 4 or grids.shape[-3:] != (self.rows, self.points, 3):
            raise GRCError(f"expected grids (K, {self.rows}, {self.points}, 3), got {grids.shape}", field="grids")
        frames = self._frames(grids)  # (..., K, F, 3, 3)
        base = frames[..., 0, :, :, :]
        T = frames @ np.linalg.pinv(base)[..., None, :, :, :]  # (..., K, F, 3, 3) deformation gradients from the first grid
        U, s, Vt = np.linalg.svd(T)
        flip = np.linalg.det(U @ Vt) < 0  # a reflection: fold the sign into the stretch's smallest axis
        U[flip, :, -1] *= -1
        s[flip, -1] *= -1
        R = U @ Vt
        s = np.maximum(np.abs(s), 1e-9)  # a degenerate or inverted triangle: the closest proper stretch
        log_s = (np.swapaxes(Vt, -1, -2) * stretch_log(s)[..., None, :]) @ Vt  # V φ(Σ) Vᵀ
        return rotation_log(R), log_s, base

    def blend(self, grids, weights, stretch_weights=None, logs=None) -> np.ndarray:
        """Shape-space blends of `grids` (K, M, N, 3) at `weights` (S, K) (rows summing to 1): (S, M, N, 3).
        `stretch_weights` (S, K), if given, blend the stretches instead of `weights`, which then blend the
        rotations and the centroid (grc.training: parts keep turning and moving, grow less). `logs`: the
        grids' `logs`, when the caller has them already (another blend of the same grids)."""
        grids = np.asarray(grids, float)
        weights = np.atleast_2d(np.asarray(weights, float))
        if weights.ndim != 2 or weights.shape[1] != len(grids):
            raise GRCError(f"expected {len(grids)} weights per blend, got {weights.shape[-1]}", field="weights")
        return self._blend(grids, self.logs(grids) if logs is None else logs, weights, stretch_weights, "sk,k")

    def blend_each(self, grids, weights, stretch_weights=None, logs=None) -> np.ndarray:
        """One blend per set of grids: grids (S, K, M, N, 3), weights (S, K) -> (S, M, N, 3), as `blend` gives
        for each (all at once: the extrapolated rows of grc.training, each shape at its own time)."""
        grids = np.asarray(grids, float)
        weights = np.atleast_2d(np.asarray(weights, float))
        if grids.ndim != 5 or weights.shape != grids.shape[:2]:
            raise GRCError(f"expected weights {grids.shape[:2]}, got {weights.shape}", field="weights")
        return self._blend(grids, self.logs(grids) if logs is None else logs, weights, stretch_weights, "sk,sk")

    def _blend(self, grids, logs, weights, stretch_weights, spec: str) -> np.ndarray:
        """`spec` "sk,k" (one set of grids for every blend) or "sk,sk" (a set per blend)."""
        stretch_weights = weights if stretch_weights is None else np.atleast_2d(np.asarray(stretch_weights, float))
        log_r, log_s, base = logs
        R = rotation_exp(np.einsum(f"{spec}fi->sfi", weights, log_r))  # (S, F, 3, 3)
        S = symmetric_exp(np.einsum(f"{spec}fij->sfij", stretch_weights, log_s), stretch_exp)
        edges = (R @ S) @ base  # (S, F, 3, 3): target edge 1, edge 2 (and normal) per triangle
        e1, e2 = edges[..., :, 0], edges[..., :, 1]
        e = np.concatenate([e1, e2, e2 - e1], axis=1)  # (S, 3F, 3): every triangle's three edges
        # Weighted least squares: an edge's error relative to its target length. Plain least squares lets
        # the long edges' small disagreements swamp short ones, and a petal's narrow base turns inside out.
        length = np.linalg.norm(e, axis=-1)
        w = 1 / (length + EDGE_WEIGHT_FLOOR * np.median(length, axis=1, keepdims=True)) ** EDGE_WEIGHT_POWER
        Dw = self.D[None] * w[:, :, None]  # (S, 3F, V)
        A = np.swapaxes(Dw, 1, 2) @ self.D  # (S, V, V)
        # a centroid, blended linearly, pins the translation the edges leave free: that of the points the
        # templates share (`shared_points`: they stay where they are), or of all points
        pin = np.trace(A, axis1=1, axis2=2)[:, None, None]
        p = self.anchor  # (V,), summing to 1
        means = np.einsum("v,...kvc->...kc", p, grids.reshape(*grids.shape[:-3], -1, 3))  # (K, 3) or (S, K, 3)
        centroid = np.einsum(f"{spec}c->sc", weights, means)  # (S, 3)
        A = A + pin * np.outer(p, p)
        rhs = np.swapaxes(Dw, 1, 2) @ e + pin * p[:, None] * centroid[:, None, :]
        return np.linalg.solve(A, rhs).reshape(len(weights), self.rows, self.points, 3)


# a shared point: every template's within this share of the set's size, at every time step. Points an artist
# left in place differ by 0 to 2e-8 of it in the bundled and Blender-made sets; at 1e-3, points that merely come
# close in procedural variants (5e-4 to 1e-3) counted too; 1e-4 still allows for coordinates rounded to 4 decimals.
SHARED_TOLERANCE = 1e-4


def shared_points(points, tolerance: float = SHARED_TOLERANCE) -> np.ndarray:
    """The grid points (M * N,) every template has in the same place at every time step (points (K, T, M, N, 3)):
    a stem's base, a midrib that does not move. Shape keys keep them where they are; a shape-space blend
    pinned by the centroid of all points moved them (the sprout's base at blend 2, time 0.7, by twice its span)."""
    points = np.asarray(points, float)
    flat = points.reshape(*points.shape[:2], -1, 3)  # (K, T, V, 3)
    size = np.linalg.norm(np.ptp(flat.reshape(-1, 3), axis=0))
    spread = np.linalg.norm(flat - flat.mean(axis=0), axis=-1).max(axis=(0, 1))  # (V,)
    return spread <= tolerance * size


def template_space(templates, keep_shared: bool = True) -> ShapeSpace:
    """The ShapeSpace of a template set's grid that keeps its `shared_points` where they are; with `keep_shared`
    False (grc.config's `refine_extrapolation_shared`), one that blends the centroid of all points."""
    return ShapeSpace(*templates.grid_shape[1:], shared_points(templates.points) if keep_shared else None)


def rotation_log(R) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to rotation vectors (..., 3) (axis times angle, angle in [0, π])."""
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    angle = np.arccos(cos)
    axis = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.sin(angle)
    small = sin < 1e-6
    scale = np.where(small, 0.5, angle / (2 * np.where(small, 1, sin)))
    vec = axis * scale[..., None]
    near_pi = small & (angle > 1)  # angle ≈ π: the axis from the symmetric part
    if np.any(near_pi):
        B = (R[near_pi] + np.eye(3)) / 2
        k = np.argmax(np.diagonal(B, axis1=-2, axis2=-1), axis=-1)
        col = B[np.arange(len(B)), :, k]
        col /= np.linalg.norm(col, axis=-1, keepdims=True)
        vec[near_pi] = col * angle[near_pi][:, None]
    return vec


def rotation_exp(v) -> np.ndarray:
    """Rotation vectors (..., 3) to matrices (..., 3, 3) (Rodrigues)."""
    angle = np.linalg.norm(v, axis=-1)
    k = v / np.where(angle > 1e-12, angle, 1)[..., None]
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def symmetric_exp(M, function=np.exp) -> np.ndarray:
    """exp (or another function) of symmetric matrices (..., 3, 3)."""
    w, V = np.linalg.eigh((M + np.swapaxes(M, -1, -2)) / 2)
    return (V * function(w)[..., None, :]) @ np.swapaxes(V, -1, -2)


GROWTH = "linear"  # "linear": stretches above 1 blend linearly, below 1 in log space; "log": all in log space


def stretch_log(s) -> np.ndarray:
    """The space stretch factors are blended in: log s below 1 (shrinking is geometric, never through 0),
    s - 1 above (growth linear, as shape keys grow: geometric growth blew the petal's base up 7x at
    blend -1); the two meet with the same slope at 1."""
    return np.log(s) if GROWTH == "log" else np.where(s < 1, np.log(np.minimum(s, 1)), s - 1)


def stretch_exp(x) -> np.ndarray:
    return np.exp(x) if GROWTH == "log" else np.where(x < 0, np.exp(np.minimum(x, 0)), 1 + x)
