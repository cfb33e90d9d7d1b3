#!/usr/bin/env bash
# Runs a command with moto's server (a real DynamoDB- and Secrets Manager-compatible server) on a
# free loopback port, then stops it:   infra/with-moto.sh cargo test --workspace
# moto is installed from PyPI into infra/.venv on first use. Tests find it through
# COSELL_TEST_DYNAMODB_URL and fail loudly when it is not set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/infra/.venv"
moto_version="5.2.5"

if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
  echo "with-moto: installing moto[server]==$moto_version into infra/.venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
fi

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$root/target/moto.log"
mkdir -p "$root/target"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
# Stop the server with the command: SIGTERM, a few seconds' grace, then SIGKILL. A server left
# behind (1 GB or more, busy) would share the machine with the next run.
stop_moto() {
  kill "$moto_pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$moto_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
}
trap stop_moto EXIT
# A signal ends this script through exit, so the EXIT trap stops the server then too.
trap 'exit 143' TERM
trap 'exit 130' INT

for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "with-moto: moto_server exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

export COSELL_TEST_DYNAMODB_URL="http://127.0.0.1:$port"

echo "with-moto: moto_server $moto_version on $COSELL_TEST_DYNAMODB_URL" >&2
"$@"
