"""The Sen1Floods11 v1.1 layout, as published: folders, split names and Sentinel-2 bands.

Read by :mod:`.datasets`, written by :mod:`.synthetic` (generated data uses the same layout)::

    ROOT/v1.1/data/flood_events/HandLabeled/{S1Hand,S2Hand,LabelHand,JRCWaterHand}/<chip>_<Folder>.tif
    ROOT/v1.1/data/flood_events/WeaklyLabeled/{S1Weak,S2IndexLabelWeak,S1OtsuLabelWeak}/<chip>_<Folder>.tif
    ROOT/v1.1/splits/flood_handlabeled/flood_{train,valid,test,bolivia}_data.csv  (CRLF, no header)
    ROOT/additional/{S1,S2}/<chip>_{S1,S2}.tif  (paired S1/S2 chips without labels; FloodSAR's addition)
"""
from __future__ import annotations

from pathlib import Path

HAND = Path("v1.1/data/flood_events/HandLabeled")
WEAK = Path("v1.1/data/flood_events/WeaklyLabeled")
SPLITS = Path("v1.1/splits/flood_handlabeled")
ADDITIONAL = Path("additional")
SPLIT_NAMES = ("train", "valid", "test", "bolivia")
#: Sentinel-2 L1C bands of an S2 chip, in file order (int16 reflectance x 10000, 0 = nodata).
S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
