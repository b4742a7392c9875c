#!/usr/bin/env python3
"""A small load generator for the search endpoint: N threads issue searches drawn from a fixed
list for a while and report requests/s and latency percentiles (p50, p95, p99) in ms.

    python3 bench/search_load.py http://127.0.0.1:18098 TOKEN 15 4
"""
import http.client, json, random, sys, threading, time, urllib.parse

base, token, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
QUERIES = ["cooler", "walk-in cooler", '"cooler door"', "invoice -hvac", "delegat", "fryer or hood",
           "payroll overtime", "marcus inventory", "health inspector", "deep clean -freezer",
           "thermostat compressor", "allergen menu", "pest control", "linen delivery", "catering event"]
host = urllib.parse.urlparse(base)
latencies, errors, lock = [], [0], threading.Lock()
stop_at = time.monotonic() + seconds

def worker(seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    mine = []
    while time.monotonic() < stop_at:
        q = urllib.parse.urlencode({"q": rng.choice(QUERIES) + " ", "limit": "20", "include_archived": "true"})
        t0 = time.perf_counter()
        conn.request("GET", f"/api/operations-chat/search?{q}", headers={"authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        mine.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            with lock:
                errors[0] += 1
    with lock:
        latencies.extend(mine)

ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))]
print(f"c={threads} searches={len(latencies)} req/s={len(latencies)/seconds:.0f} "
      f"p50={pct(0.50):.1f}ms p95={pct(0.95):.1f}ms p99={pct(0.99):.1f}ms errors={errors[0]}")
