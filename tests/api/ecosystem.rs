//! What lets opschat fit into the tools around it: every error also carries the original
//! client's `detail`, every response an `x-request-id`, and the logs can be JSON lines that
//! carry that id. On both databases.

use crate::both;
use crate::support::{NOW, TestApp, TestDb, config};
use serde_json::{Value, json};

async fn raw(r: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

both!(
    every_error_carries_the_originals_detail,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), true).await;
        let anonymous = reqwest::Client::new();
        let cases = vec![
            (
                "unknown endpoint",
                app.http.get(app.url("/api/nothing-here")),
                404,
            ),
            (
                "wrong method",
                app.http.delete(app.url("/api/operations-chat/sessions")),
                405,
            ),
            (
                "anonymous",
                anonymous.get(app.url("/api/operations-chat/sessions")),
                401,
            ),
            (
                "bad query",
                app.http.get(app.url("/api/analytics/usage?days=0")),
                400,
            ),
            (
                "bad JSON",
                app.http
                    .post(app.url("/api/operations-chat"))
                    .header("content-type", "application/json")
                    .body("{not json"),
                400,
            ),
            (
                "empty question",
                app.http
                    .post(app.url("/api/operations-chat"))
                    .json(&json!({"message": "   "})),
                400,
            ),
            (
                "no such session",
                app.http.get(
                    app.url("/api/operations-chat/history/00000000-0000-4000-8000-000000000000"),
                ),
                404,
            ),
        ];
        for (what, request, status) in cases {
            let (got, _, body) = raw(request).await;
            assert_eq!(got, status, "{what}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{what}: {body}");
            assert!(body["error"]["code"].is_string(), "{what}: {body}");
            assert_eq!(body["detail"], message, "{what}: {body}");
        }
    }
);

both!(
    every_response_has_a_request_id_kept_from_a_proxy,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), true).await;
        let id = |h: &reqwest::header::HeaderMap| {
            h.get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        };
        // None given: a new one each time.
        let (_, a, _) = raw(app.http.get(app.url("/healthz"))).await;
        let (_, b, _) = raw(app.http.get(app.url("/api/nothing-here"))).await;
        assert!(uuid::Uuid::parse_str(&id(&a)).is_ok(), "{a:?}");
        assert!(uuid::Uuid::parse_str(&id(&b)).is_ok());
        assert_ne!(id(&a), id(&b));
        // A proxy's is kept, on success and on errors, pages and the API alike.
        for path in [
            "/api/operations-chat/sessions",
            "/api/nothing-here",
            "/login",
        ] {
            let (_, h, _) = raw(app
                .http
                .get(app.url(path))
                .header("x-request-id", "edge-7f3a:42"))
            .await;
            assert_eq!(id(&h), "edge-7f3a:42", "{path}");
        }
        // One that could forge log lines or is absurdly long is replaced.
        for bad in ["a b\"c", &"x".repeat(200)] {
            let (s, h, _) = raw(app
                .http
                .get(app.url("/healthz"))
                .header("x-request-id", bad))
            .await;
            assert_eq!(s, 200);
            assert!(uuid::Uuid::parse_str(&id(&h)).is_ok(), "{bad}: {h:?}");
        }
    }
);

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `opschat serve` as a real process on `port` with `env`, stderr captured, once it answers.
async fn spawn_server(db: &TestDb, port: u16, env: &[(&str, String)]) -> tokio::process::Child {
    opschat::install_crypto_provider();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_opschat"));
    cmd.arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("OPSCHAT_BIND", format!("127.0.0.1:{port}"))
        .env("OPSCHAT_NOW", NOW)
        .env("OPSCHAT_UTC_OFFSET", "+00:00")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPSCHAT_USER")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("run opschat");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("opschat did not come up on port {port}");
}

both!(
    json_logs_are_one_object_per_line_with_the_request_id,
    |db: TestDb| async move {
        let port = free_port();
        let child = spawn_server(
            &db,
            port,
            &[
                ("OPSCHAT_NO_DEMO", "true".into()),
                ("OPSCHAT_LOG_FORMAT", "json".into()),
                ("OPSCHAT_LOG", "opschat=info,tower_http=debug".into()),
            ],
        )
        .await;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{base}/api/auth/state"))
            .header("x-request-id", "trace-me-123")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut child = child;
        child.start_kill().expect("stop the server");
        let out = child.wait_with_output().await.expect("server output");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<Value> = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert!(lines.len() >= 3, "{err}");
        assert!(
            lines
                .iter()
                .all(|l| l["level"].is_string() && l["timestamp"].is_string())
        );
        assert!(
            lines
                .iter()
                .any(|l| l["span"]["request_id"] == "trace-me-123"
                    && l["span"]["path"] == "/api/auth/state"),
            "{err}"
        );

        // An unknown format is refused at start, loudly.
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_opschat"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("OPSCHAT_LOG_FORMAT", "xml")
            .output()
            .await
            .expect("run opschat");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("OPSCHAT_LOG_FORMAT"));
    }
);

both!(
    the_original_clients_sequence_reads_every_field_it_needs,
    |db: TestDb| async move {
        // The original Next.js `OperationsChat` on open: the most recent session, its history;
        // then a turn through its API route (message, session_id and its client context); then
        // a failure, which it shows from FastAPI's `detail`.
        let app = TestApp::start(config(&db.url), true).await;
        let first = app.ask("What's most urgent today?", None).await;
        let sid = first["session_id"]
            .as_str()
            .expect("session_id")
            .to_string();

        let (s, sessions) = app.get("/api/operations-chat/sessions?limit=1").await;
        assert_eq!(s, 200, "{sessions}");
        let recent = &sessions["sessions"][0];
        assert_eq!(recent["id"], sid.as_str());
        assert!(recent["title"].is_string());
        assert!(recent["last_message_at"].is_string());
        assert_eq!(recent["message_count"], 2);
        assert_eq!(recent["is_active"], true);

        let (s, history) = app
            .get(&format!("/api/operations-chat/history/{sid}"))
            .await;
        assert_eq!(s, 200, "{history}");
        assert_eq!(history["session_id"], sid.as_str());
        let messages = history["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 2);
        for (m, role) in messages.iter().zip(["user", "assistant"]) {
            assert_eq!(m["role"], role);
            assert!(!m["content"].as_str().unwrap_or_default().is_empty(), "{m}");
            assert!(
                m["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                    .is_some(),
                "{m}"
            );
        }
        assert_eq!(messages[0]["content"], "What's most urgent today?");

        let (s, turn) = app
            .post(
                "/api/operations-chat",
                &json!({
                    "message": "Who do I need to follow up with?",
                    "session_id": sid,
                    "context": {
                        "dailyDigest": "Cooler tech arrives at 2pm.",
                        "operations": [{"action": "Call the linen supplier", "priority": "high"}]
                    }
                }),
            )
            .await;
        assert_eq!(s, 200, "{turn}");
        assert!(!turn["response"].as_str().unwrap_or_default().is_empty());
        assert_eq!(turn["session_id"], sid.as_str());
        assert!(turn["timestamp"].is_string());

        // Failures it can meet: an unknown session, an empty message, no session at all.
        for (body, status) in [
            (
                json!({"message": "and now?", "session_id": "00000000-0000-4000-8000-000000000000"}),
                404,
            ),
            (json!({"message": "", "session_id": sid}), 400),
            (json!({"session_id": sid}), 400),
        ] {
            let (s, e) = app.post("/api/operations-chat", &body).await;
            assert_eq!(s, status, "{body}: {e}");
            let detail = e["detail"].as_str().unwrap_or_default();
            assert!(!detail.is_empty(), "{body}: {e}");
            assert_ne!(detail, "Failed to process chat request");
            assert_eq!(e["detail"], e["error"]["message"]);
        }
        // Nothing of the failures was stored.
        let (_, history) = app
            .get(&format!("/api/operations-chat/history/{sid}"))
            .await;
        assert_eq!(history["messages"].as_array().map(Vec::len), Some(4));
    }
);

/// A sample's value (the `+Inf` bucket, the count, for a histogram).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

both!(
    metrics_count_known_traffic_and_need_their_token,
    |db: TestDb| async move {
        let (port, metrics_port) = (free_port(), free_port());
        let mut child = spawn_server(
            &db,
            port,
            &[
                ("OPSCHAT_METRICS_TOKEN", "scrape-secret".into()),
                ("OPSCHAT_METRICS_BIND", format!("127.0.0.1:{metrics_port}")),
                ("OPSCHAT_DB_POOL", "6".into()),
                ("OPSCHAT_LOG", "warn".into()),
            ],
        )
        .await;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // The first account, and an API token for it.
        let r = http
            .post(format!("{base}/api/auth/setup"))
            .json(&json!({"username": "maria", "password": "correct horse battery"}))
            .send()
            .await
            .expect("setup");
        assert_eq!(r.status(), 201);
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let token: Value = http
            .post(format!("{base}/api/tokens"))
            .header("cookie", cookie)
            .header("origin", &base)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"name": "metrics test"}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token JSON");
        let bearer = format!("Bearer {}", token["token"].as_str().expect("token"));

        // Known traffic: two answers, one streamed answer, one unknown path, one bad query.
        let mut input = 0.0;
        let mut output = 0.0;
        for q in [
            "What's most urgent today?",
            "Who do I need to follow up with?",
        ] {
            let r: Value = http
                .post(format!("{base}/api/operations-chat"))
                .header("authorization", &bearer)
                .json(&json!({"message": q}))
                .send()
                .await
                .expect("turn")
                .json()
                .await
                .expect("turn JSON");
            input += r["prompt_tokens"].as_f64().expect("prompt tokens");
            output += r["completion_tokens"].as_f64().expect("completion tokens");
        }
        let streamed = http
            .post(format!("{base}/api/operations-chat"))
            .header("authorization", &bearer)
            .header("accept", "text/event-stream")
            .json(&json!({"message": "What can I delegate?"}))
            .send()
            .await
            .expect("streamed turn")
            .text()
            .await
            .expect("stream body");
        assert!(streamed.contains("event: done"), "{streamed}");
        let missing = http
            .get(format!("{base}/api/nothing-here"))
            .send()
            .await
            .expect("404");
        assert_eq!(missing.status(), 404);
        let bad = http
            .get(format!("{base}/api/analytics/usage?days=0"))
            .header("authorization", &bearer)
            .send()
            .await
            .expect("400");
        assert_eq!(bad.status(), 400);

        // The token is needed on the main address; an account's token is not it.
        for auth in [None, Some("Bearer wrong"), Some(bearer.as_str())] {
            let mut r = http.get(format!("{base}/metrics"));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.expect("scrape");
            assert_eq!(r.status(), 401, "{auth:?}");
        }
        let r = http
            .get(format!("{base}/metrics"))
            .header("authorization", "Bearer scrape-secret")
            .send()
            .await
            .expect("scrape");
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = r.text().await.expect("metrics text");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text format");
        let local = ("model", "opschat-local");
        assert_eq!(
            sample(
                &scrape,
                "opschat_chat_turns_total",
                &[local, ("outcome", "complete")]
            ),
            Some(3.0),
            "{text}"
        );
        let streamed_tokens = |kind: &str| {
            sample(&scrape, "opschat_tokens_total", &[local, ("kind", kind)]).unwrap_or(0.0)
        };
        assert!(streamed_tokens("input") > input, "{text}");
        assert!(streamed_tokens("output") > output, "{text}");
        assert_eq!(
            sample(&scrape, "opschat_model_latency_seconds", &[local]),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(&scrape, "opschat_model_first_token_seconds", &[local]),
            Some(3.0)
        );
        assert_eq!(sample(&scrape, "opschat_active_streams", &[]), Some(0.0));
        assert_eq!(
            sample(
                &scrape,
                "opschat_http_requests_total",
                &[
                    ("method", "POST"),
                    ("route", "/api/operations-chat"),
                    ("status", "200")
                ]
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &scrape,
                "opschat_http_request_duration_seconds",
                &[
                    ("method", "POST"),
                    ("route", "/api/operations-chat"),
                    ("status", "200")
                ]
            ),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &scrape,
                "opschat_http_requests_total",
                &[("route", "unmatched"), ("status", "404")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &scrape,
                "opschat_errors_total",
                &[("code", "invalid_query")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &scrape,
                "opschat_errors_total",
                &[("code", "unauthenticated")]
            ),
            Some(3.0),
            "the three refused scrapes: {text}"
        );
        assert_eq!(
            sample(&scrape, "opschat_db_pool_connections", &[("state", "max")]),
            Some(6.0)
        );
        assert!(sample(&scrape, "opschat_db_pool_connections", &[("state", "idle")]).is_some());
        // Paths are never labels: the route template is.
        assert!(!text.contains("/api/operations-chat/history/"), "{text}");

        // The separate address serves the same, without a token.
        let r = http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .expect("scrape the metrics address");
        assert_eq!(r.status(), 200);
        assert!(
            r.text()
                .await
                .unwrap_or_default()
                .contains("opschat_chat_turns_total")
        );
        child.start_kill().expect("stop");
        let _ = child.wait().await;
    }
);
