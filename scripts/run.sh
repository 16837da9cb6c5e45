#!/usr/bin/env bash
# Start the action server, wait until it answers, then run the Rasa server in the foreground:
#   scripts/run.sh chat    rasa shell (talk to the bot in this terminal)
#   scripts/run.sh serve   rasa run with the REST and socketio channels and the HTTP API (needs RASA_TOKEN)
# The action server is stopped when the Rasa server exits. Settings come from the environment (Makefile).
#
# Files and ports (docs/privacy.md): everything this writes under VAR_DIR (default var/) is readable by its
# owner only (the directory 0700, conversations and logs 0600); both servers listen on 127.0.0.1 unless
# INTERFACE (Rasa) or ACTION_HOST (action server) say otherwise; the HTTP API's token stays in the
# environment (RASA_TOKEN), never on a command line (scripts/rasa_server.py).
set -euo pipefail
umask 077
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/run.sh chat|serve}
bin=${VENV:-.venv}/bin
model=${MODEL:-models/plantar-bot.tar.gz}
action_port=${ACTION_PORT:-5055}
interface=${INTERFACE:-127.0.0.1}
var_dir=${VAR_DIR:-var}
mkdir -p "$var_dir"
# A var/ made before this version may be world-readable; other users lose read and write (deploy/scale-out.sh
# may have given them traverse, +x, which its PostgreSQL needs).
chmod go-rw "$var_dir"

if [ "$mode" = serve ] && [ -z "${RASA_TOKEN:-}" ]; then
  echo "RASA_TOKEN is not set. The HTTP API needs a token, e.g.: export RASA_TOKEN=\$(openssl rand -hex 16)" >&2
  exit 2
fi
export RASA_TOKEN=${RASA_TOKEN:-}

# The key of the pseudonyms and web sessions (channels/identity.py): kept in var/ so that conversations
# continue after a restart.
if [ -z "${PRIVACY_SECRET:-}" ]; then
  if [ ! -s "$var_dir/privacy-secret" ]; then
    "$bin/python" -c 'import secrets; print(secrets.token_hex(32))' > "$var_dir/privacy-secret"
  fi
  PRIVACY_SECRET=$(cat "$var_dir/privacy-secret")
fi
export PRIVACY_SECRET

# The action server only answers the Rasa server: a shared token (random for this run unless set; the
# Rasa server sends it, see endpoints.yml), and it listens on ACTION_HOST (loopback unless set).
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN=$("$bin/python" -c 'import secrets; print(secrets.token_hex(16))')
fi
export ACTION_SERVER_TOKEN
# SANIC_REQUEST_MAX_SIZE limits what the public Rasa server accepts; the action server receives whole
# trackers from it, which outgrow that limit in long conversations, so it keeps Sanic's default. Its
# logging config keeps the actions' INFO lines (red-flag signs, subjects) out of its log.
env -u SANIC_REQUEST_MAX_SIZE SANIC_HOST="${ACTION_HOST:-127.0.0.1}" \
  "$bin/python" -m actions --actions actions --port "$action_port" \
  --logging-config_file deploy/action-server-logging.yml >> "$var_dir/action-server.log" 2>&1 &
action_pid=$!
# Stopped and waited for (at most 10 s, then killed), so that nothing of this run is left listening once
# `make chat` or `make serve` has returned.
stop_action_server() {
  kill "$action_pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$action_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$action_pid" 2>/dev/null || true
}
trap stop_action_server EXIT
if [ "$mode" = chat ]; then
  echo "Starting the bot, this takes about 15 seconds (its log: $var_dir/chat.log) ..."
else
  echo "Starting the action server on port $action_port (log: $var_dir/action-server.log) ..."
fi
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$action_port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $action_pid 2>/dev/null; then
    echo "The action server failed to start:" >&2; tail -n 20 "$var_dir/action-server.log" >&2; exit 1
  fi
  sleep 0.5
done

read -r -a cors <<< "${CORS_ORIGINS:-http://localhost:8080}"
case "$mode" in
  chat)
    # The screen is the chat's: the shell's log lines and the deprecation warnings of Rasa's dependencies
    # (stderr) go to $var_dir/chat.log, shown only if the bot fails. Its own server serves this terminal only.
    # Rasa exits with status 0 when its port is taken, so that is checked first, and its log after.
    port=${RASA_PORT:-5005}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "Port $port is already in use (is the bot running in another terminal?). Stop that, or choose" \
           "another port, e.g.: make chat RASA_PORT=$((port + 1))" >&2
      exit 2
    fi
    status=0
    "$bin/rasa" shell --model "$model" --endpoints endpoints.yml --interface "$interface" --port "$port" \
      2>"$var_dir/chat.log" || status=$?
    if [ "$status" != 0 ] || grep -q "Unable to start server" "$var_dir/chat.log"; then
      echo "The bot stopped with an error. The end of $var_dir/chat.log:" >&2
      tail -n 20 "$var_dir/chat.log" >&2
      exit 1
    fi ;;
  serve)
    "$bin/python" scripts/rasa_server.py run --model "$model" --endpoints endpoints.yml \
      --credentials credentials.yml --interface "$interface" --port "${RASA_PORT:-5005}" --enable-api \
      --log-file "$var_dir/rasa-server.log" --cors "${cors[@]}" ;;
  *) echo "unknown mode: $mode (chat or serve)" >&2; exit 2 ;;
esac
