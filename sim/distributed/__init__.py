"""Running on a Dask cluster: the client (`sim.distributed.client`), sharded single runs
(`sim.distributed.shards`) and a progress bar (`sim.distributed.progress`).

Nothing here imports Dask until a cluster is asked for: ``workers=1`` without a scheduler
runs in this process.
"""

from sim.distributed.client import dask_client
from sim.distributed.shards import shard_ranges, sum_over_shards

__all__ = ["dask_client", "shard_ranges", "sum_over_shards"]
