"""A per-call time limit enforced in the calling process: no second process, no page sent over a pipe.

    with time_limit(5.0):
        text = extract(page)          # raises TimeLimitExceeded once 5 s have passed

One watchdog thread per process holds the deadline of the call under way in each thread; when one passes it raises
TimeLimitExceeded inside that thread (CPython's PyThreadState_SetAsyncExc), which lands at the next Python
instruction the thread runs. TimeLimitExceeded is a BaseException, so a library's `except Exception` (trafilatura
has several) does not swallow it. Where it lands in code that swallows everything (a weakref or `__del__` callback
the garbage collector runs inside the call: CPython prints "Exception ignored" and goes on, seen in CI), it is raised
again every REFIRE_SECONDS until the call ends.

Why not datatrove's ExtractorSandbox (a forked process per task, each page pickled to it and its result back): a
round trip per page (about 6 ms of a 36 ms page in the pipeline, measured in issue 18), a fork per task of a worker
that holds every model (its pages copied as either side writes), and a fork from a process that runs threads, which
deadlocked in a Ray actor. What this gives up: a call stuck inside one C function (a regular expression that
backtracks without end) cannot be interrupted until that function returns, and a page that exhausts memory takes the
worker with it instead of a sandbox. The extract stage bounds both with its guards before the call (`max_html_chars`,
libxml2's nesting limit).
"""

import ctypes
import threading
import time
from contextlib import contextmanager

REFIRE_SECONDS = 0.25  # a limit's exception is raised again this often while the call goes on


class TimeLimitExceeded(BaseException):
    """Raised inside a call that ran past its time limit."""


class _Watchdog:
    def __init__(self):
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.deadlines: dict[int, float] = {}  # thread id -> when to raise next in its call under way
        self.fired: set[int] = set()
        self.thread = threading.Thread(target=self.loop, name="time-limit-watchdog", daemon=True)
        self.thread.start()

    def loop(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for thread_id, deadline in list(self.deadlines.items()):
                    if deadline <= now:  # the limit, or REFIRE_SECONDS after the last raise: the call goes on
                        self.fired.add(thread_id)
                        self.deadlines[thread_id] = now + REFIRE_SECONDS
                        _raise_in(thread_id, TimeLimitExceeded)
                pending = self.deadlines.values()
                self.wake.wait(max(0.0, min(pending) - now) + 0.001 if pending else None)

    def arm(self, seconds: float) -> None:
        with self.lock:
            thread_id = threading.get_ident()
            self.fired.discard(thread_id)
            self.deadlines[thread_id] = time.monotonic() + seconds
            self.wake.notify()

    def disarm(self) -> bool:
        """Stop watching this thread's call; True when the limit fired. An exception raised but not yet delivered
        is withdrawn, so it cannot land in the caller's code after the call."""
        with self.lock:
            thread_id = threading.get_ident()
            self.deadlines.pop(thread_id, None)
            fired = thread_id in self.fired
            if fired:
                self.fired.discard(thread_id)
                _raise_in(thread_id, None)
            return fired


def _raise_in(thread_id: int, exception) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exception) if exception else None)


_watchdog: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _the_watchdog() -> _Watchdog:
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None or not _watchdog.thread.is_alive():  # a forked child has the object, not the thread
            _watchdog = _Watchdog()
        return _watchdog


def _disarm(watchdog: _Watchdog) -> bool:
    """watchdog.disarm(), again if a raise lands while it waits for the lock: once it returns, nothing is raised."""
    while True:
        try:
            return watchdog.disarm()
        except TimeLimitExceeded:
            continue


@contextmanager
def time_limit(seconds: float):
    """Run the block with a time limit: TimeLimitExceeded when it runs past `seconds` (wall clock)."""
    watchdog = _the_watchdog()
    try:
        watchdog.arm(seconds)
        try:
            yield
        finally:
            fired = _disarm(watchdog)
    except TimeLimitExceeded:
        _disarm(watchdog)  # when it landed inside the first disarm, before that finished
        raise
    if fired:  # the limit passed as the block returned: the call took its whole time, so it is over the limit
        raise TimeLimitExceeded
