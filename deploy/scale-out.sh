#!/usr/bin/env bash
# Scale-out on one machine, with Rasa's own stack: PostgreSQL (tracker store), Redis (lock store), one
# action server, two Rasa server replicas and nginx balancing them round-robin. Everything runs as this
# script's own processes on 127.0.0.1, with data, configuration and logs under a runtime directory
# (not as system services). See docs/deployment.md.
#
#   deploy/scale-out.sh start    install missing Debian packages, start everything, wait until healthy
#   deploy/scale-out.sh stop     stop everything (safe to run twice); data and logs stay
#   deploy/scale-out.sh status   what is running, and the URLs
#   deploy/scale-out.sh clean    stop, then delete the runtime directory (conversations, secrets, logs)
#   deploy/scale-out.sh restart-replica N   start Rasa replica N again (e.g. after it was killed)
#
# Settings (environment):
#   SCALE_OUT_DIR           runtime directory             default var/scale-out
#   SCALE_OUT_PG_PORT       PostgreSQL                    default 15432
#   SCALE_OUT_REDIS_PORT    Redis                         default 16379
#   SCALE_OUT_ACTION_PORT   action server                 default 15055
#   SCALE_OUT_RASA_PORTS    one port per Rasa replica     default "15005 15006"
#   SCALE_OUT_NGINX_PORT    nginx (the public entry)      default 18080
#   SCALE_OUT_TIMEOUT       seconds to wait for health    default 420
#   SCALE_OUT_LOCK_STORE    the lock store type (LOCK_STORE_TYPE)  default stores.redis_lock_store.AtomicRedisLockStore
#                           (Rasa's own `redis` or `in_memory` only to see what goes wrong: docs/deployment.md)
#   SCALE_OUT_NGINX_RATE, SCALE_OUT_NGINX_BURST, SCALE_OUT_NGINX_CONNECTIONS
#                           nginx's limits per client address   default 20r/s, 60, 40
#   MODEL                   the trained model             default models/plantar-bot.tar.gz
# Passwords and tokens are generated on first start and kept in $SCALE_OUT_DIR/secrets; the URLs, the
# HTTP API token and a pgpass file for psql are in $SCALE_OUT_DIR/stack.env (mode 600). Files the script
# writes are readable by their owner only (umask 077); the runtime and log directories are 0711, because
# PostgreSQL runs as user postgres and must reach its data and log. No token is put on a command line.
set -euo pipefail
umask 077
cd "$(dirname "$0")/.."
PROJECT_ROOT=$(pwd)

command=${1:-}
RUNTIME=$(realpath -m "${SCALE_OUT_DIR:-var/scale-out}")
PG_PORT=${SCALE_OUT_PG_PORT:-15432}
REDIS_PORT=${SCALE_OUT_REDIS_PORT:-16379}
ACTION_PORT=${SCALE_OUT_ACTION_PORT:-15055}
read -r -a RASA_PORTS <<< "${SCALE_OUT_RASA_PORTS:-15005 15006}"
NGINX_PORT=${SCALE_OUT_NGINX_PORT:-18080}
TIMEOUT=${SCALE_OUT_TIMEOUT:-420}
LOCK_STORE=${SCALE_OUT_LOCK_STORE:-stores.redis_lock_store.AtomicRedisLockStore}
NGINX_RATE=${SCALE_OUT_NGINX_RATE:-20r/s}
NGINX_BURST=${SCALE_OUT_NGINX_BURST:-60}
NGINX_CONNECTIONS=${SCALE_OUT_NGINX_CONNECTIONS:-40}
BIN=$(realpath -m -s "${VENV:-.venv}")/bin
MODEL_PATH=$(realpath -m "${MODEL:-models/plantar-bot.tar.gz}")
SUDO=()

SECRETS=$RUNTIME/secrets
LOGS=$RUNTIME/logs
RUN=$RUNTIME/run
PG_DATA=$RUNTIME/postgres/data
DB_NAME=rasa
DB_USER=rasa

log() { echo "[scale-out] $*"; }
die() { echo "[scale-out] ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------- packages

pg_bindir() {
  # Debian keeps PostgreSQL's server programs per major version; take the newest installed.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

apt_get() {
  # apt-get as root (SUDO when not root). Another apt (e.g. another job on this machine) may hold
  # dpkg's lock: wait for it, then retry.
  local attempt output
  for attempt in $(seq 1 60); do
    if output=$("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 "$@" 2>&1); then
      return 0
    fi
    if grep -qiE 'could not get lock|unable to (acquire|lock)|is another process using it' <<< "$output"; then
      log "apt is busy (another apt or dpkg holds its lock); retrying in 10 s (attempt $attempt)"
      sleep 10
      continue
    fi
    echo "$output" | tail -n 30 >&2
    return 1
  done
  die "apt stayed locked for too long"
}

install_packages() {
  local missing=()
  pg_bindir > /dev/null || missing+=(postgresql)
  command -v redis-server > /dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
  nginx_bin > /dev/null || missing+=(nginx)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2> /dev/null || die "missing Debian packages: ${missing[*]} (install them: sudo apt-get install ${missing[*]})"
    SUDO=(sudo -n)
  fi
  log "installing from Debian: ${missing[*]} ..."
  local started=$SECONDS
  apt_get update
  apt_get install -y --no-install-recommends "${missing[@]}"
  log "installed ${missing[*]} in $((SECONDS - started)) s"
}

# --------------------------------------------------------------------------------------------- processes

# A pid file's process, if it is still the process we started (pids get reused).
running_pid() {
  local pidfile=$1 marker=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(head -n 1 "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2> /dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "$marker" || return 1
  echo "$pid"
}

stop_pid() {
  # Ask nicely (signal), wait, then insist; remove the pid file.
  local name=$1 pidfile=$2 marker=$3 signal=${4:-TERM} pid
  if pid=$(running_pid "$pidfile" "$marker"); then
    log "stopping $name (pid $pid)"
    kill "-$signal" "$pid" 2> /dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2> /dev/null; then
      log "$name did not stop within 30 s: killing it"
      kill -KILL "$pid" 2> /dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

as_postgres() {
  # PostgreSQL refuses to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

SECRET_NAMES=(postgres-password rasa-db-password redis-password rasa-token action-token privacy-secret)

make_secrets() {
  # Random secrets, made once (before anything runs in the background) and kept; hex, so they are safe
  # in URLs and configuration files.
  local name
  (umask 077; mkdir -p "$SECRETS")
  for name in "${SECRET_NAMES[@]}"; do
    [ -s "$SECRETS/$name" ] \
      || (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_hex(24))' > "$SECRETS/$name")
  done
  # For curl: the HTTP API's token as a header read from a file (-H @file), never as an argument.
  (umask 077; echo "Authorization: Bearer $(secret rasa-token)" > "$SECRETS/rasa-auth-header")
}

secret() { cat "$SECRETS/$1"; }

wait_for() {
  # wait_for <what> <log> <pid or ""> <command...>: until the command succeeds, the process dies or time is up.
  local what=$1 logfile=$2 pid=$3 deadline=$((SECONDS + TIMEOUT))
  shift 3
  until "$@" > /dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2> /dev/null; then
      echo "[scale-out] $what exited; last lines of $logfile:" >&2; tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "[scale-out] $what not healthy within ${TIMEOUT} s; last lines of $logfile:" >&2
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    sleep 1
  done
}

start_postgres() {
  local bindir super_pw rasa_pw
  bindir=$(pg_bindir) || die "PostgreSQL is not installed"
  super_pw=$(secret postgres-password)
  rasa_pw=$(secret rasa-db-password)
  mkdir -p "$RUNTIME/postgres"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$RUNTIME/postgres"
    runuser -u postgres -- test -x "$RUNTIME/postgres" \
      || die "user postgres cannot reach $RUNTIME (a parent directory is not world-executable)"
  fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "creating a PostgreSQL cluster in $PG_DATA"
    local pwfile=$RUNTIME/postgres/initdb-password
    (umask 077; echo "$super_pw" > "$pwfile")
    [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
    as_postgres "$bindir/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C \
      --auth-host=scram-sha-256 --auth-local=peer > "$LOGS/postgres-initdb.log" 2>&1 \
      || { rm -f "$pwfile"; tail -n 20 "$LOGS/postgres-initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    # TCP on loopback only, no Unix socket (its path could be too long); small, for a test machine.
    cat >> "$PG_DATA/postgresql.conf" <<EOF

# deploy/scale-out.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 60
shared_buffers = 64MB
EOF
  fi
  touch "$LOGS/postgres.log"
  [ "$(id -u)" = 0 ] && chown postgres: "$LOGS/postgres.log"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_postgres "$bindir/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -o "-p $PG_PORT" -w -t 60 start > /dev/null \
    || { tail -n 20 "$LOGS/postgres.log" >&2; die "PostgreSQL did not start"; }
  head -n 1 "$PG_DATA/postmaster.pid" > "$RUN/postgres.pid"

  # psql and Rasa log in with passwords over TCP; pgpass keeps them off command lines.
  (umask 077; printf '127.0.0.1:%s:*:postgres:%s\n127.0.0.1:%s:%s:%s:%s\n' \
    "$PG_PORT" "$super_pw" "$PG_PORT" "$DB_NAME" "$DB_USER" "$rasa_pw" > "$SECRETS/pgpass")
  PGPASSFILE=$SECRETS/pgpass psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    > /dev/null <<SQL
SELECT 'CREATE ROLE $DB_USER LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER')\gexec
ALTER ROLE $DB_USER PASSWORD '$rasa_pw';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
}

start_redis() {
  local redis_pw
  redis_pw=$(secret redis-password)
  mkdir -p "$RUNTIME/redis"
  (umask 077; cat > "$RUNTIME/redis/redis.conf" <<EOF
# deploy/scale-out.sh: conversation locks only, nothing to persist.
bind 127.0.0.1
port $REDIS_PORT
requirepass $redis_pw
protected-mode yes
daemonize yes
pidfile $RUN/redis.pid
logfile $LOGS/redis.log
dir $RUNTIME/redis
save ""
appendonly no
EOF
  )
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server "$RUNTIME/redis/redis.conf"
  wait_for Redis "$LOGS/redis.log" "" env REDISCLI_AUTH="$redis_pw" \
    bash -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG"
}

start_action_server() {
  log "starting the action server on 127.0.0.1:$ACTION_PORT"
  # The request-size limit is for the public Rasa server only: the action server receives whole
  # trackers (see scripts/run.sh).
  env -u SANIC_REQUEST_MAX_SIZE SANIC_HOST=127.0.0.1 ACTION_SERVER_TOKEN="$(secret action-token)" \
    setsid "$BIN/python" -m actions --actions actions --port "$ACTION_PORT" \
      --logging-config_file deploy/action-server-logging.yml \
    > "$LOGS/action-server.log" 2>&1 < /dev/null &
  echo $! > "$RUN/action-server.pid"
}

start_rasa_replica() {
  local n=$1 port=$2
  log "starting Rasa replica $n on 127.0.0.1:$port"
  env TRACKER_STORE_URL="postgresql://$DB_USER:$(secret rasa-db-password)@127.0.0.1:$PG_PORT/$DB_NAME" \
    LOCK_STORE_TYPE="$LOCK_STORE" REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
    REDIS_PASSWORD="$(secret redis-password)" REDIS_DB=1 \
    ACTION_ENDPOINT_URL="http://127.0.0.1:$ACTION_PORT/webhook" ACTION_SERVER_TOKEN="$(secret action-token)" \
    SANIC_REQUEST_MAX_SIZE="${SANIC_REQUEST_MAX_SIZE:-65536}" TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false \
    RASA_TOKEN="$(secret rasa-token)" PRIVACY_SECRET="$(secret privacy-secret)" \
    RETENTION_DAYS="${RETENTION_DAYS:-30}" SANIC_PROXIES_COUNT=1 \
    setsid "$BIN/python" scripts/rasa_server.py run --model "$MODEL_PATH" --endpoints endpoints.yml \
      --credentials credentials.yml --enable-api --cors "${CORS_ORIGINS:-http://localhost:8080}" \
      --interface 127.0.0.1 --port "$port" \
    >> "$LOGS/rasa-$n.log" 2>&1 < /dev/null &
  echo $! > "$RUN/rasa-$n.pid"
}

start_nginx() {
  local servers="" port user_line=""
  for port in "${RASA_PORTS[@]}"; do servers+="        server 127.0.0.1:$port;"$'\n'; done
  mkdir -p "$RUNTIME/nginx/tmp"
  # Workers drop root; they only need the temporary directories.
  if [ "$(id -u)" = 0 ]; then user_line="user nobody nogroup;"; chown nobody: "$RUNTIME/nginx/tmp"; fi
  "$BIN/python" - "$PROJECT_ROOT/deploy/nginx.conf.template" "$RUNTIME/nginx/nginx.conf" <<PY
import sys
text = open(sys.argv[1]).read()
for key, value in {"RUNTIME": "$RUNTIME", "NGINX_PORT": "$NGINX_PORT", "USER_LINE": "$user_line",
                   "LIMIT_RATE": "$NGINX_RATE", "LIMIT_BURST": "$NGINX_BURST",
                   "LIMIT_CONNECTIONS": "$NGINX_CONNECTIONS",
                   "UPSTREAM_SERVERS": """${servers%$'\n'}"""}.items():
    text = text.replace("@" + key + "@", value)
open(sys.argv[2], "w").write(text)
PY
  local nginx
  nginx=$(nginx_bin) || die "nginx is not installed"
  "$nginx" -t -q -p "$RUNTIME/nginx" -e "$LOGS/nginx-error.log" -c "$RUNTIME/nginx/nginx.conf" \
    || die "the rendered nginx configuration is invalid: $RUNTIME/nginx/nginx.conf"
  log "starting nginx on 127.0.0.1:$NGINX_PORT, round-robin over ${#RASA_PORTS[@]} replicas"
  "$nginx" -p "$RUNTIME/nginx" -e "$LOGS/nginx-error.log" -c "$RUNTIME/nginx/nginx.conf"
}

write_stack_env() {
  local urls="" port
  for port in "${RASA_PORTS[@]}"; do urls+="http://127.0.0.1:$port "; done
  (umask 077; cat > "$RUNTIME/stack.env" <<EOF
# Written by deploy/scale-out.sh start: how to reach this stack (secret: mode 600).
NGINX_URL=http://127.0.0.1:$NGINX_PORT
RASA_URLS="${urls% }"
ACTION_URL=http://127.0.0.1:$ACTION_PORT
RASA_TOKEN=$(secret rasa-token)
PGHOST=127.0.0.1
PGPORT=$PG_PORT
PGDATABASE=$DB_NAME
PGUSER=$DB_USER
PGPASSFILE=$SECRETS/pgpass
REDIS_HOST=127.0.0.1
REDIS_PORT=$REDIS_PORT
REDISCLI_AUTH=$(secret redis-password)
LOCK_STORE_TYPE=$LOCK_STORE
EOF
  )
}

anything_running() {
  local pidfile
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill -0 "$(head -n 1 "$pidfile")" 2> /dev/null && return 0
  done
  return 1
}

start() {
  [ -f "$MODEL_PATH" ] || die "no trained model at $MODEL_PATH (run make train)"
  [ -x "$BIN/rasa" ] || die "no Rasa in $BIN (run make setup)"
  [ ${#RASA_PORTS[@]} -ge 1 ] || die "SCALE_OUT_RASA_PORTS is empty"
  mkdir -p "$RUNTIME" "$LOGS" "$RUN"
  chmod 711 "$RUNTIME" "$LOGS"
  chmod 700 "$RUN"
  if [ "$(id -u)" = 0 ] && [[ "$RUNTIME" == "$PROJECT_ROOT/var/"* ]]; then
    chmod o+x "$PROJECT_ROOT/var"  # scripts/run.sh keeps var/ 0700; PostgreSQL (user postgres) must pass
  fi
  if anything_running; then die "the stack in $RUNTIME is already (partly) running: run '$0 stop' first"; fi
  install_packages
  make_secrets
  local started=$SECONDS
  # Anything that fails from here stops what was started, so no half stack is left behind.
  trap 'echo "[scale-out] start failed: stopping what was started" >&2; stop' EXIT
  start_postgres
  start_redis
  start_action_server
  local n=0 port
  for port in "${RASA_PORTS[@]}"; do n=$((n + 1)); start_rasa_replica "$n" "$port"; done
  start_nginx
  write_stack_env

  log "waiting for the action server and ${#RASA_PORTS[@]} Rasa replicas (about a minute on 2 cores) ..."
  wait_for "the action server" "$LOGS/action-server.log" "$(cat "$RUN/action-server.pid")" \
    curl -fsS "http://127.0.0.1:$ACTION_PORT/health"
  n=0
  for port in "${RASA_PORTS[@]}"; do
    n=$((n + 1))
    wait_for_replica "$n" "$port"
  done
  wait_for nginx "$LOGS/nginx-error.log" "" curl -fsS "http://127.0.0.1:$NGINX_PORT/webhooks/rest/"
  trap - EXIT
  log "healthy after $((SECONDS - started)) s: $(status_line)"
  log "settings and token for clients: $RUNTIME/stack.env"
}

wait_for_replica() {
  local n=$1 port=$2
  wait_for "Rasa replica $n" "$LOGS/rasa-$n.log" "$(cat "$RUN/rasa-$n.pid")" \
    bash -c "curl -fsS -H @'$SECRETS/rasa-auth-header' 'http://127.0.0.1:$port/status' | grep -q '\"model_file\"'"
}

restart_replica() {
  local n=${1:?usage: $0 restart-replica N} port
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le ${#RASA_PORTS[@]} ] || die "no replica $n"
  port=${RASA_PORTS[$((n - 1))]}
  stop_pid "rasa-$n" "$RUN/rasa-$n.pid" "rasa_server.py run"
  start_rasa_replica "$n" "$port"
  wait_for_replica "$n" "$port"
  log "replica $n is up again on 127.0.0.1:$port"
}

stop() {
  local pidfile n
  # Entry point first, database last, so nothing is cut off mid-write.
  stop_pid nginx "$RUN/nginx.pid" nginx QUIT
  for pidfile in "$RUN"/rasa-*.pid; do
    [ -e "$pidfile" ] || continue
    n=$(basename "$pidfile" .pid)
    stop_pid "$n" "$pidfile" "rasa_server.py run"
  done
  stop_pid "action server" "$RUN/action-server.pid" "-m actions"
  stop_pid Redis "$RUN/redis.pid" redis-server
  local bindir
  if [ -f "$PG_DATA/postmaster.pid" ] && bindir=$(pg_bindir) \
      && as_postgres "$bindir/pg_ctl" -D "$PG_DATA" status > /dev/null 2>&1; then
    log "stopping PostgreSQL"
    as_postgres "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop > /dev/null \
      || stop_pid PostgreSQL "$RUN/postgres.pid" postgres INT
  fi
  rm -f "$RUN/postgres.pid"
  log "stopped"
}

status_line() {
  local parts=() pidfile name
  for pidfile in "$RUN"/postgres.pid "$RUN"/redis.pid "$RUN"/action-server.pid "$RUN"/rasa-*.pid "$RUN"/nginx.pid; do
    [ -e "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    if kill -0 "$(head -n 1 "$pidfile")" 2> /dev/null; then parts+=("$name up"); else parts+=("$name DOWN"); fi
  done
  [ ${#parts[@]} -gt 0 ] && echo "${parts[*]}" || echo "nothing running"
}

status() {
  log "$RUNTIME: $(status_line)"
  if [ -f "$RUNTIME/stack.env" ]; then
    grep -E '^(NGINX_URL|RASA_URLS|ACTION_URL|PGPORT|REDIS_PORT|LOCK_STORE_TYPE)=' "$RUNTIME/stack.env" | sed 's/^/  /'
  fi
  anything_running
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) stop; log "removing $RUNTIME"; rm -rf "$RUNTIME" ;;
  restart-replica) restart_replica "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|clean|restart-replica N" >&2; exit 2 ;;
esac
