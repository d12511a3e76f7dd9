"""``floodsar batch``: map every scene of an event on Dask, then the event mosaic and report."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from ..dates import acquisition_date
from ..errors import FloodSarError
from ..flood import FloodOptions, PathLike
from ..io_choice import choose_io
from ..mask_encoding import DRY
from ..pipeline import PredictionRequest
from ..predict_options import EXTRA_OUTPUTS, add_predict_options, request_from_args, settings
from ..safe_write import check_writable
from .inputs import Scene, plan_scenes
from .mosaic import EventAreas, build_mosaic, remove_stack
from .pre import PRE_FOLDER, PreImage, overlapping, pre_files, read_pool, write_combined
from .record import completed_result, remove_partials
from .report import build_report, write_report
from .runner import DONE, FAILED, SKIPPED, SceneJob, SceneOutcome, dashboard_link, dask_client, default_workers, \
    one_line, run_scenes, runs_on_gpu, threads_per_local_worker


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="map every scene of a flood event in parallel (Dask), with mosaic and report",
        description="Map water (or flood classes, with the flood options) in many Sentinel-1 scenes on a Dask "
                    "cluster (by default a local one sized to this machine): one map per scene in OUTDIR "
                    "(NAME_water.tif, with its record NAME_water.json). "
                    "A rerun skips scenes already complete; a failed scene is reported and the others go on.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="rasters, globs or text lists (@list.txt) of scenes; NAME_vv/NAME_vh files are paired")
    parser.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="folder for the scene outputs")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster (tcp://HOST:PORT) instead of a local one")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes of the local cluster (default: one per core, as memory allows)")
    parser.add_argument("--mosaic", metavar="EVENT.tif",
                        help="also write the event mosaic: EVENT.tif (COG, water where any scene saw water) "
                             "and EVENT.vrt (the scene masks stacked on the common grid)")
    parser.add_argument("--mosaic-crs", metavar="CRS", help="CRS of the mosaic (default: the first scene's)")
    parser.add_argument("--report", dest="event_report", metavar="EVENT.json",
                        help="also write a JSON report: areas per scene and for the event (overlaps counted once), "
                             "dates, timings, failures (--scene-reports: one report per scene)")
    add_predict_options(parser, per_scene=True)
    parser.set_defaults(func=run_batch)


def _check_paths(args: argparse.Namespace) -> tuple[Path, Optional[Path], Optional[Path]]:
    outdir = Path(args.outdir)
    if not outdir.is_dir():
        raise FloodSarError(f"{outdir}: the output folder does not exist; create it first (mkdir -p {outdir}).")
    outdir = outdir.absolute()  # workers started elsewhere (--scheduler) may run in another folder
    check_writable(outdir / "probe.tif")
    mosaic = Path(args.mosaic) if args.mosaic else None
    if mosaic is not None and mosaic.suffix.lower() not in (".tif", ".tiff"):
        raise FloodSarError(f"{mosaic}: --mosaic must end in .tif (a Cloud Optimized GeoTIFF; the .vrt goes beside).")
    report = Path(args.event_report) if args.event_report else None
    if report is not None and report.suffix.lower() != ".json":
        raise FloodSarError(f"{report}: --report must end in .json.")
    for path in (mosaic, report):
        if path is not None:
            check_writable(path)
    if args.workers is not None and args.workers < 1:
        raise FloodSarError(f"--workers must be 1 or more, not {args.workers}.")
    return outdir, mosaic, report


def _scene_reads(scene: Scene, request: PredictionRequest) -> tuple[Path, ...]:
    """Every file a scene's result depends on (not the pre-flood VRTs, rewritten on each run)."""
    flood = request.flood
    layers = [p for p in flood.paths if p not in flood.pre] if flood is not None else []
    return (*scene.inputs, *scene.pre, *(Path(p) for p in layers))


def _absolute_layers(flood: FloodOptions) -> FloodOptions:
    """The flood layers as absolute paths (workers started elsewhere may run in another folder)."""
    def absolute(path: Optional[PathLike]) -> Optional[Path]:
        return Path(path).absolute() if path else None

    return replace(flood, reference_water=absolute(flood.reference_water), hand=absolute(flood.hand),
                   dem=absolute(flood.dem), exclude=[absolute(path) for path in flood.exclude])


def _plan(args: argparse.Namespace, scenes: list[Scene], outdir: Path
          ) -> tuple[list[SceneJob], list[SceneOutcome], dict[str, list[PreImage]]]:
    """(jobs, scenes failed before mapping, the pre-flood images to combine per scene name)."""
    pool = read_pool(args.pre) if args.pre else None
    jobs, failed, combined = [], [], {}
    for scene in scenes:
        extras = {option: None for option in EXTRA_OUTPUTS}
        extras.update(dict(scene.extra_outputs))
        request = request_from_args(args, inputs=list(scene.inputs), output=scene.output, overwrite=True,  # outputs
                                    **extras)  # are redone or kept by their records, never a user's file
        if request.flood is not None:
            request.flood = _absolute_layers(request.flood)
        if pool is not None:
            try:
                images = overlapping(pool, scene.inputs[0])
            except FloodSarError as exc:
                failed.append(SceneOutcome(scene, FAILED, one_line(str(exc))))
                continue
            request.flood = replace(request.flood, pre=pre_files(images, outdir / f"{scene.name}{PRE_FOLDER}"))
            scene = replace(scene, pre=tuple(path for image in images for path in image.files))
            combined[scene.name] = images
        scene = replace(scene, reads=_scene_reads(scene, request))
        try:
            with choose_io().open_raster(scene.inputs[0]) as raster:
                pixels = raster.grid.width * raster.grid.height
        except FloodSarError:
            pixels = 0  # the worker reports what is wrong with it
        jobs.append(SceneJob(scene, request, settings(request), pixels))
    return jobs, failed, combined


def _note(args: argparse.Namespace, text: str) -> None:
    """An information line on stderr, unless -q."""
    if not args.quiet:
        print(text, file=sys.stderr)


class _Progress:
    """Scenes done / total with the time left (tqdm on stderr), and one line per finished scene
    (``quiet``: only the lines of scenes that failed)."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc="Scenes", unit="scene", file=sys.stderr,
                        disable=True if quiet else None,
                        bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}<{remaining}]")
        self.done, self.quiet = 0, quiet

    def __call__(self, outcome: SceneOutcome) -> None:
        if outcome.status == DONE:
            result = outcome.result
            found = ", ".join(f"{name} {km2:.3f} km2" for name, km2 in result.get("classes_km2", {}).items()
                              if name != "dry") or f"water {result['water_km2']:.3f} km2"
            line = f"done {outcome.scene.name}: {found}, {result['seconds']:.1f} s"
            self.done += 1
        else:
            line = f"{outcome.status} {outcome.scene.name}: {outcome.reason}"
        if outcome.status != DONE or not self.quiet:
            self.bar.write(line, file=sys.stderr)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _mosaic_and_areas(mapped: list[SceneOutcome], classes: bool, mosaic: Optional[Path], crs: Optional[str]
                      ) -> EventAreas:
    scenes = [o.scene for o in mapped]
    maps = ([s.name for s in scenes], [s.output for s in scenes], [acquisition_date(s.inputs) for s in scenes], classes)
    if mosaic is not None:
        return build_mosaic(*maps, mosaic.with_suffix(".vrt"), mosaic, crs)
    with tempfile.TemporaryDirectory(prefix="floodsar-event-") as folder:
        stack = Path(folder) / "event.vrt"
        areas = build_mosaic(*maps, stack, None, crs)
        remove_stack(stack)
        return areas


def _map_on_dask(args: argparse.Namespace, todo: list[SceneJob], total: int, ended: list[SceneOutcome],
                 outdir: Path) -> list[SceneOutcome]:
    """Map ``todo`` on the cluster (of ``total`` scenes, the ``ended`` ones need nothing); afterwards,
    whatever happened, delete what workers killed outright (kill -9, out of memory) left."""
    workers = args.workers or default_workers(runs_on_gpu(todo[0].request), len(todo))
    progress: Optional[_Progress] = None
    try:
        with dask_client(args.scheduler, workers) as client:
            link = dashboard_link(client, local=not args.scheduler)
            where = args.scheduler or f"a local cluster of {workers} worker process{'es' * (workers > 1)}"
            _note(args, f"Dask: {where}" + (f"; dashboard {link}" if link else ""))
            progress = _Progress(total, len(ended), bool(args.quiet))
            threads = None if args.scheduler else threads_per_local_worker(workers)
            return run_scenes(client, todo, progress, threads)
    except KeyboardInterrupt:
        kept = len([o for o in ended if o.result]) + (progress.done if progress else 0)
        raise KeyboardInterrupt(f"{kept} complete scenes are kept in {outdir} (a rerun skips them); "
                                "the scenes stopped left no files.") from None
    finally:
        if progress is not None:
            progress.close()
        for job in todo:
            remove_partials(job.scene)


def run_batch(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    outdir, mosaic, report = _check_paths(args)
    extras = [option for option in EXTRA_OUTPUTS if getattr(args, option)]
    scenes = plan_scenes(args.inputs, outdir, extras)
    jobs, outcomes, combined = _plan(args, scenes, outdir)
    todo = []
    for job in jobs:
        result = completed_result(job.scene, job.settings)
        if result is not None:
            outcomes.append(SceneOutcome(job.scene, SKIPPED, "complete from an earlier run", result))
            continue
        try:
            if job.scene.name in combined:
                write_combined(combined[job.scene.name], job.scene.inputs[0], job.request.flood.pre)
            todo.append(job)
        except FloodSarError as exc:
            outcomes.append(SceneOutcome(job.scene, FAILED, one_line(str(exc))))
    unmapped = [outcome for outcome in outcomes if outcome.status == FAILED]
    _note(args, f"{len(scenes)} scenes: {len(outcomes) - len(unmapped)} complete from an earlier run, "
                f"{len(todo)} to map" + (f", {len(unmapped)} failed before mapping" if unmapped else ""))
    for outcome in unmapped:
        print(f"{FAILED} {outcome.scene.name}: {outcome.reason}", file=sys.stderr)
    if todo:
        outcomes += _map_on_dask(args, todo, len(scenes), outcomes, outdir)
    order = {scene.name: i for i, scene in enumerate(scenes)}
    outcomes.sort(key=lambda o: order[o.scene.name])
    mapped = [o for o in outcomes if o.result]
    classes = bool(jobs) and jobs[0].request.flood is not None and jobs[0].request.flood.active
    areas = _mosaic_and_areas(mapped, classes, mosaic, args.mosaic_crs) if mapped and (mosaic or report) else None
    seconds = time.perf_counter() - started
    if report is not None:
        write_report(build_report(outcomes, areas, [o.scene.name for o in mapped], seconds, mosaic), report)
    if not args.quiet:
        _print_summary(outcomes, areas, mosaic, report, outdir, seconds)
    failed = [o for o in outcomes if o.status == FAILED]
    if failed:
        raise FloodSarError(f"{len(failed)} of {len(outcomes)} scenes failed (reasons above); "
                            "fix them and run the same command again: complete scenes are skipped.")
    return 0


def _print_summary(outcomes: list[SceneOutcome], areas: Optional[EventAreas], mosaic: Optional[Path],
                   report: Optional[Path], outdir: Path, seconds: float) -> None:
    counts: dict[str, Any] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    lines = [f"Scenes: {len(outcomes)} ({', '.join(f'{n} {status}' for status, n in counts.items())}); "
             f"maps in {outdir}"]
    if areas is not None:
        total = areas.event
        found = ", ".join(f"{name} {total.area(value):.3f} km2" for value, name in total.names.items() if value != DRY)
        lines.append(f"Event areas (overlaps counted once): {found} of {total.valid:.3f} km2 mapped")
    lines += [f"Mosaic: {mosaic} and {mosaic.with_suffix('.vrt')}"] if mosaic else []
    lines += [f"Report: {report}"] if report else []
    lines.append(f"Time: {seconds:.1f} s")
    print("\n".join(lines))
