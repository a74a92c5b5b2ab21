#!/usr/bin/env bash
# Start a local Prefect server (SQLite in $PREFECT_HOME), serve the deployments, run
# mke/<experiment> to completion, print the results and stop everything again.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPERIMENT=${EXPERIMENT:-$(python -c "import yaml; print(yaml.safe_load(open('params.yaml'))['experiment'])")}
PORT=${PORT:-4200}
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
export PREFECT_RUNNER_POLL_FREQUENCY=1
export PREFECT_SERVER_ANALYTICS_ENABLED=false
mkdir -p "$PREFECT_HOME"
log="$PREFECT_HOME/demo"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> starting Prefect server on 127.0.0.1:${PORT} (logs: ${log}-server.log)"
prefect server start --host 127.0.0.1 --port "$PORT" >"${log}-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fs "${PREFECT_API_URL}/health" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "${log}-server.log"; exit 1; }
  sleep 1
done
curl -fs "${PREFECT_API_URL}/health" >/dev/null || { echo "Prefect server did not come up"; exit 1; }

echo "==> serving deployments (logs: ${log}-serve.log)"
mke serve >"${log}-serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  prefect deployment inspect "mke/${EXPERIMENT}" >/dev/null 2>&1 && break
  sleep 1
done

echo "==> prefect deployment run mke/${EXPERIMENT} --watch"
prefect deployment run "mke/${EXPERIMENT}" --watch
echo
mke show
echo "==> dvc status"
dvc status
