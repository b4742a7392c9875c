// Your account: profile and time zone, password, personal API tokens.
import { api, el, errorText, setupHeader, timeZones } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "never");

function say(id, text, bad = false) {
  $(id).textContent = text;
  $(id).className = bad ? "error" : "ok";
}

async function loadTokens() {
  const r = await api("/api/tokens");
  if (!r.ok) return;
  const rows = r.data.tokens.map((t) => el("tr", {},
    el("td", { text: t.name }), el("td", {}, el("code", { text: `${t.prefix}…` })),
    el("td", { text: when(t.created_at) }), el("td", { text: when(t.last_used_at) }),
    el("td", {}, el("button", { type: "button", "aria-label": `Revoke token “${t.name}”`, text: "Revoke", onclick: async () => {
      await api(`/api/tokens/${t.id}`, { method: "DELETE" });
      loadTokens();
    } }))));
  $("token-list").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No tokens yet." }))]));
}

document.addEventListener("DOMContentLoaded", async () => {
  const user = await setupHeader();
  if (!user) return;
  $("display-name").value = user.display_name;
  $("time-zone").value = user.time_zone || "";
  $("tz-list").replaceChildren(...timeZones().map((z) => el("option", { value: z })));
  loadTokens();

  $("profile-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("/api/auth/me", { method: "PATCH", body: { display_name: $("display-name").value, time_zone: $("time-zone").value.trim() } });
    if (r.ok) { say("profile-status", "Saved."); $("who").textContent = r.data.user.display_name; }
    else say("profile-status", errorText(r, "Could not save."), true);
  });
  $("password-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("/api/auth/password", { method: "POST", body: { current_password: $("current-password").value, new_password: $("new-password").value } });
    if (r.ok) { say("password-status", "Password changed. Your other sessions were signed out."); e.target.reset(); }
    else say("password-status", errorText(r, "Could not change the password."), true);
  });
  $("token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("/api/tokens", { method: "POST", body: { name: $("token-name").value } });
    if (!r.ok) return;
    $("new-token-value").textContent = r.data.token;
    $("new-token").hidden = false;
    $("token-name").value = "";
    loadTokens();
  });
});
