"""Raster I/O with osgeo.gdal/ogr/osr only (inside QGIS); see :class:`.raster_io.RasterIO`."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from osgeo import gdal, ogr, osr

from . import formats
from .grid import RasterGrid, equal_area_proj4
from .raster_io import (NO_BANDS, Colours, GeoTiffWriter, RasterFile, RasterIO, block_items, complex_data,
                        input_grid, not_a_raster, unreadable_pixels)

_RESAMPLING = {"nearest": "NEAREST", "average": "AVERAGE"}
_GDAL_TYPES = {"uint8": gdal.GDT_Byte, "float32": gdal.GDT_Float32}


def _ok(result: Any, action: str) -> Any:
    """Raise RuntimeError for a failed GDAL call whether or not GDAL exceptions are on.

    QGIS and other plugins share one GDAL: this module never changes its exception mode.
    """
    if result is None or (isinstance(result, int) and not isinstance(result, bool) and result != 0):
        raise RuntimeError(f"{action} failed: {gdal.GetLastErrorMsg() or 'unknown GDAL error'}")
    return result


@contextlib.contextmanager
def _gdal_config() -> Iterator[None]:
    """formats.gdal_config() for this thread only, while inside: QGIS keeps its own settings."""
    config = formats.gdal_config()
    previous = {key: gdal.GetThreadLocalConfigOption(key, None) for key in config}
    for key, value in config.items():
        gdal.SetThreadLocalConfigOption(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            gdal.SetThreadLocalConfigOption(key, value)


def _srs(definition: str) -> osr.SpatialReference:
    """A CRS from WKT, PROJ or 'EPSG:n', in x/y (longitude/latitude) axis order."""
    srs = osr.SpatialReference()
    _ok(srs.SetFromUserInput(definition), "reading the CRS")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _holes_clockwise(polygon: ogr.Geometry) -> None:
    """Turn the holes of a polygon clockwise, in place, as rasterio writes them (the OGC convention:
    exterior counter-clockwise, holes clockwise); GDAL's Polygonize gives holes the exterior's turn."""
    for index in range(1, polygon.GetGeometryCount()):
        ring = polygon.GetGeometryRef(index)
        points = ring.GetPoints()
        twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(points, points[1:]))
        if twice_area > 0:
            for i, (x, y, *_) in enumerate(reversed(points)):
                ring.SetPoint_2D(i, x, y)


class GdalFile(RasterFile):
    """An input raster opened with osgeo.gdal."""

    def __init__(self, path: Path | str, io: "GdalIO", require_crs: bool = True) -> None:
        try:
            with _gdal_config():
                self._ds = _ok(gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY), "opening")
        except RuntimeError as exc:
            raise not_a_raster(path, str(exc).split(": ")[-1]) from exc
        if self._ds.RasterCount == 0:
            raise not_a_raster(path, NO_BANDS)
        ds = self._ds
        self.path = path
        self.count = ds.RasterCount
        bands = [ds.GetRasterBand(i + 1) for i in range(self.count)]
        if any(gdal.DataTypeIsComplex(band.DataType) for band in bands):
            raise complex_data(path)
        self.descriptions = tuple(b.GetDescription() or "" for b in bands)
        self.nodata = tuple(b.GetNoDataValue() for b in bands)
        self.grid = input_grid(io, path, ds.RasterXSize, ds.RasterYSize, ds.GetProjection() or "",
                               ds.GetGeoTransform(), ds.GetGCPCount(), require_crs)

    def _read(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        try:
            data = _ok(self._ds.ReadAsArray(col0, row0, col1 - col0, row1 - row0, band_list=list(bands),
                                            buf_type=gdal.GDT_Float32), "reading")
        except RuntimeError as exc:
            raise unreadable_pixels(self.path, str(exc)) from exc
        return data.reshape(len(bands), row1 - row0, col1 - col0)

    def close(self) -> None:
        self._ds = None


class WarpedGdalFile(GdalFile):
    """A raster reprojected on the fly onto another grid (GDAL warped VRT): each window read
    warps only the source pixels it needs. Float32, NaN outside the source and at its nodata."""

    def __init__(self, path: Path, io: "GdalIO", grid: RasterGrid, resampling: str) -> None:
        super().__init__(path, io)
        options = gdal.WarpOptions(format="VRT", outputBounds=grid.bounds, width=grid.width,
                                   height=grid.height, dstSRS=grid.crs_wkt, resampleAlg=resampling,
                                   outputType=gdal.GDT_Float32, dstNodata=float("nan"))
        self._source = self._ds
        self._ds = _ok(gdal.Warp("", self._source, options=options), f"reprojecting {path}")
        self.grid = grid
        self.nodata = (float("nan"),) * self.count

    def close(self) -> None:
        self._ds = self._source = None


class GdalGeoTiff(GeoTiffWriter):
    def __init__(self, path: Path, grid: RasterGrid, dtype: str, nodata: float | None, colours: Colours | None,
                 descriptions: Sequence[str], options: dict[str, str] | None = None) -> None:
        options = formats.creation_options(dtype, options)
        with _gdal_config():
            self._ds = _ok(gdal.GetDriverByName("GTiff").Create(
                str(path), grid.width, grid.height, len(descriptions), _GDAL_TYPES[dtype],
                [f"{k}={v}" for k, v in options.items()]), f"creating {path}")
        self._ds.SetGeoTransform(grid.transform)
        self._ds.SetProjection(grid.crs_wkt)
        self.bands = [self._ds.GetRasterBand(i + 1) for i in range(len(descriptions))]
        for band, description in zip(self.bands, descriptions):
            if nodata is not None:
                band.SetNoDataValue(nodata)
            band.SetDescription(description)
        if colours:
            table = gdal.ColorTable()
            for value, rgba in colours.items():
                table.SetColorEntry(value, rgba)
            self.bands[0].SetRasterColorTable(table)
            self.bands[0].SetRasterColorInterpretation(gdal.GCI_PaletteIndex)

    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        for band, plane in zip(self.bands, array.reshape(-1, *array.shape[-2:])):
            _ok(band.WriteArray(plane, xoff=col_off, yoff=row_off), "writing")

    def close(self) -> None:
        self.bands = []
        if self._ds is not None:
            _ok(self._ds.FlushCache() or 0, "writing")
        self._ds = None


class GdalIO(RasterIO):
    """:class:`.raster_io.RasterIO` through QGIS's own GDAL (never changes its exception mode)."""

    name = "gdal"
    write_errors = (RuntimeError, OSError)

    def _open(self, path: Path | str, require_crs: bool = True) -> GdalFile:
        return GdalFile(path, self, require_crs)

    def crs_units(self, crs_wkt: str) -> tuple[bool, float | None]:
        try:
            srs = _srs(crs_wkt)
        except RuntimeError:
            return False, None
        if srs.IsGeographic():
            return True, None
        return (False, srs.GetLinearUnits()) if srs.IsProjected() else (False, None)

    def crs_wkt(self, definition: str) -> str:
        return _srs(definition).ExportToWkt()

    def same_crs(self, wkt_a: str, wkt_b: str) -> bool:
        return wkt_a == wkt_b or bool(_srs(wkt_a).IsSame(_srs(wkt_b)))

    def create_geotiff(self, path: Path, grid: RasterGrid, dtype: str, nodata: float | None,
                       colours: Colours | None, descriptions: Sequence[str],
                       options: dict[str, str] | None = None) -> GdalGeoTiff:
        return GdalGeoTiff(path, grid, dtype, nodata, colours, descriptions, options)

    def add_overviews(self, path: Path, factors: list[int], resampling: str) -> None:
        if not factors:
            return
        ds = _ok(gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_UPDATE), f"opening {path}")
        with _gdal_config():
            _ok(ds.BuildOverviews(_RESAMPLING[resampling], factors), "building overviews")
        ds = None
        ds = _ok(gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY), f"opening {path}")
        if ds.GetRasterBand(1).GetOverviewCount() != len(factors):
            raise RuntimeError("the overviews were not saved")

    def stored_blocks(self, path: Path) -> list[tuple[int | None, int | None]]:
        ds = _ok(gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY), f"opening {path}")
        band = ds.GetRasterBand(1)
        blocks = []
        for level in [band, *(band.GetOverview(i) for i in range(band.GetOverviewCount()))]:
            block_width, block_height = level.GetBlockSize()
            for offset, size in block_items(level.XSize, level.YSize, block_width, block_height):
                blocks.append(tuple(None if (value := level.GetMetadataItem(item, "TIFF")) is None else int(value)
                                    for item in (offset, size)))
        return blocks

    def polygonize_water(self, mask_path: Path, gpkg_path: Path, classes: bool = False) -> int:
        layer_name, lut = formats.polygon_layer(classes)
        mask = GdalFile(mask_path, self)
        try:
            grid = mask.grid
            srs = _srs(grid.crs_wkt)
            lon, lat, _ = osr.CoordinateTransformation(srs, _srs("EPSG:4326")).TransformPoint(*grid.centre)
            to_equal_area = osr.CoordinateTransformation(srs, _srs(equal_area_proj4(lon, lat)))
            water = _ok(gdal.Open(formats.lut_vrt(mask_path, grid, lut)), "opening the mask")
            water_band = water.GetRasterBand(1)
            out = _ok(ogr.GetDriverByName("GPKG").CreateDataSource(
                str(gpkg_path), [f"VERSION={formats.GPKG_VERSION}"]), f"creating {gpkg_path}")
            layer = _ok(out.CreateLayer(layer_name, srs, ogr.wkbPolygon), "creating the layer")
            _ok(layer.CreateField(ogr.FieldDefn(formats.AREA_FIELD, ogr.OFTReal)), "creating the area field")
            if classes:
                _ok(layer.CreateField(ogr.FieldDefn(formats.CLASS_FIELD, ogr.OFTInteger)), "creating the class field")
            area_index = layer.GetLayerDefn().GetFieldIndex(formats.AREA_FIELD)
            class_index = layer.GetLayerDefn().GetFieldIndex(formats.CLASS_FIELD) if classes else -1
            _ok(layer.StartTransaction(), "writing")
            _ok(gdal.Polygonize(water_band, water_band, layer, class_index, []), "polygonizing")
            for feature in layer:
                _holes_clockwise(feature.GetGeometryRef())
                geom = feature.GetGeometryRef().Clone()
                _ok(geom.Transform(to_equal_area), "computing areas")
                feature.SetField(area_index, geom.GetArea())
                _ok(layer.SetFeature(feature), "writing")
            _ok(layer.CommitTransaction(), "writing")
            count = layer.GetFeatureCount()
            layer = out = water_band = water = None
            return count
        finally:
            mask.close()

    def open_warped(self, path: Path, grid: RasterGrid, resampling: str) -> WarpedGdalFile:
        return WarpedGdalFile(path, self, grid, resampling)

    def transform_bounds(self, src_wkt: str, dst_wkt: str, bounds: tuple[float, float, float, float]
                         ) -> tuple[float, float, float, float]:
        transform = osr.CoordinateTransformation(_srs(src_wkt), _srs(dst_wkt))
        return tuple(transform.TransformBounds(*bounds, 21))

    def vector_info(self, path: Path) -> tuple[str, tuple[float, float, float, float]]:
        source = _ok(ogr.Open(str(path)), f"opening {path}")
        layer = source.GetLayer(0)
        srs = layer.GetSpatialRef()
        x0, x1, y0, y1 = layer.GetExtent()
        return (srs.ExportToWkt() if srs else ""), (x0, y0, x1, y1)

    def rasterize_window(self, path: Path, layer_wkt: str, grid: RasterGrid, row_off: int, col_off: int,
                         height: int, width: int) -> np.ndarray:
        window_grid = grid.window(row_off, col_off, height, width)
        source = _ok(ogr.Open(str(path)), f"opening {path}")
        layer = source.GetLayer(0)
        layer.SetSpatialFilterRect(*self.transform_bounds(grid.crs_wkt, layer_wkt, window_grid.bounds))
        target = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
        target.SetGeoTransform(window_grid.transform)
        target.SetProjection(grid.crs_wkt)
        _ok(gdal.RasterizeLayer(target, [1], layer, burn_values=[1]), f"rasterising {path}")
        return target.GetRasterBand(1).ReadAsArray()

    def read_tags(self, path: Path) -> dict[str, str]:
        raster = GdalFile(path, self)
        try:
            return dict(raster._ds.GetMetadata() or {})
        finally:
            raster.close()

    def epsg_wkt(self, code: int) -> str:
        srs = osr.SpatialReference()
        _ok(srs.ImportFromEPSG(code), f"reading EPSG:{code}")
        return srs.ExportToWkt()

    def transform_points(self, src_wkt: str, dst_wkt: str, xs: Sequence[float], ys: Sequence[float]
                         ) -> tuple[np.ndarray, np.ndarray]:
        transform = osr.CoordinateTransformation(_srs(src_wkt), _srs(dst_wkt))
        points = np.array(transform.TransformPoints([(float(x), float(y)) for x, y in zip(xs, ys)]))
        return points[:, 0], points[:, 1]

    def gcp_transformer(self, gcps: Sequence[tuple[float, float, float, float]], crs_wkt: str
                        ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        holder = _ok(gdal.GetDriverByName("MEM").Create("", 1, 1, 1, gdal.GDT_Byte), "creating a GCP holder")
        holder.SetGCPs([gdal.GCP(lon, lat, 0.0, pixel, line) for line, pixel, lon, lat in gcps], self.epsg_wkt(4326))
        transformer = _ok(gdal.Transformer(holder, None, ["METHOD=GCP_TPS", f"DST_SRS={crs_wkt}"]),
                          "creating the GCP transformer")

        def to_raster(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            _ = holder  # the transformer reads the holder's GCPs: keep it alive
            points, _ok_flags = transformer.TransformPoints(1, [(float(x), float(y)) for x, y in zip(xs, ys)])
            points = np.asarray(points, dtype=float)
            return points[:, 1], points[:, 0]

        return to_raster
