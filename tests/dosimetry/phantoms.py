"""Analytic DVH phantoms (reference ``dosimetry.md`` §7): point-source dose grids and sphere / box contours.

Model: isotropic point source, no attenuation, D(r) = k / r² with k = 120 Gy·cm²; target sphere R = 1.2 cm.
Closed forms (§7.1 centred, §7.2 lens volume for an offset source) are given here so tests can compute any
reference value, not just the tabulated ones.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from dosimetry.dvh import DoseGrid, Structure

K_GY_CM2 = 120.0
RADIUS_CM = 1.2
SPHERE_VOLUME_CM3 = 4.0 / 3.0 * math.pi * RADIUS_CM**3  # 7.238229 cm³


def axis_cm(lo_cm: float, hi_cm: float, spacing_cm: float) -> NDArray[np.float64]:
    """Voxel centres lo, lo + h, … ≤ hi (inclusive within a rounding tolerance)."""
    n = int(math.floor((hi_cm - lo_cm) / spacing_cm + 1e-9)) + 1
    return lo_cm + spacing_cm * np.arange(n)


def point_source_grid(
    source_cm: tuple[float, float, float],
    half_width_cm: float = 1.35,
    spacing_cm: float = 0.1,
    k_gy_cm2: float = K_GY_CM2,
    centre_cm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    extra_x_cm: float = 0.0,
) -> DoseGrid:
    """k/r² dose on a cubic grid of voxel centres around ``centre_cm``.

    Voxel centres sit at half-voxel offsets from ``centre_cm`` (…, −h/2, +h/2, …), so a source at a whole-
    voxel position relative to the centre never lies on a voxel centre (§7.3). ``extra_x_cm`` widens the grid
    in +x (to enclose an offset source's Rx isodose).
    """
    h = spacing_cm
    cx, cy, cz = centre_cm
    n_half = int(math.ceil(half_width_cm / h))
    base = (np.arange(-n_half, n_half) + 0.5) * h
    n_extra = int(math.ceil(extra_x_cm / h))
    xb = (np.arange(-n_half, n_half + n_extra) + 0.5) * h
    x, y, z = cx + xb, cy + base, cz + base
    sx, sy, sz = source_cm
    r2 = (z[:, None, None] - sz) ** 2 + (y[None, :, None] - sy) ** 2 + (x[None, None, :] - sx) ** 2
    dose = (k_gy_cm2 / r2).astype(np.float32)
    return DoseGrid(dose_gy=dose, x_cm=x, y_cm=y, z_cm=z)


def uniform_grid(dose_gy: float, n: int = 12, spacing_cm: float = 0.1) -> DoseGrid:
    """Uniform dose on an n³ grid with centres at (i + 0.5)·h − n·h/2 (symmetric about 0)."""
    c = (np.arange(n) + 0.5) * spacing_cm - n * spacing_cm / 2
    return DoseGrid(dose_gy=np.full((n, n, n), dose_gy, dtype=np.float32), x_cm=c, y_cm=c, z_cm=c)


def circle(radius_cm: float, cx: float = 0.0, cy: float = 0.0, n_vertices: int = 256) -> NDArray[np.float64]:
    """Closed polygon (first point not repeated) with the same *area* as the circle.

    The vertices lie on a slightly larger circle, r·sqrt(2π/n / sin(2π/n)), so the polygon's area equals
    π r²; with 256 vertices the correction is 1e-4 relative.
    """
    t = 2 * math.pi * np.arange(n_vertices) / n_vertices
    scale = math.sqrt((2 * math.pi / n_vertices) / math.sin(2 * math.pi / n_vertices))
    rr = radius_cm * scale
    return np.column_stack((cx + rr * np.cos(t), cy + rr * np.sin(t)))


def sphere_structure(
    radius_cm: float = RADIUS_CM,
    centre_cm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    plane_spacing_cm: float = 0.1,
    name: str = "GTV",
    n_vertices: int = 256,
) -> Structure:
    """Sphere as circles on planes centre_z + (m + 1/2)·Δz (midpoint rule: slabs tile [−R, R] in z)."""
    cx, cy, cz = centre_cm
    m = int(math.floor(radius_cm / plane_spacing_cm))
    contours = []
    for idx in range(-m - 1, m + 1):
        dz = (idx + 0.5) * plane_spacing_cm
        if abs(dz) >= radius_cm:
            continue
        rho = math.sqrt(radius_cm**2 - dz**2)
        contours.append((cz + dz, circle(rho, cx, cy, n_vertices)))
    return Structure(name=name, contours=contours)


def box_structure(
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    z_planes: list[float],
    name: str = "box",
) -> Structure:
    """Rectangle contours (counter-clockwise) on each z plane."""
    (x0, x1), (y0, y1) = x_range, y_range
    rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    return Structure(name=name, contours=[(z, rect) for z in z_planes])


# --- Closed forms (§7.1, §7.2) ------------------------------------------------------------------------------


def lens_volume_cm3(d_gy: float, a_cm: float, radius_cm: float = RADIUS_CM, k: float = K_GY_CM2) -> float:
    """Volume of the target sphere (radius R, centre at distance a from the source) receiving ≥ d."""
    rho = math.sqrt(k / d_gy)
    big_r = radius_cm
    if a_cm >= big_r + rho:
        return 0.0
    if a_cm <= abs(big_r - rho):
        return 4.0 / 3.0 * math.pi * min(big_r, rho) ** 3
    return (
        math.pi
        * (big_r + rho - a_cm) ** 2
        * (a_cm**2 + 2 * a_cm * (big_r + rho) - 3 * (big_r - rho) ** 2)
        / (12 * a_cm)
    )


def dose_at_fraction_gy(x: float, a_cm: float, radius_cm: float = RADIUS_CM, k: float = K_GY_CM2) -> float:
    """D_x for the hottest fraction x (0 < x < 1) of the target, by root finding on the lens volume."""
    v_t = 4.0 / 3.0 * math.pi * radius_cm**3
    d_lo = k / (radius_cm + a_cm) ** 2
    d_hi = 1e9 if a_cm < radius_cm else k / (a_cm - radius_cm) ** 2
    return brentq(lambda d: lens_volume_cm3(d, a_cm, radius_cm, k) / v_t - x, d_lo * (1 + 1e-12), d_hi, xtol=1e-12)


def mean_dose_gy(a_cm: float, radius_cm: float = RADIUS_CM, k: float = K_GY_CM2) -> float:
    """Closed-form mean dose over the sphere (§7.2)."""
    big_r = radius_cm
    v_t = 4.0 / 3.0 * math.pi * big_r**3
    if a_cm == 0:
        integral = 4 * math.pi * big_r
    elif a_cm < big_r:
        integral = 2 * math.pi * big_r + (math.pi / a_cm) * (big_r**2 - a_cm**2) * math.log(
            (big_r + a_cm) / (big_r - a_cm)
        )
    else:
        integral = (math.pi / a_cm) * (
            (big_r**2 - a_cm**2) * math.log((a_cm + big_r) / (a_cm - big_r)) + 2 * a_cm * big_r
        )
    return k * integral / v_t
