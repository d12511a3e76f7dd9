"""FloodSAR: flood extent mapping from Sentinel-1 SAR.

This folder is both the QGIS plugin (QGIS calls :func:`classFactory`) and the
Python package ``floodsar`` (engine, command line, training). Importing the
package does not import QGIS; only :func:`classFactory` does.
"""


def classFactory(iface):  # noqa: N802 (name required by QGIS)
    """Entry point QGIS calls to create the plugin."""
    from .plugin.floodsar_plugin import FloodSarPlugin

    return FloodSarPlugin(iface)
