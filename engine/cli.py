"""The ``floodsar`` command: ``predict``, ``batch``, ``info`` and ``benchmark``.

Exit codes: 0 success, 1 a problem with the input, model or output (one line
``floodsar: error: ...`` on stderr, in the command line's words: :data:`CLI_WORDING`), 2 a
malformed command line (argparse), 128 + the signal number for Ctrl-C (130), SIGTERM (143) and
SIGHUP (129): a clean cancel, no output left. 141 when the reader of stdout goes away
(``floodsar info X | head -1``). Text from files (model cards, file names) is printed without
terminal control characters. ``-q`` keeps only warnings and errors; ``-v`` also logs what the
engine found and did. Subcommands register themselves through :data:`SUBCOMMANDS`.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import signal
import sys
import threading
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, TextIO

from .entry import NOTHING_WRITTEN
from .errors import FloodSarError, Wording
from .event.command import add_subcommand as _add_batch
from .pipeline import PredictionResult, predict
from .predict_options import add_band_options, add_predict_options, request_from_args

EXIT_OK, EXIT_ERROR, EXIT_BROKEN_PIPE = 0, 1, 128 + 13
#: Signals that cancel a run cleanly: Ctrl-C, and SIGTERM and SIGHUP like it.
CANCEL_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: Line breaks and tabs are kept; every other control or format character is dropped.
_KEPT = {"\n", "\t"}


def printable(text: str) -> str:
    """``text`` without terminal control sequences (escape codes, bidi overrides) that a file could carry."""
    return "".join(c for c in text if c in _KEPT or unicodedata.category(c) not in ("Cc", "Cf"))


def say(text: str, stream: Optional[TextIO] = None) -> None:
    """Print ``text`` (to stdout by default) without control characters."""
    print(printable(text), file=sys.stdout if stream is None else stream)


class Cancelled(KeyboardInterrupt):
    """A cancel signal arrived (which one: :class:`Received`); raised in the main thread so every output is cleaned
    up as for Ctrl-C."""


@dataclass
class Received:
    """The cancel signal that arrived while the command ran, if any."""

    signum: Optional[int] = None


@contextlib.contextmanager
def _signals_cancel(received: Received) -> Iterator[None]:
    """While the command runs, Ctrl-C, SIGTERM and SIGHUP cancel it (recorded in ``received``; previous handlers
    restored)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers need the main thread
        yield
        return

    def cancel(signum: int, frame: object) -> None:
        received.signum = signum
        raise Cancelled(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, cancel) for signum in CANCEL_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: The engine's options as the command line names them (errors say "--vv-band N", "--device cpu").
CLI_WORDING = Wording(names={
    "inputs": "INPUT", "output": "-o/--output", "method": "--method", "model": "--model", "backend": "--backend",
    "device": "--device", "tile": "--tile", "overlap": "--overlap", "batch": "--batch",
    "probabilities": "--probabilities", "vector": "--vector", "min_area_m2": "--min-area", "vv_band": "--vv-band",
    "vh_band": "--vh-band", "units": "--units", "overwrite": "--overwrite", "report": "--report", "pre": "--pre",
    "reference_water": "--reference-water", "reference_kind": "--reference-kind", "hand": "--hand",
    "hand_max_m": "--hand-max", "dem": "--dem", "slope_max_deg": "--slope-max", "exclude": "--exclude",
    "extent": "--extent", "threshold": "--threshold", "trust_model": "--trust-model", "precision": "--precision",
    "vh_file": "a second INPUT (floodsar predict VV.tif VH.tif)"})


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="one raster with VV and VH bands, or two rasters: VV then VH")


def _progress_bar(description: str) -> tuple[Callable[[float], None], Callable[[], None]]:
    """A tqdm bar on stderr (hidden when stderr is not a terminal): (update(percent), close)."""
    from tqdm import tqdm

    bar = tqdm(total=100.0, desc=description, unit="%", file=sys.stderr, disable=None,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")

    def update(percent: float) -> None:
        bar.update(percent - bar.n)

    return update, bar.close


def _check_count(paths: Sequence[str], what: str) -> None:
    if len(paths) > 2:
        raise FloodSarError(f"got {len(paths)} {what} files; pass one file with VV and VH bands, "
                            "or two files: VV first, then VH.")


def _predict(args: argparse.Namespace) -> int:
    _check_count(args.inputs, "input")
    _check_count(args.pre or [], "pre-flood image")
    request = request_from_args(args)
    flood = request.flood is not None and request.flood.active
    if args.quiet:
        result = predict(request)
    else:
        update, close = _progress_bar("Mapping flood" if flood else "Mapping water")
        try:
            result = predict(request, progress=update)
        finally:
            close()
    try:
        _report(result, args.quiet)
    except KeyboardInterrupt:  # too late to undo: say what is there rather than "no output was written"
        written = ", ".join(str(path) for path in result.written)
        raise KeyboardInterrupt(f"the outputs were already complete: {written}.") from None
    return EXIT_OK


def _report(result: PredictionResult, quiet: bool) -> None:
    """The run's warnings on stderr and, unless ``quiet``, what was written and found on stdout."""
    for warning in result.warnings:
        say(f"floodsar: warning: {CLI_WORDING.fill(warning)}", sys.stderr)
    if quiet:
        return

    def share(km2: float) -> str:
        return f"{km2 / result.valid_area_km2 if result.valid_area_km2 else 0.0:.1%}"

    kind = "Flood classes" if result.class_areas_km2 else "Water mask"
    lines = [f"{kind}: {result.output}"]
    lines += [f"Water probability: {result.probabilities}"] if result.probabilities else []
    if result.vector:
        lines.append(f"{'Flood' if result.class_areas_km2 else 'Water'} polygons: {result.vector} "
                     f"({result.polygons} polygons)")
    lines += [f"Report: {result.report}"] if result.report else []
    if result.class_areas_km2:
        lines += [f"{name.capitalize()} area: {km2:.3f} km2 ({share(km2)} of the valid area)"
                  for name, km2 in result.class_areas_km2.items() if name != "dry"]
    else:
        lines.append(f"Water area: {result.water_area_km2:.3f} km2 ({share(result.water_area_km2)} of the valid area)")
    lines += [f"Valid area: {result.valid_area_km2:.3f} km2",
              f"Time: {result.seconds:.1f} s",
              f"Backend: {result.backend}"]
    say("\n".join(lines))


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="map water in a Sentinel-1 raster",
        description="Map open water in a Sentinel-1 raster (VV and VH, dB or linear) into a GeoTIFF mask: "
                    "0 dry, 1 water, 255 nodata.")
    _add_input_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="OUT.tif", help="water mask GeoTIFF to write")
    add_predict_options(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that exist already (default: refuse them)")
    parser.set_defaults(func=_predict)


def _info(args: argparse.Namespace) -> int:
    from .models import load_model
    from .sentinel1 import open_sentinel1

    if len(args.inputs) > 2:
        raise FloodSarError(f"got {len(args.inputs)} input files; pass one file with VV and VH bands, "
                            "or two files: VV first, then VH.")
    model = load_model(args.model, device="cpu") if args.model else None
    with open_sentinel1(args.inputs, vv_band=args.vv_band, vh_band=args.vh_band, units=args.units,
                        single_polarisation=model is None, dem=args.dem) as source:
        native = model.metadata.resolution_m if model else 10.0
        say(CLI_WORDING.fill(source.describe(native_m=native)))
    if model is not None:
        meta = model.metadata
        say(f"Model: {meta.name} ({model.path}), bands {', '.join(meta.bands)}, {meta.resolution_m:g} m pixels, "
              f"tile {meta.tile_size} px, overlap {meta.overlap} px")
        lines = [f"Trained on: {meta.training_data}" if meta.training_data else "",
                 f"Licence: {meta.licence}" if meta.licence else ""]
        lines += [f"Known failure mode: {mode}" for mode in meta.provenance.get("failure_modes", [])]
        say("\n".join(line for line in lines if line))
    return EXIT_OK


def _add_info(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help="show what the engine will do with a raster",
        description="Show the bands, units, size, CRS and pixel size the engine finds in a Sentinel-1 raster, "
                    "and any warnings.")
    _add_input_options(parser)
    add_band_options(parser)
    parser.add_argument("--model", metavar="PATH", help="also check this model file and its pixel size")
    parser.add_argument("--dem", metavar="PATH", help="elevation (m) as predict --dem takes it: a GRD product is "
                                                      "then terrain-corrected")
    parser.set_defaults(func=_info)


def _add_benchmark(subparsers: argparse._SubParsersAction) -> None:
    """``floodsar benchmark``, where its package is installed (the plugin zip leaves it out).

    Only its options are imported here; the measuring code loads when the command runs.
    """
    if importlib.util.find_spec(f"{__package__}.benchmark") is not None:
        from .benchmark.command import add_subcommand

        add_subcommand(subparsers)


#: Functions adding one subcommand each (set ``func`` to a handler returning the exit code).
SUBCOMMANDS: List[Callable[[argparse._SubParsersAction], None]] = [_add_predict, _add_batch, _add_info,
                                                                   _add_benchmark]


def _version() -> str:
    try:
        return importlib.metadata.version("floodsar")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown: not installed)"


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    """-q/-v, accepted before and after the subcommand (``default``: SUPPRESS on subcommands)."""
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress bar or summary: only warnings and errors")
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="also say what the engine found and did (-vv: more)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="floodsar", description="Map flood water in Sentinel-1 SAR rasters.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_verbosity(parser, None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    for subparser in subparsers.choices.values():
        _add_verbosity(subparser, argparse.SUPPRESS)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    """The engine logs to the ``floodsar`` logger: warnings by default, more with -v, errors only with -q."""
    level = (logging.ERROR if args.quiet else logging.DEBUG if (args.verbose or 0) > 1
             else logging.INFO if args.verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("floodsar: %(message)s"))
    logger = logging.getLogger("floodsar")
    logger.handlers[:] = [handler]
    logger.setLevel(level)


def _interrupted(signum: int, kept: str) -> int:
    by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
    say(f"floodsar: interrupted{by}; {kept or NOTHING_WRITTEN}", sys.stderr)
    return 128 + signum


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    received = Received()
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args)
        with _signals_cancel(received):
            code = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
        return code
    except KeyboardInterrupt as exc:  # a command may say what it kept: KeyboardInterrupt("...")
        return _interrupted(received.signum or signal.SIGINT, "" if isinstance(exc, Cancelled) else str(exc))
    except Exception as exc:
        if received.signum is not None:  # what a library made of the interrupt: ONNX Runtime, stopped while it
            return _interrupted(received.signum, "")  # loads, raises ImportError
        if isinstance(exc, FloodSarError):
            say(f"floodsar: error: {exc.worded(CLI_WORDING)}", sys.stderr)
            return EXIT_ERROR
        if isinstance(exc, BrokenPipeError):
            # the reader (e.g. head) has all it wanted: stop quietly, and let the exit not flush into the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        raise


if __name__ == "__main__":
    sys.exit(main())
