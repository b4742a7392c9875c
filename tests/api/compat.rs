//! The OpenAI-compatible endpoint (/v1): models, completions streamed and not, conversations
//! matched to sessions, errors in OpenAI's shape. On both databases. The official `openai`
//! Python package and curl drive it too (`tests/openai_sdk.py`, run by the last test here).

use crate::both;
use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};

/// A completion request: its status, the session header and the body.
async fn complete(http: &reqwest::Client, app: &TestApp, body: &Value) -> (u16, String, Value) {
    let r = http
        .post(app.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("POST /v1/chat/completions");
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get("x-opschat-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, session, r.json().await.unwrap_or(Value::Null))
}

/// A streamed completion: the session header and every `data:` payload, in order.
async fn stream(app: &TestApp, body: &Value) -> (String, Vec<String>) {
    let r = app
        .http
        .post(app.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("POST stream");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let session = r.headers()["x-opschat-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let text = r.text().await.expect("stream body");
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect();
    (session, data)
}

fn msg(role: &str, content: &str) -> Value {
    json!({"role": role, "content": content})
}

/// Asserts OpenAI's error shape and returns the error object.
fn openai_error(status: u16, body: &Value, want: u16, what: &str) -> Value {
    assert_eq!(status, want, "{what}: {body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert!(e["type"].is_string(), "{what}: {body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "{what}: {body}"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "{what}: only `error`: {body}"
    );
    e.clone()
}

both!(
    an_openai_client_chats_and_each_conversation_is_one_session,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;

        let (s, models) = app.get("/v1/models").await;
        assert_eq!(s, 200, "{models}");
        assert_eq!(models["object"], "list");
        assert_eq!(models["data"][0]["id"], "opschat-local");
        assert_eq!(models["data"][0]["object"], "model");
        assert!(models["data"][0]["created"].is_i64());

        // A first question (with the client's own system prompt, which is not used).
        let q1 = "What's most urgent today?";
        let (s, s1, r) = complete(
            &app.http,
            &app,
            &json!({"model": "opschat-local", "temperature": 0.2, "user": "x",
                    "messages": [msg("system", "You are a helpful assistant."), msg("user", q1)]}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["object"], "chat.completion");
        assert!(r["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(r["model"], "opschat-local");
        assert_eq!(r["choices"][0]["index"], 0);
        assert_eq!(r["choices"][0]["finish_reason"], "stop");
        assert_eq!(r["choices"][0]["message"]["role"], "assistant");
        let a1 = r["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            a1.contains("Fix walk-in cooler door gasket"),
            "grounded: {a1}"
        );
        let u = &r["usage"];
        assert_eq!(
            u["total_tokens"].as_i64(),
            Some(u["prompt_tokens"].as_i64().unwrap() + u["completion_tokens"].as_i64().unwrap())
        );
        let h = app.history(&s1).await;
        let stored: Vec<(&str, &str)> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        assert_eq!(stored, vec![("user", q1), ("assistant", a1.as_str())]);
        assert_eq!(h["title"], "What's most urgent today?");

        // The client sends the conversation back (re-spaced, as clients do): same session.
        let q2 = "Who do I need to follow up with?";
        let (s, again, r) = complete(
            &app.http,
            &app,
            &json!({"model": "opschat-local", "messages": [
                msg("system", "You are a helpful assistant."), msg("user", q1),
                msg("assistant", &format!("{}\n", a1.replace('\n', " \n "))), msg("user", q2)]}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(again, s1, "a continued conversation appends to its session");
        let a2 = r["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();

        // Streamed, with usage: the same session, chunks that add up to the stored answer.
        let q3 = "What can I delegate?";
        let (again, data) = stream(
            &app,
            &json!({"model": "opschat-local", "stream": true,
                    "stream_options": {"include_usage": true},
                    "messages": [msg("user", q1), msg("assistant", &a1), msg("user", q2),
                                 msg("assistant", &a2), msg("user", q3)]}),
        )
        .await;
        assert_eq!(again, s1);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).expect("chunk JSON"))
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        let id = chunks[0]["id"].as_str().unwrap();
        assert!(
            chunks.iter().all(|c| c["id"] == id),
            "one id per completion"
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, vec![&json!("stop")]);
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert!(usage["usage"]["total_tokens"].as_i64().unwrap() > 0);
        let h = app.history(&s1).await;
        let m = h["messages"].as_array().unwrap();
        assert_eq!(m.len(), 6, "{h}");
        assert_eq!(m[4]["content"], q3);
        assert_eq!(m[5]["content"], text, "the stream is the stored answer");
        assert_eq!(m[5]["status"], "complete");

        // A branch (an edited question after the first answer): a new session; the
        // original stays as it was.
        let (s, branch, _) = complete(
            &app.http,
            &app,
            &json!({"model": "opschat-local", "messages": [
                msg("user", q1), msg("assistant", &a1), msg("user", "What's due tomorrow?")]}),
        )
        .await;
        assert_eq!(s, 200);
        assert_ne!(branch, s1);
        assert_eq!(
            app.history(&branch).await["messages"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(app.history(&s1).await["message_count"], 6);

        // Another user replaying A's conversation word for word gets a session of their own.
        let b = app.add_user("bob").await;
        let (s, theirs, r) = complete(
            &b.http,
            &app,
            &json!({"model": "opschat-local", "messages": [
                msg("user", q1), msg("assistant", &a1), msg("user", q2), msg("assistant", &a2),
                msg("user", q3), msg("assistant", &text), msg("user", "and tomorrow?")]}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_ne!(theirs, s1);
        assert_eq!(app.history(&s1).await["message_count"], 6);
        let (s, _) = app
            .get(&format!("/api/operations-chat/history/{theirs}"))
            .await;
        assert_eq!(s, 404, "B's session is B's");
        let content = r["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(
            !content.contains("Fix walk-in cooler door gasket"),
            "B's answer is grounded in B's (empty) data: {content}"
        );
    }
);

both!(
    bad_requests_get_openai_errors_and_change_nothing,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let sessions = || async {
            let (_, v) = app.get("/api/operations-chat/sessions").await;
            v["sessions"].as_array().map_or(0, Vec::len)
        };
        let before = sessions().await;
        let anonymous = reqwest::Client::new();
        let r = anonymous.get(app.url("/v1/models")).send().await.unwrap();
        let status = r.status().as_u16();
        let e = openai_error(status, &r.json().await.unwrap(), 401, "anonymous");
        assert_eq!(e["code"], "unauthenticated");
        assert_eq!(e["type"], "invalid_request_error");
        let bad = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth("opc_not-a-token")
            .json(&json!({"model": "opschat-local", "messages": [msg("user", "hi")]}))
            .send()
            .await
            .unwrap();
        let status = bad.status().as_u16();
        openai_error(status, &bad.json().await.unwrap(), 401, "a wrong token");

        let cases: Vec<(&str, Value, u16, Value)> = vec![
            (
                "no messages",
                json!({"model": "opschat-local", "messages": []}),
                400,
                json!("messages"),
            ),
            (
                "messages missing",
                json!({"model": "opschat-local"}),
                400,
                Value::Null,
            ),
            (
                "ends with the assistant",
                json!({"messages": [msg("user", "hi"), msg("assistant", "hello")]}),
                400,
                json!("messages"),
            ),
            (
                "ends with a system message",
                json!({"messages": [msg("user", "hi"), msg("system", "be brief")]}),
                400,
                json!("messages"),
            ),
            (
                "empty question",
                json!({"messages": [msg("user", "   ")]}),
                400,
                json!("messages"),
            ),
            (
                "unknown role",
                json!({"messages": [msg("wizard", "hi"), msg("user", "hi")]}),
                400,
                json!("messages[0].role"),
            ),
            (
                "an image",
                json!({"messages": [{"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}),
                400,
                json!("messages[0].content"),
            ),
            (
                "two choices",
                json!({"n": 2, "messages": [msg("user", "hi")]}),
                400,
                json!("n"),
            ),
            (
                "unknown model",
                json!({"model": "gpt-5-turbo", "messages": [msg("user", "hi")]}),
                404,
                json!("model"),
            ),
            (
                "content of the wrong type",
                json!({"messages": [{"role": "user", "content": 42}]}),
                400,
                Value::Null,
            ),
        ];
        for (what, body, want, param) in cases {
            let (s, _, r) = complete(&app.http, &app, &body).await;
            let e = openai_error(s, &r, want, what);
            assert_eq!(e["param"], param, "{what}: {r}");
            assert_eq!(e["type"], "invalid_request_error", "{what}");
        }
        let huge = "x".repeat(opschat::domain::MAX_MESSAGE_BYTES + 1);
        let (s, _, r) = complete(
            &app.http,
            &app,
            &json!({"messages": [msg("user", &huge), msg("assistant", "ok"), msg("user", "hi")]}),
        )
        .await;
        let e = openai_error(s, &r, 413, "a history message over the limit");
        assert_eq!(e["param"], "messages[0].content");
        let r = app
            .http
            .post(app.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body("{\"messages\": [")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        openai_error(status, &r.json().await.unwrap(), 400, "broken JSON");
        assert_eq!(sessions().await, before, "nothing was stored");

        // Text parts are text.
        let (s, _, r) = complete(
            &app.http,
            &app,
            &json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What's most "}, {"type": "text", "text": "urgent?"}]}]}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(sessions().await, before + 1);
    }
);

both!(
    the_model_sees_the_clients_conversation_and_a_failure_keeps_the_question,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("Start with the cooler gasket.")).await;
        let mut cfg = config(&db.url);
        fake.configure(&mut cfg);
        cfg.openai_max_retries = 0;
        let app = TestApp::start(cfg, false).await;
        app.import_fixture().await;

        // A conversation from elsewhere: a new session, answered with the client's history.
        let earlier = [
            msg("system", "Be brief."),
            msg("user", "Is the schedule done?"),
            msg(
                "assistant",
                "Not yet: Post next week's schedule is due Friday.",
            ),
        ];
        let mut messages = earlier.to_vec();
        messages.push(msg("user", "Who should do it?"));
        let (s, s1, r) = complete(
            &app.http,
            &app,
            &json!({"model": "gpt-4o", "messages": messages}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            r["model"], "gpt-4o-2024-08-06",
            "the model that answered, as it says"
        );
        assert_eq!(
            r["choices"][0]["message"]["content"],
            "Start with the cooler gasket."
        );
        assert_eq!(
            (
                r["usage"]["prompt_tokens"].as_i64(),
                r["usage"]["completion_tokens"].as_i64()
            ),
            (Some(120), Some(30))
        );
        let sent = &fake.requests()[0].body["messages"];
        let sent: Vec<(&str, &str)> = sent
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        assert_eq!(sent[0].0, "system");
        assert!(
            sent[0].1.contains("Fix walk-in cooler door gasket"),
            "opschat's prompt and data"
        );
        assert!(
            !sent.iter().any(|m| m.1 == "Be brief."),
            "the client's system prompt is not sent"
        );
        assert_eq!(
            sent[1..].to_vec(),
            vec![
                ("user", "Is the schedule done?"),
                (
                    "assistant",
                    "Not yet: Post next week's schedule is due Friday."
                ),
                ("user", "Who should do it?"),
            ],
            "the client's conversation is the history"
        );
        assert_eq!(app.history(&s1).await["message_count"], 2);

        // The model fails: OpenAI's error, the question kept.
        fake.then(Step::Fail {
            status: 500,
            body: "{\"error\": {\"message\": \"upstream down\"}}".into(),
        });
        let mut messages = earlier.to_vec();
        messages.push(msg("user", "Who should do it?"));
        messages.push(msg("assistant", "Start with the cooler gasket."));
        messages.push(msg("user", "And after that?"));
        let (s, _, r) = complete(
            &app.http,
            &app,
            &json!({"model": "gpt-4o", "messages": messages}),
        )
        .await;
        let e = openai_error(s, &r, 502, "model down");
        assert_eq!(e["type"], "server_error");
        let h = app.history(&s1).await;
        let last = h["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["content"], "", "a failed reply row: {h}");
        assert_eq!(last["status"], "failed");
        assert_eq!(h["message_count"], 3, "the question is kept");

        // The client retries the same request: answered in place, not stored twice.
        let (s, again, r) = complete(
            &app.http,
            &app,
            &json!({"model": "gpt-4o", "messages": messages}),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(again, s1);
        let h = app.history(&s1).await;
        let questions = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["content"] == "And after that?")
            .count();
        assert_eq!(questions, 1, "{h}");
        assert_eq!(h["message_count"], 4);

        // A first question that fails, retried: one session, one question.
        fake.then(Step::Fail {
            status: 503,
            body: "busy".into(),
        });
        let first = json!({"model": "gpt-4o", "messages": [msg("user", "Anything overdue?")]});
        let (s, _, r) = complete(&app.http, &app, &first).await;
        openai_error(s, &r, 502, "first question fails");
        let (s, s2, r) = complete(&app.http, &app, &first).await;
        assert_eq!(s, 200, "{r}");
        let h = app.history(&s2).await;
        assert_eq!(h["message_count"], 2, "{h}");
        let (_, all) = app.get("/api/operations-chat/sessions").await;
        let named = all["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["title"] == "Anything overdue?")
            .count();
        assert_eq!(named, 1, "{all}");

        // Streamed, the model failing mid-answer: an error event the SDKs raise on.
        fake.then(Step::Stream {
            pieces: vec!["Half ".into(), "an answer".into()],
            delay: std::time::Duration::from_millis(5),
            fail_after: Some(1),
            usage: None,
        });
        let (_, data) = stream(
            &app,
            &json!({"model": "gpt-4o", "stream": true, "messages": [msg("user", "Plan my next 2 hours")]}),
        )
        .await;
        let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{data:?}");
    }
);

both!(
    the_official_openai_sdk_and_curl_use_it,
    |db: TestDb| async move {
        let sdk = tokio::process::Command::new("python3")
            .args(["-c", "import openai"])
            .output()
            .await;
        if !sdk.is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install the openai package (.ci/run: pip install -r tests/requirements.txt)"
            );
            eprintln!(
                "*** SKIPPED: the OpenAI SDK test needs `pip install -r tests/requirements.txt`"
            );
            return;
        }
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk.py");
        let out = tokio::process::Command::new("python3")
            .args([script, &app.base, &app.token])
            .output()
            .await
            .expect("run tests/openai_sdk.py");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{log}");
        assert!(log.contains("all checks passed"), "{log}");
    }
);

both!(
    schemathesis_finds_no_server_error_and_no_response_off_the_schema,
    |db: TestDb| async move {
        let st = tokio::process::Command::new("schemathesis")
            .arg("--version")
            .output()
            .await;
        if !st.is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install Schemathesis (.ci/run: pip install -r tests/requirements.txt)"
            );
            eprintln!("*** SKIPPED: Schemathesis needs `pip install -r tests/requirements.txt`");
            return;
        }
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let (s, doc) = app.get("/api/openapi.json").await;
        assert_eq!(s, 200);
        assert_eq!(doc["openapi"], "3.1.0");
        let examples = std::env::var("OPSCHAT_SCHEMATHESIS_EXAMPLES").unwrap_or("50".into());
        let header = format!("Authorization: Bearer {}", app.token);
        let url = app.url("/api/openapi.json");
        for attempt in 1..=2 {
            let out = tokio::process::Command::new("schemathesis")
                .args([
                    "run",
                    &url,
                    "--header",
                    &header,
                    "--checks",
                    "not_a_server_error,response_schema_conformance,content_type_conformance,\
                     status_code_conformance,response_headers_conformance",
                    "--max-examples",
                    &examples,
                    "--seed",
                    "1",
                    // One worker: with two threads, Schemathesis 4.32 on CPython 3.11 now and
                    // then fails inside itself (AST recursion depth, inconsistent draws).
                    "--workers",
                    "1",
                    "--request-timeout",
                    "30",
                    // Signing out would revoke the run's own token; sign-in is rate limited.
                    "--exclude-path",
                    "/api/auth/logout",
                    "--exclude-path",
                    "/api/auth/login",
                    "--suppress-health-check",
                    "all",
                    "--warnings",
                    "off",
                ])
                .env("NO_COLOR", "1")
                .output()
                .await
                .expect("run schemathesis");
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() && log.contains("No issues found") {
                return;
            }
            // Should Schemathesis still fail inside itself (a "Runtime Error": an exception in
            // its own case generation, no response judged), that says nothing about opschat,
            // so it gets one more run. A finding (a check that failed, a 5xx, a network
            // error) fails at once.
            let errors: Vec<&str> = log
                .lines()
                .skip_while(|l| l.trim() != "Errors:")
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let only_the_tool = !log.contains("Failures:")
                && !errors.is_empty()
                && errors.iter().all(|l| l.contains("Runtime Error"));
            assert!(only_the_tool && attempt == 1, "{log}");
            eprintln!("*** Schemathesis failed inside itself; running it again:\n{log}");
        }
    }
);

/// Calls `method path` (a real path for the route `template`) and checks the answer against
/// what the OpenAPI document says that operation returns.
async fn documented(
    app: &TestApp,
    doc: &Value,
    method: reqwest::Method,
    template: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = app.http.request(method.clone(), app.url(path));
    if let Some(b) = &body {
        r = r.json(b);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    let schema = &doc["paths"][template][method.as_str().to_ascii_lowercase()]["responses"]["2XX"]
        ["content"]["application/json"]["schema"];
    assert!(
        schema.get("required").is_some() || schema.get("anyOf").is_some(),
        "{method} {template}: the document describes its body"
    );
    let validator = jsonschema::validator_for(schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{method} {path}: {errors:?}\n{v}");
    v
}

both!(
    every_operation_answers_what_the_openapi_document_says,
    |db: TestDb| async move {
        use reqwest::Method as M;
        let app = TestApp::start(config(&db.url), false).await;
        let (_, doc) = app.get("/api/openapi.json").await;
        let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let d = |m: M, t: &'static str, p: String, b: Option<Value>| {
            let (app, doc, seen) = (&app, &doc, &seen);
            seen.lock()
                .unwrap()
                .insert(format!("{} {t}", m.as_str().to_ascii_lowercase()));
            async move { documented(app, doc, m, t, &p, b).await }
        };
        let fixture: Value = serde_json::from_str(crate::support::FIXTURE).unwrap();
        d(
            M::POST,
            "/api/operations/import",
            "/api/operations/import".into(),
            Some(fixture),
        )
        .await;
        let turn = d(
            M::POST,
            "/api/operations-chat",
            "/api/operations-chat".into(),
            Some(json!({"message": "What's most urgent today?"})),
        )
        .await;
        let sid = turn["session_id"].as_str().unwrap().to_string();
        for (t, p) in [
            (
                "/api/operations-chat/sessions",
                "/api/operations-chat/sessions".to_string(),
            ),
            (
                "/api/operations-chat/sessions/{id}",
                format!("/api/operations-chat/sessions/{sid}"),
            ),
            (
                "/api/operations-chat/history/{id}",
                format!("/api/operations-chat/history/{sid}"),
            ),
            (
                "/api/operations-chat/search",
                "/api/operations-chat/search?q=urgent".into(),
            ),
            (
                "/api/operations-chat/suggestions",
                "/api/operations-chat/suggestions".into(),
            ),
            (
                "/api/operations-chat/models",
                "/api/operations-chat/models".into(),
            ),
            ("/api/operations/today", "/api/operations/today".into()),
            ("/api/tasks", "/api/tasks".into()),
            ("/api/delegations", "/api/delegations".into()),
            ("/api/digests", "/api/digests".into()),
            ("/api/activity", "/api/activity".into()),
            ("/api/auth/state", "/api/auth/state".into()),
            ("/api/auth/me", "/api/auth/me".into()),
            ("/api/tokens", "/api/tokens".into()),
            ("/api/admin/users", "/api/admin/users".into()),
            ("/v1/models", "/v1/models".into()),
            ("/healthz", "/healthz".into()),
        ] {
            d(M::GET, t, p, None).await;
        }
        for a in [
            "usage",
            "latency",
            "sessions",
            "patterns",
            "questions",
            "context",
            "users",
        ] {
            let t: &'static str = Box::leak(format!("/api/analytics/{a}").into_boxed_str());
            d(M::GET, t, format!("{t}?days=30"), None).await;
            if a != "users" {
                d(M::GET, t, format!("{t}?days=7&scope=all"), None).await;
            }
        }
        let s = format!("/api/operations-chat/sessions/{sid}");
        d(
            M::PATCH,
            "/api/operations-chat/sessions/{id}",
            s.clone(),
            Some(json!({"title": "Renamed"})),
        )
        .await;
        d(
            M::POST,
            "/api/operations-chat/sessions/{id}/retry",
            format!("{s}/retry"),
            None,
        )
        .await;
        d(
            M::POST,
            "/api/operations-chat/sessions/{id}/stop",
            format!("{s}/stop"),
            None,
        )
        .await;
        d(
            M::POST,
            "/v1/chat/completions",
            "/v1/chat/completions".into(),
            Some(json!({"messages": [{"role": "user", "content": "What's overdue?"}]})),
        )
        .await;

        // Chat actions: the offline analyst proposes, the manager decides.
        for (question, verbs) in [
            ("Mark the cooler gasket done", &["confirm", "undo"][..]),
            ("Mark the fryer oil filters done", &["cancel"][..]),
        ] {
            let r = d(
                M::POST,
                "/api/operations-chat",
                "/api/operations-chat".into(),
                Some(json!({"message": question})),
            )
            .await;
            let a = format!(
                "/api/operations-chat/actions/{}",
                r["actions"][0]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{question}: {r}"))
            );
            d(M::GET, "/api/operations-chat/actions/{id}", a.clone(), None).await;
            for verb in verbs {
                let t: &'static str = Box::leak(
                    format!("/api/operations-chat/actions/{{id}}/{verb}").into_boxed_str(),
                );
                d(M::POST, t, format!("{a}/{verb}"), None).await;
            }
        }

        // Tasks.
        let task = d(
            M::POST,
            "/api/tasks",
            "/api/tasks".into(),
            Some(json!({"title": "Order lemons", "due_date": "2026-11-25", "priority": "high"})),
        )
        .await;
        let tid = task["id"].as_str().unwrap().to_string();
        // An answer citing it: an item made here has no `external_id`, which is left out.
        let r = d(
            M::POST,
            "/api/operations-chat",
            "/api/operations-chat".into(),
            Some(json!({"message": "When is Order lemons due?"})),
        )
        .await;
        assert!(
            r["items_used"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == tid.as_str() && i.get("external_id").is_none()),
            "{r}"
        );
        let t = format!("/api/tasks/{tid}");
        d(M::GET, "/api/tasks/{id}", t.clone(), None).await;
        d(
            M::GET,
            "/api/tasks/{id}",
            format!("{t}?as_of=2026-11-24T18:00:00Z"),
            None,
        )
        .await;
        d(
            M::PATCH,
            "/api/tasks/{id}",
            t.clone(),
            Some(json!({"description": "two crates"})),
        )
        .await;
        d(
            M::GET,
            "/api/tasks/{id}/activity",
            format!("{t}/activity"),
            None,
        )
        .await;
        d(M::DELETE, "/api/tasks/{id}", t.clone(), None).await;
        d(
            M::POST,
            "/api/tasks/{id}/restore",
            format!("{t}/restore"),
            None,
        )
        .await;
        d(
            M::POST,
            "/api/tasks/{id}/delegate",
            format!("{t}/delegate"),
            Some(json!({"assigned_to": "Sam"})),
        )
        .await;
        d(
            M::POST,
            "/api/tasks",
            "/api/tasks".into(),
            Some(json!({"quick": "call the plumber tomorrow !high"})),
        )
        .await;

        // Delegations.
        let del = d(
            M::POST,
            "/api/delegations",
            "/api/delegations".into(),
            Some(json!({"task_description": "Count the bar stock", "assigned_to": "Kim"})),
        )
        .await;
        let did = del["id"].as_str().unwrap().to_string();
        let dp = format!("/api/delegations/{did}");
        d(M::GET, "/api/delegations/{id}", dp.clone(), None).await;
        d(
            M::PATCH,
            "/api/delegations/{id}",
            dp.clone(),
            Some(json!({"assigned_to": "Lee"})),
        )
        .await;
        d(
            M::POST,
            "/api/delegations/{id}/notes",
            format!("{dp}/notes"),
            Some(json!({"body": "half done"})),
        )
        .await;
        d(
            M::GET,
            "/api/delegations/{id}/notes",
            format!("{dp}/notes"),
            None,
        )
        .await;
        d(
            M::POST,
            "/api/delegations/{id}/follow-up",
            format!("{dp}/follow-up"),
            Some(json!({})),
        )
        .await;
        d(
            M::GET,
            "/api/delegations/{id}/activity",
            format!("{dp}/activity"),
            None,
        )
        .await;
        d(M::DELETE, "/api/delegations/{id}", dp.clone(), None).await;
        d(
            M::POST,
            "/api/delegations/{id}/restore",
            format!("{dp}/restore"),
            None,
        )
        .await;
        d(
            M::PATCH,
            "/api/delegations/{id}",
            dp.clone(),
            Some(json!({"status": "completed"})),
        )
        .await;

        // Digests.
        d(
            M::PUT,
            "/api/digests/{date}",
            "/api/digests/2026-11-25".into(),
            Some(json!({"text": "Cooler fixed."})),
        )
        .await;
        d(
            M::GET,
            "/api/digests/{date}",
            "/api/digests/2026-11-25".into(),
            None,
        )
        .await;
        d(
            M::GET,
            "/api/digests/{date}/activity",
            "/api/digests/2026-11-25/activity".into(),
            None,
        )
        .await;

        // Accounts.
        d(
            M::PATCH,
            "/api/auth/me",
            "/api/auth/me".into(),
            Some(json!({"display_name": "Maria L."})),
        )
        .await;
        let token = d(
            M::POST,
            "/api/tokens",
            "/api/tokens".into(),
            Some(json!({"name": "report"})),
        )
        .await;
        let r = app
            .http
            .delete(app.url(&format!("/api/tokens/{}", token["id"].as_str().unwrap())))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "documented as no content");
        let user = d(
            M::POST,
            "/api/admin/users",
            "/api/admin/users".into(),
            Some(json!({"username": "sam", "password": "a long passphrase"})),
        )
        .await;
        let u = format!("/api/admin/users/{}", user["user"]["id"].as_str().unwrap());
        d(
            M::PATCH,
            "/api/admin/users/{id}",
            u.clone(),
            Some(json!({"display_name": "Sam K."})),
        )
        .await;
        // Generated (a temporary password comes back) and given (none does).
        let generated = d(
            M::POST,
            "/api/admin/users/{id}/password",
            format!("{u}/password"),
            Some(json!({})),
        )
        .await;
        assert!(generated["temporary_password"].is_string(), "{generated}");
        let given = d(
            M::POST,
            "/api/admin/users/{id}/password",
            format!("{u}/password"),
            Some(json!({"password": "a chosen passphrase"})),
        )
        .await;
        assert!(given.get("temporary_password").is_none(), "{given}");
        d(M::POST, "/api/auth/password", "/api/auth/password".into(),
            Some(json!({"current_password": crate::support::PASSWORD, "new_password": "another long passphrase"}))).await;

        // Every operation whose success body the document describes was called above, but
        // first-account set-up, which the test server has already done.
        let mut described = std::collections::BTreeSet::new();
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for (method, op) in methods.as_object().unwrap() {
                let schema = &op["responses"]["2XX"]["content"]["application/json"]["schema"];
                if schema.get("required").is_some() || schema.get("anyOf").is_some() {
                    described.insert(format!("{method} {path}"));
                }
            }
        }
        described.remove("post /api/auth/setup");
        let seen = seen.into_inner().unwrap();
        let missed: Vec<_> = described.difference(&seen).collect();
        assert!(missed.is_empty(), "not called: {missed:?}");
        assert!(described.len() >= 59, "{}", described.len());
    }
);
