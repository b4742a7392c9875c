#!/usr/bin/env bash
# Search and export at scale: 200,000 messages over 180 days (bench/seed_archive.py, loaded with
# `opschat restore`), on SQLite and on PostgreSQL. Reports search latency (p50/p95/p99 at
# concurrency 1 and 4), the memory an export of everything takes, and chat turns per second
# with and without the search index.
#
#   bash bench/search.sh                  # both databases
#   N=50000 DURATION=10 bash bench/search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
DURATION=${DURATION:-15}
PORT=${PORT:-18098}
PG=${OPSCHAT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=bench/out
TURNS_NAME=search
. bench/turns.sh
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
BIN=${BIN:-}
if [ -z "$BIN" ]; then cargo build --release --quiet; BIN=./target/release/opschat; fi
TOKEN=$(python3 bench/seed_archive.py "$N" 2>&1 > "$OUT/seed.jsonl")

for DB in ${DBS:-sqlite postgres}; do
  if [ "$DB" = sqlite ]; then
    rm -f "$OUT"/search.db*; URL="sqlite:$OUT/search.db"
  else
    psql "$PG" -qc "drop database if exists opschat_search with (force)" -c "create database opschat_search"
    URL="${PG%/*}/opschat_search"
  fi
  start=$(date +%s.%N)
  DATABASE_URL="$URL" "$BIN" restore "$OUT/seed.jsonl" >/dev/null
  echo "== $DB: restored $N messages in $(echo "$(date +%s.%N) - $start" | bc) s"
  OPSCHAT_LOG=warn DATABASE_URL="$URL" OPSCHAT_BIND=127.0.0.1:$PORT "$BIN" serve &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  python3 bench/search_load.py "http://127.0.0.1:$PORT" "$TOKEN" 3 1 >/dev/null   # warm up
  python3 bench/search_load.py "http://127.0.0.1:$PORT" "$TOKEN" "$DURATION" 1
  python3 bench/search_load.py "http://127.0.0.1:$PORT" "$TOKEN" "$DURATION" 4
  # Export everything over HTTP: time, size, and the server's peak memory before and after.
  hwm() { awk '/^VmHWM/ {print $2}' "/proc/$PID/status"; }
  before=$(hwm); t0=$(date +%s.%N)
  bytes=$(curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/operations-chat/export?format=json" | wc -c)
  echo "export json: $bytes bytes in $(echo "$(date +%s.%N) - $t0" | bc) s; server peak RSS $before -> $(hwm) KiB"
  # Chat turns in 16 sessions, with the search index, then without it.
  open_turn_sessions
  turns "with the index"
  if [ "$DB" = sqlite ]; then
    # The server's checkpointer may hold the write lock for a moment: wait for it.
    sqlite3 -cmd ".timeout 10000" "$OUT/search.db" "drop trigger chat_messages_fts_insert; drop trigger chat_messages_fts_update; drop trigger chat_messages_fts_delete;"
  else
    psql "$URL" -qc "drop index chat_messages_search" -c "alter table chat_messages drop column search, drop column search_pairs"
  fi
  turns "without it"
  kill $PID; wait $PID 2>/dev/null || true
done
