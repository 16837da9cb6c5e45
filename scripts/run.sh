#!/usr/bin/env bash
# Start the action server, wait until it answers, then run the Rasa server in the foreground:
#   scripts/run.sh chat    rasa shell (talk to the bot in this terminal)
#   scripts/run.sh serve   rasa run with the REST and socketio channels and the HTTP API (needs RASA_TOKEN)
# The action server is stopped when the Rasa server exits. Settings come from the environment (Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/run.sh chat|serve}
bin=${VENV:-.venv}/bin
model=${MODEL:-models/plantar-bot.tar.gz}
action_port=${ACTION_PORT:-5055}
mkdir -p var

if [ "$mode" = serve ] && [ -z "${RASA_TOKEN:-}" ]; then
  echo "RASA_TOKEN is not set. The HTTP API needs a token, e.g.: export RASA_TOKEN=\$(openssl rand -hex 16)" >&2
  exit 2
fi

# The action server only answers the Rasa server: a shared token (random for this run unless set; the
# Rasa server sends it, see endpoints.yml), and it listens on ACTION_HOST (loopback unless set).
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN=$("$bin/python" -c 'import secrets; print(secrets.token_hex(16))')
fi
export ACTION_SERVER_TOKEN
# SANIC_REQUEST_MAX_SIZE limits what the public Rasa server accepts; the action server receives whole
# trackers from it, which outgrow that limit in long conversations, so it keeps Sanic's default.
env -u SANIC_REQUEST_MAX_SIZE SANIC_HOST="${ACTION_HOST:-127.0.0.1}" \
  "$bin/python" -m actions --actions actions --port "$action_port" > var/action-server.log 2>&1 &
action_pid=$!
trap 'kill $action_pid 2>/dev/null || true' EXIT
if [ "$mode" = chat ]; then
  echo "Starting the bot, this takes about half a minute (its log: var/chat.log) ..."
else
  echo "Starting the action server on port $action_port (log: var/action-server.log) ..."
fi
for _ in $(seq 1 120); do
  if curl -fsS "http://localhost:$action_port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $action_pid 2>/dev/null; then
    echo "The action server failed to start:" >&2; tail -n 20 var/action-server.log >&2; exit 1
  fi
  sleep 0.5
done

case "$mode" in
  chat)
    # The screen is the chat's: the shell's log lines and the deprecation warnings of Rasa's dependencies
    # (stderr) go to var/chat.log, shown only if the bot fails. Its own server serves this terminal only.
    # Rasa exits with status 0 when its port is taken, so that is checked first, and its log after.
    port=${RASA_PORT:-5005}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "Port $port is already in use (is the bot running in another terminal?). Stop that, or choose" \
           "another port, e.g.: make chat RASA_PORT=$((port + 1))" >&2
      exit 2
    fi
    status=0
    "$bin/rasa" shell --model "$model" --endpoints endpoints.yml --interface 127.0.0.1 --port "$port" \
      2>var/chat.log || status=$?
    if [ "$status" != 0 ] || grep -q "Unable to start server" var/chat.log; then
      echo "The bot stopped with an error. The end of var/chat.log:" >&2
      tail -n 20 var/chat.log >&2
      exit 1
    fi ;;
  serve)
    "$bin/rasa" run --model "$model" --endpoints endpoints.yml --credentials credentials.yml \
      --port "${RASA_PORT:-5005}" --enable-api --auth-token "$RASA_TOKEN" \
      --cors ${CORS_ORIGINS:-http://localhost:8080} ;;
  *) echo "unknown mode: $mode (chat or serve)" >&2; exit 2 ;;
esac
