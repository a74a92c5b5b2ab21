#!/usr/bin/env bash
# scripts/serve.sh start|stop|status — the local service: a Prefect server (SQLite in
# $PREFECT_HOME, default ./.prefect, bound to 127.0.0.1:$PORT) and `mke serve`, both in
# the background with pid files under $PREFECT_HOME. `make serve` / `make stop` call this.
# The API wants the auth string in $PREFECT_HOME/api-auth-string; start hands it, the API
# URL and the UI's CORS origin to every Prefect process through the profile `mke` in
# $PREFECT_HOME/profiles.toml (docs/service.md, "Threat model").
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-4200}
EXPERIMENT=${EXPERIMENT:-nyu}
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export PREFECT_PROFILES_PATH="$PREFECT_HOME/profiles.toml" PREFECT_PROFILE=mke
# the profile is the one source of these; a value left in the caller's environment would win over it
unset PREFECT_API_AUTH_STRING PREFECT_SERVER_API_AUTH_STRING PREFECT_SERVER_CORS_ALLOWED_ORIGINS PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"  # unset, the CLI would start a throw-away server
export PREFECT_RUNNER_POLL_FREQUENCY=${PREFECT_RUNNER_POLL_FREQUENCY:-1}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# a run queued behind the concurrency limit of 1 retries for its slot this often (Prefect's default: 30 s)
export PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS=${PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS:-5}
server_pid="$PREFECT_HOME/server.pid"
serve_pid="$PREFECT_HOME/serve.pid"
auth_file="$PREFECT_HOME/api-auth-string"
server_cmd="prefect server start --host 127.0.0.1 --port "  # any port: stop must find a server started with another PORT
serve_cmd="mke serve --project $PWD "

stat_fields() {  # $1 pid: /proc/<pid>/stat from field 3 on (proc(5)), so field n is word n-3
  local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) && echo "${stat##*) }"
}

launch() {  # $1 pid file, $2 log, rest: the command, run as the leader of a new session; records "pid start-time"
  local pidfile=$1 log=$2 fields; shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  read -ra fields <<<"$(stat_fields "$!")"
  echo "$! ${fields[19]:-}" >"$pidfile"
}

ours() {  # $1 pid file, $2 text of its command line: is that pid still the session leader launch started?
  local pid started fields
  read -r pid started 2>/dev/null <"$1" && [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -ra fields <<<"$(stat_fields "$pid")"  # [3]: field 6, the session; [19]: field 22, the start time
  [[ ${fields[3]:-} == "$pid" && ${fields[19]:-} == "$started" ]] &&
    [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) " == *"$2"* ]]
}

launched() {  # $1 pid file: the process launch just started still runs (its command line may not be exec'd yet)
  local pid; read -r pid _ <"$1" && kill -0 "$pid" 2>/dev/null
}

stop_one() {  # $1 pid file, $2 text of its command line: TERM the process group, KILL it after 20 s
  [[ -f $1 ]] || return 0
  if ours "$1" "$2"; then
    local pid; read -r pid _ <"$1"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    # safe once the leader is gone: the kernel does not reuse a pid while its group has members
    kill -KILL -- "-$pid" 2>/dev/null || true
  else
    echo "==> $1 is stale (its process ended, or the pid now belongs to another program): removed it, signalled nothing"
  fi
  rm -f "$1"
}

write_profile() {  # the auth string (made once) and the profile that hands it to every Prefect process here
  (
    umask 077
    [[ -s $auth_file ]] || echo "mke:$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')" >"$auth_file"
    chmod 600 "$auth_file"
    local auth; auth=$(<"$auth_file")
    cat >"$PREFECT_PROFILES_PATH.tmp" <<TOML
# written by scripts/serve.sh at every start, from api-auth-string
active = "mke"

[profiles.mke]
PREFECT_API_URL = "$PREFECT_API_URL"
PREFECT_API_AUTH_STRING = "$auth"
PREFECT_SERVER_API_AUTH_STRING = "$auth"
PREFECT_SERVER_CORS_ALLOWED_ORIGINS = "http://127.0.0.1:$PORT"
TOML
    mv -f "$PREFECT_PROFILES_PATH.tmp" "$PREFECT_PROFILES_PATH"
  )
}

start() {
  if ours "$server_pid" "$server_cmd" && ours "$serve_pid" "$serve_cmd"; then
    echo "==> already running: UI http://127.0.0.1:${PORT}"
    return 0
  fi
  stop  # a half-started service from an earlier attempt
  mkdir -p "$PREFECT_HOME"
  chmod go= "$PREFECT_HOME"  # database, logs and auth string are the user's alone
  write_profile
  echo "==> Prefect server on 127.0.0.1:${PORT} (PREFECT_HOME=${PREFECT_HOME}, log server.log)"
  launch "$server_pid" "$PREFECT_HOME/server.log" prefect server start --host 127.0.0.1 --port "$PORT"
  for _ in $(seq 1 120); do
    curl -fs "${PREFECT_API_URL}/health" >/dev/null 2>&1 && break  # /health needs no auth string
    launched "$server_pid" || { tail -n 40 "$PREFECT_HOME/server.log"; stop; exit 1; }
    sleep 1
  done
  curl -fs "${PREFECT_API_URL}/health" >/dev/null || { echo "Prefect server did not come up"; stop; exit 1; }
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' "${PREFECT_API_URL}/admin/version" || true)
  [[ $code == 401 ]] || { echo "a call without the auth string got HTTP $code, not 401: stopped the server"; stop; exit 1; }

  echo "==> mke serve (log serve.log)"
  launch "$serve_pid" "$PREFECT_HOME/serve.log" mke serve --project "$PWD"
  for _ in $(seq 1 120); do
    prefect deployment inspect "mke/${EXPERIMENT}" >/dev/null 2>&1 && break
    launched "$serve_pid" || { tail -n 40 "$PREFECT_HOME/serve.log"; stop; exit 1; }
    sleep 1
  done
  prefect deployment inspect "mke/${EXPERIMENT}" >/dev/null 2>&1 || { echo "deployments not registered"; stop; exit 1; }
  echo "==> serving mke/<experiment> and relabel/<experiment>; UI http://127.0.0.1:${PORT} (log in with the contents of ${auth_file})"
  echo "    export PREFECT_HOME=${PREFECT_HOME}   # then: prefect deployment run mke/${EXPERIMENT}, mke notify"
}

stop() {
  stop_one "$serve_pid" "$serve_cmd"
  stop_one "$server_pid" "$server_cmd"
}

status() {
  ours "$server_pid" "$server_cmd" && ours "$serve_pid" "$serve_cmd"
}

case "${1:-}" in
  start) start ;;
  stop) stop; echo "==> stopped" ;;
  status) if status; then echo "running: UI http://127.0.0.1:${PORT}"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
