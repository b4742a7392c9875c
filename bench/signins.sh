#!/usr/bin/env bash
# Memory after sign-ins: RSS of an idle server on a fresh SQLite file, then after the first
# account's set-up and N sign-ins (each an argon2id hash of 19 MiB on a blocking thread).
#
#   cargo build --release && bash bench/signins.sh
#   N=20 BIN=/path/to/opschat bash bench/signins.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/opschat}
N=${N:-6}
PORT=${PORT:-18556}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
DATABASE_URL="sqlite://$dir/opschat.db" OPSCHAT_BIND="127.0.0.1:$PORT" OPSCHAT_LOG=warn \
  "$BIN" serve >"$dir/log" 2>&1 &
pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
body='{"username":"bench","password":"bench password"}'
echo "idle RSS: $(rss) KiB"
curl -sf -o /dev/null -X POST -H 'content-type: application/json' -d "$body" "$base/api/auth/setup"
echo "after set-up: $(rss) KiB"
for _ in $(seq 1 "$N"); do
  curl -sf -o /dev/null -X POST -H 'content-type: application/json' -d "$body" "$base/api/auth/login"
done
sleep 1
echo "after $N sign-ins: $(rss) KiB"
