#!/usr/bin/env python3
"""opschat's /v1 endpoint driven by the official `openai` Python package and by curl, the way
an OpenAI client would use it. Run by the API tests (tests/api/compat.rs) against a server
with the fixture imported:

    python3 tests/openai_sdk.py http://127.0.0.1:PORT API_TOKEN

Exits non-zero with the failing check's message.
"""
import json
import subprocess
import sys
import urllib.request

import openai

base, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def history(session):
    req = urllib.request.Request(
        f"{base}/api/operations-chat/history/{session}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def check(ok, what):
    if not ok:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


# Models.
ids = [m.id for m in client.models.list()]
check("opschat-local" in ids, f"models.list names opschat-local: {ids}")

# A question, not streamed; the raw response carries the session header.
q1 = "What's most urgent today?"
raw = client.chat.completions.with_raw_response.create(
    model="opschat-local",
    messages=[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": q1}],
)
session = raw.headers.get("x-opschat-session-id")
r = raw.parse()
a1 = r.choices[0].message.content
check(r.object == "chat.completion" and r.choices[0].finish_reason == "stop", "a chat.completion")
check("Fix walk-in cooler door gasket" in a1, f"grounded in the operations data: {a1[:80]!r}")
check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage adds up")
stored = [(m["role"], m["content"]) for m in history(session)["messages"]]
check(stored == [("user", q1), ("assistant", a1)], "stored as a session of the token's user")

# The conversation continued, streamed, with usage.
q2 = "Who do I need to follow up with?"
chunks = list(
    client.chat.completions.create(
        model="opschat-local",
        messages=[
            {"role": "user", "content": q1},
            {"role": "assistant", "content": a1},
            {"role": "user", "content": q2},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(chunks[0].choices[0].delta.role == "assistant", "the first chunk names the role")
check(any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks), "finish_reason stop")
check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, "a usage chunk")
stored = history(session)["messages"]
check(len(stored) == 4, f"the continued conversation appended to its session: {len(stored)}")
check(stored[3]["content"] == text, "the streamed text is the stored answer")

# Errors, as the SDK's own exceptions.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    check(False, "an unknown model fails")
except openai.NotFoundError as e:
    check(e.status_code == 404 and e.code == "model_not_found", f"unknown model: NotFoundError {e.code}")
try:
    client.chat.completions.create(model="opschat-local", messages=[])
    check(False, "no messages fails")
except openai.BadRequestError as e:
    check(e.param == "messages", f"no messages: BadRequestError on {e.param}")
try:
    openai.OpenAI(base_url=f"{base}/v1", api_key="opc_wrong", max_retries=0).models.list()
    check(False, "a wrong token fails")
except openai.AuthenticationError as e:
    check(e.status_code == 401, "a wrong token: AuthenticationError")

# curl, streamed and not.
body = json.dumps({"model": "opschat-local", "messages": [{"role": "user", "content": "What's due tomorrow?"}]})
auth = ["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]
out = subprocess.run(
    ["curl", "-sS", "--fail-with-body", f"{base}/v1/chat/completions", *auth, "-d", body],
    check=True, capture_output=True, text=True,
).stdout
check(json.loads(out)["choices"][0]["message"]["role"] == "assistant", "curl: a completion")
streamed = json.loads(body)
streamed["stream"] = True
out = subprocess.run(
    ["curl", "-sS", "-N", "--fail-with-body", f"{base}/v1/chat/completions", *auth, "-d", json.dumps(streamed)],
    check=True, capture_output=True, text=True,
).stdout
lines = [l[len("data: "):] for l in out.splitlines() if l.startswith("data: ")]
check(lines[-1] == "[DONE]" and json.loads(lines[0])["object"] == "chat.completion.chunk", "curl: a stream")
out = subprocess.run(
    ["curl", "-sS", f"{base}/v1/models"], check=True, capture_output=True, text=True
).stdout
check(json.loads(out)["error"]["type"] == "invalid_request_error", "curl: no token, OpenAI's error")
print("all checks passed")
