//! The OpenAPI 3.1 document of the whole API, `GET /api/openapi.json`. Built from the
//! router's own table (`routes()`), so no route can be missing from it: each one's summary,
//! parameters and bodies are described here, and a test fails on a route without a
//! description. Request bodies and queries are the JSON Schemas of the types the handlers
//! parse (schemars), or of the field lists they accept; every error has the error shape.

use axum::Json;
use axum::http::Method;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use super::{Access, accounts, analytics, chat, openai, workspace};

/// What one operation takes and answers, beyond its method, path and access.
pub struct Op {
    pub summary: &'static str,
    /// The JSON request body's schema, and whether the body may be left out.
    pub body: Option<(Value, bool)>,
    /// The query string's parameters, as one object schema.
    pub query: Option<Value>,
    /// The success responses' content types (JSON unless said otherwise).
    pub produces: &'static [&'static str],
}

impl Op {
    fn new(summary: &'static str) -> Self {
        Op {
            summary,
            body: None,
            query: None,
            produces: &["application/json"],
        }
    }
    fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some((schema::<T>(), false));
        self
    }
    fn optional_body<T: JsonSchema>(mut self) -> Self {
        self.body = Some((schema::<T>(), true));
        self
    }
    fn fields(mut self, fields: &[&str], required: &[&str]) -> Self {
        self.body = Some((object_of(fields, required), false));
        self
    }
    fn any_object(mut self) -> Self {
        self.body = Some((json!({"type": "object"}), false));
        self
    }
    fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema::<T>());
        self
    }
    fn produces(mut self, types: &'static [&'static str]) -> Self {
        self.produces = types;
        self
    }
}

/// The self-contained JSON Schema of `T` (no `$ref`s, no `$schema`).
fn schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    v
}

/// The schema of one field of the workspace's bodies, which are read field by field.
fn field_schema(name: &str) -> Value {
    let text_or_null = json!({"type": ["string", "null"]});
    match name {
        "title" | "quick" | "task_description" | "assigned_to" | "body" | "text" => {
            json!({"type": "string"})
        }
        "description" | "source" | "note" | "assigned_to_email" | "quadrant" => text_or_null,
        "due_date" | "follow_up_date" | "next_follow_up_date" => {
            json!({"type": ["string", "null"], "format": "date"})
        }
        "priority" => schema::<crate::domain::Priority>(),
        "status" => json!({"type": "string"}),
        "time_estimate_minutes" => json!({"type": ["integer", "null"]}),
        "version" => json!({"type": "integer"}),
        "delegatable" | "complete_task" => json!({"type": "boolean"}),
        "recurrence" => json!({"type": ["string", "object", "null"]}),
        _ => json!({}),
    }
}

fn object_of(fields: &[&str], required: &[&str]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), field_schema(f)))
        .collect();
    json!({"type": "object", "properties": properties, "required": required,
           "additionalProperties": false})
}

/// What each route of the table does. `None` for the pages, which are not API.
pub fn describe(method: &Method, path: &str) -> Option<Op> {
    use workspace as ws;
    let op = match (method.as_str(), path) {
        ("POST", "/api/operations-chat") => Op::new(
            "Ask a question: the answer, or with `Accept: text/event-stream` the answer streamed \
             as `start`, `delta`, then `done` or `error` events",
        )
        .body::<chat::TurnBody>()
        .produces(&["application/json", "text/event-stream"]),
        ("GET", "/api/operations-chat/sessions") => {
            Op::new("Your sessions, latest first").query::<chat::SessionsQuery>()
        }
        ("GET", "/api/operations-chat/sessions/{id}") => Op::new("One session"),
        ("PATCH", "/api/operations-chat/sessions/{id}") => {
            Op::new("Rename or archive a session").body::<chat::SessionUpdate>()
        }
        ("POST", "/api/operations-chat/sessions/{id}/retry") => {
            Op::new("Answer the session's last question again (after a failure, or to regenerate)")
                .optional_body::<chat::RetryBody>()
                .produces(&["application/json", "text/event-stream"])
        }
        ("POST", "/api/operations-chat/sessions/{id}/stop") => {
            Op::new("Stop the session's streaming answers, on any instance")
        }
        ("GET", "/api/operations-chat/history/{id}") => {
            Op::new("A session's messages, oldest first, a page before `before`")
                .query::<chat::HistoryQuery>()
        }
        ("GET", "/api/operations-chat/actions/{id}") => Op::new("A change an answer proposed"),
        ("POST", "/api/operations-chat/actions/{id}/confirm") => {
            Op::new("Carry out a proposed change")
        }
        ("POST", "/api/operations-chat/actions/{id}/cancel") => {
            Op::new("Decline a proposed change")
        }
        ("POST", "/api/operations-chat/actions/{id}/undo") => {
            Op::new("Undo a change that was carried out")
        }
        ("GET", "/api/operations-chat/sessions/{id}/export") => {
            Op::new("Download a session (Markdown, JSON or HTML)")
                .query::<chat::ExportQuery>()
                .produces(&["text/markdown", "application/json", "text/html"])
        }
        ("GET", "/api/operations-chat/export") => {
            Op::new("Download every session in a range (JSON lines or Markdown)")
                .query::<chat::ExportQuery>()
                .produces(&["application/x-ndjson", "text/markdown", "application/json"])
        }
        ("GET", "/api/operations-chat/search") => {
            Op::new("Search your conversations").query::<chat::SearchQueryParams>()
        }
        ("GET", "/api/operations-chat/suggestions") => {
            Op::new("Questions worth asking about today's data")
        }
        ("GET", "/api/operations-chat/models") => Op::new("The models a turn may name"),
        ("POST", "/api/operations/import") => {
            Op::new("Import tasks, delegations and the digest (the original's format)").any_object()
        }
        ("GET", "/api/operations/today") => Op::new("Today's operations context"),
        ("GET", "/api/tasks") => Op::new("Tasks, filtered and paged").query::<ws::TaskQuery>(),
        ("POST", "/api/tasks") => {
            Op::new("Create a task (`title`, or a `quick` line)").fields(ws::TASK_FIELDS, &[])
        }
        ("GET", "/api/tasks/{id}") => {
            Op::new("One task, or as it stood at `as_of`").query::<ws::AsOfQuery>()
        }
        ("PATCH", "/api/tasks/{id}") => {
            Op::new("Change a task (`version` or `If-Match`)").fields(ws::TASK_UPDATE_FIELDS, &[])
        }
        ("DELETE", "/api/tasks/{id}") => Op::new("Delete a task (it can be restored)"),
        ("POST", "/api/tasks/{id}/restore") => Op::new("Restore a deleted task"),
        ("POST", "/api/tasks/{id}/delegate") => {
            Op::new("Delegate a task").fields(ws::DELEGATION_FIELDS, &["assigned_to"])
        }
        ("GET", "/api/tasks/{id}/activity") => Op::new("A task's history of changes"),
        ("GET", "/api/delegations") => {
            Op::new("Delegations, filtered and paged").query::<ws::DelegationQuery>()
        }
        ("POST", "/api/delegations") => Op::new("Create a delegation")
            .fields(ws::DELEGATION_FIELDS, &["task_description", "assigned_to"]),
        ("GET", "/api/delegations/{id}") => {
            Op::new("One delegation, or as it stood at `as_of`").query::<ws::AsOfQuery>()
        }
        ("PATCH", "/api/delegations/{id}") => {
            Op::new("Change a delegation").fields(ws::DELEGATION_UPDATE_FIELDS, &[])
        }
        ("DELETE", "/api/delegations/{id}") => Op::new("Delete a delegation"),
        ("POST", "/api/delegations/{id}/restore") => Op::new("Restore a deleted delegation"),
        ("GET", "/api/delegations/{id}/notes") => Op::new("A delegation's notes"),
        ("POST", "/api/delegations/{id}/notes") => {
            Op::new("Add a note to a delegation").fields(ws::NOTE_FIELDS, &["body"])
        }
        ("POST", "/api/delegations/{id}/follow-up") => {
            Op::new("Record a follow-up").fields(ws::FOLLOW_UP_FIELDS, &[])
        }
        ("GET", "/api/delegations/{id}/activity") => Op::new("A delegation's history"),
        ("GET", "/api/digests") => Op::new("Recent daily digests").query::<ws::LimitQuery>(),
        ("GET", "/api/digests/{date}") => Op::new("The digest of a day").query::<ws::AsOfQuery>(),
        ("PUT", "/api/digests/{date}") => {
            Op::new("Write the digest of a day").fields(ws::DIGEST_FIELDS, &["text"])
        }
        ("GET", "/api/digests/{date}/activity") => Op::new("A digest's history"),
        ("GET", "/api/activity") => Op::new("Recent changes").query::<ws::LimitQuery>(),
        ("GET", "/api/auth/state") => Op::new("Whether the instance has accounts yet"),
        ("POST", "/api/auth/setup") => {
            Op::new("Create the first account (an admin)").body::<accounts::SignUp>()
        }
        ("POST", "/api/auth/login") => Op::new("Sign in").body::<accounts::SignIn>(),
        ("POST", "/api/auth/logout") => Op::new("Sign out"),
        ("GET", "/api/auth/me") => Op::new("Who you are"),
        ("PATCH", "/api/auth/me") => {
            Op::new("Change your profile").body::<accounts::ProfileUpdate>()
        }
        ("POST", "/api/auth/password") => {
            Op::new("Change your password").body::<accounts::PasswordChange>()
        }
        ("GET", "/api/tokens") => Op::new("Your API tokens"),
        ("POST", "/api/tokens") => {
            Op::new("Create an API token (shown once)").body::<accounts::NewToken>()
        }
        ("DELETE", "/api/tokens/{id}") => Op::new("Revoke an API token").produces(&[]),
        ("GET", "/api/admin/users") => Op::new("Admin: every account"),
        ("POST", "/api/admin/users") => {
            Op::new("Admin: create an account").body::<accounts::NewAccount>()
        }
        ("PATCH", "/api/admin/users/{id}") => {
            Op::new("Admin: change an account").body::<accounts::AccountUpdate>()
        }
        ("POST", "/api/admin/users/{id}/password") => {
            Op::new("Admin: reset a password").optional_body::<accounts::PasswordReset>()
        }
        ("GET", "/api/analytics/usage") => {
            Op::new("Tokens, cost and turns per day").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/latency") => {
            Op::new("Latency percentiles per day and model").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/sessions") => {
            Op::new("Cost per conversation").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/patterns") => {
            Op::new("Busiest hours and session shapes").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/questions") => {
            Op::new("The most common questions, grouped").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/context") => {
            Op::new("Items cited most and the backlog over time").query::<analytics::Params>()
        }
        ("GET", "/api/analytics/users") => {
            Op::new("Admin: each user's totals").query::<analytics::Params>()
        }
        ("GET", "/v1/models") => Op::new("OpenAI-compatible: the models"),
        ("POST", "/v1/chat/completions") => {
            Op::new("OpenAI-compatible: a chat completion, streamed or not")
                .body::<openai::CompletionBody>()
                .produces(&["application/json", "text/event-stream"])
        }
        ("GET", "/healthz") => Op::new("Liveness and database reachability"),
        ("GET", "/metrics") => {
            Op::new("Prometheus metrics (`OPSCHAT_METRICS_TOKEN`)").produces(&["text/plain"])
        }
        ("GET", "/api/openapi.json") => Op::new("This document"),
        _ => return None,
    };
    Some(op)
}

/// The success bodies, operation by operation ("METHOD /path"): every field a response always
/// has, with its JSON type (`null` allowed: many are optional), written from real responses
/// of each operation (`src/http/openapi_responses.json`). They are not derived from types (the
/// handlers build their bodies as JSON), so the Schemathesis run of the test suite holds them
/// to what the server answers, on both databases: a field renamed or dropped fails it.
fn responses() -> &'static Map<String, Value> {
    static DOC: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("openapi_responses.json")).unwrap_or_default()
    })
}

/// The error shape of every API route; `/v1` routes use OpenAI's.
fn error_schema(openai: bool) -> Value {
    if openai {
        json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]},
                           "code": {"type": ["string", "null"]}}}}})
    } else {
        json!({"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "object", "required": ["code", "message"],
                      "properties": {"code": {"type": "string"},
                                     "message": {"type": "string"}}},
            "detail": {"type": "string"}}})
    }
}

/// The query parameters of an object schema.
fn parameters(query: &Value) -> Vec<Value> {
    let required: Vec<&str> = query["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    if let Some(props) = query["properties"].as_object() {
        for (name, schema) in props {
            let mut schema = schema.clone();
            // A query value is never JSON null: an `Option` is an absent parameter.
            if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    schema["type"] = only;
                }
            }
            let description = schema.as_object_mut().and_then(|o| o.remove("description"));
            let mut p = json!({"name": name, "in": "query", "schema": schema,
                               "required": required.contains(&name.as_str())});
            if let Some(d) = description {
                p["description"] = d;
            }
            out.push(p);
        }
    }
    out
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in super::routes() {
        let Some(op) = describe(&route.method, route.path) else {
            continue;
        };
        let v1 = route.path.starts_with("/v1/");
        let mut params = Vec::new();
        if route.path.contains("{id}") {
            params.push(json!({"name": "id", "in": "path", "required": true,
                               "schema": {"type": "string", "format": "uuid"}}));
        }
        if route.path.contains("{date}") {
            params.push(json!({"name": "date", "in": "path", "required": true,
                               "schema": {"type": "string", "format": "date"}}));
        }
        if let Some(q) = &op.query {
            params.extend(parameters(q));
        }
        let described = responses()
            .get(&format!("{} {}", route.method, route.path))
            .cloned();
        let ok: Map<String, Value> = op
            .produces
            .iter()
            .map(|t| {
                let schema = if *t == "application/json" {
                    described
                        .clone()
                        .unwrap_or_else(|| json!({"type": ["object", "array"]}))
                } else {
                    json!({"type": "string"})
                };
                (t.to_string(), json!({ "schema": schema }))
            })
            .collect();
        let ok = if op.produces.is_empty() {
            json!({"description": "Done, nothing to return"})
        } else {
            json!({"description": "Success", "content": ok})
        };
        let error = json!({"description": "The request was refused",
                           "content": {"application/json": {"schema": error_schema(v1)}}});
        let mut operation = json!({
            "operationId": format!("{} {}", route.method, route.path),
            "summary": op.summary,
            "tags": [tag(route.path)],
            "parameters": params,
            "responses": {
                "2XX": ok,
                "4XX": error.clone(),
                "5XX": {"description": "The server or the model failed",
                        "content": {"application/json": {"schema": error_schema(v1)}}},
            },
        });
        match route.access {
            Access::Public if route.path == "/metrics" => {
                operation["security"] = json!([{"metrics": []}]);
            }
            Access::Public => operation["security"] = json!([]),
            _ => {}
        }
        if let Some((schema, optional)) = op.body {
            operation["requestBody"] = json!({"required": !optional, "content": {
                "application/json": {"schema": schema}}});
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "opschat", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The operations assistant's API. Sign in with an API token \
                                 (`Authorization: Bearer`) or the session cookie; every error \
                                 is `{\"error\": {\"code\", \"message\"}, \"detail\"}` \
                                 (OpenAI's shape under /v1)."},
        "security": [{"bearer": []}, {"cookie": []}],
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API token (`opc_...`), from Account or POST /api/tokens"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "opschat_session",
                       "description": "The browser's session; writes must come from opschat's own pages"},
            "metrics": {"type": "http", "scheme": "bearer",
                        "description": "OPSCHAT_METRICS_TOKEN"},
        }},
        "paths": paths,
    })
}

fn tag(path: &str) -> &'static str {
    match path {
        p if p.starts_with("/api/operations-chat") => "chat",
        p if p.starts_with("/api/tasks")
            || p.starts_with("/api/delegations")
            || p.starts_with("/api/digests")
            || p.starts_with("/api/activity")
            || p.starts_with("/api/operations") =>
        {
            "workspace"
        }
        p if p.starts_with("/api/auth")
            || p.starts_with("/api/tokens")
            || p.starts_with("/api/admin") =>
        {
            "accounts"
        }
        p if p.starts_with("/api/analytics") => "analytics",
        p if p.starts_with("/v1/") => "openai",
        _ => "operations",
    }
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Json<Value> {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(document).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_described_and_every_page_is_not() {
        for r in super::super::routes() {
            let api = (r.path.starts_with("/api/") && r.path != "/api/docs")
                || r.path.starts_with("/v1/")
                || r.path == "/healthz"
                || r.path == "/metrics";
            assert_eq!(
                describe(&r.method, r.path).is_some(),
                api,
                "{} {}: describe it in http::openapi",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn success_bodies_are_described_for_the_json_operations() {
        // Every entry names a route, so a renamed route does not leave a stale description.
        let routes: Vec<String> = super::super::routes()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        for key in responses().keys() {
            assert!(routes.contains(key), "{key} is not a route");
        }
        assert!(responses().len() >= 50, "{}", responses().len());
        let doc = document();
        let tasks = &doc["paths"]["/api/tasks"]["get"]["responses"]["2XX"]["content"]["application/json"]
            ["schema"];
        assert_eq!(tasks["required"], json!(["tasks", "today", "total"]));
        assert!(
            doc["paths"]["/api/tokens/{id}"]["delete"]["responses"]["2XX"]
                .get("content")
                .is_none()
        );
    }

    #[test]
    fn bodies_and_queries_come_from_the_parsed_types() {
        let doc = document();
        let turn = &doc["paths"]["/api/operations-chat"]["post"];
        let body = &turn["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["required"], json!(["message"]), "{body}");
        assert!(body["properties"]["session_id"].is_object());
        let names: Vec<&str> = doc["paths"]["/api/operations-chat/sessions"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["include_archived", "limit"]);
        let task = &doc["paths"]["/api/tasks/{id}"]["patch"];
        assert_eq!(task["parameters"][0]["schema"]["format"], "uuid");
        let fields = task["requestBody"]["content"]["application/json"]["schema"]["properties"]
            .as_object()
            .unwrap();
        assert!(fields.contains_key("recurrence") && !fields.contains_key("quick"));
        let v1 = &doc["paths"]["/v1/chat/completions"]["post"]["responses"]["4XX"];
        assert!(
            v1["content"]["application/json"]["schema"]["properties"]["error"]["required"]
                .to_string()
                .contains("param")
        );
        assert_eq!(
            doc["paths"]["/api/auth/login"]["post"]["security"],
            json!([])
        );
    }
}
