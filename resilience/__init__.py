"""resilience: chaos experiments under real load, with SLO verdicts a release gate can trust."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
