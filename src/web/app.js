// opschat web UI: the floating chat (the workspace is workspace.js). It talks to the same JSON API
// as every other client. Data is inserted as text; only assistant Markdown, rendered and
// sanitised by the server (content_html), is inserted as HTML.

import { api, el, errorText, NetworkError, setupHeader } from "/static/common.js";

const $ = (id) => document.getElementById(id);

const state = {
  sessionId: null,
  waiting: false,
  opened: false,
  stick: true,          // auto-scroll unless the reader scrolled up
  failure: null,        // {kind: "model"|"network", text}
  view: 0,              // bumped by every navigation: late answers for an older view are dropped
  timeZone: undefined,  // the user's IANA zone: times show in it (the browser's when unset)
};

function fmtTime(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: state.timeZone });
}

// ---------------------------------------------------------------- chat panel

const messagesBox = () => $("messages");

function scrollToEnd(force = false) {
  const box = messagesBox();
  if (force || state.stick) box.scrollTop = box.scrollHeight;
}

// ---------------------------------------------------------------- proposed changes

const ACTION_STATE = {
  proposed: "Waiting for your confirmation",
  applying: "Applying…",
  applied: "Done",
  cancelled: "Cancelled",
  undoing: "Undoing…",
  undone: "Undone",
  failed: "Not done",
};

// A proposed change: what it does to which item, and Confirm / Cancel, then Undo.
function actionCard(a) {
  const plain = a.summary.replaceAll("**", "");
  const card = el("div", { class: `action-card status-${a.status}`, role: "group", "aria-label": `Proposed change: ${plain}` });
  card.dataset.actionId = a.id;
  const summary = el("div", { class: "action-summary" });
  summary.innerHTML = a.summary_html;   // rendered and sanitised by the server
  let stateText = ACTION_STATE[a.status] || a.status;
  if (a.error) stateText += `: ${a.error}`;
  const buttons = el("div", { class: "action-buttons" });
  if (a.status === "proposed") {
    buttons.append(
      el("button", { type: "button", class: "confirm", text: "Confirm", "aria-label": `Confirm: ${plain}`, onclick: () => decide(a, "confirm", card) }),
      el("button", { type: "button", text: "Cancel", "aria-label": `Cancel: ${plain}`, onclick: () => decide(a, "cancel", card) }));
  } else if (a.status === "applied") {
    buttons.append(el("button", { type: "button", text: "Undo", "aria-label": `Undo: ${plain}`, onclick: () => decide(a, "undo", card) }));
  }
  card.append(summary, el("div", { class: "action-state", role: "status", text: stateText }), buttons);
  return card;
}

async function decide(a, verb, card) {
  card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  let r;
  try { r = await api(`/api/operations-chat/actions/${a.id}/${verb}`, { method: "POST", body: {} }); } catch { r = null; }
  if (r?.ok) {
    const fresh = actionCard(r.data);
    card.replaceWith(fresh);
    fresh.querySelector("button")?.focus();
    document.dispatchEvent(new CustomEvent("workspace-refresh"));
    return;
  }
  card.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  card.querySelector(".action-state").textContent = r ? errorText(r, "That did not work.") : "Cannot reach opschat; nothing was changed.";
  if (r) {
    // The action moved on meanwhile (another tab): show where it stands.
    const now = await api(`/api/operations-chat/actions/${a.id}`).catch(() => null);
    if (now?.ok) card.replaceWith(actionCard(now.data));
  }
}

function messageNode(m) {
  const node = el("div", { class: `msg ${m.role}` });
  node.dataset.id = m.id || "";
  if (m.seq) node.dataset.seq = m.seq;
  node.dataset.role = m.role;
  if (m.role === "assistant" && m.status === "failed") {
    node.classList.add("failed");
    node.append(el("div", { class: "body", text: `The assistant could not answer: ${m.error || "unknown error"}` }));
  } else if (m.role === "assistant") {
    const body = el("div", { class: "body" });
    body.innerHTML = m.content_html ?? "";   // rendered and sanitised by the server
    node.append(body);
    if (m.status === "stopped" || m.status === "interrupted") {
      node.classList.add(m.status);
      node.append(el("div", { class: "marker", text: m.status === "stopped" ? "Stopped" : `Interrupted: ${m.error || "the answer was cut off"}` }));
    }
  } else {
    node.append(el("div", { class: "body", text: m.content }));
  }
  if (m.role === "assistant" && m.actions?.length) {
    node.append(el("div", { class: "action-cards" }, ...m.actions.map(actionCard)));
  }
  if (m.timestamp) {
    node.append(el("time", { datetime: m.timestamp, title: new Date(m.timestamp).toLocaleString(undefined, { timeZone: state.timeZone }), text: fmtTime(m.timestamp) }));
  }
  return node;
}

function appendMessage(m) {
  messagesBox().append(messageNode(m));
  markLastAnswer();
  scrollToEnd();
}

// Regenerate is offered on the last answer only.
function markLastAnswer() {
  messagesBox().querySelectorAll(".regenerate").forEach((b) => b.remove());
  const last = messagesBox().lastElementChild;
  if (!last || last.dataset.role !== "assistant" || last.classList.contains("failed") || last.classList.contains("streaming")) return;
  last.append(el("button", { type: "button", class: "regenerate", "aria-label": "Regenerate this answer", text: "↻ Regenerate", onclick: regenerate }));
}

function setWaiting(on) {
  state.waiting = on;
  $("typing").hidden = !on;
  $("stop").hidden = !on;
  updateSend();
  if (on) scrollToEnd();
}

function updateSend() {
  $("send").disabled = state.waiting || $("input").value.trim() === "";
}

function showError(text, kind, retryable = true) {
  state.failure = retryable ? { kind, text } : null;
  $("chat-error-text").textContent = text;
  $("retry").hidden = !retryable;
  $("chat-error").hidden = false;
}

function clearError() {
  state.failure = null;
  $("chat-error").hidden = true;
}

async function showSuggestions() {
  const box = $("suggestions");
  box.replaceChildren();
  if (messagesBox().children.length) return;
  let r;
  try { r = await api("/api/operations-chat/suggestions"); } catch { return; }
  if (!r.ok || messagesBox().children.length) return;
  box.replaceChildren(...r.data.suggestions.map((q) => el("button", { type: "button", text: q, onclick: () => send(q) })));
}

async function openSession(id, { seq } = {}) {
  const view = ++state.view;
  let r = await api(`/api/operations-chat/history/${id}?limit=200`);
  // A search result older than the last page: open the window around it instead.
  if (seq && r.ok && r.data.messages.length && r.data.messages[0].seq > seq) {
    r = await api(`/api/operations-chat/history/${id}?limit=200&before=${seq + 100}`);
  }
  if (view !== state.view) return;   // the user moved on while this loaded
  if (!r.ok) { showError(r.data?.error?.message || "Could not load that conversation.", "load", false); return; }
  state.sessionId = id;
  clearError();
  $("suggestions").replaceChildren();
  const visible = r.data.messages.filter((m) => m.status !== "superseded");
  messagesBox().replaceChildren(...visible.map(messageNode));
  markLastAnswer();
  state.stick = true;
  scrollToEnd(true);
  if (seq) {
    const hit = messagesBox().querySelector(`.msg[data-seq="${seq}"]`);
    if (hit) {
      state.stick = false;
      hit.classList.add("hit");
      hit.setAttribute("tabindex", "-1");
      hit.scrollIntoView({ block: "center" });
      hit.focus();
    }
  }
  const last = visible[visible.length - 1];
  if (last && (last.role === "user" || last.status === "failed")) {
    showError("The last question has no answer yet.", "model");
  }
  if (!visible.length) showSuggestions();
}

function newChat() {
  state.view += 1;
  state.sessionId = null;
  clearError();
  hideSessions();
  messagesBox().replaceChildren();
  showSuggestions();
  $("input").focus();
}

async function restoreRecent() {
  const view = state.view;
  try {
    const r = await api("/api/operations-chat/sessions?limit=1");
    if (view !== state.view) return;
    if (r.ok && r.data.sessions.length) await openSession(r.data.sessions[0].id);
    else showSuggestions();
  } catch {
    showError("Connection lost: cannot reach opschat.", "load", false);
  }
}

function modelFailed(data) {
  const err = data?.error || {};
  if (err.session_id) state.sessionId = err.session_id;
  showError(err.message || "The assistant could not answer.", "model");
}

// Reads a Server-Sent Events body, calling onEvent(name, data) for each event.
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// Runs one streamed turn against `url`. The answer is shown as plain text while it arrives
// and replaced by the server's sanitised HTML when it is done.
async function streamTurn(url, body, view, { onStored } = {}) {
  const controller = new AbortController();
  state.abort = controller;
  let bubble = null, textNode = null, finished = false;
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal: controller.signal,
  }).catch((e) => { throw new NetworkError(String(e)); });
  if (!res.ok || !(res.headers.get("content-type") || "").startsWith("text/event-stream")) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    return { status: res.status, data };
  }
  try {
    await readEvents(res, (name, data) => {
      if (view !== state.view) return;
      if (name === "start") {
        state.sessionId = data.session_id;
        state.streamingId = data.message_id;
        onStored?.(data);
      } else if (name === "delta") {
        if (!bubble) {
          $("typing").hidden = true;
          bubble = el("div", { class: "msg assistant streaming" });
          bubble.dataset.role = "assistant";
          textNode = el("div", { class: "body plain" });
          bubble.append(textNode);
          messagesBox().append(bubble);
        }
        textNode.textContent += data.text;
        scrollToEnd();
      } else if (name === "done") {
        finished = true;
        bubble?.remove();
        appendMessage({ id: data.message_id, role: "assistant", content_html: data.response_html, timestamp: data.timestamp, status: data.status, actions: data.actions });
        // A "yes" or "no" decided earlier cards: show them as they are now, and the new data.
        if (data.model === "opschat-actions" && state.sessionId) openSession(state.sessionId);
        document.dispatchEvent(new CustomEvent("workspace-refresh"));
      } else if (name === "error") {
        finished = true;
        if (bubble) {
          bubble.classList.remove("streaming");
          bubble.classList.add("interrupted");
          bubble.append(el("div", { class: "marker", text: "Interrupted" }));
        }
        showError(data.message || "The assistant could not answer.", "model");
      }
    });
  } catch (e) {
    if (e.name !== "AbortError") throw new NetworkError(String(e));
  } finally {
    state.abort = null;
    state.streamingId = null;
  }
  if (!finished && view === state.view) {
    // The stream ended without its last event: the server saved what it had.
    bubble?.classList.remove("streaming");
    if (bubble) bubble.append(el("div", { class: "marker", text: "Stopped" }));
  }
  return { status: 200, data: null };
}

async function send(text) {
  const message = text.trim();
  if (!message || state.waiting) return;
  clearError();
  hideSessions();
  $("suggestions").replaceChildren();
  state.stick = true;
  const view = ++state.view;
  appendMessage({ role: "user", content: message, timestamp: new Date().toISOString() });
  $("input").value = "";
  autoGrow();
  setWaiting(true);
  let stored = false;
  try {
    const r = await streamTurn("/api/operations-chat", { message, session_id: state.sessionId }, view, { onStored: () => { stored = true; } });
    if (view !== state.view) return;
    if (r.status !== 200) {
      if (r.status === 502 || r.status === 504) modelFailed(r.data);
      else {
        // Not stored: give the text back so nothing the user wrote is lost.
        messagesBox().lastElementChild?.remove();
        $("input").value = message;
        showError(r.data?.error?.message || `Request failed (${r.status}).`, "input", false);
      }
    }
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
    if (view !== state.view) return;
    state.pendingText = message;
    if (stored) showError("Connection lost while the answer was coming in.", "reload");
    else showError("Connection lost: the message may not have reached opschat.", "network");
  } finally {
    setWaiting(false);
    updateSend();
  }
}

async function stopStreaming() {
  if (!state.waiting || !state.sessionId) { state.abort?.abort(); return; }
  const sid = state.sessionId;
  try { await api(`/api/operations-chat/sessions/${sid}/stop`, { method: "POST", body: {} }); } catch { /* aborting is enough */ }
  // The server ends the stream with a "stopped" answer; if it cannot, stop listening anyway.
  setTimeout(() => state.abort?.abort(), 2000);
}

async function regenerate() {
  if (state.waiting || !state.sessionId) return;
  clearError();
  const view = ++state.view;
  const old = messagesBox().lastElementChild;
  setWaiting(true);
  try {
    const r = await streamTurn(`/api/operations-chat/sessions/${state.sessionId}/retry`, {}, view, { onStored: () => old?.remove() });
    if (view === state.view && r.status !== 200) {
      if (r.status === 502 || r.status === 504) modelFailed(r.data);
      else showError(r.data?.error?.message || `Regenerate failed (${r.status}).`, "input", false);
    }
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
    showError("Connection lost: cannot reach opschat.", "reload");
  } finally {
    setWaiting(false);
  }
}

async function retry() {
  const failure = state.failure;
  if (!failure || state.waiting) return;
  clearError();
  if (failure.kind === "reload") { await openSession(state.sessionId); return; }
  if (failure.kind === "network") {
    // Find out what reached the server before deciding: never store the question twice.
    const text = state.pendingText;
    let stored = null;
    try {
      if (state.sessionId) {
        const h = await api(`/api/operations-chat/history/${state.sessionId}?limit=2`);
        stored = h.ok ? h.data.messages : null;
      }
    } catch { showError("Connection lost: cannot reach opschat.", "network"); return; }
    const last = stored?.[stored.length - 1];
    if (last && last.role === "assistant" && last.status === "complete" && stored[0]?.content === text) {
      await openSession(state.sessionId);
      return;
    }
    if (!(last && last.role === "user" && last.content === text)) {
      messagesBox().lastElementChild?.remove();
      await send(text);
      return;
    }
  }
  const view = ++state.view;
  messagesBox().querySelectorAll(".msg.failed, .msg.interrupted").forEach((n) => n.remove());
  setWaiting(true);
  try {
    const r = await streamTurn(`/api/operations-chat/sessions/${state.sessionId}/retry`, {}, view);
    if (view === state.view && r.status !== 200) {
      if (r.status === 502 || r.status === 504) modelFailed(r.data);
      else showError(r.data?.error?.message || `Retry failed (${r.status}).`, "input", false);
    }
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
    showError("Connection lost: cannot reach opschat.", failure.kind === "network" ? "network" : "model");
  } finally {
    setWaiting(false);
  }
}

// ---------------------------------------------------------------- session browser

function hideSessions() {
  $("sessions").hidden = true;
  $("messages").hidden = false;
  $("history-btn").setAttribute("aria-expanded", "false");
}

async function showSessions() {
  const r = await api(`/api/operations-chat/sessions?limit=50&include_archived=${$("show-archived").checked}`);
  if (!r.ok) return;
  $("sessions").hidden = false;
  $("messages").hidden = true;
  $("suggestions").replaceChildren();
  $("history-btn").setAttribute("aria-expanded", "true");
  const items = r.data.sessions.map((s) => {
    const when = new Date(s.last_message_at).toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: state.timeZone });
    const openBtn = el("button", { type: "button", class: "open-session", onclick: async () => { hideSessions(); await openSession(s.id); } },
      el("span", { class: "session-title", text: s.title }),
      el("span", { class: "meta", text: `${when} · ${s.message_count} messages${s.is_active ? "" : " · archived"}` }));
    const li = el("li", { class: s.id === state.sessionId ? "current" : "" }, openBtn,
      el("button", { type: "button", "aria-label": `Rename “${s.title}”`, text: "Rename", onclick: () => rename(li, s) }),
      el("button", { type: "button", "aria-label": `${s.is_active ? "Archive" : "Restore"} “${s.title}”`, text: s.is_active ? "Archive" : "Restore",
        onclick: async () => { await api(`/api/operations-chat/sessions/${s.id}`, { method: "PATCH", body: { is_active: !s.is_active } }); showSessions(); } }),
      el("details", { class: "export-menu" }, el("summary", { "aria-label": `Export “${s.title}”`, text: "Export" }),
        ...[["md", "Markdown"], ["html", "HTML page"], ["json", "JSON"]].map(([f, label]) =>
          el("a", { href: `/api/operations-chat/sessions/${s.id}/export?format=${f}`, download: "", "aria-label": `Export “${s.title}” as ${label}`, text: label }))));
    li.dataset.sessionId = s.id;
    return li;
  });
  $("session-list").replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "No conversations yet." })]));
}

// ---------------------------------------------------------------- search

let searchTimer = null;
let searchSeq = 0;

function searchResults(data, query) {
  const items = [];
  for (const h of data.results) {
    const snippet = el("span", { class: "snippet" });
    snippet.innerHTML = h.snippet_html;   // escaped by the server; matches in <mark>
    const when = new Date(h.created_at).toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: state.timeZone });
    items.push(el("li", {}, el("button", { type: "button", class: "search-hit", onclick: async () => { hideSessions(); await openSession(h.session_id, { seq: h.seq }); } },
      el("span", { class: "session-title", text: h.session_title }), snippet,
      el("span", { class: "meta", text: `${h.role === "user" ? "You" : "Assistant"} · ${when}${h.session_archived ? " · archived" : ""}` }))));
  }
  const shown = new Set(data.results.map((h) => h.session_id));
  for (const t of data.sessions.filter((t) => !shown.has(t.session_id))) {
    items.push(el("li", {}, el("button", { type: "button", class: "search-hit", onclick: async () => { hideSessions(); await openSession(t.session_id); } },
      el("span", { class: "session-title", text: t.title }),
      el("span", { class: "meta", text: `Conversation title · ${new Date(t.last_message_at).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: state.timeZone })}` }))));
  }
  $("search-results").replaceChildren(...items);
  $("search-results").hidden = items.length === 0;
  const n = data.total + data.sessions.length;
  $("search-status").textContent = n ? `${data.total} message${data.total === 1 ? "" : "s"}${data.sessions.length ? ` and ${data.sessions.length} title${data.sessions.length === 1 ? "" : "s"}` : ""} match “${query}”.` : `No conversations match “${query}”.`;
}

async function runSearch() {
  const query = $("search-input").value;
  const mine = ++searchSeq;
  const showList = !query.trim();
  $("session-list").hidden = !showList;
  $("past-heading").hidden = !showList;
  if (showList) {
    $("search-results").hidden = true;
    $("search-status").textContent = "";
    return;
  }
  const params = new URLSearchParams({ q: query, limit: "30", include_archived: String($("show-archived").checked) });
  let r;
  try { r = await api(`/api/operations-chat/search?${params}`); } catch { r = null; }
  if (mine !== searchSeq) return;   // a newer keystroke's search is on its way
  if (!r) { $("search-status").textContent = "Cannot reach opschat."; return; }
  if (!r.ok) { $("search-results").hidden = true; $("search-status").textContent = errorText(r, "That search did not work."); return; }
  searchResults(r.data, query.trim());
}

function onSearchKey(e) {
  const hits = [...$("search-results").querySelectorAll(".search-hit")];
  if (!hits.length) return;
  const at = hits.indexOf(document.activeElement);
  if (e.key === "ArrowDown") { e.preventDefault(); hits[Math.min(at + 1, hits.length - 1)].focus(); }
  else if (e.key === "ArrowUp") { e.preventDefault(); if (at <= 0) $("search-input").focus(); else hits[at - 1].focus(); }
}

function rename(li, s) {
  const input = el("input", { type: "text", value: s.title, "aria-label": "New title", maxlength: "200" });
  const save = async () => {
    const title = input.value.trim();
    if (title && title !== s.title) await api(`/api/operations-chat/sessions/${s.id}`, { method: "PATCH", body: { title } });
    showSessions();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); save(); }
    if (e.key === "Escape") { e.stopPropagation(); showSessions(); }
  });
  input.addEventListener("blur", save, { once: true });
  li.querySelector(".open-session").replaceWith(input);
  input.focus();
  input.select();
}

// ---------------------------------------------------------------- wiring

function openPanel() {
  $("chat-panel").hidden = false;
  $("chat-toggle").setAttribute("aria-expanded", "true");
  $("chat-toggle").setAttribute("aria-label", "Close chat");
  if (!state.opened) {
    state.opened = true;
    // `/?session=ID` (a link from the analytics page) opens that conversation.
    const wanted = new URLSearchParams(location.search).get("session");
    if (wanted) openSession(wanted); else restoreRecent();
  }
  $("input").focus();
}

function closePanel() {
  $("chat-panel").hidden = true;
  $("chat-toggle").setAttribute("aria-expanded", "false");
  $("chat-toggle").setAttribute("aria-label", "Open chat");
  $("chat-toggle").focus();
}

function autoGrow() {
  const t = $("input");
  t.style.height = "auto";
  t.style.height = Math.min(t.scrollHeight, 160) + "px";
}

document.addEventListener("DOMContentLoaded", () => {
  setupHeader().then((user) => { state.timeZone = user?.time_zone || undefined; });
  // The workspace changed (here or in another tab): fresh suggestions if they are showing.
  document.addEventListener("workspace-changed", () => {
    if ($("suggestions").childElementCount > 0 && !state.waiting) showSuggestions();
  });
  $("chat-toggle").addEventListener("click", () => ($("chat-panel").hidden ? openPanel() : closePanel()));
  $("chat-close").addEventListener("click", closePanel);
  $("new-chat").addEventListener("click", newChat);
  $("retry").addEventListener("click", retry);
  $("stop").addEventListener("click", stopStreaming);
  $("history-btn").addEventListener("click", () => ($("sessions").hidden ? showSessions() : hideSessions()));
  $("show-archived").addEventListener("change", () => { showSessions(); runSearch(); });
  $("search-input").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  $("search-input").addEventListener("keydown", onSearchKey);
  $("search-results").addEventListener("keydown", onSearchKey);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("chat-panel").hidden) closePanel();
  });
  messagesBox().addEventListener("scroll", () => {
    const b = messagesBox();
    state.stick = b.scrollHeight - b.scrollTop - b.clientHeight < 40;
  });
  const input = $("input");
  input.addEventListener("input", () => { updateSend(); autoGrow(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(input.value);
    }
  });
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(input.value); });
  if (new URLSearchParams(location.search).has("session")) openPanel();
});
