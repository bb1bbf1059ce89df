"""Parameter sweeps on one machine or a Dask cluster (`sim.sweep.core`)."""

from sim.sweep.core import *  # noqa: F403
from sim.sweep.core import __all__  # noqa: F401
