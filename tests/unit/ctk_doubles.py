"""Python providers for real chaoslib runs in the verdict tests: a scripted probe and a failing action."""

from __future__ import annotations

import time

from chaoslib.exceptions import ActivityFailed

_script: list[bool] = []


def script(*answers: bool) -> None:
    """Set what `scripted_probe` answers, one call at a time (the last answer repeats)."""
    _script[:] = list(answers)


def scripted_probe() -> bool:
    return _script.pop(0) if len(_script) > 1 else _script[0]


def wait(seconds: float) -> str:
    time.sleep(seconds)
    return "waited"


def fault_that_never_lands() -> None:
    raise ActivityFailed("no running pod matches role='inference' region='zz'")
