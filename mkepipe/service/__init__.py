"""The relabel service's library: inbox diff, validation and ingest, incremental
labeling, the next student round, the promotion rule and the state pointer.

No orchestration here: ``flows/relabel_flow.py`` runs these steps as Prefect tasks and
``mke relabel`` runs them in turn. See ``docs/service.md``.
"""
from mkepipe.promotion import Decision, decide
from mkepipe.service.relabel import Outcome, Plan, Relabeler, relabel
from mkepipe.service.state import Layout, ServiceState, read_state, service_lock

__all__ = ["Decision", "decide", "Outcome", "Plan", "Relabeler", "relabel", "Layout", "ServiceState",
           "read_state", "service_lock"]
