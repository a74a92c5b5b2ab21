"""The relabel service's library: inbox diff, validation and ingest, incremental
labeling, the next student round, the promotion rule and the state pointer.

No orchestration here: ``run_round`` fixes the order of a round's steps and takes the
runner of each step from its caller: ``flows/relabel_flow.py`` runs them as Prefect
tasks, ``relabel`` (``mke relabel``) with retries. See ``docs/service.md``.
"""
from mkepipe.promotion import Decision, decide
from mkepipe.service.relabel import Outcome, Plan, Relabeler, relabel, run_round
from mkepipe.service.state import Layout, ServiceState, read_state, service_lock

__all__ = ["Decision", "decide", "Outcome", "Plan", "Relabeler", "relabel", "run_round", "Layout", "ServiceState",
           "read_state", "service_lock"]
