//! The OpenAI-compatible provider against a local fake that speaks the real wire format.

use crate::both;
use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};
use std::time::Duration;

async fn app_with(
    db: &TestDb,
    fake: &FakeOpenAi,
    tweak: impl FnOnce(&mut opschat::Config),
) -> TestApp {
    let mut cfg = config(&db.url);
    fake.configure(&mut cfg);
    cfg.openai_project_id = Some("proj_123".into());
    cfg.openai_org_id = Some("org_456".into());
    tweak(&mut cfg);
    let app = TestApp::start(cfg, false).await;
    app.import_fixture().await;
    app
}

both!(
    the_request_and_the_reply_follow_the_wire_format,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Reply {
            text: "Start with Fix walk-in cooler door gasket, then payroll.".into(),
            usage: Some((812, 17)),
            model: Some("gpt-4o-2024-08-06".into()),
        })
        .await;
        let app = app_with(&db, &fake, |_| {}).await;
        let r = app.ask("What's most urgent today?", None).await;

        assert_eq!(
            r["response"],
            "Start with Fix walk-in cooler door gasket, then payroll."
        );
        assert_eq!(
            r["model"], "gpt-4o-2024-08-06",
            "the model the server says answered"
        );
        assert_eq!(
            (
                r["prompt_tokens"].as_i64(),
                r["completion_tokens"].as_i64(),
                r["tokens_used"].as_i64()
            ),
            (Some(812), Some(17), Some(829))
        );
        assert_eq!(
            r["items_used"][0]["title"], "Fix walk-in cooler door gasket",
            "items traced from the answer's text"
        );

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        let h = &reqs[0].headers;
        assert_eq!(h["authorization"], "Bearer sk-test-key");
        assert_eq!(h["openai-project"], "proj_123");
        assert_eq!(h["openai-organization"], "org_456");
        let body = &reqs[0].body;
        assert_eq!(body["model"], "gpt-4o");
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["role"], "system");
        let system = msgs[0]["content"].as_str().unwrap();
        for must in [
            "Fix walk-in cooler door gasket",
            "overdue by 2 days",
            "Marcus Lee",
            "Payroll fix due before Friday",
            "Tuesday 24 November 2026",
        ] {
            assert!(
                system.contains(must),
                "system prompt lacks {must:?}:\n{system}"
            );
        }
        assert!(
            !system.contains("Deep clean the hood vents"),
            "completed work is not sent as open work"
        );
        assert_eq!(
            msgs[1],
            json!({"role": "user", "content": "What's most urgent today?"})
        );

        let h = app.history(r["session_id"].as_str().unwrap()).await;
        assert_eq!(h["messages"][1]["model_used"], "gpt-4o-2024-08-06");
        assert_eq!(h["messages"][1]["tokens_used"], 829);

        // What analytics keeps: the provider, the times, the cached prompt tokens, the cost
        // at gpt-4o's built-in price (the dated name priced as its family): 406 fresh and 406
        // cached prompt tokens, 17 completion tokens.
        let cost = (406.0 * 2.50 + 406.0 * 1.25 + 17.0 * 10.00) / 1e6;
        for m in [&r, &h["messages"][1]] {
            assert_eq!(m["provider"], "openai-compatible", "{m}");
            assert_eq!(m["cached_tokens"], 406, "{m}");
            assert!(
                (m["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12,
                "{m}"
            );
            let (total, first) = (
                m["latency_ms"].as_i64().unwrap(),
                m["first_token_ms"].as_i64(),
            );
            assert!((0..5_000).contains(&total), "{m}");
            assert_eq!(
                first,
                Some(total),
                "not streamed: the first token comes with the rest"
            );
        }
        assert_eq!(
            h["messages"][0]["provider"],
            Value::Null,
            "a question has no provider"
        );
    }
);

both!(
    a_price_file_replaces_the_built_in_prices_for_new_answers_only,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Reply {
            text: "Payroll first.".into(),
            usage: Some((1000, 100)),
            model: Some("gpt-4o-2024-08-06".into()),
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prices.toml");
        std::fs::write(
            &file,
            "[models.\"gpt-4o\"]\ninput = 1.0\noutput = 2.0\n\n[models.\"llama3.1:8b\"]\ninput = 0.5\ncached_input = 0.0\noutput = 0.5\n",
        )
        .unwrap();
        let before = app_with(&db, &fake, |_| {}).await;
        let old = before.ask("What's most urgent today?", None).await;
        // 500 fresh + 500 cached at 2.50 / 1.25, 100 at 10.00.
        let built_in = (500.0 * 2.50 + 500.0 * 1.25 + 100.0 * 10.00) / 1e6;
        assert!(
            (old["cost_usd"].as_f64().unwrap() - built_in).abs() < 1e-12,
            "{old}"
        );
        before.stop().await;

        fake.then(Step::Reply {
            text: "Payroll first.".into(),
            usage: Some((1000, 100)),
            model: Some("gpt-4o-2024-08-06".into()),
        });
        fake.then(Step::Reply {
            text: "Payroll first.".into(),
            usage: Some((1000, 100)),
            model: Some("llama3.1:8b".into()),
        });
        let path = file.clone();
        let app = app_with(&db, &fake, move |c| c.prices = Some(path)).await;
        let new = app.ask("What's most urgent today?", None).await;
        // No cached price in the file: cached tokens cost the input price.
        let filed = (1000.0 * 1.0 + 100.0 * 2.0) / 1e6;
        assert!(
            (new["cost_usd"].as_f64().unwrap() - filed).abs() < 1e-12,
            "{new}"
        );
        let (_, local) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "hi", "model": "llama3.1:8b"}),
            )
            .await;
        let llama = (500.0 * 0.5 + 500.0 * 0.0 + 100.0 * 0.5) / 1e6;
        assert!(
            (local["cost_usd"].as_f64().unwrap() - llama).abs() < 1e-12,
            "{local}"
        );
        // The earlier answer keeps the price of its day.
        let h = app.history(old["session_id"].as_str().unwrap()).await;
        assert!((h["messages"][1]["cost_usd"].as_f64().unwrap() - built_in).abs() < 1e-12);

        // A price file that cannot be read or makes no sense stops start-up, saying why.
        std::fs::write(&file, "[models.\"gpt-4o\"]\ninput = -1.0\noutput = 2.0\n").unwrap();
        let mut cfg = config(&db.url);
        fake.configure(&mut cfg);
        cfg.prices = Some(file.clone());
        let err = opschat::assistant::Providers::from_config(&cfg)
            .err()
            .expect("refused");
        assert!(format!("{err:#}").contains("prices.toml"), "{err:#}");
    }
);

both!(
    a_request_may_pick_the_model_and_the_offline_analyst,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("ok")).await;
        let app = app_with(&db, &fake, |_| {}).await;
        let (s, r) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "hi", "model": "llama3.1:8b"}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(fake.requests()[0].body["model"], "llama3.1:8b");
        let (s, r) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "What can I delegate?", "model": "opschat-local"}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["model"], "opschat-local");
        assert_eq!(
            (&r["provider"], r["cost_usd"].as_f64(), &r["cached_tokens"]),
            (&json!("local"), Some(0.0), &Value::Null),
            "the offline analyst costs nothing"
        );
        assert_eq!(
            fake.requests().len(),
            1,
            "the offline analyst calls no server"
        );
        let (_, models) = app.get("/api/operations-chat/models").await;
        assert_eq!(models["default"], "gpt-4o");
    }
);

both!(
    history_sends_the_latest_messages_within_the_budget,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("noted")).await;
        let app = app_with(&db, &fake, |c| c.history_tokens = 400).await;
        // A long conversation with the offline analyst first (cheap), then one turn to the fake.
        let sid = app.ask("turn 1: What's most urgent today?", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        for i in 2..=30 {
            let (s, b) = app.post("/api/operations-chat", &json!({"message": format!("turn {i}: Who do I need to follow up with?"), "session_id": sid, "model": "opschat-local"})).await;
            assert_eq!(s, 200, "{b}");
        }
        app.ask("turn 31: and now?", Some(&sid)).await;

        let body = fake.requests().last().unwrap().body.clone();
        let msgs = body["messages"].as_array().unwrap();
        let contents: Vec<&str> = msgs
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(msgs.first().unwrap()["role"], "system");
        assert_eq!(*contents.last().unwrap(), "turn 31: and now?");
        // The latest earlier exchange is there, right before the question; the first is not.
        let history = &contents[1..contents.len() - 1];
        assert!(
            !history.is_empty() && history.len() < 58,
            "the budget cut the history: {}",
            history.len()
        );
        assert_eq!(
            msgs[msgs.len() - 3]["content"],
            "turn 30: Who do I need to follow up with?"
        );
        assert_eq!(msgs[msgs.len() - 2]["role"], "assistant");
        assert!(
            !contents.iter().any(|c| c.starts_with("turn 1:")),
            "the first turn must not be sent"
        );
        // In order: user/assistant alternate and turn numbers rise.
        let turns: Vec<u32> = history
            .iter()
            .filter_map(|c| {
                c.strip_prefix("turn ")
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        assert!(turns.windows(2).all(|w| w[0] < w[1]), "{turns:?}");
        assert_eq!(*turns.last().unwrap(), 30);
        // The manifest names exactly the history sent.
        let h = app
            .get(&format!(
                "/api/operations-chat/history/{sid}?include_context=true&limit=1"
            ))
            .await
            .1;
        assert_eq!(
            h["messages"][0]["context_used"]["history"]
                .as_array()
                .unwrap()
                .len(),
            history.len()
        );
    }
);

both!(
    a_model_failure_keeps_the_question_and_the_session_consistent,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Fail {
            status: 500,
            body: r#"{"error":{"message":"upstream exploded"}}"#.into(),
        })
        .await;
        let app = app_with(&db, &fake, |c| c.openai_max_retries = 1).await;
        let (s, e) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "What's most urgent today?"}),
            )
            .await;
        assert_eq!(s, 502, "{e}");
        assert_eq!(e["error"]["code"], "model_failed");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("upstream exploded"),
            "{e}"
        );
        assert_eq!(fake.requests().len(), 2, "one retry on a 5xx");
        let sid = e["error"]["session_id"].as_str().unwrap().to_string();
        let h = app.history(&sid).await;
        assert_eq!(
            h["message_count"], 1,
            "the failed reply is recorded but not counted"
        );
        let msgs = h["messages"].as_array().unwrap();
        assert_eq!(msgs[0]["content"], "What's most urgent today?");
        assert_eq!(msgs[0]["id"], e["error"]["user_message_id"]);
        assert_eq!(msgs[1]["status"], "failed");
        assert!(
            msgs[1]["error"]
                .as_str()
                .unwrap()
                .contains("upstream exploded")
        );

        // The model recovers; the session carries on, and the failure is not sent as history.
        fake.set_default(Step::reply("Back online."));
        let r = app.ask("Still there?", Some(&sid)).await;
        assert_eq!(r["message_count"], 3);
        let sent = fake.requests().last().unwrap().body["messages"].clone();
        assert_eq!(
            sent.as_array().unwrap().len(),
            3,
            "system, the earlier question, the new one: {sent}"
        );
    }
);

both!(
    a_slow_model_times_out_with_the_question_saved,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Slow(
            Duration::from_secs(3),
            Box::new(Step::reply("too late")),
        ))
        .await;
        let app = app_with(&db, &fake, |c| {
            c.openai_timeout_secs = 1;
            c.openai_max_retries = 0;
        })
        .await;
        let started = std::time::Instant::now();
        let (s, e) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "Plan my next hour"}),
            )
            .await;
        assert_eq!(s, 502, "{e}");
        assert_eq!(e["error"]["code"], "model_timeout");
        assert!(
            started.elapsed() < Duration::from_millis(2800),
            "the timeout cut the call"
        );
        let h = app
            .history(e["error"]["session_id"].as_str().unwrap())
            .await;
        assert_eq!(h["messages"][0]["content"], "Plan my next hour");
    }
);

both!(
    rate_limits_are_retried_with_backoff,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("Fix walk-in cooler door gasket first.")).await;
        fake.then(Step::Fail {
            status: 429,
            body: r#"{"error":{"message":"Rate limit reached"}}"#.into(),
        });
        fake.then(Step::Fail {
            status: 503,
            body: "overloaded".into(),
        });
        let app = app_with(&db, &fake, |_| {}).await;
        let r = app.ask("What's most urgent today?", None).await;
        assert_eq!(r["response"], "Fix walk-in cooler door gasket first.");
        assert_eq!(fake.requests().len(), 3);
        // A 400 is the client's fault upstream: not retried.
        fake.then(Step::Fail {
            status: 400,
            body: r#"{"error":{"message":"bad model"}}"#.into(),
        });
        let (s, e) = app
            .post("/api/operations-chat", &json!({"message": "again"}))
            .await;
        assert_eq!(s, 502, "{e}");
        assert_eq!(fake.requests().len(), 4);
    }
);

both!(
    the_question_is_committed_before_the_model_is_called,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Slow(
            Duration::from_millis(1500),
            Box::new(Step::reply("done")),
        ))
        .await;
        let app = std::sync::Arc::new(app_with(&db, &fake, |_| {}).await);
        let sid = {
            let (s, e) = app
                .post(
                    "/api/operations-chat",
                    &json!({"message": "first", "model": "opschat-local"}),
                )
                .await;
            assert_eq!(s, 200, "{e}");
            e["session_id"].as_str().unwrap().to_string()
        };
        let in_flight = {
            let (app, sid) = (app.clone(), sid.clone());
            tokio::spawn(
                async move { app.ask("Who is on the schedule tonight?", Some(&sid)).await },
            )
        };
        // While the model is still thinking, the question is already in the database.
        let mut seen = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if fake.requests().len() == 1 {
                let h = app.history(&sid).await;
                let last: &Value = h["messages"].as_array().unwrap().last().unwrap();
                assert_eq!(last["content"], "Who is on the schedule tonight?");
                assert_eq!(last["role"], "user");
                seen = true;
                break;
            }
        }
        assert!(seen, "the fake never received the call");
        let r = in_flight.await.unwrap();
        assert_eq!(r["response"], "done");
    }
);

both!(
    a_client_that_disconnects_mid_turn_loses_nothing,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Slow(
            Duration::from_millis(800),
            Box::new(Step::reply("Saved even though you left.")),
        ))
        .await;
        let app = app_with(&db, &fake, |_| {}).await;
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let gone = impatient
            .post(app.url("/api/operations-chat"))
            .bearer_auth(&app.token)
            .json(&json!({"message": "What's most urgent today?"}))
            .send()
            .await;
        assert!(gone.is_err(), "the client gave up before the answer");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (_, list) = app.get("/api/operations-chat/sessions").await;
        let sid = list["sessions"][0]["id"]
            .as_str()
            .expect("the session exists")
            .to_string();
        let h = app.history(&sid).await;
        assert_eq!(h["message_count"], 2, "{h}");
        assert_eq!(h["messages"][1]["content"], "Saved even though you left.");
        assert_eq!(h["messages"][1]["status"], "complete");
    }
);

both!(
    retry_answers_the_stored_question_and_regenerate_supersedes,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::Fail {
            status: 500,
            body: "down".into(),
        })
        .await;
        let app = app_with(&db, &fake, |c| c.openai_max_retries = 0).await;
        let (s, e) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "What's most urgent today?"}),
            )
            .await;
        assert_eq!(s, 502, "{e}");
        let sid = e["error"]["session_id"].as_str().unwrap().to_string();

        fake.set_default(Step::reply(
            "**Fix walk-in cooler door gasket** first. <script>alert(1)</script>",
        ));
        let (s, r) = app
            .post(
                &format!("/api/operations-chat/sessions/{sid}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            r["user_message_id"], e["error"]["user_message_id"],
            "the stored question was answered"
        );
        assert_eq!(r["message_count"], 2);
        let html = r["response_html"].as_str().unwrap();
        assert!(
            html.contains("<strong>Fix walk-in cooler door gasket</strong>")
                && !html.contains("<script"),
            "{html}"
        );
        // The model saw the question once, not twice.
        let sent = fake.requests().last().unwrap().body["messages"].clone();
        assert_eq!(
            sent.as_array()
                .unwrap()
                .iter()
                .filter(|m| m["content"] == "What's most urgent today?")
                .count(),
            1,
            "{sent}"
        );

        let h = app.history(&sid).await;
        let statuses: Vec<(&str, &str)> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("user", "complete"),
                ("assistant", "failed"),
                ("assistant", "complete")
            ]
        );
        assert!(
            h["messages"][2]["content_html"]
                .as_str()
                .unwrap()
                .contains("<strong>")
        );
        assert_eq!(
            h["messages"][0]["content_html"],
            Value::Null,
            "questions are plain text"
        );

        // Regenerate: a new answer, the old one kept as superseded, the count unchanged.
        fake.set_default(Step::reply("Second opinion: payroll first."));
        let (s, r2) = app
            .http
            .post(app.url(&format!("/api/operations-chat/sessions/{sid}/retry")))
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(s, 200);
        let r2: Value = r2.json().await.unwrap();
        assert_eq!(r2["response"], "Second opinion: payroll first.");
        assert_eq!(r2["message_count"], 2);
        let h = app.history(&sid).await;
        let statuses: Vec<&str> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["complete", "failed", "superseded", "complete"]);
        assert_eq!(h["message_count"], 2);

        let (s, _) = app
            .post(
                &format!(
                    "/api/operations-chat/sessions/{}/retry",
                    uuid::Uuid::new_v4()
                ),
                &json!({}),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = app
            .post("/api/operations-chat/sessions/nope/retry", &json!({}))
            .await;
        assert_eq!(s, 400);
        let (s, b) = app
            .post_raw(
                &format!("/api/operations-chat/sessions/{sid}/retry"),
                "application/json",
                "{oops",
            )
            .await;
        assert_eq!(s, 400, "{b}");
        let (s, b) = app
            .post(
                &format!("/api/operations-chat/sessions/{sid}/retry"),
                &json!({"model": "nope"}),
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (200, None),
            "any model name goes to the configured server: {b}"
        );
    }
);
