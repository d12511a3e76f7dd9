"""Map the scenes of an event on Dask distributed: one task per scene, largest first.

The client sends each worker a :class:`SceneJob` (file paths and settings, never arrays);
the worker runs the engine's :func:`~..pipeline.predict` on it with a model loaded once per
worker process, and returns a small :class:`SceneOutcome`. Memory per worker is bounded by
the engine (it streams tiles and batches) and by Dask's per-worker memory limit. Scenes are
independent tasks, so a huge scene occupies one worker while the others carry on.

Ctrl-C sets a cluster-wide stop event that running scenes poll between batches: they stop,
delete their temporary files and report "cancelled"; then the futures are cancelled and the
client (and a cluster we started) closed.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

from ..backends import PROVIDER_DEVICES, select_providers, usable_cores
from ..choices import Device
from ..errors import PLAIN, CancelledError, FloodSarError
from ..formats import gdal_threads
from ..models import Model, load_model, resolve_model_path
from ..pipeline import PredictionRequest, predict
from .inputs import Scene
from .record import remove_record, write_record

#: Memory one worker may need (model session, tile batches, reader queue): caps the default worker count.
WORKER_MEMORY_BYTES = 2 * 1024 ** 3
#: How often (seconds) a running scene asks the scheduler whether Ctrl-C was pressed.
STOP_POLL_SECONDS = 0.5
#: How long (seconds) Ctrl-C waits for running scenes to stop cleanly before closing the cluster.
STOP_GRACE_SECONDS = 30.0
DONE, SKIPPED, FAILED, CANCELLED = "done", "skipped", "failed", "cancelled"


@dataclass(frozen=True)
class SceneJob:
    """What a worker needs to map one scene (paths and settings only)."""

    scene: Scene
    request: PredictionRequest
    settings: dict[str, Any]
    pixels: int
    threads: Optional[int] = None  # CPU threads for the model and for GDAL (None: every core)
    stop_event: Optional[str] = None


@dataclass
class SceneOutcome:
    """How a scene ended: done, skipped (complete from an earlier run), failed or cancelled."""

    scene: Scene
    status: str
    reason: Optional[str] = None
    result: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=2)
def _cached_model(path: str, modified_ns: int, backend: str, device: str, threads: Optional[int],
                  trusted_by_user: bool) -> Model:
    return load_model(path, backend, device, threads, trusted_by_user)


def worker_model(request: PredictionRequest, threads: Optional[int] = None) -> Model:
    """The request's model, loaded once per worker process (keyed by file, modification time, backend,
    device and CPU threads)."""
    path = resolve_model_path(request.model, request.backend, request.device, request.precision).resolve()
    return _cached_model(str(path), path.stat().st_mtime_ns, request.backend, request.device, threads,
                         request.trust_model)


def _stop_requested(event_name: Optional[str]) -> Callable[[], bool]:
    """A cheap ``is_cancelled`` for predict: asks the scheduler's stop event at most every STOP_POLL_SECONDS."""
    if event_name is None:
        return lambda: False
    from distributed import Event

    event = Event(event_name)
    state = {"asked": 0.0, "set": False}

    def is_set() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["asked"] >= STOP_POLL_SECONDS:
            state["asked"], state["set"] = now, event.is_set()
        return state["set"]

    return is_set


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def map_scene(job: SceneJob) -> SceneOutcome:
    """Run on a worker: map one scene, write its record; errors become the outcome's one-line reason."""
    scene = job.scene
    stop = _stop_requested(job.stop_event)
    if stop():
        return SceneOutcome(scene, CANCELLED, "stopped before it started")
    remove_record(scene)
    try:
        model = worker_model(job.request, job.threads) if job.request.method == "model" else None
        with gdal_threads(job.threads):
            result = predict(job.request, is_cancelled=stop, model=model)
            summary = {"water_km2": result.water_area_km2, "valid_km2": result.valid_area_km2,
                       "seconds": round(result.seconds, 3), "backend": result.backend,
                       "warnings": [PLAIN.fill(warning) for warning in result.warnings],
                       "worker_pid": os.getpid(), "model_loads": _cached_model.cache_info().misses,
                       **({"classes_km2": result.class_areas_km2} if result.class_areas_km2 else {})}
            write_record(scene, job.settings, summary)
    except CancelledError:
        return SceneOutcome(scene, CANCELLED, "stopped by Ctrl-C; nothing was written")
    except FloodSarError as exc:
        return SceneOutcome(scene, FAILED, one_line(str(exc)))
    except Exception as exc:  # a bug or a library failure: reported for this scene, the others go on
        return SceneOutcome(scene, FAILED, one_line(f"unexpected {type(exc).__name__}: {exc}"))
    return SceneOutcome(scene, DONE, result=summary)


def threads_per_local_worker(workers: int) -> int:
    """CPU threads for each worker's model and GDAL on a local cluster of ``workers``: the cores shared out."""
    return max(1, usable_cores() // workers)


def runs_on_gpu(request: PredictionRequest, onnx_providers: Optional[Sequence[str]] = None) -> bool:
    """Whether the request's model runs on a GPU on this machine: ``--device cuda``, or ``auto`` where the
    runtime offers one (``onnx_providers``: ONNX Runtime's available providers; default: this machine's)."""
    if request.method != "model" or request.device == "cpu":
        return False
    if request.device == "cuda":
        return True
    if request.backend == "torch":
        import torch

        return torch.cuda.is_available()
    if onnx_providers is None:
        import onnxruntime

        onnx_providers = onnxruntime.get_available_providers()
    return PROVIDER_DEVICES[select_providers(Device.AUTO, onnx_providers)[0]] == Device.CUDA


def default_workers(gpu: bool, scenes: int) -> int:
    """Workers for a local cluster: one per core, as many as memory allows, at most one per scene; one
    when the model runs on the GPU (each worker process holds its own model: one model on the GPU)."""
    import psutil

    cores = usable_cores()
    by_memory = max(1, int(psutil.virtual_memory().total // WORKER_MEMORY_BYTES))
    workers = 1 if gpu else min(cores, by_memory)
    return max(1, min(workers, scenes))


@contextlib.contextmanager
def dask_client(scheduler: Optional[str], workers: int) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a local cluster of ``workers`` processes
    (one thread each, memory split evenly) that is closed afterwards."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise FloodSarError(f"cannot reach the Dask scheduler at {scheduler} ({one_line(str(exc))}); "
                                "check the address (tcp://HOST:PORT) or leave out --scheduler.") from exc
        with client:
            yield client
        return
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit="auto",
                               host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with Ctrl-C ignored (they inherit it), so that Ctrl-C in a terminal, which
    reaches the whole process group, stops scenes through the client's clean stop, not by killing workers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def dashboard_link(client: Any, local: bool) -> Optional[str]:
    """The Dask dashboard address, when the scheduler serves one (a local one needs bokeh installed)."""
    import importlib.util

    if local and importlib.util.find_spec("bokeh") is None:
        return None
    return client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None


def _outcome_of(future: Any, job: SceneJob) -> SceneOutcome:
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return SceneOutcome(job.scene, FAILED, "the Dask worker it was given to died (killed, or out of memory?) "
                                               "and Dask gave up retrying; see the worker logs, or give workers more "
                                               "memory")
    except Exception as exc:  # the task could not run (e.g. floodsar not importable on the worker)
        return SceneOutcome(job.scene, FAILED, one_line(f"Dask could not run it: {type(exc).__name__}: {exc}"))


def run_scenes(client: Any, jobs: Sequence[SceneJob], on_outcome: Callable[[SceneOutcome], None],
               threads: Optional[int] = None) -> list[SceneOutcome]:
    """Map ``jobs`` on ``client``'s cluster, largest first; ``on_outcome`` is called as each ends.
    ``threads``: CPU threads per worker, for its model and GDAL (a local cluster shares the cores out;
    None: every core).

    Ctrl-C stops every running scene cleanly, cancels the rest and re-raises KeyboardInterrupt.
    """
    from distributed import Event, as_completed, wait

    stop_name = f"floodsar-stop-{uuid.uuid4().hex}"
    stop = Event(stop_name, client=client)
    ordered = sorted(jobs, key=lambda job: job.pixels, reverse=True)
    futures = {}
    for rank, job in enumerate(ordered):
        job = SceneJob(job.scene, job.request, job.settings, job.pixels, threads, stop_name)
        future = client.submit(map_scene, job, key=f"floodsar-scene-{job.scene.name}-{uuid.uuid4().hex[:8]}",
                                priority=len(ordered) - rank, pure=False)
        futures[future] = job
    outcomes = []
    try:
        for future in as_completed(futures):
            outcome = _outcome_of(future, futures[future])
            outcomes.append(outcome)
            on_outcome(outcome)
    except KeyboardInterrupt:
        stop.set()
        with contextlib.suppress(TimeoutError):
            wait(list(futures), timeout=STOP_GRACE_SECONDS)
        client.cancel(list(futures), force=True)
        raise
    return outcomes
