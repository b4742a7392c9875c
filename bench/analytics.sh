#!/usr/bin/env bash
# Analytics at scale: 200,000 messages over 180 days (bench/seed_archive.py: a model mix with
# tokens, cost, latency and outcomes per reply), restored into SQLite and PostgreSQL; every
# analytics endpoint timed over 7, 30, 90 and 180 days (bench/analytics_load.py), then chat
# turns per second while the analytics load runs and without it.
#
#   bash bench/analytics.sh
#   N=50000 DURATION=10 DBS=sqlite bash bench/analytics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-10}
PORT=${PORT:-18099}
PG=${OPSCHAT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=bench/out
TURNS_NAME=analytics
. bench/turns.sh
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
BIN=${BIN:-}
if [ -z "$BIN" ]; then cargo build --release --quiet; BIN=./target/release/opschat; fi
TOKEN=$(python3 bench/seed_archive.py "$N" 2>&1 > "$OUT/analytics-seed.jsonl")
# The seeded history ends on 2026-11-24: the server's "today".
export OPSCHAT_NOW=2026-11-24T18:00:00Z

for DB in ${DBS:-sqlite postgres}; do
  if [ "$DB" = sqlite ]; then
    rm -f "$OUT"/analytics.db*; URL="sqlite:$OUT/analytics.db"
  else
    psql "$PG" -qc "drop database if exists opschat_analytics with (force)" -c "create database opschat_analytics"
    URL="${PG%/*}/opschat_analytics"
  fi
  DATABASE_URL="$URL" "$BIN" restore "$OUT/analytics-seed.jsonl" >/dev/null
  echo "== $DB: $N messages"
  OPSCHAT_LOG=warn DATABASE_URL="$URL" OPSCHAT_BIND=127.0.0.1:$PORT "$BIN" serve &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  python3 bench/analytics_load.py "http://127.0.0.1:$PORT" "$TOKEN" 2 1 >/dev/null   # warm up
  python3 bench/analytics_load.py "http://127.0.0.1:$PORT" "$TOKEN" "$ROUNDS" "$DURATION"
  open_turn_sessions
  turns "alone"
  python3 bench/analytics_load.py "http://127.0.0.1:$PORT" "$TOKEN" 0 "$DURATION" > "$OUT/analytics-during.txt" &
  LOAD=$!
  turns "while 4 clients read analytics"
  wait $LOAD; tail -1 "$OUT/analytics-during.txt"
  kill $PID; wait $PID 2>/dev/null || true
done
