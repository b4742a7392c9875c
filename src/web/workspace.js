// opschat workspace: today's dashboard, where the manager adds, completes, edits and delegates
// tasks, follows up on delegations, keeps notes and edits the digest. It talks to the same JSON
// API as every other client; every write names the version it saw, so another tab's change is
// never silently overwritten. Data is inserted as text only.

import { api, el, errorText } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const PRIORITIES = ["urgent", "high", "medium", "low"];
const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
const POLL_MS = 4000;
const UNDO_MS = 8000;

const ws = {
  today: null,
  digest: null,
  revision: undefined,    // the newest activity id seen: another tab's change moves it
  panel: null,            // {kind: "task"|"delegation", id, dirty}
  opener: null,           // the control that opened the panel: focus returns there
  toastTimer: null,
  undo: null,
};

function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso.length === 10 ? iso + "T12:00:00" : iso);
  return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
}

function fmtWhen(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function say(id, text, isError = false) {
  const n = $(id);
  if (!n) return;
  n.textContent = text || "";
  n.classList.toggle("error", !!isError);
}

// Tells the chat (suggestions) that the data changed.
function announceChange() {
  document.dispatchEvent(new CustomEvent("workspace-changed"));
}

// ------------------------------------------------------------------ dashboard

function taskItem(t) {
  const li = el("li", { class: "task" + (t.overdue ? " overdue" : "") });
  li.dataset.taskId = t.id;
  const done = el("input", { type: "checkbox", class: "done", "aria-label": `Complete: ${t.title}` });
  done.addEventListener("change", () => completeTask(t, done));
  const open = el("button", { type: "button", class: "task-open", text: t.title, "aria-haspopup": "dialog" });
  open.addEventListener("click", () => openTask(t.id, open));
  const badges = [];
  if (t.overdue) badges.push(el("span", { class: "badge", text: "Overdue" }));
  if (t.recurrence_text) badges.push(el("span", { class: "tag", text: `↻ ${t.recurrence_text}` }));
  if (t.delegated_to) badges.push(el("span", { class: "tag", text: `→ ${t.delegated_to.assigned_to}` }));
  li.append(
    el("span", { class: "task-main" }, done, open, ...badges),
    el("span", { class: "due", text: t.due ? `${t.due}${t.due_date ? " · " + fmtDate(t.due_date) : ""}` : "no due date" }));
  return li;
}

function followText(d) {
  const f = d.follow_up_date || d.due_date;
  if (!f) return d.status.replace("_", " ");
  if (d.follow_up_overdue) return `follow-up overdue · ${fmtDate(f)}`;
  if (d.follow_up_due) return `follow up today`;
  return `follow up ${fmtDate(f)}`;
}

function delegationItem(d, withComplete) {
  const li = el("li", { class: "delegation" + (d.follow_up_overdue ? " overdue" : "") });
  li.dataset.delegationId = d.id;
  const open = el("button", { type: "button", class: "deleg-open", text: `${d.assigned_to} — ${d.task_description}`, "aria-haspopup": "dialog" });
  open.addEventListener("click", () => openDelegation(d.id, open));
  const actions = el("span", { class: "item-actions" });
  if (d.status !== "completed") {
    actions.append(el("button", { type: "button", class: "small-button followed", text: "Followed up",
      "aria-label": `Followed up with ${d.assigned_to}: ${d.task_description}`, onclick: () => followedUp(d) }));
    if (withComplete) {
      actions.append(el("button", { type: "button", class: "small-button", text: "Complete",
        "aria-label": `Complete: ${d.task_description} (${d.assigned_to})`, onclick: () => completeDelegation(d) }));
    }
  }
  li.append(
    el("span", { class: "task-main" }, open, d.follow_up_overdue ? el("span", { class: "badge", text: "Follow-up overdue" }) : null),
    el("span", { class: "due-actions" }, el("span", { class: "due", text: followText(d) }), actions));
  return li;
}

function fillList(ul, items, render, emptyText) {
  ul.replaceChildren(...(items.length ? items.map(render) : [el("li", { class: "empty", text: emptyText })]));
}

async function refresh() {
  let r;
  try { r = await api("/api/operations/today"); } catch { r = null; }
  if (!r || !r.ok) {
    $("dash-error").hidden = false;
    $("dash-error").textContent = r ? errorText(r, "Could not load today's data.") : "Cannot reach opschat.";
    return;
  }
  const d = r.data;
  ws.today = d.today;
  $("dash-error").hidden = true;
  $("today-label").textContent = new Date(d.today + "T12:00:00").toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  $("count-open").textContent = d.counts.open;
  $("count-overdue").textContent = d.counts.overdue;
  $("count-today").textContent = d.counts.due_today;
  $("count-week").textContent = d.counts.deadlines_next_7_days;
  $("count-follow").textContent = d.counts.follow_ups_due;
  $("count-deleg").textContent = d.counts.active_delegations;
  renderDigest(d.digest);
  const groups = PRIORITIES.filter((p) => (d.open_tasks_by_priority[p] || []).length).map((p) => {
    const tasks = d.open_tasks_by_priority[p];
    return el("div", { class: `prio-group prio-${p}` },
      el("h3", { text: `${p} (${tasks.length})` }),
      el("ul", { class: "list" }, ...tasks.map(taskItem)));
  });
  $("tasks").replaceChildren(...(groups.length ? groups : [el("p", { class: "empty", text: "No open tasks. Add one above." })]));
  fillList($("deadlines"), d.deadlines, (t) => el("li", {}, el("span", { text: t.title }), el("span", { class: "due", text: fmtDate(t.due_date) })), "Nothing due this week.");
  fillList($("followups"), d.follow_ups_due, (x) => delegationItem(x, false), "No follow-ups due.");
  fillList($("delegations"), d.delegations, (x) => delegationItem(x, true), "No open delegations.");
  const people = [...new Set(d.delegations.map((x) => x.assigned_to))].sort();
  $("people").replaceChildren(...people.map((p) => el("option", { value: p })));
}

// Runs after one of our own writes: fresh data everywhere, and the change is not mistaken for
// another tab's on the next poll.
async function changed() {
  await refresh();
  await poll(true);
  announceChange();
}

// Another tab, device or the API changed something: show it within a few seconds.
async function poll(quiet = false) {
  if (!quiet && document.visibilityState !== "visible") return;
  let r;
  try { r = await api("/api/activity?limit=1", { redirectOn401: !quiet }); } catch { return; }
  if (!r.ok) return;
  const rev = r.data.revision || null;
  const moved = ws.revision !== undefined && rev !== ws.revision;
  ws.revision = rev;
  if (moved && !quiet) {
    await refresh();
    announceChange();
    if (ws.panel && !ws.panel.dirty) reopenPanel();
  }
}

// ------------------------------------------------------------------ the toast

function toast(text, undo) {
  clearTimeout(ws.toastTimer);
  ws.undo = undo || null;
  $("toast-text").textContent = text;
  $("toast-undo").hidden = !undo;
  $("toast").hidden = false;
  ws.toastTimer = setTimeout(() => { $("toast").hidden = true; ws.undo = null; }, UNDO_MS);
}

async function runUndo() {
  const undo = ws.undo;
  if (!undo) return;
  ws.undo = null;
  clearTimeout(ws.toastTimer);
  $("toast").hidden = true;
  await undo();
}

// ------------------------------------------------------------------ tasks

async function completeTask(t, box) {
  // Read focus before disabling: a disabled box may lose it.
  const hadFocus = document.activeElement === box;
  box.disabled = true;
  let r;
  try {
    r = await api(`/api/tasks/${t.id}`, { method: "PATCH", body: { status: "completed" }, version: t.version });
  } catch {
    box.checked = false; box.disabled = false;
    say("quick-status", "Cannot reach opschat; the task is unchanged.", true);
    return;
  }
  if (!r.ok) {
    box.checked = false; box.disabled = false;
    say("quick-status", r.status === 409 ? "That task was changed elsewhere; the list now shows it as it is." : errorText(r, "Could not complete the task."), true);
    await changed();
    return;
  }
  const done = r.data;
  const next = done.next_occurrence;
  const text = `Completed “${done.title}”` + (next ? ` — next due ${fmtDate(next.due_date)}` : "");
  toast(text, async () => {
    const u = await api(`/api/tasks/${done.id}`, { method: "PATCH", body: { status: "todo" }, version: done.version }).catch(() => null);
    if (!u || !u.ok) say("quick-status", u ? errorText(u, "Could not undo.") : "Cannot reach opschat.", true);
    else toast(`“${done.title}” is open again`);
    await changed();
    const again = document.querySelector(`li[data-task-id="${done.id}"] .done`);
    if (again) again.focus();
  });
  // The checked task leaves the list: keep a keyboard user's place on the Undo button, before
  // the list re-renders without it.
  if (hadFocus) $("toast-undo").focus();
  await changed();
}

async function quickAdd(e) {
  e.preventDefault();
  const input = $("quick-input");
  const text = input.value.trim();
  if (!text) { say("quick-status", "Type what needs doing first.", true); input.focus(); return; }
  $("quick-submit").disabled = true;
  let r;
  try { r = await api("/api/tasks", { method: "POST", body: { quick: text } }); } catch { r = null; }
  $("quick-submit").disabled = false;
  if (!r || !r.ok) {
    say("quick-status", r ? errorText(r, "Could not add the task.") : "Cannot reach opschat; nothing was added.", true);
    return;
  }
  const t = r.data;
  const bits = [t.due_date ? `due ${fmtDate(t.due_date)}` : null, t.priority !== "medium" ? t.priority : null, t.recurrence_text].filter(Boolean);
  say("quick-status", `Added “${t.title}”${bits.length ? " · " + bits.join(" · ") : ""}`);
  input.value = "";
  await changed();
}

// ------------------------------------------------------------------ the side panel

function field(id, label, control, hint) {
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text: label }), control, hint || null);
}

function select(options, value) {
  const s = el("select");
  for (const [v, label] of options) s.append(el("option", { value: v, text: label, selected: v === value }));
  return s;
}

function input(type, value, attrs = {}) {
  const i = el("input", { type, ...attrs });
  if (type === "checkbox") i.checked = !!value;
  else i.value = value ?? "";
  return i;
}

function activityList(entries) {
  const verbs = {
    created: "created it", imported: "imported it", completed: "completed it", reopened: "reopened it",
    cancelled: "cancelled it", deleted: "deleted it", restored: "restored it", delegated: "delegated it",
    note_added: "added a note", followed_up: "followed up", repeated: "created this occurrence",
  };
  const items = entries.slice().reverse().map((a) => {
    let what = verbs[a.action] || a.action;
    if (a.action === "updated" && a.changes) what = `changed ${Object.keys(a.changes).join(", ").replaceAll("_", " ")}`;
    return el("li", {}, el("span", { text: `${a.actor_name} ${what}` }),
      el("span", { class: "due", text: `${fmtWhen(a.at)} · ${a.via}` }));
  });
  return el("ul", { class: "list activity", "aria-label": "Activity" }, ...(items.length ? items : [el("li", { class: "empty", text: "No activity yet." })]));
}

function showPanel(kind, id, title) {
  ws.panel = { kind, id, dirty: false };
  $("item-title").textContent = title;
  $("item-panel").hidden = false;
  document.body.classList.add("side-open");
}

function closeSide() {
  if ($("item-panel").hidden) return;
  $("item-panel").hidden = true;
  document.body.classList.remove("side-open");
  ws.panel = null;
  say("item-status", "");
  const back = ws.opener;
  ws.opener = null;
  if (back && document.contains(back)) back.focus();
}

function reopenPanel() {
  if (!ws.panel) return;
  if (ws.panel.kind === "task") openTask(ws.panel.id, null, true);
  else openDelegation(ws.panel.id, null, true);
}

async function openTask(id, opener, keepFocus = false) {
  if (opener) ws.opener = opener;
  const [r, a] = await Promise.all([api(`/api/tasks/${id}`), api(`/api/tasks/${id}/activity`)]).catch(() => [null, null]);
  if (!r || !r.ok) { say("quick-status", r ? errorText(r, "Could not open the task.") : "Cannot reach opschat.", true); return; }
  renderTask(r.data, a?.ok ? a.data.activity : []);
  if (!keepFocus) $("item-title").focus();
}

function renderTask(t, activity) {
  showPanel("task", t.id, t.title);
  const title = input("text", t.title, { maxlength: 300, required: true });
  const desc = el("textarea", { rows: 3, maxlength: 10000 });
  desc.value = t.description || "";
  const due = input("date", t.due_date);
  const prio = select(PRIORITIES.map((p) => [p, p[0].toUpperCase() + p.slice(1)]), t.priority);
  const est = input("number", t.time_estimate_minutes, { min: 1, max: 10080, inputmode: "numeric" });
  const deleg = input("checkbox", t.delegatable);
  const status = select([["todo", "To do"], ["in_progress", "In progress"], ["completed", "Completed"], ["cancelled", "Cancelled"]], t.status);
  const rule = t.recurrence;
  const repeat = select([["", "Does not repeat"], ["day", "Every day"], ["week", "Every week"], ["month", "Every month"], ["year", "Every year"]], rule ? rule.every : "");
  const days = el("fieldset", { class: "days" }, el("legend", { text: "On" }),
    ...DAYS.map(([d, name]) => el("label", {}, input("checkbox", rule?.days?.includes(d), { value: d, "aria-label": name }), ` ${name.slice(0, 3)}`)));
  days.hidden = repeat.value !== "week";
  repeat.addEventListener("change", () => { days.hidden = repeat.value !== "week"; });

  const form = el("form", { class: "stack editor", "aria-label": "Edit the task" },
    field("t-title", "Title", title),
    field("t-desc", "Description", desc),
    el("div", { class: "two" }, field("t-due", "Due date", due), field("t-priority", "Priority", prio)),
    el("div", { class: "two" }, field("t-estimate", "Estimate (minutes)", est), field("t-status", "Status", status)),
    field("t-repeat", "Repeats", repeat, rule ? el("small", { class: "muted", text: `Now: ${t.recurrence_text}` }) : null),
    days,
    el("label", { class: "check" }, deleg, " Someone else could do this (delegatable)"),
    el("div", { class: "row" },
      el("button", { type: "submit", class: "primary", text: "Save changes" }),
      el("button", { type: "button", class: "danger", text: "Delete task", onclick: () => deleteTask(t) })));
  deleg.id = "t-delegatable";
  form.addEventListener("input", () => { if (ws.panel) ws.panel.dirty = true; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const patch = {};
    if (title.value.trim() !== t.title) patch.title = title.value;
    if ((desc.value.trim() || null) !== (t.description || null)) patch.description = desc.value.trim() || null;
    if ((due.value || null) !== (t.due_date || null)) patch.due_date = due.value || null;
    if (prio.value !== t.priority) patch.priority = prio.value;
    const m = est.value === "" ? null : Number(est.value);
    if (m !== (t.time_estimate_minutes ?? null)) patch.time_estimate_minutes = m;
    if (deleg.checked !== t.delegatable) patch.delegatable = deleg.checked;
    if (status.value !== t.status) patch.status = status.value;
    const picked = [...days.querySelectorAll("input:checked")].map((i) => i.value);
    const wanted = repeat.value ? { every: repeat.value, ...(repeat.value === "week" && picked.length ? { days: picked } : {}) } : null;
    const same = (!wanted && !rule) || (wanted && rule && wanted.every === rule.every &&
      (wanted.every !== "week" || !wanted.days || wanted.days.join() === (rule.days || []).join()));
    if (!same) patch.recurrence = wanted;
    if (!Object.keys(patch).length) { say("item-status", "Nothing to save."); return; }
    const r = await api(`/api/tasks/${t.id}`, { method: "PATCH", body: patch, version: t.version }).catch(() => null);
    if (!r) { say("item-status", "Cannot reach opschat; nothing was saved. Your edits are still in the form.", true); return; }
    if (r.status === 409 && r.data?.error?.code === "version_conflict") {
      await openTask(t.id, null, true);
      say("item-status", "This task was changed elsewhere while you edited it, so your changes were not saved. The form now shows the current version.", true);
      await changed();
      return;
    }
    if (!r.ok) { say("item-status", errorText(r, "Could not save."), true); return; }
    await openTask(t.id, null, true);
    say("item-status", r.data.next_occurrence ? `Saved. Next occurrence due ${fmtDate(r.data.next_occurrence.due_date)}.` : "Saved.");
    await changed();
  });

  const parts = [form];
  if (t.delegated_to) {
    parts.push(el("section", { class: "sub" }, el("h3", { text: "Delegated" }),
      el("p", { text: `Delegated to ${t.delegated_to.assigned_to}${t.delegated_to.follow_up_date ? ", follow up " + fmtDate(t.delegated_to.follow_up_date) : ""}.` }),
      el("button", { type: "button", text: "Open the delegation", onclick: () => openDelegation(t.delegated_to.id, null) })));
  } else if (t.status === "todo" || t.status === "in_progress") {
    parts.push(delegateForm(t));
  }
  parts.push(el("section", { class: "sub" }, el("h3", { text: "Activity" }), activityList(activity)));
  $("item-body").replaceChildren(...parts);
}

function delegateForm(t) {
  const who = input("text", "", { maxlength: 200, list: "people", required: true, autocomplete: "off" });
  const email = input("email", "", { maxlength: 254 });
  const due = input("date", t.due_date);
  const follow = input("date", "");
  const note = el("textarea", { rows: 2, maxlength: 4000 });
  const form = el("form", { class: "stack sub", "aria-labelledby": "delegate-heading" },
    el("h3", { id: "delegate-heading", text: "Delegate" }),
    field("d-who", "Person", who),
    field("d-email", "Email (optional)", email),
    el("div", { class: "two" }, field("d-due", "Due", due), field("d-follow", "Follow up on", follow)),
    field("d-note", "Note (optional)", note),
    el("button", { type: "submit", class: "primary", text: "Delegate" }));
  form.addEventListener("input", () => { if (ws.panel) ws.panel.dirty = true; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!who.value.trim()) { say("item-status", "Say who takes it over.", true); who.focus(); return; }
    const body = { assigned_to: who.value };
    if (email.value.trim()) body.assigned_to_email = email.value.trim();
    if (due.value) body.due_date = due.value;
    if (follow.value) body.follow_up_date = follow.value;
    if (note.value.trim()) body.note = note.value;
    const r = await api(`/api/tasks/${t.id}/delegate`, { method: "POST", body, version: t.version }).catch(() => null);
    if (!r) { say("item-status", "Cannot reach opschat; nothing was delegated.", true); return; }
    if (!r.ok) { say("item-status", errorText(r, "Could not delegate."), true); if (r.status === 409) await openTask(t.id, null, true); return; }
    await openTask(t.id, null, true);
    say("item-status", `Delegated to ${r.data.delegation.assigned_to}.`);
    await changed();
  });
  return form;
}

async function deleteTask(t) {
  const r = await api(`/api/tasks/${t.id}`, { method: "DELETE", version: t.version }).catch(() => null);
  if (!r || !r.ok) { say("item-status", r ? errorText(r, "Could not delete.") : "Cannot reach opschat.", true); return; }
  closeSide();
  toast(`Deleted “${t.title}”`, async () => {
    await api(`/api/tasks/${t.id}/restore`, { method: "POST", body: {} }).catch(() => null);
    await changed();
  });
  $("toast-undo").focus();
  await changed();
}

// ------------------------------------------------------------------ delegations

async function followedUp(d) {
  const r = await api(`/api/delegations/${d.id}/follow-up`, { method: "POST", body: {}, version: d.version }).catch(() => null);
  if (!r || !r.ok) { say("quick-status", r ? errorText(r, "Could not record the follow-up.") : "Cannot reach opschat.", true); await changed(); return; }
  toast(`Followed up with ${d.assigned_to}; next follow-up ${fmtDate(r.data.follow_up_date)}`);
  await changed();
}

async function completeDelegation(d) {
  const r = await api(`/api/delegations/${d.id}`, { method: "PATCH", body: { status: "completed" }, version: d.version }).catch(() => null);
  if (!r || !r.ok) { say("quick-status", r ? errorText(r, "Could not complete it.") : "Cannot reach opschat.", true); await changed(); return; }
  const done = r.data;
  toast(`Completed “${d.task_description}”${done.completed_task ? " and its task" : ""}`, async () => {
    await api(`/api/delegations/${d.id}`, { method: "PATCH", body: { status: "active" }, version: done.version }).catch(() => null);
    if (done.completed_task) {
      await api(`/api/tasks/${done.completed_task.id}`, { method: "PATCH", body: { status: "todo" }, version: done.completed_task.version }).catch(() => null);
    }
    await changed();
  });
  await changed();
}

async function openDelegation(id, opener, keepFocus = false) {
  if (opener) ws.opener = opener;
  const [r, a] = await Promise.all([api(`/api/delegations/${id}`), api(`/api/delegations/${id}/activity`)]).catch(() => [null, null]);
  if (!r || !r.ok) { say("quick-status", r ? errorText(r, "Could not open the delegation.") : "Cannot reach opschat.", true); return; }
  renderDelegation(r.data, a?.ok ? a.data.activity : []);
  if (!keepFocus) $("item-title").focus();
}

function renderDelegation(d, activity) {
  showPanel("delegation", d.id, `${d.assigned_to} — ${d.task_description}`);
  const what = input("text", d.task_description, { maxlength: 300, required: true });
  const who = input("text", d.assigned_to, { maxlength: 200, list: "people", required: true });
  const email = input("email", d.assigned_to_email, { maxlength: 254 });
  const due = input("date", d.due_date);
  const follow = input("date", d.follow_up_date);
  const prio = select(PRIORITIES.map((p) => [p, p[0].toUpperCase() + p.slice(1)]), d.priority);
  const status = select([["planning", "Planning"], ["active", "Active"], ["on_hold", "On hold"], ["completed", "Completed"]], d.status);
  const summary = el("p", { class: d.follow_up_overdue ? "error" : "muted", text: followText(d) + (d.last_followed_up_at ? ` · last followed up ${fmtWhen(d.last_followed_up_at)}` : "") });
  const form = el("form", { class: "stack editor", "aria-label": "Edit the delegation" },
    summary,
    field("dl-what", "What", what),
    el("div", { class: "two" }, field("dl-who", "Person", who), field("dl-email", "Email", email)),
    el("div", { class: "two" }, field("dl-due", "Due", due), field("dl-follow", "Follow up on", follow)),
    el("div", { class: "two" }, field("dl-priority", "Priority", prio), field("dl-status", "Status", status)),
    el("div", { class: "row" },
      el("button", { type: "submit", class: "primary", text: "Save changes" }),
      d.status !== "completed" ? el("button", { type: "button", text: "Followed up", onclick: async () => { await followedUp(d); await openDelegation(d.id, null, true); } }) : null,
      d.status !== "completed" ? el("button", { type: "button", text: "Complete", onclick: async () => { await completeDelegation(d); await openDelegation(d.id, null, true); } }) : null,
      el("button", { type: "button", class: "danger", text: "Delete", onclick: () => deleteDelegation(d) })));
  form.addEventListener("input", () => { if (ws.panel) ws.panel.dirty = true; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const patch = {};
    if (what.value.trim() !== d.task_description) patch.task_description = what.value;
    if (who.value.trim() !== d.assigned_to) patch.assigned_to = who.value;
    if ((email.value.trim() || null) !== (d.assigned_to_email || null)) patch.assigned_to_email = email.value.trim() || null;
    if ((due.value || null) !== (d.due_date || null)) patch.due_date = due.value || null;
    if ((follow.value || null) !== (d.follow_up_date || null)) patch.follow_up_date = follow.value || null;
    if (prio.value !== d.priority) patch.priority = prio.value;
    if (status.value !== d.status) patch.status = status.value;
    if (!Object.keys(patch).length) { say("item-status", "Nothing to save."); return; }
    const r = await api(`/api/delegations/${d.id}`, { method: "PATCH", body: patch, version: d.version }).catch(() => null);
    if (!r) { say("item-status", "Cannot reach opschat; nothing was saved.", true); return; }
    if (r.status === 409 && r.data?.error?.code === "version_conflict") {
      await openDelegation(d.id, null, true);
      say("item-status", "This delegation was changed elsewhere while you edited it, so your changes were not saved. The form now shows the current version.", true);
      await changed();
      return;
    }
    if (!r.ok) { say("item-status", errorText(r, "Could not save."), true); return; }
    await openDelegation(d.id, null, true);
    say("item-status", "Saved.");
    await changed();
  });

  const noteText = el("textarea", { rows: 2, maxlength: 4000 });
  const noteForm = el("form", { class: "stack" },
    field("dl-note", "Add a note", noteText),
    el("button", { type: "submit", text: "Add note" }));
  noteForm.addEventListener("input", () => { if (ws.panel) ws.panel.dirty = true; });
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!noteText.value.trim()) { say("item-status", "Write the note first.", true); noteText.focus(); return; }
    const r = await api(`/api/delegations/${d.id}/notes`, { method: "POST", body: { body: noteText.value } }).catch(() => null);
    if (!r || !r.ok) { say("item-status", r ? errorText(r, "Could not add the note.") : "Cannot reach opschat; the note is still in the box.", true); return; }
    await openDelegation(d.id, null, true);
    say("item-status", "Note added.");
    $("dl-note")?.focus();
    await changed();
  });
  const notes = (d.notes || []).slice().reverse().map((n) => el("li", {},
    el("span", { class: "note-body", text: n.body }),
    el("span", { class: "due", text: `${n.author_name} · ${fmtWhen(n.created_at)}` })));
  const parts = [form,
    el("section", { class: "sub" }, el("h3", { text: "Notes" }),
      el("ul", { id: "dl-notes", class: "list notes", "aria-label": "Notes" }, ...(notes.length ? notes : [el("li", { class: "empty", text: "No notes yet." })])),
      noteForm)];
  if (d.task_id) {
    parts.push(el("p", {}, el("button", { type: "button", text: "Open the task", onclick: () => openTask(d.task_id, null) })));
  }
  parts.push(el("section", { class: "sub" }, el("h3", { text: "Activity" }), activityList(activity)));
  $("item-body").replaceChildren(...parts);
}

async function deleteDelegation(d) {
  const r = await api(`/api/delegations/${d.id}`, { method: "DELETE", version: d.version }).catch(() => null);
  if (!r || !r.ok) { say("item-status", r ? errorText(r, "Could not delete.") : "Cannot reach opschat.", true); return; }
  closeSide();
  toast(`Deleted the delegation to ${d.assigned_to}`, async () => {
    await api(`/api/delegations/${d.id}/restore`, { method: "POST", body: {} }).catch(() => null);
    await changed();
  });
  $("toast-undo").focus();
  await changed();
}

async function newDelegation(e) {
  e.preventDefault();
  const body = { task_description: $("nd-what").value, assigned_to: $("nd-who").value };
  if ($("nd-follow").value) body.follow_up_date = $("nd-follow").value;
  const r = await api("/api/delegations", { method: "POST", body }).catch(() => null);
  if (!r || !r.ok) { say("nd-status", r ? errorText(r, "Could not delegate.") : "Cannot reach opschat.", true); return; }
  say("nd-status", `Delegated to ${r.data.assigned_to}.`);
  $("delegation-form").reset();
  await changed();
}

// ------------------------------------------------------------------ the digest

function renderDigest(digest) {
  ws.digest = digest;
  if (!$("digest-form").hidden) return;   // editing: keep the text being written
  $("digest").textContent = digest ? digest.text : "No digest yet.";
  $("digest").classList.toggle("muted", !digest);
  $("digest-date").textContent = digest && digest.date !== ws.today ? `(from ${fmtDate(digest.date)})` : "";
}

function editDigest() {
  const todays = ws.digest && ws.digest.date === ws.today ? ws.digest : null;
  $("digest-text").value = todays ? todays.text : "";
  ws.digestVersion = todays ? todays.version : undefined;
  $("digest-form").hidden = false;
  $("digest").hidden = true;
  $("digest-edit").hidden = true;
  say("digest-status", "");
  $("digest-text").focus();
}

function stopEditingDigest() {
  $("digest-form").hidden = true;
  $("digest").hidden = false;
  $("digest-edit").hidden = false;
  renderDigest(ws.digest);
}

async function saveDigest(e) {
  e.preventDefault();
  const text = $("digest-text").value;
  if (!text.trim()) { say("digest-status", "The digest is empty; paste or write it first.", true); return; }
  const r = await api(`/api/digests/${ws.today}`, { method: "PUT", body: { text }, version: ws.digestVersion }).catch(() => null);
  if (!r) { say("digest-status", "Cannot reach opschat; the digest was not saved. Your text is still here.", true); return; }
  if (r.status === 409) {
    say("digest-status", "The digest was changed elsewhere while you edited it. Your text is still here; the saved version is shown above it.", true);
    ws.digestVersion = r.data?.error?.current?.version;
    $("digest").hidden = false;
    $("digest").textContent = r.data?.error?.current?.text || "";
    return;
  }
  if (!r.ok) { say("digest-status", errorText(r, "Could not save the digest."), true); return; }
  ws.digest = r.data;
  stopEditingDigest();
  say("digest-status", "Digest saved.");
  $("digest-edit").focus();
  await changed();
}

// ------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  refresh().then(() => poll(true));
  $("quick-add").addEventListener("submit", quickAdd);
  $("toast-undo").addEventListener("click", runUndo);
  $("item-close").addEventListener("click", closeSide);
  $("digest-edit").addEventListener("click", editDigest);
  $("digest-cancel").addEventListener("click", () => { stopEditingDigest(); $("digest-edit").focus(); });
  $("digest-form").addEventListener("submit", saveDigest);
  $("delegation-form").addEventListener("submit", newDelegation);
  // Escape closes the details panel first (before the chat's own Escape).
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("item-panel").hidden) {
      e.stopImmediatePropagation();
      closeSide();
    }
  }, true);
  // The chat applied or undid a change: show it now.
  document.addEventListener("workspace-refresh", () => { changed(); });
  setInterval(() => poll(false), POLL_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") poll(false); });
});
