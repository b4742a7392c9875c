#!/usr/bin/env bash
# Load benchmark: chat turns per second, latency p50/p99 and server CPU and memory, at
# concurrency 1, 16 and 64, against the release binary on PostgreSQL with the offline analyst.
#
#   bash bench/run.sh                 # 20 s per level
#   DURATION=60s bash bench/run.sh
#   BENCH_DB=sqlite bash bench/run.sh # the same on the embedded SQLite file
#   BIN=/path/to/opschat bash bench/run.sh  # another build (an older one without accounts works too)
#   MODES=new bash bench/run.sh       # only turns that start a session (default: continuing new)
#   INSTANCES=2 bash bench/run.sh     # two instances on the one PostgreSQL database, half the
#                                     # connections each (CPU and RSS are then the sum of both)
#
# On PostgreSQL it then runs pgbench with only a turn's own writes (bench/turn_writes.sql) on the
# same database at each level and prints opschat's turns/s as a ratio to it.
#
# Every turn is authenticated with an API token, as a script would be (the first account is
# created through the set-up endpoint).
# Needs wrk (Debian package `wrk`, installed if missing) and PostgreSQL at
# $OPSCHAT_BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres); PG_PARAMS=sslmode=disable
# measures without the TLS that sqlx negotiates by default.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s}
LEVELS=${LEVELS:-"1 16 64"}
MODES=${MODES:-"continuing new"}
PORT=${PORT:-18099}
PG=${OPSCHAT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=bench/out
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=./target/release/opschat
fi

if [ "${BENCH_DB:-postgres}" = sqlite ]; then
  rm -f "$OUT"/bench.db*
  DB_URL="sqlite:$OUT/bench.db"
else
  psql "$PG" -qc "drop database if exists opschat_bench with (force)" -c "create database opschat_bench"
  DB_URL="${PG%/*}/opschat_bench${PG_PARAMS:+?$PG_PARAMS}"
fi

OPSCHAT_LOG=warn DATABASE_URL="$DB_URL" OPSCHAT_BIND=127.0.0.1:$PORT "$BIN" serve &
PID=$!
PIDS=$PID
trap 'kill $PIDS 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
export OPSCHAT_BENCH_SECOND=
if [ "${INSTANCES:-1}" = 2 ]; then
  [ "${BENCH_DB:-postgres}" = postgres ] || { echo "INSTANCES=2 needs PostgreSQL" >&2; exit 2; }
  OPSCHAT_LOG=warn DATABASE_URL="$DB_URL" OPSCHAT_BIND=127.0.0.1:$((PORT + 1)) "$BIN" serve &
  PIDS="$PIDS $!"
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.2; done
  OPSCHAT_BENCH_SECOND=127.0.0.1:$((PORT + 1))
fi

# The first account (which gets the demo restaurant) and an API token for the load.
export OPSCHAT_BENCH_TOKEN=
AUTH=()
if curl -sf "http://127.0.0.1:$PORT/api/auth/state" >/dev/null; then
  curl -sf -c "$OUT/cookies.txt" "http://127.0.0.1:$PORT/api/auth/setup" -H 'content-type: application/json' \
    -d '{"username": "bench", "password": "bench password"}' >/dev/null
  OPSCHAT_BENCH_TOKEN=$(curl -sf -b "$OUT/cookies.txt" "http://127.0.0.1:$PORT/api/tokens" \
    -H 'content-type: application/json' -H "origin: http://127.0.0.1:$PORT" -d '{"name": "bench"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  AUTH=(-H "authorization: Bearer $OPSCHAT_BENCH_TOKEN")
fi

# 64 sessions, each started with one turn, so that load spreads like real users do.
: > "$OUT/sessions.txt"
for i in $(seq 1 64); do
  curl -sf "${AUTH[@]}" "http://127.0.0.1:$PORT/api/operations-chat" -H 'content-type: application/json' \
    -d "{\"message\": \"What's most urgent today? ($i)\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])' >> "$OUT/sessions.txt"
done

sum_of() { local t=0 p; for p in $PIDS; do t=$((t + $("$@" "$p"))); done; echo "$t"; }
cpu_ticks() { sum_of eval_ticks; }
eval_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { sum_of status_kib VmRSS; }
hwm_kib() { sum_of status_kib VmHWM; }
status_kib() { awk -v k="^$1:" '$0 ~ k {print $2}' "/proc/$2/status"; }
HZ=$(getconf CLK_TCK)

echo "database: ${BENCH_DB:-postgres}  instances: ${INSTANCES:-1}  duration: $DURATION  idle RSS: $(rss_kib) KiB"
# The set-up's high-water mark is the sign-in's argon2id hashing (19 MiB for a moment), not the
# load: print it, then reset the mark (writing 5 to clear_refs; a kernel that refuses leaves the
# peak below including the set-up, which the line then says).
echo "peak RSS during set-up (the sign-in's password hashing, 64 first turns): $(hwm_kib) KiB"
HWM_RESET=1
for p in $PIDS; do echo 5 2>/dev/null > "/proc/$p/clear_refs" || HWM_RESET=0; done
declare -A RPS
for mode in $MODES; do
  # continuing: each turn continues one of the 64 sessions; new: each turn starts a session.
  export OPSCHAT_BENCH_NEW=$([ "$mode" = new ] && echo 1 || echo 0)
  printf '\n%-11s %-6s %10s %9s %9s %9s %14s %10s\n' mode conc turns/s p50 p90 p99 cpu/turn_us rss_KiB
  for c in $LEVELS; do
    t=$(( c < 2 ? 1 : 2 ))
    w="$OUT/wrk-$mode-c$c"
    before=$(cpu_ticks)
    wrk -t"$t" -c"$c" -d"$DURATION" --latency -s bench/turn.lua "http://127.0.0.1:$PORT" > "$w.txt" 2> "$w.err"
    after=$(cpu_ticks)
    reqs=$(awk '/requests in/ {print $1}' "$w.txt")
    rps=$(awk '/Requests\/sec/ {print $2}' "$w.txt")
    p50=$(awk '$1=="50%" {print $2}' "$w.txt")
    p90=$(awk '$1=="90%" {print $2}' "$w.txt")
    p99=$(awk '$1=="99%" {print $2}' "$w.txt")
    cpu_us=$(( (after - before) * 1000000 / HZ / (reqs > 0 ? reqs : 1) ))
    non200=$(grep -c unexpected "$w.err" || true)
    printf '%-11s %-6s %10s %9s %9s %9s %14s %10s\n' "$mode" "$c" "$rps" "$p50" "$p90" "$p99" "$cpu_us" "$(rss_kib)"
    RPS[$mode-$c]=$rps
    [ "$non200" = 0 ] || echo "  !! $non200 non-200 responses, see $w.err"
  done
  if [ "$mode" = continuing ]; then
    msgs=$(curl -sf "${AUTH[@]}" "http://127.0.0.1:$PORT/api/operations-chat/sessions?limit=100" | python3 -c 'import json,sys; print(sum(s["message_count"] for s in json.load(sys.stdin)["sessions"]))')
    echo "messages stored across the 64 sessions: $msgs"
  fi
done
if [ "$HWM_RESET" = 1 ]; then
  echo "peak RSS under load: $(hwm_kib) KiB"
else
  echo "peak RSS (set-up included: the kernel did not reset the mark): $(hwm_kib) KiB"
fi

# The yardstick on PostgreSQL: pgbench doing only a turn's own writes (bench/turn_writes.sql) on
# the same database at the same concurrency, with opschat idle. Each opschat figure as a ratio to
# it is comparable from run to run on a noisy machine.
if [ "${BENCH_DB:-postgres}" = postgres ] && command -v pgbench >/dev/null; then
  PGB_URL="${PG%/*}/opschat_bench"
  # The rows pgbench writes: for each question bench/turn.lua asks, the latest complete reply
  # opschat stored and its question, as they are (pair p: n = 1 the question, 2 the reply).
  psql "$PGB_URL" -q -c "DROP TABLE IF EXISTS bench_turn" -c "CREATE TABLE bench_turn AS
    WITH r AS (SELECT DISTINCT ON (q.content) r.id FROM chat_messages r
               JOIN chat_messages q ON q.id = r.reply_to
               WHERE r.role = 'assistant' AND r.status = 'complete' AND q.content NOT LIKE '%(%'
               ORDER BY q.content, r.created_at DESC),
         p AS (SELECT row_number() OVER (ORDER BY r.id) AS p, r.id FROM r)
    SELECT p.p, 1 AS n, q.* FROM p JOIN chat_messages a ON a.id = p.id
      JOIN chat_messages q ON q.id = a.reply_to
    UNION ALL SELECT p.p, 2, a.* FROM p JOIN chat_messages a ON a.id = p.id"
  PAIRS=$(psql "$PGB_URL" -Atc "SELECT count(*) FROM bench_turn WHERE n = 2")
  printf '\n%-11s %-6s %10s %12s %8s\n' mode conc turns/s pgbench_tps ratio
  for c in $LEVELS; do
    tps=$(pgbench -n -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T "${DURATION%s}" -D pairs="$PAIRS" -f bench/turn_writes.sql "$PGB_URL" 2>/dev/null \
      | awk '/^tps = / {print $3; exit}')
    for mode in $MODES; do
      ratio=$(awk -v a="${RPS[$mode-$c]}" -v b="$tps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
      printf '%-11s %-6s %10s %12s %8s\n' "$mode" "$c" "${RPS[$mode-$c]}" "$tps" "$ratio"
    done
  done
fi
