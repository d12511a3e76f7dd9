"""Names of the Processing parameters and outputs of FloodSAR's algorithms, in one place for the
toolbox, the panel and the result layers; and how QGIS words the engine's options in messages."""
from __future__ import annotations

from ..engine.errors import Wording

# inputs
INPUT = "INPUT"
PRODUCT = "PRODUCT"
PRODUCT_FOLDER = "PRODUCT_FOLDER"
VH = "VH"
VV_BAND = "VV_BAND"
VH_BAND = "VH_BAND"
UNITS = "UNITS"
MIN_AREA_M2 = "MIN_AREA_M2"
MODEL = "MODEL"
DEVICE = "DEVICE"
BACKEND = "BACKEND"  # also the output naming the method and device used
TILE = "TILE"
OVERLAP = "OVERLAP"
BATCH = "BATCH"
EXTENT = "EXTENT"
THRESHOLD = "THRESHOLD"
TRUST_MODEL = "TRUST_MODEL"
# flood inputs
PRE = "PRE"
PRE_VH = "PRE_VH"
REFERENCE_WATER = "REFERENCE_WATER"
HAND = "HAND"
HAND_MAX = "HAND_MAX"
DEM = "DEM"
SLOPE_MAX = "SLOPE_MAX"
EXCLUDE = "EXCLUDE"
# output files (CLASSES: the style of OUTPUT when it holds flood classes)
OUTPUT = "OUTPUT"
PROBABILITIES = "PROBABILITIES"
VECTOR = "VECTOR"
REPORT = "REPORT"
CLASSES = "CLASSES"
# output numbers
WATER_AREA_KM2 = "WATER_AREA_KM2"
VALID_AREA_KM2 = "VALID_AREA_KM2"
FLOOD_AREA_KM2 = "FLOOD_AREA_KM2"
SECONDS = "SECONDS"
WARNINGS = "WARNINGS"

#: The engine's options as QGIS users see them: the labels of the parameters and of the panel.
QGIS_WORDING = Wording(
    names={"inputs": "the Sentinel-1 layer", "vv_band": "'VV band'", "vh_band": "'VH band'",
           "vh_file": "'VH layer'", "units": "'Backscatter units'", "min_area_m2": "'Minimum water patch area'",
           "output": "the water mask output", "probabilities": "the water probability output",
           "vector": "the flood polygons output", "model": "the model file", "device": "'Device'",
           "device=cpu": "the CPU device", "device=cuda": "the GPU device", "backend": "'Backend'",
           "tile": "'Tile size'", "overlap": "'Tile overlap'", "batch": "'Tiles per batch'", "method": "the method",
           "method=otsu": "the Otsu threshold (baseline) method", "method=model": "the deep learning method",
           "overwrite": "overwriting", "report": "the report output", "pre": "'Pre-flood image'",
           "reference_water": "'Reference water'", "reference_kind": "the reference water kind", "hand": "'HAND'",
           "hand_max_m": "'HAND threshold'", "dem": "'DEM'", "slope_max_deg": "'Slope threshold'",
           "exclude": "'Exclusion mask'", "extent": "'Area to map'", "threshold": "'Threshold'",
           "trust_model": "'Trust this PyTorch model file'"},
    setting="{name} {value}")
