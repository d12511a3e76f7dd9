"""Sentinel-2 L1C top-of-atmosphere reflectance (13 bands, int16 x10000, 0 = nodata).

Per-class spectra (typical TOA values, path radiance included), per-field vigour variation,
haze, clouds with cirrus and their shadows, and occasional nodata outside the orbit.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..sen1floods11 import S2_BANDS
from .terrain import BARE, CROP, FOREST, GRASS, ROAD, SAND, SHRUB, URBAN, Scene, fractal_noise


# Typical L1C TOA reflectance x10000 per class, in S2_BANDS order.
SPECTRA: dict[str, tuple[int, ...]] = {
    "crop": (1450, 1200, 1150, 1000, 1350, 2300, 2700, 2650, 2900, 480, 11, 2200, 1200),
    "grass": (1450, 1200, 1150, 1050, 1400, 2100, 2400, 2400, 2600, 450, 11, 2500, 1500),
    "forest": (1350, 1050, 950, 750, 1050, 2300, 2800, 2800, 3050, 500, 10, 1600, 750),
    "shrub": (1500, 1300, 1300, 1300, 1650, 2000, 2200, 2250, 2400, 430, 11, 2900, 2000),
    "bare": (1550, 1400, 1450, 1550, 1800, 2100, 2250, 2300, 2450, 430, 12, 3300, 2600),
    "sand": (1800, 1850, 2150, 2600, 2900, 3100, 3300, 3350, 3500, 550, 14, 4300, 3600),
    "urban": (1650, 1550, 1550, 1650, 1800, 1950, 2100, 2150, 2250, 420, 12, 2600, 2200),
    "water": (1350, 1080, 1000, 900, 950, 750, 780, 650, 640, 130, 9, 250, 150),
    "flooded_vegetation": (1350, 1100, 1050, 900, 1100, 1300, 1450, 1400, 1500, 280, 10, 800, 450),
    "cloud": (5600, 5400, 5300, 5400, 5500, 5600, 5600, 5650, 5600, 2200, 60, 4300, 3000),
}
COVER_SPECTRUM = {CROP: "crop", GRASS: "grass", FOREST: "forest", SHRUB: "shrub", BARE: "bare",
                  SAND: "sand", URBAN: "urban", ROAD: "urban"}
# Share of each band that is atmospheric path radiance (does not darken in cloud shadow).
PATH = np.array([0.85, 0.75, 0.6, 0.5, 0.4, 0.3, 0.25, 0.25, 0.25, 0.5, 1.0, 0.1, 0.1], np.float32)[:, None, None]


def clouds(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity 0..1 and cloud-shadow strength 0..1 for one acquisition."""
    cover = rng.choice([0.0, rng.uniform(0.02, 0.4), rng.uniform(0.4, 1.0)], p=[0.5, 0.32, 0.18])
    if cover == 0.0:
        zero = np.zeros(shape, np.float32)
        return zero, zero
    field = fractal_noise(rng, shape, beta=3.0)
    threshold = np.quantile(field, 1 - cover)
    opacity = np.clip((field - threshold) / rng.uniform(0.2, 0.8), 0, 1).astype(np.float32)
    dy, dx = (rng.uniform(10, 60, 2) * rng.choice([-1, 1], 2)).astype(int)
    shadow = ndimage.shift(opacity, (dy, dx), order=0, mode="constant") * (1 - opacity)
    return opacity, shadow.astype(np.float32)


def reflectance(scene: Scene, rng: np.random.Generator,
                cloud: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Int16 [13, H, W] L1C reflectance x10000 with 0 as nodata."""
    shape = scene.cover.shape
    toa = np.zeros((len(S2_BANDS),) + shape, np.float32)
    for code, name in COVER_SPECTRUM.items():
        sel = scene.cover == code
        if sel.any():
            toa[:, sel] = np.asarray(SPECTRA[name], np.float32)[:, None]
    vigour = 0.12 * fractal_noise(rng, shape, beta=2.4)  # NIR/red variation within fields
    _, parcel = np.unique(scene.parcels, return_inverse=True)
    vigour += rng.normal(0, 0.12, parcel.max() + 1)[parcel].reshape(shape)
    toa[5:9] *= 1 + vigour
    toa[3] *= 1 - 0.5 * vigour
    toa[11:] *= 1 - 0.3 * vigour
    turbidity = rng.uniform(0.8, 1.5)  # muddy flood water is brighter in the visible
    water_spectrum = np.asarray(SPECTRA["water"], np.float32)[:, None]
    water_spectrum = water_spectrum * np.r_[[turbidity] * 5, [1.0] * 8][:, None]
    toa[:, scene.water] = water_spectrum
    toa[:, scene.flooded_vegetation] = np.asarray(SPECTRA["flooded_vegetation"], np.float32)[:, None]
    toa *= 1 + 0.03 * fractal_noise(rng, shape, beta=2.0)
    toa += rng.uniform(-100, 250) * PATH  # haze differs between scenes

    opacity, shadow = cloud if cloud is not None else clouds(rng, shape)
    toa = toa * (1 - (1 - PATH) * 0.65 * shadow)  # shadow darkens the surface part only
    cloud_spectrum = np.asarray(SPECTRA["cloud"], np.float32)[:, None, None] * rng.uniform(0.7, 1.2)
    toa = toa * (1 - opacity) + cloud_spectrum * opacity
    toa *= 1 + rng.normal(0, 0.01, toa.shape).astype(np.float32)  # detector noise
    out = np.clip(np.rint(toa), 1, 20000).astype(np.int16)
    if rng.random() < 0.05:  # outside the orbit's swath
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
        out[:, (yy - rng.uniform(-0.5, 0.5) * xx) > rng.uniform(0.6, 0.95) * shape[0]] = 0
    return out
