"""Errors raised by resilience, and what the CLI does with each.

```
ResilienceError                      root of everything we raise on purpose
├── UsageError(ValueError)           bad input: experiment, SLO catalogue, CLI usage      -> exit 2
│   ├── ExperimentError              an experiment file is invalid (names file, field, fix)
│   ├── CatalogueError               probes/slos.yaml is invalid or lacks a referenced SLO
│   └── NoRunError                   an action or probe ran outside a run (no load control)
├── PlatformError                    the target platform is not running or not reachable   -> exit 3
├── FaultError                       a fault could not be applied or proven to have landed -> exit 3
│   └── NothingMatchedError       the selector matched no target
└── LoadError                        the load generator failed to start or died            -> exit 3
```
Messages name the file, the field and the fix; tracebacks are for bugs, never for bad input.
"""

from __future__ import annotations


class ResilienceError(Exception):
    """Root of every error resilience raises on purpose."""


class UsageError(ResilienceError, ValueError):
    """Invalid input or usage (exit code 2)."""


class ExperimentError(UsageError):
    """An experiment file is invalid."""


class CatalogueError(UsageError):
    """The SLO catalogue is invalid, or an experiment names an SLO it does not hold."""


class NoRunError(UsageError):
    """One of our actions or probes was called with no run open: the experiment lacks the load control."""


class PlatformError(ResilienceError):
    """The target platform is not running or not reachable."""


class FaultError(ResilienceError):
    """A fault could not be applied, or there is no evidence it landed."""


class NothingMatchedError(FaultError):
    """A fault's selector matched no target: never a pass."""


class LoadError(ResilienceError):
    """The load generator failed to start, or died during the run."""
