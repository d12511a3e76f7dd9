"""Map a whole flood event: many scenes in parallel on Dask distributed, one mosaic, one report.

``inputs`` expands and pairs the scenes, ``runner`` maps them on Dask, ``record`` says which
are complete, ``mosaic`` puts them on one grid, ``report`` writes the numbers, ``command`` is
``floodsar batch``.
"""
