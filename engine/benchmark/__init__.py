"""``floodsar benchmark``: throughput, peak memory and full-scene time on generated rasters.

One run measures, with the same model for every backend (ONNX Runtime, PyTorch eager on the
``.pt2`` twin), so that ratios hold on a noisy machine:

- inference alone: N tiles of the model's input size after a warm-up, batched as the pipeline does;
- end to end: :func:`floodsar.engine.pipeline.predict` on a generated raster (read + infer + write),
  and from it the time for a full Sentinel-1 scene;
- peak resident memory of one fresh ``floodsar predict`` process per raster size;
- model FLOPs per tile (``torch.utils.flop_counter``) against a measured float32 matmul rate.

One module per job: :mod:`.scene` generates the rasters, :mod:`.measure` times and measures,
:mod:`.machine` describes the computer, :mod:`.estimates` derives full-scene and memory figures,
:mod:`.run` orchestrates a run into a JSON-ready dict, :mod:`.report` formats it as Markdown and
:mod:`.command` is the command line. A new measurement is a function in :mod:`.measure`, called
from :mod:`.run` and shown by :mod:`.report`. Only :mod:`.command` is imported while the command
line is built; the rest loads when the command runs. The plugin zip leaves this package out.
"""
