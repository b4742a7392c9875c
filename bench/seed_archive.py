#!/usr/bin/env python3
"""Writes an opschat archive (opschat.archive.v1) with one account, an API token and N chat
messages spread over 180 days, for `opschat restore`: the data set of the search and export
benchmarks. Deterministic (seeded), so runs are comparable.

    python3 bench/seed_archive.py 200000 > bench/out/seed.jsonl
"""
import hashlib, json, random, sys, uuid
from datetime import datetime, timedelta, timezone

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
TOKEN = "opc_benchsearchtokenbenchsearchtokenbenchsearch"
rng = random.Random(42)
WORDS = ("cooler walk-in door gasket fryer hood vents invoice hvac corrigo payroll overtime "
         "schedule staffing inventory bar count linen supplier delivery allergen menu cards "
         "filters oil delegate delegating follow up marcus priya dana hannah inspector health "
         "permit license renew tips tip-out sheets pest control visit ice machine dish machine "
         "prep line checks temperature log produce order napkins containers catering event "
         "brunch dinner lunch shift manager server host cook dishwasher training onboarding "
         "budget labour cost sales forecast reservation complaint refund repair plumber "
         "electrician freezer compressor thermostat alarm deep clean sanitize audit").split()
QUESTIONS = ["What's most urgent today?", "Who do I need to follow up with?",
             "What can I delegate?", "Help me plan my next 2 hours", "Summarize my day"]
start = datetime(2026, 5, 28, 8, 0, tzinfo=timezone.utc)
uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
t = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
out = sys.stdout
out.write(json.dumps({"format": "opschat.archive.v1", "exported_at": t(start), "secrets": True}) + "\n")
row = lambda table, r: out.write(json.dumps({"table": table, "row": r}, sort_keys=True) + "\n")
row("users", {"id": uid, "username": "bench", "display_name": "Bench Manager", "password_hash": None,
              "role": "admin", "time_zone": None, "disabled_at": None, "created_at": t(start), "updated_at": t(start)})
row("instance_setup", {"id": 1, "first_user_id": uid, "set_up_at": t(start)})
row("api_tokens", {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "user_id": uid, "name": "bench",
                   "token_hash": hashlib.sha256(TOKEN.encode()).hexdigest(), "prefix": TOKEN[:8],
                   "created_at": t(start), "last_used_at": None, "revoked_at": None})
per_session = 20
sessions = (N + per_session - 1) // per_session
messages = []
for s in range(sessions):
    sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    began = start + timedelta(minutes=s * (180 * 24 * 60 // sessions))
    count = min(per_session, N - s * per_session)
    q = rng.choice(QUESTIONS)
    row("chat_sessions", {"id": sid, "user_id": uid, "title": q, "context_snapshot": None, "started_at": t(began),
                          "last_message_at": t(began + timedelta(seconds=count * 30)), "message_count": count,
                          "is_active": rng.random() > 0.1, "last_seq": count})
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        text = q if i == 0 else " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
        messages.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "session_id": sid, "seq": i + 1,
                         "role": role, "content": text, "context_used": None,
                         "model_used": None if role == "user" else "opschat-local",
                         "tokens_used": len(text) // 4, "prompt_tokens": None, "completion_tokens": None,
                         "status": "complete", "error": None, "reply_to": None,
                         "created_at": t(began + timedelta(seconds=i * 30)), "heartbeat_at": None})
for m in messages:
    row("chat_messages", m)
print(TOKEN, file=sys.stderr)
