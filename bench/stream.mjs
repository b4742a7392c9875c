// Streaming benchmark: opschat relaying an OpenAI-compatible stream.
//
//   node bench/stream.mjs            (after `cargo build --release`; PostgreSQL as in run.sh)
//   LEVELS=1 RUNS=500 node bench/stream.mjs     # only c=1
//   LEVELS= OPEN=500 node bench/stream.mjs      # only memory per open stream
//   LEVELS= OPEN=500 WRAP="heaptrack -o /tmp/opschat-heap" node bench/stream.mjs   # its heap
//   BENCH_DB=sqlite node bench/stream.mjs       # on the embedded SQLite file (bench/out/stream.db)
//   USERS=2 node bench/stream.mjs               # turns of two accounts, alternating
//   THINK_MS=20 node bench/stream.mjs           # the fake model thinks 20 ms before answering
//   TOKEN_MS=10 node bench/stream.mjs           # ... and pauses 10 ms between chunks
//
// A local fake upstream streams TOKENS chunks. The same client measures, at concurrency 1 and
// 64: time to first byte (the SSE `start` event), time to first delta, time to the last delta
// and time to the response's end (opschat saves the reply, then sends `done`), through opschat
// and directly against the fake; the difference is what opschat adds.
// Then it holds OPEN streams open (the fake sends one chunk per second) and reads the server's
// RSS to get memory per open stream.
import http from "node:http";
import { spawn, execSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";

const TOKENS = Number(process.env.TOKENS || 100);
const RUNS = Number(process.env.RUNS || 200);
const OPEN = Number(process.env.OPEN || 500);
// THINK_MS: how long the fake model takes before its first token (a real one takes hundreds).
const THINK_MS = Number(process.env.THINK_MS || 0);
// TOKEN_MS: the fake's pause between chunks, so that an answer takes as long as a real one's
// (opschat saves a streaming reply's progress every 500 ms).
const TOKEN_MS = Number(process.env.TOKEN_MS || 0);
const PORT = Number(process.env.PORT || 18097);
const PG = process.env.OPSCHAT_BENCH_PG || "postgres://postgres@127.0.0.1:5432/postgres";
const SQLITE = process.env.BENCH_DB === "sqlite";
const SQLITE_FILE = "bench/out/stream.db";
const DB = SQLITE
  ? `sqlite:${SQLITE_FILE}`
  : `${PG.replace(/\/[^/]*$/, "")}/opschat_stream_bench${process.env.PG_PARAMS ? "?" + process.env.PG_PARAMS : ""}`;

let slow = false;
const upstream = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta, finish = null) => `data: {"id":"x","object":"chat.completion.chunk","model":"gpt-4o-bench","choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finish)}}]}\n\n`;
    let i = 0;
    const send = () => {
      if (res.destroyed) return;
      if (i < TOKENS) {
        res.write(chunk({ content: `tok${i++} ` }));
        if (slow) setTimeout(send, 1000); else if (TOKEN_MS > 0) setTimeout(send, TOKEN_MS); else setImmediate(send);
        return;
      }
      res.write(chunk({}, "stop"));
      res.write(`data: {"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":${TOKENS},"total_tokens":${500 + TOKENS}}}\n\n`);
      res.end("data: [DONE]\n\n");
    };
    if (THINK_MS > 0) setTimeout(send, THINK_MS); else send();
  });
});
await new Promise((ok) => upstream.listen(0, "127.0.0.1", ok));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/v1`;

if (SQLITE) {
  mkdirSync("bench/out", { recursive: true });
  for (const f of [SQLITE_FILE, `${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`]) rmSync(f, { force: true });
} else {
  execSync(`psql "${PG}" -qc "drop database if exists opschat_stream_bench with (force)" -c "create database opschat_stream_bench"`);
}
// BIN: another build.
const BIN = process.env.BIN || "./target/release/opschat";
// WRAP: a command the server runs under, e.g. WRAP="heaptrack -o /tmp/opschat-heap" for the heap
// per open stream; the server's own pid is then found by name, for RSS and for the SIGTERM at
// the end, after which the wrapper writes its file.
const WRAP = (process.env.WRAP || "").split(" ").filter(Boolean);
const spawned = Date.now();
const since = () => `${((Date.now() - spawned) / 1000).toFixed(1)} s after the server started`;
const server = spawn(WRAP.length ? WRAP[0] : BIN, WRAP.length ? [...WRAP.slice(1), BIN, "serve"] : ["serve"], {
  env: { ...process.env, DATABASE_URL: DB, OPSCHAT_BIND: `127.0.0.1:${PORT}`, OPSCHAT_LOG: process.env.OPSCHAT_LOG || "warn",
         OPENAI_API_KEY: "bench", OPENAI_BASE_URL: upstreamUrl },
  stdio: ["ignore", "inherit", "inherit"],
});
const base = `http://127.0.0.1:${PORT}`;
for (let i = 0; i < 300; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* starting */ }
  await new Promise((r) => setTimeout(r, 100));
}
// The first account (created through the set-up endpoint) and an API token for every request.
const setup = await fetch(`${base}/api/auth/setup`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "bench", password: "bench password" }) });
const cookie = (setup.headers.get("set-cookie") || "").split(";")[0];
const made = await fetch(`${base}/api/tokens`, { method: "POST", headers: { "content-type": "application/json", cookie, origin: base }, body: JSON.stringify({ name: "bench" }) });
const { token } = await made.json();
if (!token) throw new Error(`no API token: set-up ${setup.status}, token ${made.status}`);
// USERS=2: a second account (no data of its own) whose turns alternate with the first's, so that
// no turn finds the previous turn's system prompt (what a server with several users sees).
const tokens = [token];
for (let u = 2; u <= Number(process.env.USERS || 1); u++) {
  const json = { "content-type": "application/json", origin: base };
  const account = { username: `bench${u}`, password: "bench password" };
  const added = await fetch(`${base}/api/admin/users`, { method: "POST", headers: { ...json, cookie }, body: JSON.stringify(account) });
  const login = await fetch(`${base}/api/auth/login`, { method: "POST", headers: json, body: JSON.stringify(account) });
  const theirs = (login.headers.get("set-cookie") || "").split(";")[0];
  const t = (await (await fetch(`${base}/api/tokens`, { method: "POST", headers: { ...json, cookie: theirs }, body: JSON.stringify({ name: "bench" }) })).json()).token;
  if (!t) throw new Error(`no API token for user ${u}: account ${added.status}, sign-in ${login.status}`);
  tokens.push(t);
}
const pid = WRAP.length ? Number(execSync(`pgrep -n -f "^${BIN} serve"`).toString().trim()) : server.pid;
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
// The server's user + system CPU time in clock ticks (`/proc/PID/stat` fields 14 and 15).
const HZ = Number(execSync("getconf CLK_TCK").toString().trim());
const cpuTicks = () => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};

// One stream: resolves with timings in ms from the request.
async function one(url, body, { stopAfterFirst = false, as = token } = {}) {
  const t0 = performance.now();
  const headers = { "content-type": "application/json", accept: "text/event-stream" };
  if (url.startsWith(base)) headers.authorization = `Bearer ${as}`;
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let firstByte = null, firstDelta = null, lastDelta = null, buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const now = performance.now();
    firstByte ??= now;
    buf += dec.decode(value, { stream: true });
    // opschat sends `event: delta`; the fake sends chunks with "content".
    if (/event: delta|"content":"tok/.test(buf)) {
      firstDelta ??= now;
      lastDelta = now;
      if (stopAfterFirst) return { reader, t: firstDelta - t0 };
    }
    buf = buf.slice(-64);
  }
  return { ttfb: firstByte - t0, first: firstDelta - t0, last: lastDelta - t0, end: performance.now() - t0 };
}

const viaOpschat = (i) => one(`${base}/api/operations-chat`, { message: `What's most urgent today? (${i})` }, { as: tokens[i % tokens.length] });
const direct = (i) => one(`${upstreamUrl}/chat/completions`, { model: "gpt-4o", stream: true, messages: [{ role: "user", content: `q${i}` }] });

async function level(fn, concurrency, runs) {
  const results = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < runs) results.push(await fn(next++));
  }));
  const pct = (k, p) => { const v = results.map((r) => r[k]).sort((a, b) => a - b); return v[Math.min(v.length - 1, Math.floor(p * v.length))]; };
  return { p50ttfb: pct("ttfb", 0.5), p50first: pct("first", 0.5), p99first: pct("first", 0.99), p50last: pct("last", 0.5), p50end: pct("end", 0.5) };
}

const f = (x) => x.toFixed(2).padStart(8);
console.log(`tokens per answer: ${TOKENS}, runs per level: ${RUNS}`);
console.log("conc  path       ttfb_p50  first_p50  first_p99   last_p50    end_p50   added_first  per_token_us  cpu/stream_us");
for (const c of process.env.LEVELS !== undefined ? process.env.LEVELS.split(" ").filter(Boolean).map(Number) : [1, 64]) {
  await level(viaOpschat, c, Math.min(RUNS, 20)); // warm up
  const d = await level(direct, c, RUNS);
  const ticks = cpuTicks();
  const o = await level(viaOpschat, c, RUNS);
  const cpu = ((cpuTicks() - ticks) / HZ / RUNS) * 1e6;
  const perToken = ((o.p50last - o.p50first) - (d.p50last - d.p50first)) / (TOKENS - 1) * 1000;
  console.log(`${String(c).padEnd(5)} direct    ${f(d.p50ttfb)}  ${f(d.p50first)}  ${f(d.p99first)}  ${f(d.p50last)}   ${f(d.p50end)}`);
  console.log(`${String(c).padEnd(5)} opschat   ${f(o.p50ttfb)}  ${f(o.p50first)}  ${f(o.p99first)}  ${f(o.p50last)}   ${f(o.p50end)}   ${f(o.p50first - d.p50first)} ms  ${f(perToken)}  ${cpu.toFixed(0).padStart(13)}`);
}

// Memory per open stream.
slow = true;
const before = rss();
console.log(`opening ${OPEN} streams ${since()}`);
const open = [];
for (let i = 0; i < OPEN; i++) open.push(one(`${base}/api/operations-chat`, { message: `hold ${i}` }, { stopAfterFirst: true }));
const held = await Promise.all(open);
await new Promise((r) => setTimeout(r, 1500));
const during = rss();
console.log(`all open ${since()}`);
console.log(`open streams: ${OPEN}  RSS before: ${before} KiB  with them open: ${during} KiB  per open stream: ${((during - before) / OPEN).toFixed(1)} KiB`);
await new Promise((r) => setTimeout(r, WRAP.length ? 3000 : 0));
for (const h of held) h.reader.cancel();
await new Promise((r) => setTimeout(r, 1500));
console.log(`RSS after they closed: ${rss()} KiB`);
await new Promise((r) => setTimeout(r, 10000));
console.log(`RSS 10 s later: ${rss()} KiB`);
const exited = new Promise((r) => server.on("exit", r));
process.kill(pid, "SIGTERM");
await exited;
upstream.close();
process.exit(0);
