"""Where a raster's pixels lie: size, CRS, geotransform, and what follows from them.

A grid carries the two facts about its CRS that the engine needs (geographic or not, metres
per unit), read once by the raster I/O that opened the file (:meth:`.raster_io.RasterIO.grid`),
so nothing here parses a CRS or imports a geospatial library.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

#: Ground metres per degree of latitude (mean Earth radius 6,371,008.8 m).
METRES_PER_DEGREE = math.pi / 180.0 * 6371008.8


@dataclass(frozen=True)
class RasterGrid:
    """Size, CRS (WKT, never empty for an input), GDAL geotransform and the CRS's units.

    ``geographic``: the CRS counts degrees; ``metres_per_unit``: metres per unit of a projected
    CRS (None when geographic or unknown).
    """

    width: int
    height: int
    crs_wkt: str
    transform: tuple[float, ...]
    geographic: bool = False
    metres_per_unit: float | None = None

    @property
    def pixel_size_m(self) -> float | None:
        """Approximate ground metres per pixel (geometric mean of x and y; None if unknown).

        A geographic CRS is converted at the raster centre's latitude.
        """
        x0, dx, rx, y0, ry, dy = self.transform
        size_x, size_y = math.hypot(dx, ry), math.hypot(rx, dy)
        if self.geographic:
            lat = self.centre[1]
            size_x *= METRES_PER_DEGREE * math.cos(math.radians(max(-89.9, min(89.9, lat))))
            size_y *= METRES_PER_DEGREE
        elif self.metres_per_unit:
            size_x *= self.metres_per_unit
            size_y *= self.metres_per_unit
        else:
            return None
        return math.sqrt(size_x * size_y)

    @property
    def centre(self) -> tuple[float, float]:
        """The raster centre in CRS coordinates."""
        x0, dx, rx, y0, ry, dy = self.transform
        return (x0 + dx * self.width / 2 + rx * self.height / 2,
                y0 + ry * self.width / 2 + dy * self.height / 2)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of a north-up grid in CRS coordinates."""
        x0, dx, _, y0, _, dy = self.transform
        xs, ys = (x0, x0 + dx * self.width), (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> "RasterGrid":
        """The grid of a pixel window of this grid (it may reach outside the raster)."""
        x0, dx, rx, y0, ry, dy = self.transform
        transform = (x0 + col_off * dx + row_off * rx, dx, rx, y0 + col_off * ry + row_off * dy, ry, dy)
        return dataclasses.replace(self, width=width, height=height, transform=transform)

    def window_bounds(self, row_off: int, col_off: int, height: int, width: int
                      ) -> tuple[int, int, int, int] | None:
        """The part of a window inside the raster as (row0, col0, row1, col1), or None if outside."""
        r0, c0 = max(row_off, 0), max(col_off, 0)
        r1, c1 = min(row_off + height, self.height), min(col_off + width, self.width)
        return (r0, c0, r1, c1) if r0 < r1 and c0 < c1 else None


def resolution_warning(grid: RasterGrid, native_m: float) -> str | None:
    """A sentence when the pixel size is far (over 1.5x) from the model's native size, else None."""
    size = grid.pixel_size_m
    if size is None or native_m <= 0 or 1 / 1.5 <= size / native_m <= 1.5:
        return None
    return (f"The pixel size is about {size:.1f} m but the model expects {native_m:g} m pixels; "
            f"results may be poor: resample the input to {native_m:g} m "
            f"(e.g. gdalwarp -tr {native_m:g} {native_m:g} -r average IN OUT.tif).")


def equal_area_proj4(lon: float, lat: float) -> str:
    """A Lambert azimuthal equal-area projection centred on (lon, lat): true areas in m2."""
    return f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs"
