"""Ends a local Ray cluster whose driver died: ``python reaper.py DRIVER_PID``.

A driver killed with SIGKILL cannot stop the cluster it started, and Ray's dashboard and
runtime-env agents notice a dead raylet only after a minute or more. This watcher, started
beside the cluster, waits for the driver to go (its own parent changes), then kills what the
driver had started. Linux only (it reads ``/proc``); it imports nothing but the standard library.
"""
from __future__ import annotations

import os
import signal
import sys
import time


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(root: int) -> set[int]:
    """Every process below ``root`` in the process tree (this one excepted)."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:  # the parent pid follows the ")" of the name
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    todo, found = list(children.get(root, [])), set()
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found - {os.getpid()}


def _session_of(pid: int) -> str | None:
    """The Ray session folder a head process was started with, if it is one."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return None
    found = [a.split(b"=", 1)[1].decode() for a in args if a.startswith(b"--session-dir=")]
    return found[0] + "/" if found else None


def _has_files_under(pid: int, folders: tuple[str, ...]) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folders) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def watch(parent: int, every: float = 0.5):
    """Wait for ``parent`` to die, then SIGKILL the processes it had started.

    The tree is taken while the driver lives: when it dies, Ray's head processes die with it
    and its agents are re-parented, so an agent started since the last look is known by the
    log files it holds open under the session folder of the head processes.
    """
    tree: set[int] = set()
    sessions: set[str] = set()
    while os.getppid() == parent:
        tree = descendants(parent)
        sessions |= {s for s in map(_session_of, tree) if s}
        time.sleep(every)
    if sessions:
        tree |= {p for p in _pids() if _has_files_under(p, tuple(sessions))}
    tree.discard(os.getpid())
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    watch(int(sys.argv[1]))
