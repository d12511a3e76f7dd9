"""FloodSAR QGIS plugin: the only code that imports qgis."""
