"""`prefect deployment run mke/twomoon --watch` against a real local Prefect server."""
import hashlib
import json
import re
import sys
from datetime import datetime

import pytest

from tests.conftest import run
from tests.prefect_server import prefect_server, served

pytestmark = pytest.mark.e2e

READ_LOGS = """
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

async def main():
    async with get_client() as client:
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[sys.argv[1]])), limit=200,
                                      offset=int(sys.argv[2]))
        print(json.dumps([{"time": l.timestamp.isoformat(), "task": str(l.task_run_id), "message": l.message}
                          for l in logs]))

asyncio.run(main())
"""


def flow_run_logs(run_id: str, root, env) -> list[dict]:
    logs: list[dict] = []
    while True:
        page = json.loads(run([sys.executable, "-c", READ_LOGS, run_id, str(len(logs))], root, env).stdout)
        logs += page
        if len(page) < 200:
            return logs


def test_deployment_run_leaves_dvc_clean(project, tmp_path):
    root, env = project
    with prefect_server(tmp_path / "prefect-home", env) as penv, served(root, penv, "mke/twomoon"):
        proc = run(["prefect", "deployment", "run", "mke/twomoon", "--watch"], root, penv, check=False, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Completed" in proc.stdout
        logs = flow_run_logs(re.search(r"UUID: ([0-9a-f-]{36})", proc.stdout).group(1), root, penv)

    # the student stage's output reached its task log while it ran, epoch by epoch
    epochs = [log for log in logs if re.search(r": epoch \d+/\d+, loss", log["message"])]
    by_task = {task: [log for log in epochs if log["task"] == task] for task in {log["task"] for log in epochs}}
    round1 = max(by_task.values(), key=len)  # student@0: five students, 2000 epochs each
    assert len(round1) >= 5 * 50, [log["message"] for log in logs][-20:]
    first, last = (datetime.fromisoformat(round1[k]["time"]) for k in (0, -1))
    assert (last - first).total_seconds() > 3, "logged as produced, not in one burst at the end"

    for r in (1, 2):
        metrics = json.loads((root / "reports" / "twomoon" / f"round{r}" / "metrics.json").read_text())
        assert metrics["round"] == r and "student_accuracy" in metrics
        gens = [p for p in (root / "labels" / "twomoon" / f"round{r}").iterdir() if (p / "manifest.json").exists()]
        assert len(gens) == 1
    assert (root / "models" / "twomoon" / "round2" / "student.pt").exists()
    # round 2 was labeled by what round 1's promote stage chose, as its decision says
    decision = json.loads((root / "reports" / "twomoon" / "round1" / "promotion.json").read_text())
    chosen = root / "models" / "twomoon" / "teacher-after-round1.pt"
    assert chosen.read_bytes() == (root / decision["source"]).read_bytes()
    manifest = json.loads(next((root / "labels" / "twomoon" / "round2").glob("*/manifest.json")).read_text())
    assert manifest["teacher_hash"] == hashlib.sha256(chosen.read_bytes()).hexdigest()
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert "Running stage" not in run(["dvc", "repro"], root, env).stdout
