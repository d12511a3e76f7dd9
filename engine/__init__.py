"""FloodSAR engine: Sentinel-1 raster in, georeferenced water mask out. Never imports qgis."""
