//! Streamed replies (Server-Sent Events) and their lifecycle.

use crate::both;
use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::sse::{Ev, read_events};
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn start_stream(app: &TestApp, body: Value) -> reqwest::Response {
    let r = app
        .http
        .post(app.url("/api/operations-chat"))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    r
}

fn pieces(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("piece{i} ")).collect()
}

async fn app_with(db: &TestDb, fake: &FakeOpenAi) -> TestApp {
    let mut cfg = config(&db.url);
    fake.configure(&mut cfg);
    let app = TestApp::start(cfg, false).await;
    app.import_fixture().await;
    app
}

fn text(events: &[Ev]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect()
}

both!(
    deltas_add_up_to_the_stored_reply_and_tokens_match,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: vec![
                "Start with ".into(),
                "Fix walk-in cooler door gasket".into(),
                ", then payroll.".into(),
            ],
            delay: Duration::from_millis(20),
            fail_after: None,
            usage: Some((300, 9)),
        })
        .await;
        let app = app_with(&db, &fake).await;
        let events = read_events(
            start_stream(&app, json!({"message": "What's most urgent today?"})).await,
            |_| false,
        )
        .await;
        assert_eq!(events.first().unwrap().name, "start");
        let done = events.last().unwrap();
        assert_eq!(done.name, "done", "{events:?}");
        let streamed = text(&events);
        assert_eq!(
            streamed,
            "Start with Fix walk-in cooler door gasket, then payroll."
        );
        assert_eq!(done.data["response"], streamed.as_str());
        assert_eq!(
            (
                done.data["tokens_used"].as_i64(),
                done.data["status"].as_str()
            ),
            (Some(309), Some("complete"))
        );
        assert_eq!(done.data["model"], "gpt-4o-2024-08-06");
        // Times: each piece comes 20 ms after the one before, so the first token is at least
        // 20 ms in and the whole answer at least 60 ms; the cost at gpt-4o's price of 150
        // fresh and 150 cached prompt tokens and 9 completion tokens.
        let (first, total) = (
            done.data["first_token_ms"].as_i64().unwrap(),
            done.data["latency_ms"].as_i64().unwrap(),
        );
        assert!(
            first >= 20 && total >= 60 && first < total,
            "{first} {total}"
        );
        assert_eq!(done.data["provider"], "openai-compatible");
        assert_eq!(done.data["cached_tokens"], 150);
        let cost = (150.0 * 2.50 + 150.0 * 1.25 + 9.0 * 10.00) / 1e6;
        assert!((done.data["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
        assert_eq!(
            done.data["items_used"][0]["title"],
            "Fix walk-in cooler door gasket"
        );
        assert_eq!(events[0].data["message_id"], done.data["message_id"]);

        let req = &fake.requests()[0].body;
        assert_eq!(
            (
                req["stream"].as_bool(),
                req["stream_options"]["include_usage"].as_bool()
            ),
            (Some(true), Some(true))
        );
        let h = app.history(done.data["session_id"].as_str().unwrap()).await;
        let reply = &h["messages"][1];
        assert_eq!(reply["content"], streamed.as_str());
        assert_eq!(
            (
                reply["status"].as_str(),
                reply["tokens_used"].as_i64(),
                reply["prompt_tokens"].as_i64()
            ),
            (Some("complete"), Some(309), Some(300))
        );
        assert_eq!(h["message_count"], 2);
    }
);

both!(
    the_offline_analyst_streams_the_same_answer,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let asked = app.ask("Summarize my day", None).await;
        let whole = asked["response"].as_str().unwrap().to_string();
        let events = read_events(
            start_stream(&app, json!({"message": "Summarize my day"})).await,
            |_| false,
        )
        .await;
        assert!(
            events.iter().filter(|e| e.name == "delta").count() > 5,
            "small pieces"
        );
        assert_eq!(text(&events), whole);
        let done = events.last().unwrap();
        assert_eq!(done.name, "done");
        assert!(
            done.data["completion_tokens"].as_i64().unwrap() > 0,
            "tokens counted with o200k"
        );
        // No usage from this provider: the prompt is counted (beside the stream) as for a
        // whole answer, system prompt included.
        assert_eq!(done.data["prompt_tokens"], asked["prompt_tokens"]);
        assert!(done.data["prompt_tokens"].as_i64().unwrap() > 500);
        assert!(
            done.data["response_html"]
                .as_str()
                .unwrap()
                .contains("<strong>")
        );
        assert!(!done.data["items_used"].as_array().unwrap().is_empty());
    }
);

both!(
    the_first_delta_arrives_before_the_upstream_has_finished,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(6),
            delay: Duration::from_millis(300),
            fail_after: None,
            usage: None,
        })
        .await;
        let app = app_with(&db, &fake).await;
        let sent = Instant::now();
        let events = read_events(start_stream(&app, json!({"message": "plan"})).await, |_| {
            false
        })
        .await;
        let first = events.iter().find(|e| e.name == "delta").unwrap().at;
        let done = events.last().unwrap();
        assert_eq!(done.name, "done");
        assert!(
            first - sent < Duration::from_millis(900),
            "first delta after {:?}",
            first - sent
        );
        assert!(
            done.at - first >= Duration::from_millis(1200),
            "the rest kept streaming for {:?}: streamed, not buffered",
            done.at - first
        );
        assert!(
            done.data["completion_tokens"].as_i64().unwrap() > 0,
            "no usage from upstream: counted ourselves"
        );
    }
);

both!(
    an_upstream_failure_mid_stream_keeps_the_question_and_the_partial_reply,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(6),
            delay: Duration::from_millis(10),
            fail_after: Some(3),
            usage: None,
        })
        .await;
        let app = app_with(&db, &fake).await;
        let events = read_events(
            start_stream(&app, json!({"message": "What's most urgent today?"})).await,
            |_| false,
        )
        .await;
        let last = events.last().unwrap();
        assert_eq!(last.name, "error", "{events:?}");
        assert_eq!(last.data["code"], "model_failed");
        assert_eq!(text(&events), "piece0 piece1 piece2 ");
        let h = app.history(last.data["session_id"].as_str().unwrap()).await;
        let m = h["messages"].as_array().unwrap();
        assert_eq!(
            (m[0]["role"].as_str(), m[0]["status"].as_str()),
            (Some("user"), Some("complete"))
        );
        assert_eq!(m[0]["id"], last.data["user_message_id"]);
        assert_eq!(
            (m[1]["status"].as_str(), m[1]["content"].as_str()),
            (Some("interrupted"), Some("piece0 piece1 piece2 "))
        );
        assert!(
            m[1]["error"].as_str().unwrap().contains("could not reach")
                || m[1]["error"].as_str().unwrap().contains("closed"),
            "{}",
            m[1]["error"]
        );
        assert_eq!(
            h["message_count"], 2,
            "a partial reply is part of the conversation"
        );
    }
);

both!(
    a_client_that_disconnects_cancels_the_upstream_and_the_reply_is_stopped,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(30),
            delay: Duration::from_millis(100),
            fail_after: None,
            usage: None,
        })
        .await;
        let app = app_with(&db, &fake).await;
        let events = read_events(
            start_stream(&app, json!({"message": "plan my day"})).await,
            |e| e.name == "delta",
        )
        .await;
        let left = Instant::now(); // the response was dropped with `events` read
        let sid = events[0].data["session_id"].as_str().unwrap().to_string();
        let mut end = None;
        for _ in 0..40 {
            if let Some(e) = fake.stream_ends().first().copied() {
                end = Some(e);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let end = end.expect("the upstream stream was closed");
        assert!(!end.finished, "closed before it finished");
        assert!(
            end.at - left < Duration::from_secs(1),
            "upstream cancelled after {:?}",
            end.at - left
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let h = app.history(&sid).await;
        let reply = &h["messages"][1];
        assert_eq!(reply["status"], "stopped", "{reply}");
        assert!(
            reply["content"].as_str().unwrap().starts_with("piece0"),
            "{reply}"
        );
    }
);

both!(
    stop_ends_a_stream_and_keeps_what_was_written,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(40),
            delay: Duration::from_millis(50),
            fail_after: None,
            usage: None,
        })
        .await;
        let app = std::sync::Arc::new(app_with(&db, &fake).await);
        let resp = start_stream(&app, json!({"message": "plan my day"})).await;
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let mut tx = Some(tx);
        let reader = tokio::spawn(read_events(resp, move |e| {
            if e.name == "start"
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(e.data["session_id"].as_str().unwrap().to_string());
            }
            false
        }));
        let sid = rx.await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, stopped) = app
            .post(
                &format!("/api/operations-chat/sessions/{sid}/stop"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 200, "{stopped}");
        assert_eq!(stopped["stopped"].as_array().unwrap().len(), 1);
        let events = tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .expect("the stream ended promptly")
            .unwrap();
        let done = events.last().unwrap();
        assert_eq!(
            (done.name.as_str(), done.data["status"].as_str()),
            ("done", Some("stopped")),
            "{events:?}"
        );
        let streamed = text(&events);
        assert!(!streamed.is_empty() && streamed.len() < pieces(40).concat().len());
        let h = app.history(&sid).await;
        assert_eq!(
            (
                h["messages"][1]["status"].as_str(),
                h["messages"][1]["content"].as_str()
            ),
            (Some("stopped"), Some(streamed.as_str()))
        );
        assert_eq!(h["message_count"], 2);
        let (s, again) = app
            .post(
                &format!("/api/operations-chat/sessions/{sid}/stop"),
                &json!({}),
            )
            .await;
        assert_eq!(
            (s, again["stopped"].as_array().unwrap().len()),
            (200, 0),
            "stopping twice is harmless"
        );
        let (s, _) = app
            .post(
                &format!(
                    "/api/operations-chat/sessions/{}/stop",
                    uuid::Uuid::new_v4()
                ),
                &json!({}),
            )
            .await;
        assert_eq!(s, 404);
    }
);

both!(
    a_restart_marks_orphaned_streaming_replies_interrupted,
    |db: TestDb| async move {
        use opschat::domain::{MessageStatus, Role};
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let sid: uuid::Uuid = app.ask("What's most urgent today?", None).await["session_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // A reply left streaming by a server that died.
        app.store
            .append_message(&opschat::store::NewMessage {
                id: uuid::Uuid::now_v7(),
                session_id: sid,
                role: Role::Assistant,
                content: String::new(),
                context_used: None,
                model_used: Some("gpt-4o".into()),
                tokens_used: None,
                prompt_tokens: None,
                completion_tokens: None,
                status: MessageStatus::Streaming,
                error: None,
                reply_to: None,
                created_at: chrono::Utc::now() - chrono::TimeDelta::minutes(5),
                stats: Default::default(),
            })
            .await
            .unwrap();
        app.store
            .stream_progress(
                app.history(&sid.to_string()).await["messages"][2]["id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                "half an ans",
            )
            .await
            .unwrap();
        let mut cfg = app.config.clone();
        app.stop().await;
        cfg.stream_stale_secs = 0;
        let app = TestApp::start(cfg, false).await;
        let h = app.history(&sid.to_string()).await;
        let orphan = &h["messages"][2];
        assert_eq!(
            (orphan["status"].as_str(), orphan["content"].as_str()),
            (Some("interrupted"), Some("half an ans")),
            "{orphan}"
        );
        assert!(orphan["error"].as_str().unwrap().contains("server stopped"));
    }
);

both!(
    fifty_concurrent_streams_all_complete_with_correct_rows,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(8),
            delay: Duration::from_millis(25),
            fail_after: None,
            usage: Some((50, 8)),
        })
        .await;
        let app = std::sync::Arc::new(app_with(&db, &fake).await);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let events = read_events(
                    start_stream(&app, json!({"message": format!("stream {i}")})).await,
                    |_| false,
                )
                .await;
                (text(&events), events.last().unwrap().clone())
            }));
        }
        for t in tasks {
            let (streamed, done) = t.await.unwrap();
            assert_eq!(done.name, "done", "{done:?}");
            assert_eq!(streamed, pieces(8).concat());
            let h = app.history(done.data["session_id"].as_str().unwrap()).await;
            assert_eq!(h["message_count"], 2);
            assert_eq!(
                (
                    h["messages"][1]["status"].as_str(),
                    h["messages"][1]["content"].as_str()
                ),
                (Some("complete"), Some(streamed.as_str()))
            );
            assert_eq!(h["messages"][1]["tokens_used"], 58);
        }
    }
);

// A streamed turn in an existing session writes its question and its empty reply row in one
// statement; a "yes" or "no" writes its reply row once it is known who answers. Concurrent
// streamed turns in one session still get distinct seqs and an exact message_count.
both!(
    streamed_turns_continue_a_session_with_exact_counts,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Stream {
            pieces: pieces(3),
            delay: Duration::from_millis(10),
            fail_after: None,
            usage: Some((40, 3)),
        })
        .await;
        let app = std::sync::Arc::new(app_with(&db, &fake).await);
        let first = read_events(
            start_stream(&app, json!({"message": "What's most urgent today?"})).await,
            |_| false,
        )
        .await;
        assert_eq!(first.last().unwrap().name, "done", "{first:?}");
        let sid = first[0].data["session_id"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (app, sid) = (app.clone(), sid.clone());
            tasks.push(tokio::spawn(async move {
                // Two of them are a "yes" with nothing pending: the model answers those too.
                let message = if i % 3 == 0 {
                    "yes".to_string()
                } else {
                    format!("and then {i}?")
                };
                let events = read_events(
                    start_stream(&app, json!({"message": message, "session_id": sid})).await,
                    |_| false,
                )
                .await;
                let start = events.first().unwrap().clone();
                let done = events.last().unwrap().clone();
                assert_eq!(
                    (start.name.as_str(), done.name.as_str()),
                    ("start", "done"),
                    "{done:?}"
                );
                assert_eq!(start.data["session_id"], sid.as_str());
                assert_eq!(start.data["message_id"], done.data["message_id"]);
                (start, done)
            }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.unwrap());
        }
        let h = app.history(&sid).await;
        assert_eq!(h["message_count"], 14, "{h}");
        let messages = h["messages"].as_array().unwrap();
        assert_eq!(
            messages
                .iter()
                .map(|m| m["seq"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            (1..=14).collect::<Vec<_>>()
        );
        for (start, done) in &ends {
            let question = messages
                .iter()
                .find(|m| m["id"] == start.data["user_message_id"])
                .expect("the question is stored");
            let reply = messages
                .iter()
                .find(|m| m["id"] == done.data["message_id"])
                .expect("the reply is stored");
            assert_eq!(question["role"], "user");
            assert_eq!(
                (
                    reply["status"].as_str(),
                    reply["content"].as_str(),
                    reply["reply_to"].as_str()
                ),
                (
                    Some("complete"),
                    Some(pieces(3).concat().as_str()),
                    question["id"].as_str()
                ),
                "{reply}"
            );
        }
    }
);
