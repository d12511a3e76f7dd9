"""Seeded generator of realistic Sentinel-1 / Sentinel-2 flood chips in the Sen1Floods11 v1.1 layout.

``floodsar-train synthetic --out DIR --hand N --weak N --additional N``; see :func:`generate.generate`.
"""
