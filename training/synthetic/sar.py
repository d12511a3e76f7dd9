"""Sentinel-1 IW GRD backscatter (VV, VH sigma0 in dB) for a :class:`~.terrain.Scene`.

Physics kept: per-class sigma0 with per-chip and per-field variation, incidence-angle trend,
local incidence on slopes (foreshortening brightening, layover, radar shadow), bright urban
double bounce, wind-roughened water (VV rises much more than VH), flooded vegetation, residual
thermal noise after noise removal, the sensor's point spread, and multiplicative gamma speckle
that is spatially correlated like GRD resampled to 10 m (lag-1 correlation ~0.7).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .terrain import BARE, CROP, FOREST, GRASS, PIXEL_M, ROAD, SAND, SHRUB, URBAN, Scene, fractal_noise

# Mean sigma0 at 38 deg incidence (VV dB, VH dB) and within-class texture (dB) per dry cover.
SIGMA0: dict[int, tuple[float, float, float]] = {
    CROP: (-10.0, -17.0, 1.0),
    GRASS: (-11.0, -18.0, 0.8),
    FOREST: (-8.0, -14.0, 0.7),
    SHRUB: (-9.5, -16.0, 0.9),
    BARE: (-13.5, -21.5, 1.2),  # smooth dry soil: a dark look-alike
    SAND: (-19.0, -27.0, 1.5),  # dry sand: a very dark look-alike
    URBAN: (-5.0, -12.0, 3.0),  # double bounce; heavy-tailed
    ROAD: (-17.0, -24.0, 1.0),  # tarmac, airstrips
}
CALM_WATER = (-21.5, -28.0)
FLOODED_VEGETATION = (-13.0, -21.0)
PSF_SIGMA = 0.9  # pixels: GRDH impulse response (~20 m) on the 10 m grid
SPECKLE_SIGMA = 0.8  # pixels: correlation of speckle after GRD multilooking and resampling


def _correlated_speckle(rng: np.random.Generator, shape: tuple[int, int], looks: float) -> np.ndarray:
    """Unit-mean gamma speckle with ``looks`` equivalent looks after a Gaussian correlation kernel."""
    gain = 4 * np.pi * SPECKLE_SIGMA ** 2  # ENL gain of the smoothing kernel on white noise
    raw_looks = looks / gain
    white = rng.gamma(raw_looks, 1.0 / raw_looks, shape).astype(np.float32)
    return ndimage.gaussian_filter(white, SPECKLE_SIGMA, mode="reflect")


def _terrain_db(dem: np.ndarray, incidence: float, look_east: bool) -> tuple[np.ndarray, np.ndarray]:
    """Radiometric terrain effect (dB) and a radar-shadow mask for a right-looking SAR."""
    dz_dx = np.gradient(dem, PIXEL_M, axis=1)
    toward_radar = -dz_dx if look_east else dz_dx  # slope rising toward the sensor
    local = incidence - np.degrees(np.arctan(toward_radar))
    shadow = local >= 89.0
    layover = local <= 1.0
    local = np.clip(local, 1.0, 89.0)
    effect = 10 * np.log10(np.sin(np.radians(incidence)) / np.sin(np.radians(local)))
    effect = np.clip(effect, -8.0, 10.0)
    effect[layover] = 10.0
    return effect.astype(np.float32), shadow


def backscatter(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Float32 [2, H, W] sigma0 in dB (VV, VH); NaN where the chip lies outside the swath."""
    shape = scene.cover.shape
    incidence = rng.uniform(31.0, 45.0)
    calibration = rng.normal(0.0, 0.5)  # event / processing differences between chips
    band_offset = rng.normal(0.0, 0.4, 2)
    mean = np.empty((2,) + shape, np.float32)
    texture = fractal_noise(rng, shape, beta=2.2)

    parcel_ids, parcel_index = np.unique(scene.parcels, return_inverse=True)
    parcel_db = rng.normal(0.0, rng.uniform(0.8, 2.2), parcel_ids.size)[parcel_index].reshape(shape)
    parcel_db_vh = 0.8 * parcel_db + rng.normal(0.0, 0.5, parcel_ids.size)[parcel_index].reshape(shape)
    for code, (vv, vh, spread) in SIGMA0.items():
        sel = scene.cover == code
        if not sel.any():
            continue
        shift = rng.normal(0.0, 0.5)  # this chip's version of the class (moisture, crop stage)
        local = spread * texture[sel]
        if code == URBAN:
            local = spread * np.abs(texture[sel]) ** 1.5  # bright scatterers, heavy tail
        fields = code in (CROP, GRASS, BARE)
        mean[0][sel] = vv + shift + local + (parcel_db[sel] if fields else 0)
        mean[1][sel] = vh + 0.8 * shift + 0.9 * local + (parcel_db_vh[sel] if fields else 0)
    land_trend = -0.12 * (incidence - 38.0)
    mean += land_trend

    breeze = rng.uniform(-1.5, 7.0)  # light wind ripples raise VV far more than VH
    water_vv = CALM_WATER[0] + breeze - 0.35 * (incidence - 38.0)
    water_vh = CALM_WATER[1] + 0.2 * breeze + rng.normal(0, 1.2) - 0.25 * (incidence - 38.0)
    roughness = scene.wind[scene.water] * (1.0 + 0.5 * fractal_noise(rng, shape, 2.5)[scene.water])
    mean[0][scene.water] = water_vv + np.clip(roughness, 0, 1.2) * rng.uniform(5.0, 10.0)
    mean[1][scene.water] = water_vh + np.clip(roughness, 0, 1.2) * rng.uniform(1.0, 5.0)
    fv = scene.flooded_vegetation
    mean[0][fv] = FLOODED_VEGETATION[0] + rng.normal(0, 1.5) + 1.5 * texture[fv]
    mean[1][fv] = FLOODED_VEGETATION[1] + rng.normal(0, 1.5) + 1.5 * texture[fv]

    terrain, shadow = _terrain_db(scene.dem, incidence, look_east=bool(rng.random() < 0.5))
    mean += terrain
    mean[0] += calibration + band_offset[0]
    mean[1] += calibration + band_offset[1]

    nesz = 10 ** (rng.uniform(-25.0, -22.0) / 10), 10 ** (rng.uniform(-29.0, -25.0) / 10)
    looks_vv = rng.uniform(4.5, 7.5)
    looks = (looks_vv, looks_vv * rng.uniform(0.55, 0.9))  # VH is noisier
    out = np.empty_like(mean)
    for b in range(2):
        power = ndimage.gaussian_filter(10 ** (mean[b] / 10), PSF_SIGMA)
        power[shadow] = 0.0
        power = power * _correlated_speckle(rng, shape, looks[b])
        # thermal noise that survives noise removal: zero-mean, scaled like the noise floor
        power += nesz[b] * (_correlated_speckle(rng, shape, 2.0) - 1.0) * 0.6 + nesz[b] * 0.2
        out[b] = 10 * np.log10(np.maximum(power, 10 ** -4.5))
    if rng.random() < 0.05:  # outside the swath: NaN border, as in some Sen1Floods11 chips
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
        edge = (xx + rng.uniform(-0.3, 0.3) * yy) < rng.uniform(0.05, 0.4) * shape[1]
        out[:, edge] = np.nan
    return out
