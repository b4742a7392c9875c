// The analytics page: what the chat costs, how fast it answers, what is asked and how sessions
// go, over a chosen range. Every figure is drawn with uPlot (vendored, /static/uplot.iife.min.js)
// from /api/analytics/*, and every figure has its table and a CSV download of that same table.
import { api, el, errorText, setupHeader } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const uPlot = window.uPlot;
const PALETTE = ["#1849a9", "#c2410c", "#027a48", "#6941c6", "#b54708", "#0e7090", "#c01048", "#475467"];
const color = (i) => PALETTE[i % PALETTE.length];

const state = { days: 30, from: null, to: null, scope: "", sessionSort: "cost", sessionOrder: "desc", charts: [], me: null };

// ---------------------------------------------------------------- query and formatting

// The chosen range and (unless `scoped` is false) scope, plus `extra`, as a query string.
function query(extra = {}, { scoped = true } = {}) {
  const p = new URLSearchParams();
  if (state.from && state.to) { p.set("from", state.from); p.set("to", state.to); } else p.set("days", String(state.days));
  // Unscoped: the per-user table, always the whole instance.
  if (scoped && state.scope === "all") p.set("scope", "all");
  else if (scoped && state.scope.startsWith("user:")) p.set("user", state.scope.slice(5));
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return p.toString();
}

const num = (v) => (v === null || v === undefined ? "" : String(v));
const pct = (share) => `${(share * 100).toFixed(1)}%`;
// A day (YYYY-MM-DD) as uPlot's x value: seconds at UTC midnight, shown in UTC.
const dayX = (d) => Date.parse(`${d}T00:00:00Z`) / 1000;

// ---------------------------------------------------------------- tables and CSV

function csvCell(v) {
  const s = String(v ?? "");
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(columns, rows) {
  return [columns, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function rangeName() {
  return state.from ? `${state.from}-to-${state.to}` : `last-${state.days}-days`;
}

// The table of a figure (cells are exactly what the CSV holds) and its download button.
// `cell(row, i)` may turn a value into an element (a link); the CSV keeps the text.
function table(figure, { caption, columns, rows, cell, open = false, headers }) {
  const head = el("tr", {}, ...columns.map((c, i) => headers ? headers(c, i) : el("th", { scope: "col", text: c })));
  const body = rows.length
    ? rows.map((r) => el("tr", {}, ...r.map((v, i) => {
      const content = cell ? cell(r, i) : null;
      return i === 0 ? el("th", { scope: "row" }, content ?? num(v)) : el("td", {}, content ?? num(v));
    })))
    : [el("tr", {}, el("td", { colspan: String(columns.length), class: "empty", text: "Nothing in this range." }))];
  const t = el("table", { class: "table data-table" }, el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, head), el("tbody", {}, ...body));
  const name = `opschat-${figure.id.replace(/^fig-/, "")}-${rangeName()}.csv`;
  const button = el("button", { type: "button", class: "small-button csv", text: "Download CSV",
    "aria-label": `Download CSV: ${caption}`, onclick: () => download(name, toCsv(columns, rows)) });
  const details = el("details", { class: "figure-table", open: open || undefined },
    el("summary", { text: `Table: ${caption}` }), el("div", { class: "table-wrap" }, t));
  return el("div", { class: "figure-data" }, button, details);
}

// A chart's width: its figure's, at least 280 px.
const chartWidth = (figure) => Math.max(280, figure.clientWidth - 36);

// A uPlot chart in a labelled box, as wide as its figure.
function chart(figure, label, opts, data) {
  const box = el("div", { class: "chart", role: "img", "aria-label": label });
  figure.append(box);
  const u = new uPlot({ width: chartWidth(figure), height: 240, ...opts }, data, box);
  state.charts.push({ u, figure });
}

// A bar series in palette colour `i`, filled with `fill`; `size` is uPlot's [width share, max px].
const bars = (label, i, fill, size = [0.7, 40]) =>
  ({ label, stroke: color(i), fill, paths: uPlot.paths.bars({ size }), points: { show: false } });

// Replaces what a figure showed (keeping its heading and controls).
function reset(id) {
  const figure = $(id);
  figure.querySelectorAll(".chart, .figure-data, .figure-note").forEach((n) => n.remove());
  return figure;
}

function note(figure, text) {
  figure.append(el("p", { class: "figure-note muted", text }));
}

const timeAxis = { scales: { x: { time: true } }, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC") };

// Bars stacked by model: each series is drawn as the running total, the legend shows its own.
function stackedByModel(figure, label, days, models, value, digits = 0) {
  const xs = days.map((d) => dayX(d.date));
  const own = models.map((m) => days.map((d) => (d.by_model[m] ? value(d.by_model[m]) : 0)));
  const running = [];
  let acc = days.map(() => 0);
  own.forEach((vals) => { acc = acc.map((a, j) => a + vals[j]); running.push(acc); });
  const order = models.map((_, i) => i).reverse();
  chart(figure, label, {
    ...timeAxis,
    series: [{ label: "Day" }, ...order.map((i) => ({
      ...bars(models[i], i, color(i)),
      value: (u, v, si, di) => (di == null ? "–" : own[i][di].toFixed(digits)),
    }))],
  }, [xs, ...order.map((i) => running[i])]);
}

// ---------------------------------------------------------------- the figures

function usageFigures(u) {
  const models = u.models.map((m) => m.model);
  $("total-turns").textContent = String(u.totals.outcomes.turns);
  $("total-tokens").textContent = u.totals.tokens.toLocaleString();
  $("total-cost").textContent = `$${u.totals.cost_usd.toFixed(4)}`;
  const o = u.totals.outcomes;
  $("total-failed").textContent = pct(o.failed_share + o.stopped_share + o.interrupted_share);

  let f = reset("fig-tokens");
  stackedByModel(f, "Bar chart: tokens per day, stacked by model", u.days, models, (s) => s.tokens);
  f.append(table(f, {
    caption: "Tokens per day by model", columns: ["Date", ...models.map((m) => `${m} tokens`), "Total tokens"],
    rows: u.days.map((d) => [d.date, ...models.map((m) => d.by_model[m]?.tokens ?? 0), d.tokens]),
  }));

  f = reset("fig-cost");
  stackedByModel(f, "Bar chart: estimated cost per day in US dollars, stacked by model", u.days, models, (s) => s.cost_usd, 4);
  f.append(table(f, {
    caption: "Cost per day by model (USD)", columns: ["Date", ...models.map((m) => `${m} USD`), "Total USD"],
    rows: u.days.map((d) => [d.date, ...models.map((m) => d.by_model[m]?.cost_usd ?? 0), d.cost_usd]),
  }));

  f = reset("fig-turns");
  const xs = u.days.map((d) => dayX(d.date));
  const notDone = (out) => out.failed_share + out.stopped_share + out.interrupted_share;
  chart(f, "Chart: turns per day as bars, and the share of answers that failed, were stopped or interrupted as a line", {
    ...timeAxis,
    scales: { ...timeAxis.scales, pct: { range: [0, 100] } },
    axes: [{}, { label: "turns" }, { scale: "pct", side: 1, label: "% not completed", grid: { show: false } }],
    series: [{ label: "Day" },
      bars("Turns", 0, "#1849a955"),
      { label: "% not completed", scale: "pct", stroke: color(1), width: 2, value: (u2, v) => (v == null ? "–" : `${v.toFixed(1)}%`) }],
  }, [xs, u.days.map((d) => d.outcomes.turns), u.days.map((d) => (d.outcomes.turns ? notDone(d.outcomes) * 100 : null))]);
  f.append(table(f, {
    caption: "Turns per day and their outcomes",
    columns: ["Date", "Turns", "Complete", "Failed", "Stopped", "Interrupted", "Failed share", "Stopped share", "Interrupted share"],
    rows: u.days.map((d) => [d.date, d.outcomes.turns, d.outcomes.complete, d.outcomes.failed, d.outcomes.stopped,
      d.outcomes.interrupted, d.outcomes.failed_share, d.outcomes.stopped_share, d.outcomes.interrupted_share]),
  }));
}

let lastLatency = null;

function latencyFigure(l) {
  lastLatency = l;
  const select = $("latency-model");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "All models" }),
    ...l.models.map((m) => el("option", { value: m.model, text: m.model })));
  select.value = l.models.some((m) => m.model === chosen) ? chosen : "";
  drawLatency();
}

function drawLatency() {
  const l = lastLatency;
  if (!l) return;
  const model = $("latency-model").value;
  const pick = (d) => (model ? d.by_model[model] : d) || { total_ms: {}, first_token_ms: {}, replies: 0 };
  const f = reset("fig-latency");
  const xs = l.days.map((d) => dayX(d.date));
  const line = (label, i, dash) => ({ label, stroke: color(i), width: 2, dash, spanGaps: false });
  chart(f, `Line chart: p50 and p95 of total answer time and of time to first token per day, ${model || "all models"}`, {
    ...timeAxis,
    series: [{ label: "Day" }, line("Total p50", 0), line("Total p95", 0, [6, 4]), line("First token p50", 1), line("First token p95", 1, [6, 4])],
  }, [xs, ...[["total_ms", "p50"], ["total_ms", "p95"], ["first_token_ms", "p50"], ["first_token_ms", "p95"]]
    .map(([k, p]) => l.days.map((d) => pick(d)[k]?.[p] ?? null))]);
  const rows = [];
  for (const d of l.days) {
    for (const [m, t] of Object.entries(d.by_model)) {
      if (model && m !== model) continue;
      rows.push([d.date, m, t.replies, t.total_ms.p50, t.total_ms.p95, t.first_token_ms.p50, t.first_token_ms.p95]);
    }
  }
  f.append(table(f, {
    caption: "Latency per day and model (ms)",
    columns: ["Date", "Model", "Completed replies", "Total p50", "Total p95", "First token p50", "First token p95"], rows,
  }));
}

async function sessionsFigure() {
  const r = await api(`/api/analytics/sessions?${query({ sort: state.sessionSort, order: state.sessionOrder, limit: 50 })}`);
  const f = reset("fig-sessions");
  if (!r.ok) { note(f, errorText(r, "Could not load the sessions.")); return; }
  const rows = r.data.sessions.map((s) => [s.title ?? "(another user's session)", s.started_at.slice(0, 16).replace("T", " "),
    s.turns, s.tokens, s.cost_usd, Object.entries(s.models).map(([m, n]) => `${m} ×${n}`).join("; ")]);
  const sortable = { "Turns": "turns", "Tokens": "tokens", "Cost (USD)": "cost", "Started (UTC)": "started_at" };
  f.append(table(f, {
    caption: "Cost per conversation", open: true,
    columns: ["Session", "Started (UTC)", "Turns", "Tokens", "Cost (USD)", "Models"], rows,
    headers: (c) => {
      const key = sortable[c];
      if (!key) return el("th", { scope: "col", text: c });
      const active = state.sessionSort === key;
      return el("th", { scope: "col", "aria-sort": active ? (state.sessionOrder === "asc" ? "ascending" : "descending") : undefined },
        el("button", { type: "button", class: "link-button sort", text: c, "aria-label": `Sort by ${c}`, onclick: () => {
          state.sessionOrder = active && state.sessionOrder === "desc" ? "asc" : "desc";
          state.sessionSort = key;
          sessionsFigure();
        } }));
    },
    cell: (row, i) => {
      const s = r.data.sessions[rows.indexOf(row)];
      return i === 0 && s.title != null ? el("a", { href: `/?session=${encodeURIComponent(s.session_id)}`, text: s.title }) : null;
    },
  }));
  if (r.data.total > r.data.sessions.length) note(f, `The 50 highest of ${r.data.total} sessions; the CSV holds these 50.`);
}

function questionsFigure(q) {
  const f = reset("fig-questions");
  const rows = q.common.map((g) => [g.question, g.count, g.trend.first_half, g.trend.second_half,
    g.trend.second_half > g.trend.first_half ? "rising" : g.trend.second_half < g.trend.first_half ? "falling" : "steady",
    (g.wordings || []).map((w) => `${w.text} (${w.count})`).join("; ")]);
  if (q.common.length) {
    const top = q.common.slice(0, 5);
    const xs = top[0].trend.per_day.map((_, i) => dayX(q.range.from) + i * 86400);
    chart(f, "Line chart: how often the five most common questions were asked per day", {
      ...timeAxis,
      series: [{ label: "Day" }, ...top.map((g, i) => ({ label: g.question.slice(0, 40), stroke: color(i), width: 2 }))],
    }, [xs, ...top.map((g) => g.trend.per_day)]);
  }
  f.append(table(f, {
    caption: `Common questions (${q.questions} questions in ${q.groups} groups)`, open: true,
    columns: ["Question", "Times asked", "First half of range", "Second half of range", "Trend", "Wordings"], rows,
  }));
}

function patternsFigures(p) {
  let f = reset("fig-heat");
  const max = Math.max(1, ...p.heat_map.flat());
  const level = (n) => (n === 0 ? 0 : Math.min(4, 1 + Math.floor((n / max) * 3.999)));
  const hours = [...Array(24).keys()].map((h) => String(h).padStart(2, "0"));
  const rows = p.heat_map.map((row, i) => [p.weekdays[i], ...row]);
  const t = table(f, { caption: "Questions by weekday and hour (local time)", open: true, columns: ["Day", ...hours], rows,
    cell: (row, i) => (i === 0 ? null : el("span", { class: `heat heat-${level(row[i])}`, text: String(row[i]) })) });
  t.querySelector("table").classList.add("heat-map");
  f.append(t);

  f = reset("fig-per-session");
  const hist = p.turns_per_session.histogram;
  chart(f, "Bar chart: how many sessions had 1, 2, 3, 4 to 5, 6 to 10, 11 to 20 and more than 20 turns", {
    scales: { x: { time: false } },
    axes: [{ values: (u, ticks) => ticks.map((t2) => hist[t2]?.turns ?? "") }, {}],
    series: [{ label: "Turns", value: (u, v) => hist[v]?.turns ?? "–" },
      bars("Sessions", 2, "#027a4855", [0.6, 60])],
  }, [hist.map((_, i) => i), hist.map((b) => b.sessions)]);
  f.append(table(f, { caption: `Turns per session (mean ${p.turns_per_session.mean}, median ${p.turns_per_session.median ?? "–"})`,
    columns: ["Turns", "Sessions"], rows: hist.map((b) => [b.turns, b.sessions]) }));

  f = reset("fig-sessions-day");
  chart(f, "Bar chart: sessions started per day", {
    ...timeAxis,
    series: [{ label: "Day" }, bars("Sessions", 3, "#6941c655")],
  }, [p.sessions_per_day.map((d) => dayX(d.date)), p.sessions_per_day.map((d) => d.sessions)]);
  f.append(table(f, { caption: "Sessions started per day", columns: ["Date", "Sessions"],
    rows: p.sessions_per_day.map((d) => [d.date, d.sessions]) }));
}

function contextFigures(c) {
  let f = reset("fig-backlog");
  chart(f, "Line chart: open tasks and overdue items that sessions started with, averaged per day", {
    ...timeAxis,
    series: [{ label: "Day" }, { label: "Open tasks", stroke: color(0), width: 2 }, { label: "Overdue", stroke: color(1), width: 2 }],
  }, [c.backlog.map((d) => dayX(d.date)), c.backlog.map((d) => d.open_tasks), c.backlog.map((d) => d.overdue)]);
  f.append(table(f, { caption: "Backlog at the start of sessions, per day", columns: ["Date", "Sessions", "Open tasks (average)", "Overdue (average)"],
    rows: c.backlog.map((d) => [d.date, d.sessions, d.open_tasks, d.overdue]) }));

  f = reset("fig-cited");
  const rows = c.cited.map((i) => [i.title ?? `(${i.kind})`, i.kind, i.answers]);
  if (rows.length) {
    chart(f, "Bar chart: how many answers cited each of the most cited items", {
      scales: { x: { time: false } },
      axes: [{ values: (u, ticks) => ticks.map((t2) => (Number.isInteger(t2) ? String(t2 + 1) : "")) }, {}],
      series: [{ label: "Rank", value: (u, v) => (v == null ? "–" : rows[v]?.[0] ?? "") },
        bars("Answers", 5, "#0e709055", [0.6, 60])],
    }, [rows.map((_, i) => i), rows.map((r) => r[2])]);
  }
  f.append(table(f, { caption: "Items cited most", open: true, columns: ["Item", "Kind", "Answers citing it"], rows }));
}

function usersFigure(u) {
  const f = reset("fig-users");
  f.append(table(f, { caption: "Per-user totals", open: true,
    columns: ["User", "Sessions", "Questions", "Turns", "Input tokens", "Output tokens", "Cost (USD)"],
    rows: u.users.map((x) => [`${x.display_name} (${x.username})`, x.sessions, x.questions, x.turns, x.input_tokens, x.output_tokens, x.cost_usd]) }));
}

// ---------------------------------------------------------------- loading

let loading = 0;

async function load() {
  const mine = ++loading;
  for (const c of state.charts) c.u.destroy();
  state.charts = [];
  $("analytics-error").textContent = "";
  const q = query();
  const admin = state.me?.role === "admin";
  const ask = (path) => api(`/api/analytics/${path}?${q}`);
  const [usage, latency, patterns, questions, context] = await Promise.all(
    ["usage", "latency", "patterns", "questions", "context"].map(ask));
  if (mine !== loading) return;
  const failed = [usage, latency, patterns, questions, context].find((r) => !r.ok);
  if (failed) { $("analytics-error").textContent = errorText(failed, "Could not load the figures."); return; }
  const range = usage.data.range;
  $("range-label").textContent = `Showing ${range.from} to ${range.to}${state.scope === "all" ? ", the whole instance" : state.scope ? `, ${$("scope").selectedOptions[0]?.text}` : ""}.`;
  $("range-from").value = range.from;
  $("range-to").value = range.to;
  usageFigures(usage.data);
  latencyFigure(latency.data);
  questionsFigure(questions.data);
  patternsFigures(patterns.data);
  contextFigures(context.data);
  await sessionsFigure();
  $("fig-users").hidden = !(admin && state.scope === "all");
  if (admin && state.scope === "all") {
    const users = await api(`/api/analytics/users?${query({}, { scoped: false })}`);
    if (users.ok) usersFigure(users.data);
  }
  document.body.dataset.loaded = q;
}

function pressed(days) {
  document.querySelectorAll(".range").forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.days) === days)));
}

document.addEventListener("DOMContentLoaded", async () => {
  state.me = await setupHeader();
  if (!state.me) return;
  document.querySelectorAll(".range").forEach((b) => b.addEventListener("click", () => {
    state.days = Number(b.dataset.days);
    state.from = state.to = null;
    pressed(state.days);
    load();
  }));
  $("custom-range").addEventListener("submit", (e) => {
    e.preventDefault();
    state.from = $("range-from").value;
    state.to = $("range-to").value;
    pressed(null);
    load();
  });
  $("latency-model").addEventListener("change", drawLatency);
  if (state.me.role === "admin") {
    $("scope-box").hidden = false;
    const r = await api("/api/admin/users");
    if (r.ok) {
      for (const u of r.data.users) {
        if (u.id !== state.me.id) $("scope").append(el("option", { value: `user:${u.id}`, text: `${u.display_name} (${u.username})` }));
      }
    }
    $("scope").addEventListener("change", () => { state.scope = $("scope").value; load(); });
  }
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const c of state.charts) c.u.setSize({ width: chartWidth(c.figure), height: 240 });
    }, 150);
  });
  load();
});
