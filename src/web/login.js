// The sign-in page; on a new instance, the first-account set-up instead.
import { api, el, errorText, browserTimeZone, timeZones } from "/static/common.js";

const $ = (id) => document.getElementById(id);

function showError(id, text) {
  $(id).textContent = text;
  $(id).hidden = false;
}

async function start() {
  const me = await api("/api/auth/me", { redirectOn401: false }).catch(() => null);
  if (me?.ok) { location.replace("/"); return; }
  const st = await api("/api/auth/state", { redirectOn401: false }).catch(() => null);
  $("loading").hidden = true;
  if (st?.data?.setup_required) {
    $("setup-form").hidden = false;
    $("setup-tz").value = browserTimeZone();
    $("tz-list").replaceChildren(...timeZones().map((z) => el("option", { value: z })));
    $("setup-username").focus();
  } else {
    $("login-form").hidden = false;
    $("login-username").focus();
  }
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").hidden = true;
  $("login-submit").disabled = true;
  try {
    const r = await api("/api/auth/login", {
      method: "POST", redirectOn401: false,
      body: { username: $("login-username").value, password: $("login-password").value },
    });
    if (r.ok) { location.assign("/"); return; }
    showError("login-error", r.status === 429 ? errorText(r, "Too many attempts; wait a moment.") : errorText(r, "Could not sign in."));
    $("login-password").select();
  } catch {
    showError("login-error", "Cannot reach opschat.");
  } finally {
    $("login-submit").disabled = false;
  }
});

$("setup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("setup-error").hidden = true;
  if ($("setup-password").value !== $("setup-confirm").value) {
    showError("setup-error", "The two passwords differ.");
    $("setup-confirm").focus();
    return;
  }
  $("setup-submit").disabled = true;
  try {
    const body = { username: $("setup-username").value, password: $("setup-password").value, display_name: $("setup-display").value };
    const tz = $("setup-tz").value.trim();
    if (tz) body.time_zone = tz;
    const r = await api("/api/auth/setup", { method: "POST", body, redirectOn401: false });
    if (r.ok) { location.assign("/"); return; }
    if (r.status === 409) { location.reload(); return; }
    showError("setup-error", errorText(r, "Could not create the account."));
  } catch {
    showError("setup-error", "Cannot reach opschat.");
  } finally {
    $("setup-submit").disabled = false;
  }
});

document.addEventListener("DOMContentLoaded", start);
