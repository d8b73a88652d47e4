"""The in-process time limit (curate/stages/time_limit.py) on calls that do not cooperate."""

import time

import pytest

from curate.stages.time_limit import TimeLimitExceeded, time_limit


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_call_past_its_limit_is_interrupted_and_the_next_call_is_not():
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.2):
            busy(10)
    assert time.monotonic() - start < 2
    with time_limit(0.5):  # disarmed: nothing lands in a later call or after the block
        busy(0.7 - 0.5)
    busy(0.6)


def test_a_call_that_swallows_the_first_exception_is_interrupted_again():
    """The exception may land where it is swallowed: CI caught it inside a weakref callback that the garbage collector
    ran during trafilatura's call ("Exception ignored in ... TimeLimitExceeded"), and the page ran on to its end. Code
    that swallows everything once stands in for that: the limit must still end the call, soon after."""
    swallowed = []
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.2):
            try:
                busy(10)
            except TimeLimitExceeded:
                swallowed.append(time.monotonic() - start)
            busy(10)
    assert swallowed and time.monotonic() - start < 3
    busy(0.6)  # nothing lands after the block
