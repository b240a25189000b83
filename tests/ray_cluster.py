"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``, one CPU per node),
whose workers import fake plugins: the fixture of the Ray executor's and the Ray tuner's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flm_bench.ray_executor import MISSING_EXTRA


@contextmanager
def two_node_cluster(site: Path, **env: str) -> Iterator[Any]:
    """Two Ray nodes of one CPU each; their workers (and this process) import from ``site`` and see ``env``."""
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        pytest.fail(f"Ray is not installed: {MISSING_EXTRA}", pytrace=False)
    with pytest.MonkeyPatch.context() as mp:  # the raylets' workers inherit this environment
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
        for name, value in env.items():
            mp.setenv(name, value)
        mp.syspath_prepend(str(site))
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            nodes.add_node(num_cpus=1)
            nodes.wait_for_nodes()
            yield nodes
        finally:
            nodes.shutdown()


def node_ids(cluster: Any) -> set[str]:
    return {node.node_id for node in cluster.list_all_nodes()}
