//! Operations data: import, today's view, suggestions, the demo restaurant, health.

use crate::both;
use crate::support::{FIXTURE, TestApp, TestDb, config};
use serde_json::{Value, json};

both!(
    importing_the_same_file_twice_updates_and_never_duplicates,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let doc: Value = serde_json::from_str(FIXTURE).unwrap();
        let (s, first) = app.post("/api/operations/import", &doc).await;
        assert_eq!(s, 200, "{first}");
        assert_eq!(
            first["imported"]["tasks"],
            json!({"created": 9, "updated": 0})
        );
        assert_eq!(
            first["imported"]["delegations"],
            json!({"created": 4, "updated": 0})
        );
        assert_eq!(
            first["imported"]["digests"],
            json!({"created": 2, "updated": 0})
        );

        let mut changed = doc.clone();
        changed["tasks"][1]["status"] = json!("completed");
        let (s, second) = app.post("/api/operations/import", &changed).await;
        assert_eq!(s, 200, "{second}");
        assert_eq!(
            second["imported"]["tasks"],
            json!({"created": 0, "updated": 9})
        );
        assert_eq!(
            second["imported"]["digests"],
            json!({"created": 0, "updated": 2})
        );
        assert_eq!(app.store.tasks(&app.owner, true).await.unwrap().len(), 9);
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(
            today["counts"]["open"], 6,
            "the update took effect: {}",
            today["counts"]
        );
        assert_eq!(today["counts"]["due_today"], 1);
    }
);

both!(
    a_bad_record_rejects_the_whole_file_and_names_the_record,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let doc = json!({
            "tasks": [
                {"id": "ok-1", "title": "A fine task", "priority": "high"},
                {"id": "bad-1", "title": "Broken", "priority": "asap"},
                {"id": "bad-2", "title": "Broken date", "due_date": "2026-13-45"}
            ],
            "delegations": [{"id": "d", "task_description": "x", "assigned_to": "Sam", "status": "waiting"}],
            "digests": [{"date": "2026-11-24", "text": "fine"}]
        });
        let (s, e) = app.post("/api/operations/import", &doc).await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["error"]["code"], "invalid_import");
        let problems: Vec<&str> = e["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(r#"tasks[1] (id "bad-1"): unknown priority "asap""#)),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(r#"tasks[2] (id "bad-2"): due_date "2026-13-45""#)),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(r#"delegations[0] (id "d"): unknown status "waiting""#)),
            "{problems:?}"
        );
        assert!(
            !app.store.has_ops_data(&app.owner).await.unwrap(),
            "nothing of that file is written"
        );
        let (s, _) = app
            .post_raw("/api/operations/import", "application/json", "{not json")
            .await;
        assert_eq!(s, 400);
        let (s, _) = app
            .post("/api/operations/import", &json!({"tasks": "nope"}))
            .await;
        assert_eq!(s, 400);
    }
);

both!(suggestions_come_from_todays_data, |db: TestDb| async move {
    let app = TestApp::start(config(&db.url), false).await;
    let (s, empty) = app.get("/api/operations-chat/suggestions").await;
    assert_eq!(s, 200);
    let empty: Vec<String> = serde_json::from_value(empty["suggestions"].clone()).unwrap();
    assert!(
        !empty
            .iter()
            .any(|q| q.contains("follow up") || q.contains('"')),
        "nothing personal without data: {empty:?}"
    );

    app.import_fixture().await;
    let (_, r) = app.get("/api/operations-chat/suggestions").await;
    let list: Vec<String> = serde_json::from_value(r["suggestions"].clone()).unwrap();
    assert_eq!(list[0], "What's most urgent today?");
    assert!(
        list.contains(&"Who do I need to follow up with?".to_string()),
        "{list:?}"
    );
    assert!(
        list.contains(&"What's the priority on \"Fix walk-in cooler door gasket\"?".to_string()),
        "{list:?}"
    );
    assert!(
        list.iter()
            .any(|q| q.starts_with("When is \"") && q.contains("Hannah")),
        "{list:?}"
    );
    // Every suggestion is one the offline analyst can really answer.
    for q in &list {
        let a = app.ask(q, None).await;
        assert!(
            !a["response"].as_str().unwrap().contains("can't answer"),
            "{q:?}: {}",
            a["response"]
        );
    }
});

// A new session starts from the data as it is, though the last turn's data is cached: the
// write checks the version it was cached under, and a change since (here a task completed
// through the API) means the data is read again and the session's snapshot is the new one.
both!(
    a_new_session_sees_what_changed_since_the_last_turn,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let cooler = "Fix walk-in cooler door gasket";
        let snapshot = |sid: String| {
            let app = &app;
            async move {
                let (s, session) = app
                    .get(&format!("/api/operations-chat/sessions/{sid}"))
                    .await;
                assert_eq!(s, 200, "{session}");
                session["context_snapshot"].clone()
            }
        };
        let first = app.ask("What's overdue?", None).await;
        assert!(
            first["response"].as_str().unwrap_or("").contains(cooler),
            "{first}"
        );
        let snap = snapshot(first["session_id"].as_str().unwrap().to_string()).await;
        assert_eq!(snap["open_tasks"], 7, "{snap}");
        // Unchanged data: a second new session is built from the same (cached) data.
        let again = app.ask("What's overdue?", None).await;
        let snap = snapshot(again["session_id"].as_str().unwrap().to_string()).await;
        assert_eq!(snap["open_tasks"], 7, "{snap}");

        app.complete_task(cooler).await;

        let after = app.ask("What's overdue?", None).await;
        let answer = after["response"].as_str().unwrap_or("");
        assert!(!answer.is_empty() && !answer.contains(cooler), "{after}");
        let sid = after["session_id"].as_str().unwrap().to_string();
        let snap = snapshot(sid.clone()).await;
        assert_eq!(snap["open_tasks"], 6, "{snap}");
        assert_eq!(snap["overdue"], json!([]), "{snap}");
        let (_, h) = app
            .get(&format!(
                "/api/operations-chat/history/{sid}?include_context=true"
            ))
            .await;
        let manifest = &h["messages"][1]["context_used"];
        assert_eq!(
            manifest["tasks"].as_array().map(Vec::len),
            Some(6),
            "{manifest}"
        );
        assert_eq!(h["message_count"], 2, "{h}");
    }
);

both!(todays_view_reads_the_live_data, |db: TestDb| async move {
    let app = TestApp::start(config(&db.url), false).await;
    app.import_fixture().await;
    let (s, t) = app.get("/api/operations/today").await;
    assert_eq!(s, 200);
    assert_eq!(t["today"], "2026-11-24");
    assert_eq!(
        t["counts"],
        json!({"open": 7, "overdue": 1, "due_today": 2, "deadlines_next_7_days": 5, "follow_ups_due": 2, "active_delegations": 3})
    );
    assert_eq!(
        t["open_tasks_by_priority"]["urgent"][0]["title"],
        "Fix walk-in cooler door gasket"
    );
    assert_eq!(t["open_tasks_by_priority"]["urgent"][0]["overdue"], true);
    assert_eq!(
        t["digest"]["text"],
        "Cooler running warm. Payroll fix due before Friday. Schedule due today."
    );
});

both!(
    an_empty_database_gets_the_demo_restaurant_once,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), true).await;
        let (_, t) = app.get("/api/operations/today").await;
        assert!(t["counts"]["open"].as_i64().unwrap() >= 8, "{t}");
        assert!(t["counts"]["overdue"].as_i64().unwrap() >= 1);
        let a = app.ask("What's most urgent today?", None).await;
        assert!(
            a["response"]
                .as_str()
                .unwrap()
                .contains("Fix walk-in cooler door gasket"),
            "{a}"
        );
        let n = app.store.tasks(&app.owner, true).await.unwrap().len();
        let cfg = app.config.clone();
        app.stop().await;
        let app = TestApp::start(cfg, true).await;
        assert_eq!(
            app.store.tasks(&app.owner, true).await.unwrap().len(),
            n,
            "a restart does not load it again"
        );
    }
);

both!(health_names_the_database, |db: TestDb| async move {
    let app = TestApp::start(config(&db.url), false).await;
    let (s, h) = app.get("/healthz").await;
    assert_eq!(s, 200);
    assert_eq!(h["status"], "ok");
    assert_eq!(
        h["database"],
        if db.url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    );
});

// A turn reuses the operations data an earlier turn read while the owner's workspace version is
// unchanged (`OpsCache`). Any write to the data moves the version in the database itself, so
// even a change made behind opschat's back (here, plain SQL) is in the very next answer.
both!(
    answers_see_every_change_to_the_data_at_once,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let cooler = "Fix walk-in cooler door gasket";
        let first = app.ask("What's overdue?", None).await;
        assert!(
            first["response"].as_str().unwrap().contains(cooler),
            "{first}"
        );
        let sid = first["session_id"].as_str().unwrap().to_string();
        let again = app.ask("What's overdue?", Some(&sid)).await;
        assert_eq!(
            again["response"], first["response"],
            "same data, same answer"
        );

        crate::support::exec(
            &db.url,
            &format!("UPDATE tasks SET status = 'completed' WHERE title = '{cooler}'"),
        )
        .await;
        let after = app.ask("What's overdue?", Some(&sid)).await;
        let answer = after["response"].as_str().unwrap();
        assert!(!answer.is_empty() && !answer.contains(cooler), "{after}");
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(today["counts"]["overdue"], 0, "{today}");

        // A new session sees it too, and so does a change to the digest.
        crate::support::exec(
            &db.url,
            "UPDATE daily_digests SET text = 'Fryer two is down until Thursday.' \
             WHERE date = (SELECT MAX(date) FROM daily_digests)",
        )
        .await;
        let digest = app.ask("What does today's digest say?", None).await;
        assert!(
            digest["response"]
                .as_str()
                .unwrap()
                .contains("Fryer two is down"),
            "{digest}"
        );
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(today["digest"]["text"], "Fryer two is down until Thursday.");
    }
);

// A turn stores its question before it reads the operations data (the read needs the workspace
// version the append reads). If that read fails, the question stays, with a failed reply that
// Retry answers, streamed or not.
both!(
    a_failed_read_of_the_data_keeps_the_question,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let sid = app.ask("What's overdue?", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        // Any change moves the version, so the next turn reads the data again; that read fails.
        crate::support::exec(&db.url, "UPDATE tasks SET priority = priority").await;
        crate::support::exec(
            &db.url,
            "ALTER TABLE delegation_notes RENAME TO delegation_notes_away",
        )
        .await;
        let (status, body) = app
            .post(
                "/api/operations-chat",
                &json!({"message": "And now?", "session_id": sid}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("database_unavailable")),
            "{body}"
        );
        let streamed = app
            .http
            .post(app.url("/api/operations-chat"))
            .header("accept", "text/event-stream")
            .json(&json!({"message": "And streamed?", "session_id": sid}))
            .send()
            .await
            .unwrap();
        assert_eq!(streamed.status(), 503);

        let h = app.history(&sid).await;
        let messages = h["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 6, "{h}");
        for (q, text) in [(2, "And now?"), (4, "And streamed?")] {
            let (question, reply) = (&messages[q], &messages[q + 1]);
            assert_eq!(
                (question["role"].as_str(), question["content"].as_str()),
                (Some("user"), Some(text))
            );
            assert_eq!(
                (reply["status"].as_str(), reply["reply_to"].as_str()),
                (Some("failed"), question["id"].as_str()),
                "{reply}"
            );
            assert!(
                reply["error"]
                    .as_str()
                    .unwrap()
                    .contains("operations data could not be read"),
                "{reply}"
            );
        }
        assert_eq!(h["message_count"], 4, "failed replies are not counted");

        crate::support::exec(
            &db.url,
            "ALTER TABLE delegation_notes_away RENAME TO delegation_notes",
        )
        .await;
        let (status, retried) = app
            .post(
                &format!("/api/operations-chat/sessions/{sid}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{retried}");
        assert!(!retried["response"].as_str().unwrap().is_empty());
        assert_eq!(retried["message_count"], 5, "{retried}");
    }
);
