// Shared by the pages: the JSON API helper, element building, and the signed-in header.

export class NetworkError extends Error {}

// Calls the JSON API. A 401 means the session ended (signed out elsewhere, expired, disabled):
// the page goes to the sign-in page instead of showing errors.
export async function api(path, { method = "GET", body, redirectOn401 = true, version } = {}) {
  let res;
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  // The version the page saw: a stale write comes back 409 instead of overwriting.
  if (version !== undefined && version !== null) headers["If-Match"] = `"${version}"`;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new NetworkError(String(e));
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401 && redirectOn401) {
    location.assign("/login");
  }
  return { status: res.status, ok: res.ok, data };
}

export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) n.append(c);
  return n;
}

export function errorText(r, fallback) {
  return r?.data?.error?.message || fallback;
}

// Fills the header's account area: the user's name, Admin for admins, and Sign out.
export async function setupHeader() {
  const r = await api("/api/auth/me");
  if (!r.ok) return null;
  const user = r.data.user;
  const who = document.getElementById("who");
  if (who) who.textContent = user.display_name;
  const admin = document.getElementById("nav-admin");
  if (admin) admin.hidden = user.role !== "admin";
  const out = document.getElementById("sign-out");
  if (out) {
    out.addEventListener("click", async () => {
      await api("/api/auth/logout", { method: "POST", body: {}, redirectOn401: false }).catch(() => {});
      location.assign("/login");
    });
  }
  return user;
}

// The browser's IANA time zone (what sign-up proposes).
export function browserTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch { return ""; }
}

// Every IANA zone the browser knows, for the time zone pickers.
export function timeZones() {
  try { return Intl.supportedValuesOf("timeZone"); } catch { return []; }
}
