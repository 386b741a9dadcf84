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


# Waits for the driver to go (its parent changes), then kills the processes the driver had
# started (the local Ray cluster): a driver killed with SIGKILL cannot stop its cluster, and
# Ray's dashboard and runtime-env agents notice a dead raylet only after a minute or more.
_REAPER = """
import os, signal, sys, time
parent = int(sys.argv[1])


def descendants(root):
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                children.setdefault(int(f.read().rsplit(b")", 1)[1].split()[1]), []).append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    todo, found = list(children.get(root, [])), set()
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found - {os.getpid()}


def session_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\\0")
    except OSError:
        return None
    found = [a.split(b"=", 1)[1].decode() for a in args if a.startswith(b"--session-dir=")]
    return found[0] + "/" if found else None


def session_files_open(pid, sessions):
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(sessions) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


# the tree is taken while the driver lives: when it dies, Ray's head processes die with it and
# its agents are re-parented; an agent started since the last look is known by its log files
# (under the session folder its head processes were started with)
tree, sessions = set(), set()
while os.getppid() == parent:
    tree = descendants(parent)
    sessions |= {s for s in map(session_of, tree) if s}
    time.sleep(0.5)
if sessions:
    tree |= {int(p) for p in filter(str.isdigit, os.listdir("/proc")) if session_files_open(p, tuple(sessions))}
tree.discard(os.getpid())
for pid in tree:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


def _reap_when_gone():
    """Start the reaper of the local Ray cluster this process starts (Linux only)."""
    if not os.path.isdir("/proc"):
        return
    subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid())],
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
