"""What the values of FloodSAR's outputs mean: shared by every writer and reader of masks.

Pure constants: importing this module loads nothing else (Otsu, post-processing and the
training code learn from it what "water" is without touching raster I/O).
"""

#: Water mask (uint8): dry land, open water, and no data.
DRY, WATER, NODATA = 0, 1, 255
#: The mask's colour table (RGBA): dry grey, water blue, nodata transparent.
MASK_COLOURS = {DRY: (210, 210, 210, 255), WATER: (0, 92, 230, 255), NODATA: (0, 0, 0, 0)}
#: Flood class map (uint8, see :mod:`.flood`): 0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata.
FLOOD, REFERENCE_WATER, EXCLUDED = 1, 2, 3
CLASS_NAMES = {DRY: "dry", FLOOD: "flood", REFERENCE_WATER: "reference water", EXCLUDED: "excluded"}
CLASS_COLOURS = {DRY: (230, 230, 230, 255), FLOOD: (220, 30, 60, 255), REFERENCE_WATER: (0, 92, 230, 255),
                 EXCLUDED: (120, 120, 120, 255), NODATA: (0, 0, 0, 0)}
#: Water probability (float32 0..1): the value of nodata pixels.
PROBABILITY_NODATA = -1.0
#: GDAL lookup tables over the mask values 0/1/255 (and classes 2, 3): water only, and flood classes.
WATER_LUT = f"{DRY}:0,{WATER}:1,254:0,{NODATA}:0"
FLOOD_CLASSES_LUT = f"{DRY}:0,{FLOOD}:1,{REFERENCE_WATER}:2,{EXCLUDED}:0,{NODATA}:0"
