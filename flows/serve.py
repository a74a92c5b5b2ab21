"""``mke serve``: one Prefect deployment ``mke/<experiment>`` per registered experiment."""
from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from flows.mke_flow import mke


def deployments(project_dir: Path) -> list:
    from mkepipe.experiments import experiment_names

    # Runs share one DVC workspace: queue a second run instead of racing for the lock.
    limit = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    return [mke.to_deployment(name=name, parameters={"experiment": name, "project_dir": str(project_dir)},
                              concurrency_limit=limit, tags=["mke", name])
            for name in experiment_names()]


def serve_all(project_dir: Path) -> None:
    """Serve every deployment until interrupted (needs PREFECT_API_URL set)."""
    serve(*deployments(project_dir))
