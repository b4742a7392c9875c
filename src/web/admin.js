// Admin: accounts (create, role, disable, reset password) and their usage figures.
import { api, el, errorText, setupHeader } from "/static/common.js";

const $ = (id) => document.getElementById(id);
let me = null;

function status(text, bad = false) {
  $("admin-status").textContent = text;
  $("admin-status").className = bad ? "error" : "ok";
}

function showSecret(label, value) {
  $("temp-password-for").textContent = label;
  $("temp-password-value").textContent = value;
  $("temp-password").hidden = false;
}

async function change(u, body, done) {
  const r = await api(`/api/admin/users/${u.id}`, { method: "PATCH", body });
  if (r.ok) status(done); else status(errorText(r, "Could not change the account."), true);
  load();
}

async function load() {
  const r = await api("/api/admin/users");
  if (!r.ok) { status(errorText(r, "Could not load accounts."), true); return; }
  $("user-list").replaceChildren(...r.data.users.map((u) => {
    const usage = u.usage || { sessions: 0, messages: 0, tokens: 0, last_active: null };
    const name = `${u.display_name} (${u.username})`;
    const actions = el("td", { class: "actions" },
      el("button", { type: "button", "aria-label": `${u.role === "admin" ? "Make manager" : "Make admin"}: ${u.username}`,
        text: u.role === "admin" ? "Make manager" : "Make admin",
        onclick: () => change(u, { role: u.role === "admin" ? "manager" : "admin" }, `${u.username} is now ${u.role === "admin" ? "a manager" : "an admin"}.`) }),
      u.id === me.id ? null : el("button", { type: "button", "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.username}`,
        text: u.disabled ? "Enable" : "Disable",
        onclick: () => change(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? "enabled" : "disabled"}.`) }),
      el("button", { type: "button", "aria-label": `Reset password of ${u.username}`, text: "Reset password",
        onclick: async () => {
          const res = await api(`/api/admin/users/${u.id}/password`, { method: "POST", body: {} });
          if (res.ok) showSecret(`Temporary password for ${u.username} (their sessions were signed out):`, res.data.temporary_password);
          else status(errorText(res, "Could not reset the password."), true);
        } }));
    const row = el("tr", {},
      el("th", { scope: "row", text: name }), el("td", { text: u.role }),
      el("td", { text: u.disabled ? "disabled" : "active" }),
      el("td", { text: String(usage.sessions) }), el("td", { text: String(usage.messages) }),
      el("td", { text: String(usage.tokens) }),
      el("td", { text: usage.last_active ? new Date(usage.last_active).toLocaleString() : "never" }), actions);
    row.dataset.username = u.username;
    return row;
  }));
}

document.addEventListener("DOMContentLoaded", async () => {
  me = await setupHeader();
  if (!me) return;
  load();
  $("create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { username: $("new-username").value, display_name: $("new-display").value, role: $("new-role").value };
    if ($("new-password").value) body.password = $("new-password").value;
    const r = await api("/api/admin/users", { method: "POST", body });
    if (!r.ok) { status(errorText(r, "Could not add the account."), true); return; }
    status(`Added ${r.data.user.username}.`);
    if (r.data.temporary_password) showSecret(`Temporary password for ${r.data.user.username}:`, r.data.temporary_password);
    e.target.reset();
    load();
  });
});
