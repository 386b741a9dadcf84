"""Run a worker class (the ingest's encoder, the detect job's query worker) as a pool of Ray actors.

Connects to the cluster named by ``RAY_ADDRESS`` (set by ``ray job submit``) or starts
a local one. Each actor gets ``threads`` torch threads and a matching CPU reservation.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Iterator

from . import reaper

log = logging.getLogger(__name__)


def ensure_ray(num_cpus: int | None = None):
    import ray

    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            _reap_when_gone()  # before the start: a kill during ray.init leaves nothing either
            ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=True,
                     configure_logging=False)
    return ray


def _reap_when_gone():
    """Start the watcher that ends the local Ray cluster this process starts if it dies
    without stopping it (``segscan.services.reaper``; Linux only)."""
    if not os.path.isdir("/proc"):
        return
    # run as a script (it needs only the standard library), so any interpreter can start it
    subprocess.Popen([sys.executable, reaper.__file__, str(os.getpid())],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)


def map_with_ray(worker_cls, config, paths: list[str], workers: int) -> Iterator[tuple[str, tuple]]:
    """``worker_cls(config)(path)`` for every path, on ``workers`` actors (the caller names the
    worker, so this module needs nothing of the pipeline)."""
    from dataclasses import replace

    ray = ensure_ray()
    cpus = int(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
    workers = max(1, min(workers, len(paths), cpus))
    threads = max(1, cpus // workers) if config.threads is None else config.threads
    actor_cls = ray.remote(num_cpus=threads)(worker_cls)
    cfg = replace(config, threads=threads)
    actors = [actor_cls.remote(cfg) for _ in range(workers)]
    pool = ray.util.ActorPool(actors)
    log.info("ray: %d worker(s) x %d thread(s)", workers, threads)
    try:
        yield from pool.map_unordered(lambda a, p: a.__call__.remote(p), paths)
    finally:
        for a in actors:
            ray.kill(a)
