#!/usr/bin/env python3
"""Load for the analytics endpoints: every endpoint over four ranges (7, 30 and 90 days and the
whole 180 days of the seeded data), ROUNDS requests each at concurrency 1, then a mix at
concurrency 4 for a while. Reports p50/p95 per endpoint and range, and overall.

    python3 bench/analytics_load.py http://127.0.0.1:18099 TOKEN 10 15
"""
import http.client, random, sys, threading, time, urllib.parse

base, token, rounds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ENDPOINTS = ["usage", "latency", "sessions", "patterns", "questions", "context", "users"]
RANGES = ["days=7", "days=30", "days=90", "from=2026-05-28&to=2026-11-24"]
host = urllib.parse.urlparse(base)
pct = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(len(xs) * p))]


def get(conn, path):
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"authorization": f"Bearer {token}"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status}")
    return (time.perf_counter() - t0) * 1000


conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
worst = 0.0
if rounds:
    print(f"{'endpoint':<10} " + " ".join(f"{r.split('&')[0]:>22}" for r in RANGES))
    for e in ENDPOINTS:
        cells = []
        for r in RANGES:
            xs = [get(conn, f"/api/analytics/{e}?{r}") for _ in range(rounds)]
            worst = max(worst, pct(xs, 0.95))
            cells.append(f"p50 {pct(xs, 0.5):6.1f} p95 {pct(xs, 0.95):6.1f}")
        print(f"{e:<10} " + " ".join(f"{c:>22}" for c in cells))
    print(f"c=1 worst p95 over endpoints and ranges: {worst:.1f} ms")

latencies, lock, stop_at = [], threading.Lock(), time.monotonic() + seconds


def worker(seed):
    rng = random.Random(seed)
    c = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    mine = []
    while time.monotonic() < stop_at:
        mine.append(get(c, f"/api/analytics/{rng.choice(ENDPOINTS)}?{rng.choice(RANGES[:3])}"))
    with lock:
        latencies.extend(mine)


ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(f"c=4 mix of 7/30/90 days: requests={len(latencies)} req/s={len(latencies)/seconds:.0f} "
      f"p50={pct(latencies, 0.5):.1f}ms p95={pct(latencies, 0.95):.1f}ms p99={pct(latencies, 0.99):.1f}ms")
