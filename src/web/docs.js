// The API reference: every operation of /api/openapi.json, with its parameters and body, and a
// form that sends it with the signed-in session and shows what came back.
import { api, el, errorText, setupHeader } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const pretty = (v) => JSON.stringify(v, null, 2);

// A starting body for a schema: its required fields (or all, when none is), with placeholders.
function sample(schema) {
  if (!schema || typeof schema !== "object") return {};
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (schema.enum) return schema.enum[0];
  if (type === "object" || schema.properties) {
    const props = schema.properties || {};
    const required = schema.required?.length ? schema.required : Object.keys(props);
    return Object.fromEntries(required.filter((k) => props[k]).map((k) => [k, sample(props[k])]));
  }
  if (type === "array") return [];
  if (type === "integer" || type === "number") return 1;
  if (type === "boolean") return false;
  if (schema.format === "date") return new Date().toISOString().slice(0, 10);
  return "";
}

let counter = 0;

function operation(path, method, op) {
  const id = `op-${counter++}`;
  const params = op.parameters || [];
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const inputs = params.map((p) => {
    const input = el("input", { id: `${id}-${p.name}`, name: p.name, required: p.required || undefined,
      placeholder: p.schema?.format || p.schema?.type || "" });
    return { p, input, row: el("div", { class: "docs-param" },
      el("label", { for: input.id, text: `${p.name} (${p.in}${p.required ? ", required" : ""})` }),
      p.description ? el("span", { class: "muted", text: p.description }) : null, input) };
  });
  const bodyBox = body ? el("textarea", { id: `${id}-body`, rows: "6", spellcheck: "false" }) : null;
  if (bodyBox) bodyBox.value = pretty(sample(body));
  const result = el("pre", { class: "docs-result", id: `${id}-result`, tabindex: "0", hidden: true });
  const said = el("p", { role: "status", id: `${id}-status` });
  const form = el("form", { class: "stack", "aria-label": `Try ${method.toUpperCase()} ${path}` },
    ...inputs.map((i) => i.row),
    bodyBox ? el("label", { for: bodyBox.id, text: "Request body (JSON)" }) : null, bodyBox,
    el("button", { type: "submit", class: "primary", text: "Send" }), said, result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    for (const { p, input } of inputs) {
      const v = input.value.trim();
      if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (v) query.set(p.name, v);
    }
    if ([...query].length) url += `?${query}`;
    let payload;
    if (bodyBox && bodyBox.value.trim()) {
      try { payload = JSON.parse(bodyBox.value); } catch {
        said.textContent = "The body is not valid JSON."; said.className = "error"; return;
      }
    }
    said.textContent = `Sending ${method.toUpperCase()} ${url}…`; said.className = "";
    const r = await api(url, { method: method.toUpperCase(), body: payload, redirectOn401: false })
      .catch(() => null);
    if (!r) { said.textContent = "The server could not be reached."; said.className = "error"; return; }
    said.textContent = `${r.status} ${r.ok ? "OK" : errorText(r, "")}`;
    said.className = r.ok ? "ok" : "error";
    result.textContent = r.data === null ? "(no JSON body)" : pretty(r.data);
    result.hidden = false;
  });
  const schemaBlock = body ? el("details", {}, el("summary", { text: "Body schema" }),
    el("pre", { class: "docs-schema", tabindex: "0", text: pretty(body) })) : null;
  const summary = el("summary", {},
    el("span", { class: `docs-method docs-${method}`, text: method.toUpperCase() }), " ",
    el("code", { text: path }), " ", el("span", { text: op.summary || "" }));
  const item = el("details", { class: "card docs-op", id },
    summary, schemaBlock, form);
  item.dataset.search = `${method} ${path} ${op.summary || ""} ${(op.tags || []).join(" ")}`.toLowerCase();
  return item;
}

async function main() {
  await setupHeader();
  const r = await api("/api/openapi.json");
  if (!r.ok) { $("docs-status").textContent = errorText(r, "Could not load the API document."); return; }
  const groups = new Map();
  for (const [path, methods] of Object.entries(r.data.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op));
    }
  }
  const sections = [...groups].map(([tag, ops]) =>
    el("section", { class: "docs-group", "aria-labelledby": `tag-${tag}` },
      el("h2", { id: `tag-${tag}`, text: tag }), ...ops));
  $("docs-list").replaceChildren(...sections);
  const total = [...groups.values()].reduce((n, ops) => n + ops.length, 0);
  $("docs-status").textContent = `${total} operations, OpenAPI ${r.data.openapi}.`;
  $("docs-filter").addEventListener("input", () => {
    const q = $("docs-filter").value.trim().toLowerCase();
    let shown = 0;
    for (const op of document.querySelectorAll(".docs-op")) {
      op.hidden = q !== "" && !op.dataset.search.includes(q);
      if (!op.hidden) shown++;
    }
    for (const g of document.querySelectorAll(".docs-group")) {
      g.hidden = [...g.querySelectorAll(".docs-op")].every((o) => o.hidden);
    }
    $("docs-status").textContent = `${shown} of ${total} operations.`;
  });
}

main();
