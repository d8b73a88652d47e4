"""Processes a run starts die with the process that started them.

`curate run` starts worker processes (curate/executors.py), and a step may fork processes of its own (a stage under
`limits`, datatrove's extractors: a sandbox per task). If `curate run` is killed (kill -9 of the command alone, as a
user types it), nothing may stay behind holding memory and the terminal: a worker calls `die_with_parent()` first,
and `children_die_with_this_process()` makes every process forked from it (and from those) do the same.
A leaf module: it imports nothing of curate.
"""

import os
import sys
import threading
import time
from contextlib import suppress


def die_with_parent(poll_seconds: float = 0.5) -> None:
    """Exit this process when its parent dies: on Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG); elsewhere, and
    as a second line, a thread notices that the parent changed (the orphan is re-parented)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with suppress(OSError, AttributeError):  # no prctl: the watching thread below is the only line
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def children_die_with_this_process() -> None:
    """Every process forked from this one from now on (and, inherited, from those) dies with its parent."""
    global _REGISTERED
    if not _REGISTERED:
        os.register_at_fork(after_in_child=die_with_parent)
        _REGISTERED = True


_REGISTERED = False


def die_with(pid: int, poll_seconds: float = 0.5) -> None:
    """Exit this process when process `pid` exits (a worker forked by multiprocessing's forkserver watches the run
    itself: its parent, the forkserver, lives as long as any worker does)."""
    import select

    try:
        handle = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has exited, no pid reuse
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        handle = None

    def watch():
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(pid):
                time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-run", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_start(run_pid: int, start_method: str) -> None:
    """The first thing a worker process runs (a pool's initializer): it dies with the run's process `run_pid`, and
    so does everything it forks. multiprocessing's default start method is set back to the run's own
    (`start_method`): a worker started by the forkserver inherits "forkserver", and a step that starts a process of
    its own (datatrove's extraction sandbox: its target does not pickle) expects the platform's default."""
    import multiprocessing

    multiprocessing.set_start_method(start_method, force=True)
    die_with(run_pid)
    children_die_with_this_process()
