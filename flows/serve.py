"""``mke serve``: one Prefect deployment ``mke/<experiment>`` per registered experiment,
and ``relabel/nyu``, the scheduled incremental re-labeling of new sensor data."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from flows.mke_flow import mke
from flows.relabel_flow import relabel

RELABEL_EXPERIMENTS = ("nyu",)  # experiments whose sensor data can arrive in an inbox


def deployments(project_dir: Path) -> list:
    from mkepipe.config import load_params
    from mkepipe.experiments import experiment_names

    # Runs share one DVC workspace: queue a second run instead of racing for the lock.
    limit = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    out = [mke.to_deployment(name=name, parameters={"experiment": name, "project_dir": str(project_dir)},
                             concurrency_limit=limit, tags=["mke", name])
           for name in experiment_names()]
    service = load_params(project_dir / "params.yaml").service
    # ENQUEUE, not CANCEL_NEW: a trigger that arrives during a run may announce data the
    # running round has already scanned past; the queued run picks it up right after
    # (and is a few-second no-op when there is nothing left).
    for name in RELABEL_EXPERIMENTS:
        out.append(relabel.to_deployment(
            name=name, parameters={"experiment": name, "project_dir": str(project_dir)}, concurrency_limit=limit,
            interval=timedelta(minutes=service.interval_minutes) if service.schedule else None,
            tags=["relabel", name]))
    return out


def serve_all(project_dir: Path) -> None:
    """Serve every deployment until interrupted (needs PREFECT_API_URL set)."""
    serve(*deployments(project_dir))
