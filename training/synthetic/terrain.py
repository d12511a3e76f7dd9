"""The synthetic landscape under one chip: elevation, land cover, rivers, lakes, floods, towns.

Everything is in pixel units of ~10 m (the Sen1Floods11 grid). A :class:`Scene` holds the
ground truth that :mod:`.sar`, :mod:`.optical` and :mod:`.labels` turn into images and labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

PIXEL_M = 10.0

# Dry land-cover codes (water is carried by separate masks, it overrides the cover).
CROP, GRASS, FOREST, SHRUB, BARE, SAND, URBAN, ROAD = range(8)
NATURAL = (CROP, GRASS, FOREST, SHRUB, BARE, SAND)


@dataclass(frozen=True)
class Biome:
    """What the land looks like around one flood event."""

    cover_weights: tuple[float, float, float, float, float, float]  # CROP..SAND
    relief_m: tuple[float, float]  # range of local relief on flat chips
    hilly: float  # probability of a hilly / mountain chip (shadow, layover)
    towns: float  # probability of a town on the chip
    windy: float  # probability of wind-roughened water
    centre: tuple[float, float]  # lon, lat of the event (for the chip footprints)


# The eleven Sen1Floods11 events (Bolivia is the held-out split).
BIOMES: dict[str, Biome] = {
    "Bolivia": Biome((0.05, 0.45, 0.40, 0.10, 0.0, 0.0), (1, 4), 0.02, 0.08, 0.60, (-65.0, -14.5)),
    "Ghana": Biome((0.25, 0.30, 0.10, 0.30, 0.05, 0.0), (3, 20), 0.10, 0.20, 0.45, (-1.0, 9.5)),
    "India": Biome((0.65, 0.15, 0.05, 0.05, 0.10, 0.0), (1, 6), 0.05, 0.32, 0.55, (91.5, 26.2)),
    "Mekong": Biome((0.70, 0.10, 0.10, 0.05, 0.05, 0.0), (1, 4), 0.03, 0.24, 0.50, (105.0, 11.5)),
    "Nigeria": Biome((0.35, 0.20, 0.10, 0.25, 0.10, 0.0), (2, 12), 0.05, 0.24, 0.50, (6.5, 7.8)),
    "Pakistan": Biome((0.45, 0.05, 0.0, 0.15, 0.20, 0.15), (1, 8), 0.10, 0.28, 0.60, (68.0, 28.0)),
    "Paraguay": Biome((0.25, 0.45, 0.20, 0.10, 0.0, 0.0), (1, 6), 0.02, 0.16, 0.65, (-58.0, -24.5)),
    "Somalia": Biome((0.10, 0.10, 0.0, 0.45, 0.20, 0.15), (2, 15), 0.10, 0.16, 0.55, (45.5, 4.5)),
    "Spain": Biome((0.50, 0.10, 0.10, 0.15, 0.15, 0.0), (5, 40), 0.35, 0.40, 0.50, (-0.8, 38.1)),
    "Sri-Lanka": Biome((0.35, 0.15, 0.35, 0.10, 0.05, 0.0), (2, 15), 0.20, 0.20, 0.65, (80.2, 7.3)),
    "USA": Biome((0.55, 0.15, 0.20, 0.05, 0.05, 0.0), (2, 15), 0.15, 0.36, 0.55, (-95.0, 30.5)),
}
EVENTS = tuple(BIOMES)

# How much of a chip floods: (probability, (min, max) flooded fraction) per scenario.
SCENARIOS = {
    "dry": (0.17, (0.0, 0.0)),       # no water at all
    "river": (0.23, (0.0, 0.04)),    # a river or stream, little flooding
    "flood": (0.40, (0.04, 0.45)),   # a river and its flooded plain
    "inundated": (0.12, (0.55, 0.95)),  # mostly water
    "lakes": (0.08, (0.02, 0.30)),   # lakes and ponds, no river
}


@dataclass
class Scene:
    """Ground truth of one chip."""

    event: str
    dem: np.ndarray  # float32 metres
    cover: np.ndarray  # uint8 dry land-cover code
    water: np.ndarray  # bool: open water at acquisition (permanent + flood)
    permanent: np.ndarray  # bool: permanent water (rivers, lakes before the flood)
    flooded_vegetation: np.ndarray  # bool: shallow water under emergent vegetation (is water)
    wind: np.ndarray  # float32 0..1 roughness of the water surface
    parcels: np.ndarray  # int32 field / block id (per-parcel radiometry)
    scenario: str


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0) -> np.ndarray:
    """Zero-mean, unit-variance 1/f^beta noise (beta 2 rough ... 4 smooth), float32."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = np.inf
    spectrum = f ** (-beta / 2) * (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape))
    field = np.fft.irfft2(spectrum, s=shape)
    field -= field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _centreline(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    """A meandering line across the chip, as a bool mask one pixel wide."""
    centre = rng.uniform(0.2, 0.8, 2) * size
    angle = rng.uniform(0, np.pi)
    t = np.arange(-size, size, 0.5)
    lateral = np.zeros_like(t)
    for _ in range(3):
        wavelength = rng.uniform(80, 500) * max(size, 64) / 512 + 20
        lateral += rng.uniform(0.2, 1.0) * amplitude * np.sin(2 * np.pi * t / wavelength + rng.uniform(0, 6.3))
    x = centre[0] + t * np.cos(angle) - lateral * np.sin(angle)
    y = centre[1] + t * np.sin(angle) + lateral * np.cos(angle)
    inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
    mask = np.zeros((size, size), bool)
    mask[y[inside].astype(int), x[inside].astype(int)] = True
    return mask


def _channels(rng: np.random.Generator, size: int, scenario: str) -> np.ndarray:
    """Permanent rivers and streams for a scenario (bool)."""
    rivers = np.zeros((size, size), bool)
    if scenario in ("dry", "lakes"):
        return rivers
    n_streams = rng.integers(1, 3) if scenario == "river" else rng.integers(0, 2)
    widths = [rng.choice([rng.uniform(3, 10), rng.uniform(10, 45)])] + [rng.uniform(1.5, 4) for _ in range(n_streams)]
    for width in widths:
        line = _centreline(rng, size, amplitude=rng.uniform(5, 60))
        if line.any():  # width varies along the river: bars, bends, backwaters
            wobble = 1 + 0.35 * fractal_noise(rng, (size, size), beta=3.5)
            rivers |= ndimage.distance_transform_edt(~line) <= width / 2 * wobble
    return rivers


def _cover(rng: np.random.Generator, size: int, biome: Biome) -> np.ndarray:
    """Blobby natural land cover drawn from the biome's class weights."""
    weights = np.asarray(biome.cover_weights, float)
    present = np.flatnonzero(weights > 0)
    scores = np.stack([fractal_noise(rng, (size, size), beta=3.2) + 1.5 * np.log(weights[k]) for k in present])
    return np.asarray(NATURAL, np.uint8)[present][scores.argmax(0)]


def _parcels(rng: np.random.Generator, size: int) -> np.ndarray:
    """Ids of rotated rectangular fields / blocks (20-80 px), jittered row by row."""
    angle = rng.uniform(0, np.pi / 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    row = np.floor(v / rng.uniform(20, 60)).astype(np.int32)
    shift = rng.uniform(0, 80, 4096)[row % 4096]
    col = np.floor((u + shift) / rng.uniform(25, 80)).astype(np.int32)
    return (row * 7919 + col).astype(np.int32)


def _blob(rng: np.random.Generator, size: int, radius: float, roughness: float = 0.35) -> np.ndarray:
    """An irregular blob (town, lake) of roughly ``radius`` pixels at a random place."""
    cy, cx = rng.uniform(0, size, 2)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - cy, xx - cx) / radius
    return r + roughness * fractal_noise(rng, (size, size), beta=2.6) < 1.0


def _roads(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero to three thin, nearly straight roads or airstrips (dark look-alikes of channels)."""
    roads = np.zeros((size, size), bool)
    for _ in range(rng.integers(0, 4)):
        line = _centreline(rng, size, amplitude=rng.uniform(0, 6))
        roads |= ndimage.binary_dilation(line) if rng.random() < 0.5 else line
    return roads


def choose_scenario(rng: np.random.Generator) -> str:
    names = list(SCENARIOS)
    return names[rng.choice(len(names), p=[SCENARIOS[n][0] for n in names])]


def make_scene(rng: np.random.Generator, size: int, event: str, scenario: str | None = None) -> Scene:
    """Draw one chip's landscape for ``event`` (a key of :data:`BIOMES`)."""
    biome = BIOMES[event]
    scenario = scenario or choose_scenario(rng)
    hilly = rng.random() < biome.hilly
    lo, hi = SCENARIOS[scenario][1]
    flood_fraction = rng.uniform(lo, hi)
    if hilly:
        flood_fraction *= 0.3

    rivers = _channels(rng, size, scenario)
    relief = rng.uniform(150, 700) if hilly else rng.uniform(*biome.relief_m)
    dem = relief / 4 * fractal_noise(rng, (size, size), beta=3.6)  # relief ~ peak-to-peak
    if rivers.any():
        dist, (iy, ix) = ndimage.distance_transform_edt(~rivers, return_indices=True)
        dem += rng.uniform(0.001, 0.01) * PIXEL_M * dist  # the valley rises away from the river
        dem[rivers] -= 2.0
        hand = dem - dem[iy, ix]
    else:
        hand = dem - dem.min()
    # micro-topography decides the ragged flood edge
    hand = hand + 0.1 * relief ** 0.5 * fractal_noise(rng, (size, size), beta=2.4)

    permanent = rivers.copy()
    if scenario == "lakes" or (scenario != "dry" and rng.random() < 0.15):
        for _ in range(rng.integers(1, 4)):
            permanent |= _blob(rng, size, rng.uniform(0.03, 0.25) * size, roughness=0.6)
    water = permanent.copy()
    if flood_fraction > 0:
        level = np.quantile(hand[~permanent] if (~permanent).any() else hand, flood_fraction)
        flood = hand <= level
        if rivers.any() and rng.random() < 0.8:  # the flood spreads from the river
            labels, _ = ndimage.label(flood | rivers)
            flood &= np.isin(labels, np.unique(labels[rivers]))
        water |= flood

    cover = _cover(rng, size, biome)
    if hilly:  # steep ground is forest or rock, not fields
        steep = np.hypot(*np.gradient(dem, PIXEL_M)) > 0.25
        cover[steep] = np.where(rng.random() < 0.5, FOREST, SHRUB)
    if rng.random() < biome.towns:
        town = _blob(rng, size, rng.uniform(0.05, 0.3) * size)
        cover[town & ~permanent] = URBAN
    cover[_roads(rng, size)] = ROAD

    # shallow flood in crops / grass / shrubs shows emergent vegetation
    vegetated = np.isin(cover, (CROP, GRASS, SHRUB))
    flooded_vegetation = water & ~permanent & vegetated & (fractal_noise(rng, (size, size), 3.0) > rng.uniform(0.8, 2.5))
    water &= ~flooded_vegetation

    wind = np.zeros((size, size), np.float32)
    if rng.random() < biome.windy:
        wind = np.clip(0.5 + 0.5 * fractal_noise(rng, (size, size), beta=3.5) + rng.uniform(0.0, 0.9), 0, 1)
    return Scene(event, dem.astype(np.float32), cover, water, permanent, flooded_vegetation,
                 wind.astype(np.float32), _parcels(rng, size), scenario)
