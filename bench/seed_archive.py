#!/usr/bin/env python3
"""Writes an opschat archive (opschat.archive.v1) with one account, an API token and N chat
messages spread over 180 days, for `opschat restore`: the data set of the search and export
and analytics benchmarks. Replies carry what analytics reads: a model mix (opschat-local,
gpt-4o-mini, gpt-4o), prompt/completion/cached tokens, cost, latency and time to first token,
mostly complete with some failed, stopped and interrupted, and the items they drew on; sessions
carry the backlog they started with. Deterministic (seeded), so runs are comparable.

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
# What managers ask next, in their own wordings (the rest of the questions are free text).
FOLLOW_UPS = ["what's urgent?", "anything urgent", "What's most urgent today", "who do I chase?",
              "who should I follow up with", "what's overdue?", "anything overdue", "what can Marcus take?",
              "what can I hand off", "plan my afternoon", "plan the next two hours", "what's due tomorrow?",
              "when is the cooler gasket due?", "who has the bar inventory?", "is the schedule done?",
              "what did the digest say about the cooler?", "mark the gasket done", "yes", "thanks"]
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
ITEMS = [{"kind": "task", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "title": f"Task {i}"}
         for i in range(30)]
# (model, share, input $/M, cached $/M, output $/M, latency range ms, first token range ms)
MODELS = [("opschat-local", 0.5, 0, 0, 0, (2, 20), (2, 20)),
          ("gpt-4o-mini", 0.3, 0.15, 0.075, 0.60, (600, 4000), (150, 700)),
          ("gpt-4o", 0.2, 2.50, 1.25, 10.00, (900, 7000), (200, 900))]

def reply_stats(text):
    r = rng.random()
    model = next(m for m, acc in zip(MODELS, [0.5, 0.8, 1.01]) if r < acc)
    name, _, pin, pcached, pout, lat, first = model
    prompt = rng.randint(800, 3000)
    completion = len(text) // 4
    cached = prompt // 2 if name != "opschat-local" and rng.random() < 0.4 else 0
    status = rng.choices(["complete", "failed", "stopped", "interrupted"], [96, 2, 1, 1])[0]
    if status == "failed":
        prompt = completion = cached = 0
    cost = ((prompt - cached) * pin + cached * pcached + completion * pout) / 1e6
    latency = rng.randint(*lat)
    return {"model_used": name, "provider": "local" if name == "opschat-local" else "openai-compatible",
            "tokens_used": prompt + completion, "prompt_tokens": prompt, "completion_tokens": completion,
            "cached_tokens": cached, "cost_usd": round(cost, 8), "status": status,
            "error": "the model server failed" if status == "failed" else None,
            "latency_ms": latency, "first_token_ms": None if status == "failed" else min(latency, rng.randint(*first)),
            "context_used": {"items_used": rng.sample(ITEMS, rng.randint(0, 3))}}

per_session = 20
sessions = (N + per_session - 1) // per_session
messages = []
for s in range(sessions):
    sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    began = start + timedelta(minutes=s * (180 * 24 * 60 // sessions))
    count = min(per_session, N - s * per_session)
    q = rng.choice(QUESTIONS)
    row("chat_sessions", {"id": sid, "user_id": uid, "title": q,
                          "context_snapshot": {"open_tasks": rng.randint(5, 40),
                                               "overdue": [it["id"] for it in rng.sample(ITEMS, rng.randint(0, 6))]}, "started_at": t(began),
                          "last_message_at": t(began + timedelta(seconds=count * 30)), "message_count": count,
                          "is_active": rng.random() > 0.1, "last_seq": count})
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        if i == 0:
            text = q
        elif role == "user" and rng.random() < 0.7:
            text = rng.choice(FOLLOW_UPS)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
        m = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "session_id": sid, "seq": i + 1,
             "role": role, "content": text, "context_used": None, "model_used": None,
             "tokens_used": len(text) // 4, "prompt_tokens": None, "completion_tokens": None,
             "status": "complete", "error": None, "reply_to": None,
             "created_at": t(began + timedelta(seconds=i * 30)), "heartbeat_at": None,
             "provider": None, "latency_ms": None, "first_token_ms": None, "cached_tokens": None, "cost_usd": None}
        if role == "assistant":
            m.update(reply_stats(text))
        messages.append(m)
for m in messages:
    row("chat_messages", m)
print(TOKEN, file=sys.stderr)
