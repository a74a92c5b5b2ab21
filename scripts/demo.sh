#!/usr/bin/env bash
# `make demo`: start the local service (scripts/serve.sh), run mke/$EXPERIMENT to
# completion, print the results, and stop the service again — also on failure or Ctrl-C.
# A service that `make serve` had already started is used and left running.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPERIMENT=${EXPERIMENT:-nyu}
PORT=${PORT:-4200}
export EXPERIMENT PORT
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
# the auth string reaches `prefect deployment run` through the profile scripts/serve.sh writes there
export PREFECT_PROFILES_PATH="$PREFECT_HOME/profiles.toml" PREFECT_PROFILE=mke
unset PREFECT_API_AUTH_STRING
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
if bash scripts/serve.sh status >/dev/null 2>&1; then
  echo "==> using the service that is already running"
else
  trap 'bash scripts/serve.sh stop' EXIT
  bash scripts/serve.sh start
fi

echo "==> prefect deployment run mke/${EXPERIMENT} --watch"
prefect deployment run "mke/${EXPERIMENT}" --watch
echo
mke show
echo "==> dvc status"
dvc status
