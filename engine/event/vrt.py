"""GDAL VRT files of the event: rasters warped onto one grid, and stacks of them (rasterio's GDAL).

Used by the mosaic (one band per scene) and by the pre-flood images of a scene (one band per
polarisation, several images on top of each other). Nothing is copied: the VRTs point at the files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

from ..grid import RasterGrid
from ..safe_write import atomic_output


@dataclass(frozen=True)
class StackBand:
    """One band of a stack VRT: its sources (file beside the VRT, band), later ones on top where they have data."""

    description: str
    data_type: str  # GDAL's name: Byte, Int16, Float32, ...
    nodata: float
    sources: Sequence[tuple[Path, int]]


def grid_of(path: Path) -> RasterGrid:
    """The grid of a raster file."""
    import rasterio

    with rasterio.open(path) as raster:
        return RasterGrid(raster.width, raster.height, raster.crs.to_wkt(), tuple(raster.transform.to_gdal()))


def gdal_type(dtype: str) -> str:
    """GDAL's name of a numpy data type name (``float32`` -> ``Float32``)."""
    from rasterio.dtypes import dtype_rev, typename_fwd

    return typename_fwd[dtype_rev[dtype]]


def write_warped(source: Path, grid: RasterGrid, vrt: Path, resampling: str, nodata: float) -> None:
    """Write ``vrt``: ``source`` as seen on ``grid`` (warped with ``resampling``; ``nodata`` outside it)."""
    import rasterio
    import rasterio.shutil
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(source.resolve()) as raster, \
            WarpedVRT(raster, crs=CRS.from_wkt(grid.crs_wkt), transform=rasterio.Affine.from_gdal(*grid.transform),
                      width=grid.width, height=grid.height, nodata=nodata,
                      resampling=Resampling[resampling]) as view:
        rasterio.shutil.copy(view, vrt, driver="VRT")


def write_stack(vrt: Path, grid: RasterGrid, bands: Sequence[StackBand]) -> None:
    """Write ``vrt`` (atomically): ``bands`` on ``grid``, each from sources already on that grid."""
    rect = f'xOff="0" yOff="0" xSize="{grid.width}" ySize="{grid.height}"'
    parts = []
    for number, band in enumerate(bands, start=1):
        sources = "".join(
            f'<ComplexSource><SourceFilename relativeToVRT="1">{escape(path.as_posix())}</SourceFilename>'
            f'<SourceBand>{source_band}</SourceBand><SrcRect {rect}/><DstRect {rect}/>'
            f'<NODATA>{band.nodata}</NODATA></ComplexSource>' for path, source_band in band.sources)
        parts.append(f'<VRTRasterBand dataType="{band.data_type}" band="{number}">'
                     f'<Description>{escape(band.description)}</Description>'
                     f'<NoDataValue>{band.nodata}</NoDataValue>{sources}</VRTRasterBand>')
    text = (f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
            f'<SRS>{escape(grid.crs_wkt)}</SRS>'
            f'<GeoTransform>{", ".join(repr(v) for v in grid.transform)}</GeoTransform>'
            + "".join(parts) + "</VRTDataset>\n")
    with atomic_output(vrt) as tmp:
        tmp.write_text(text, encoding="utf-8")
