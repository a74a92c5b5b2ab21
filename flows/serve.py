"""``mke serve``: one Prefect deployment ``mke/<experiment>`` per registered experiment,
and ``relabel/<experiment>`` — the scheduled incremental re-labeling of new sensor data —
for every experiment whose data adapter has an inbox.

The project directory is fixed here, for the life of the service (the flows read it from
the environment); it is not a run parameter, and the deployments accept no parameter
but ``experiment``, which must be a registered name.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from flows.mke_flow import mke
from flows.relabel_flow import relabel
from mkepipe.config import load_params
from mkepipe.experiments import experiment_names, inbox_experiments
from mkepipe.workspace import PROJECT_ENV


def deployments(project_dir: Path) -> list:
    # Queue a second run of a deployment instead of racing; runs of different deployments
    # serialise on the workspace lock (mkepipe.workspace).
    limit = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    out = [mke.to_deployment(name=name, parameters={"experiment": name}, concurrency_limit=limit,
                             tags=["mke", name])
           for name in experiment_names()]
    service = load_params(project_dir / "params.yaml").service
    # ENQUEUE, not CANCEL_NEW: a trigger that arrives during a run may announce data the
    # running round has already scanned past; the queued run picks it up right after
    # (and is a few-second no-op when there is nothing left).
    for name in inbox_experiments():
        out.append(relabel.to_deployment(
            name=name, parameters={"experiment": name}, concurrency_limit=limit,
            interval=timedelta(minutes=service.interval_minutes) if service.schedule else None,
            tags=["relabel", name]))
    return out


def serve_all(project_dir: Path) -> None:
    """Serve every deployment for ``project_dir`` until interrupted (needs PREFECT_API_URL set)."""
    os.environ[PROJECT_ENV] = str(project_dir)
    serve(*deployments(project_dir))
