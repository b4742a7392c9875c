# Sourced by bench scripts that measure chat turns beside something else (search.sh,
# analytics.sh): opens 16 sessions, then `turns LABEL` runs wrk at c=16 over them with
# bench/turn.lua and prints turns/s and p99. Needs PORT, TOKEN, OUT, DURATION and a name
# for its files in TURNS_NAME.

open_turn_sessions() {
  : > "$OUT/$TURNS_NAME-sessions.txt"
  for i in $(seq 1 16); do
    curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/operations-chat" -H 'content-type: application/json' \
      -d "{\"message\": \"What's most urgent today? ($i)\"}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])' >> "$OUT/$TURNS_NAME-sessions.txt"
  done
}

turns() {
  OPSCHAT_BENCH_SESSIONS="$OUT/$TURNS_NAME-sessions.txt" OPSCHAT_BENCH_TOKEN="$TOKEN" \
    wrk -t2 -c16 -d"${DURATION}s" --latency -s bench/turn.lua "http://127.0.0.1:$PORT" > "$OUT/$TURNS_NAME-wrk.txt"
  echo "turns c=16 $1: $(awk '/Requests\/sec/ {print $2}' "$OUT/$TURNS_NAME-wrk.txt")/s p99 $(awk '$1=="99%" {print $2}' "$OUT/$TURNS_NAME-wrk.txt")"
}
