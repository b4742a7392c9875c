//! Exports: one session as Markdown, JSON and HTML, everything streamed as JSON or Markdown,
//! and the CLI. On both databases.

use crate::both;
use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::{TestApp, TestDb, config};
use chrono::{DateTime, Utc};
use opschat::domain::{MessageStatus, Role};
use opschat::store::NewMessage;
use serde_json::{Value, json};
use uuid::Uuid;

async fn download(app: &TestApp, path: &str) -> (u16, String, String, String) {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let header = |h: &str| {
        r.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (status, ct, cd, r.text().await.unwrap())
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A reply row with a given status, as the stream and stop paths leave them.
fn reply(session: Uuid, status: MessageStatus, content: &str, error: Option<&str>) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        session_id: session,
        role: Role::Assistant,
        content: content.into(),
        context_used: None,
        model_used: Some("gpt-4o".into()),
        tokens_used: Some(30),
        prompt_tokens: Some(20),
        completion_tokens: Some(10),
        status,
        error: error.map(str::to_string),
        reply_to: None,
        created_at: at("2026-11-24T09:31:00Z"),
        stats: opschat::domain::ReplyStats {
            provider: Some("openai-compatible".into()),
            latency_ms: Some(1840),
            first_token_ms: Some(420),
            cached_tokens: Some(8),
            cost_usd: Some(0.00013),
        },
    }
}

both!(
    a_session_exports_as_markdown_json_and_html_with_every_status,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("Start with the <b>gasket</b>.")).await;
        let mut cfg = config(&db.url);
        fake.configure(&mut cfg);
        cfg.openai_max_retries = 0;
        let app = TestApp::start(cfg, false).await;
        app.import_fixture().await;
        let first = app.ask("What's most urgent today?", None).await;
        let sid = first["session_id"].as_str().unwrap().to_string();
        let session = Uuid::parse_str(&sid).unwrap();
        // Regenerated (superseded), failed, stopped and interrupted replies, and an action.
        app.post(
            &format!("/api/operations-chat/sessions/{sid}/retry"),
            &json!({}),
        )
        .await;
        fake.then(Step::Fail {
            status: 500,
            body: "down".into(),
        });
        let (s, _) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "And the invoice?", "session_id": sid}),
            )
            .await;
        assert_eq!(s, 502);
        app.store
            .append_message(&reply(session, MessageStatus::Stopped, "Partly wri", None))
            .await
            .unwrap();
        app.store
            .append_message(&reply(
                session,
                MessageStatus::Interrupted,
                "Cut",
                Some("the model server closed the stream"),
            ))
            .await
            .unwrap();
        fake.then(Step::Tools {
            text: None,
            calls: vec![(
                "update_task".into(),
                json!({"task": "T1", "status": "completed"}).to_string(),
            )],
        });
        let r = app.ask("close the gasket", Some(&sid)).await;
        let action = r["actions"][0]["id"].as_str().unwrap().to_string();
        app.post(
            &format!("/api/operations-chat/actions/{action}/confirm"),
            &json!({}),
        )
        .await;

        let (s, ct, cd, md) = download(
            &app,
            &format!("/api/operations-chat/sessions/{sid}/export?format=md"),
        )
        .await;
        assert_eq!(s, 200, "{md}");
        assert!(ct.starts_with("text/markdown"), "{ct}");
        assert_eq!(
            cd,
            "attachment; filename=\"opschat-2026-11-24-what-s-most-urgent-today.md\""
        );
        assert!(md.starts_with("# What's most urgent today?\n"), "{md}");
        for needle in [
            "### You · Tue 24 Nov 2026, 09:30",
            "· gpt-4o-2024-08-06 · ",
            "(120 prompt, 30 completion)",
            "*(replaced by a regenerated answer)*",
            "*(the assistant could not answer: the model server answered 500",
            "*(stopped before the end)*",
            "*(interrupted: the model server closed the stream)*",
            "> Proposed change: Mark **Fix walk-in cooler door gasket** completed — applied by Maria Lopez",
        ] {
            assert!(md.contains(needle), "{needle:?} in\n{md}");
        }

        let (s, ct, cd, js) = download(
            &app,
            &format!("/api/operations-chat/sessions/{sid}/export?format=json"),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(ct, "application/json");
        assert!(cd.ends_with(".json\""));
        let v: Value = serde_json::from_str(&js).unwrap();
        assert_eq!(v["format"], "opschat.session.v1");
        let msgs = v["messages"].as_array().unwrap();
        let statuses: Vec<&str> = msgs.iter().map(|m| m["status"].as_str().unwrap()).collect();
        for st in ["complete", "superseded", "failed", "stopped", "interrupted"] {
            assert!(statuses.contains(&st), "{st} in {statuses:?}");
        }
        let answer = &msgs[1];
        assert_eq!(answer["prompt_tokens"], 120);
        assert_eq!(answer["completion_tokens"], 30);
        assert!(answer["context_used"]["tasks"].is_array(), "{answer}");
        assert!(answer["items_used"].is_array());
        let proposing = msgs
            .iter()
            .find(|m| !m["actions"].as_array().unwrap().is_empty())
            .unwrap();
        assert_eq!(proposing["actions"][0]["status"], "applied");

        let (s, ct, _, html) = download(
            &app,
            &format!("/api/operations-chat/sessions/{sid}/export?format=html"),
        )
        .await;
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/html"));
        assert!(
            html.starts_with("<!doctype html>")
                && html.contains("<style>")
                && html.contains("@media print")
        );
        assert!(!html.contains("<script"), "self-contained and inert");
        assert!(
            html.contains("Start with the &lt;b&gt;gasket&lt;/b&gt;.")
                || html.contains("Start with the gasket."),
            "model HTML is never live: {html}"
        );
        assert!(!html.contains("<b>gasket</b>"));

        // Bad input, and another user's session.
        let (s, _, _, e) = download(
            &app,
            &format!("/api/operations-chat/sessions/{sid}/export?format=pdf"),
        )
        .await;
        assert_eq!(s, 400, "{e}");
        let bob = app.add_user("bob").await;
        let r = bob
            .http
            .get(app.url(&format!(
                "/api/operations-chat/sessions/{sid}/export?format=md"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = bob
            .http
            .get(app.url("/api/operations-chat/export?format=json"))
            .send()
            .await
            .unwrap();
        let all: Value = r.json().await.unwrap();
        assert_eq!(
            all["sessions"].as_array().unwrap().len(),
            0,
            "bob's export holds none of Maria's"
        );
    }
);

both!(
    everything_streams_as_json_or_markdown_within_a_date_range,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        // 3 sessions, one with 1,200 messages (more than two pages).
        let big = app.ask("What's most urgent today?", None).await;
        let big_id = Uuid::parse_str(big["session_id"].as_str().unwrap()).unwrap();
        for i in 0..1_198 {
            let mut m = reply(big_id, MessageStatus::Complete, &format!("note {i}"), None);
            m.role = if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            app.store.append_message(&m).await.unwrap();
        }
        app.ask("Who do I need to follow up with?", None).await;
        let archived = app.ask("What can I delegate?", None).await;
        app.patch(
            &format!(
                "/api/operations-chat/sessions/{}",
                archived["session_id"].as_str().unwrap()
            ),
            &json!({"is_active": false}),
        )
        .await;

        let (s, ct, cd, body) = download(&app, "/api/operations-chat/export?format=json").await;
        assert_eq!(s, 200);
        assert_eq!(ct, "application/json");
        assert_eq!(
            cd,
            "attachment; filename=\"opschat-export-2026-11-24.json\""
        );
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", &body[..200.min(body.len())]));
        assert_eq!(v["format"], "opschat.export.v1");
        assert_eq!(v["user"]["username"], "manager");
        let sessions = v["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 3, "archived ones too");
        assert_eq!(sessions[0]["messages"].as_array().unwrap().len(), 1_200);
        let seqs: Vec<i64> = sessions[0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, none missed"
        );

        let (s, ct, _, md) = download(&app, "/api/operations-chat/export?format=md").await;
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/markdown"));
        assert!(md.starts_with("# Conversations of Maria Lopez"));
        assert_eq!(md.matches("\n---\n").count(), 3);
        assert!(md.contains("note 1197"));

        let (_, _, _, none) = download(
            &app,
            "/api/operations-chat/export?format=json&from=2026-11-25",
        )
        .await;
        let v: Value = serde_json::from_str(&none).unwrap();
        assert_eq!(v["sessions"].as_array().unwrap().len(), 0);
        let (_, _, _, day) = download(
            &app,
            "/api/operations-chat/export?format=json&from=2026-11-24&to=2026-11-24",
        )
        .await;
        let v: Value = serde_json::from_str(&day).unwrap();
        assert_eq!(v["sessions"].as_array().unwrap().len(), 3);
        for bad in ["format=html", "format=pdf", "from=tomorrow", "colour=red"] {
            let (s, _, _, e) = download(&app, &format!("/api/operations-chat/export?{bad}")).await;
            assert_eq!(s, 400, "{bad}: {e}");
        }
    }
);
