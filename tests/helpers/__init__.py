"""Helpers shared by the tests, imported as ``from helpers.rasters import write_geotiff``.

pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml), so every test area imports the same
modules: :mod:`.rasters` (small generated GeoTIFFs), :mod:`.models` (small real ONNX / .pt2 models),
:mod:`.real_data` (the committed real chips and the large real-data set) and :mod:`.qgis_layers` (QGIS tests).
"""
