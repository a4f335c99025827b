from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def local_ray():
    """One embedded 2-CPU Ray instance shared by the in-process tuning tests."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
