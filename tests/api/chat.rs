//! The chat turn, step by step.

use crate::both;
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};

fn titles(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["title"].as_str().map(String::from))
        .collect()
}

both!(
    a_first_question_creates_a_session_and_answers_from_the_data,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;

        let r = app.ask("What's most urgent today?", None).await;
        let answer = r["response"].as_str().unwrap();
        // Overdue first, then due today by priority; completed and cancelled work never shows.
        let cooler = answer.find("Fix walk-in cooler door gasket").expect(answer);
        let payroll = answer
            .find("Resolve Hannah's payroll discrepancy")
            .expect(answer);
        let schedule = answer
            .find("Submit manager schedule for next week")
            .expect(answer);
        assert!(cooler < payroll && payroll < schedule, "{answer}");
        assert!(
            !answer.contains("Deep clean the hood vents")
                && !answer.contains("Renew liquor license"),
            "{answer}"
        );
        assert!(
            answer.contains("Marcus Lee") && answer.contains("Priya Shah"),
            "follow-ups due belong in the urgent view: {answer}"
        );

        // The original's fields, plus ours.
        assert_eq!(r["model"], "opschat-local");
        assert_eq!(r["title"], "What's most urgent today?");
        assert!(
            r["timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-24T09:30:00")
        );
        assert!(r["tokens_used"].as_i64().unwrap() > r["completion_tokens"].as_i64().unwrap());
        let used = titles(&r["items_used"]);
        assert!(
            used.contains(&"Fix walk-in cooler door gasket".to_string()),
            "{used:?}"
        );
        assert!(
            r["items_used"][0]["id"].as_str().is_some()
                && r["items_used"][0]["external_id"] == "t-cooler"
        );

        let sid = r["session_id"].as_str().unwrap();
        let h = app.history(sid).await;
        assert_eq!(h["message_count"], 2);
        assert_eq!(h["title"], "What's most urgent today?");
        let msgs = h["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            (msgs[0]["role"].as_str(), msgs[0]["seq"].as_i64()),
            (Some("user"), Some(1))
        );
        assert_eq!(
            (msgs[1]["role"].as_str(), msgs[1]["seq"].as_i64()),
            (Some("assistant"), Some(2))
        );
        assert_eq!(msgs[1]["content"], r["response"]);
        assert_eq!(msgs[1]["id"], r["message_id"]);
        assert_eq!(msgs[0]["id"], r["user_message_id"]);
        assert_eq!(msgs[1]["model_used"], "opschat-local");
        assert_eq!(msgs[1]["tokens_used"], r["tokens_used"]);
        assert!(
            msgs[0]["tokens_used"].as_i64().unwrap() > 0,
            "the question's own tokens are counted"
        );
        assert_eq!(msgs[1]["reply_to"], msgs[0]["id"]);

        // The session's snapshot and the reply's manifest say what the answer was built from.
        let (_, s) = app
            .get(&format!("/api/operations-chat/sessions/{sid}"))
            .await;
        let snap = &s["context_snapshot"];
        assert_eq!(snap["today"], "2026-11-24");
        assert_eq!(snap["open_tasks"], 7);
        assert_eq!(snap["overdue"].as_array().unwrap().len(), 1);
        let h = app
            .get(&format!(
                "/api/operations-chat/history/{sid}?include_context=true"
            ))
            .await
            .1;
        let manifest = &h["messages"][1]["context_used"];
        assert_eq!(manifest["tasks"].as_array().unwrap().len(), 7, "{manifest}");
        assert_eq!(
            manifest["delegations"].as_array().unwrap().len(),
            3,
            "completed delegations are not context: {manifest}"
        );
        assert_eq!(manifest["digest"]["date"], "2026-11-24");
        assert_eq!(manifest["history"], json!([]));
    }
);

both!(
    a_conversation_continues_in_its_session,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let first = app.ask("Who do I need to follow up with?", None).await;
        let sid = first["session_id"].as_str().unwrap().to_string();
        assert!(first["response"].as_str().unwrap().contains("Priya Shah"));
        let second = app
            .ask("When is the manager schedule due?", Some(&sid))
            .await;
        assert_eq!(second["session_id"], sid.as_str());
        let text = second["response"].as_str().unwrap();
        assert!(
            text.contains("Submit manager schedule for next week") && text.contains("today"),
            "{text}"
        );
        assert_eq!(second["message_count"], 4);
        let h = app.history(&sid).await;
        let seqs: Vec<i64> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        // The second reply's manifest names the first exchange as history.
        let h = app
            .get(&format!(
                "/api/operations-chat/history/{sid}?include_context=true"
            ))
            .await
            .1;
        assert_eq!(
            h["messages"][3]["context_used"]["history"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
);

both!(
    the_analyst_answers_every_kind_of_question,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "Show me all my deadlines",
                &[
                    "Overdue",
                    "Fix walk-in cooler door gasket",
                    "Approve Corrigo invoice for HVAC repair",
                    "Plan holiday party staffing",
                ],
                &["Deep clean"],
            ),
            (
                "What can I delegate?",
                &[
                    "Update allergen cards for the new menu",
                    "Order replacement fryer oil filters",
                ],
                &["Resolve Hannah"],
            ),
            (
                "What's the priority on the payroll issue?",
                &["Resolve Hannah's payroll discrepancy", "**urgent**"],
                &[],
            ),
            (
                "Summarize my day",
                &[
                    "7 open tasks",
                    "1 overdue",
                    "2 due today",
                    "Payroll fix due before Friday",
                ],
                &["Deep clean"],
            ),
            (
                "Help me plan my next 2 hours",
                &[
                    "09:30–10:15",
                    "Fix walk-in cooler door gasket",
                    "Follow-ups",
                    "Delegate instead",
                ],
                &["Deep clean"],
            ),
            (
                "When is the hood vent cleaning due?",
                &["Deep clean the hood vents", "completed"],
                &[],
            ),
            (
                "What's the capital of Peru?",
                &["can't answer", "What's most urgent today?"],
                &[],
            ),
        ];
        for (q, must, must_not) in cases {
            let text = app.ask(q, None).await["response"]
                .as_str()
                .unwrap()
                .to_string();
            for m in *must {
                assert!(text.contains(m), "{q:?} should mention {m:?}:\n{text}");
            }
            for m in *must_not {
                assert!(!text.contains(m), "{q:?} must not mention {m:?}:\n{text}");
            }
        }
    }
);

both!(
    twenty_concurrent_turns_into_one_session_keep_exact_counts,
    |db: TestDb| async move {
        let app = std::sync::Arc::new(TestApp::start(config(&db.url), false).await);
        app.import_fixture().await;
        let sid = app.ask("What's most urgent today?", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (app, sid) = (app.clone(), sid.clone());
            tasks.push(tokio::spawn(async move {
                app.ask(&format!("Summarize my day ({i})"), Some(&sid))
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let h = app.history(&sid).await;
        assert_eq!(h["message_count"], 42);
        let msgs = h["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 42);
        let seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=42).collect::<Vec<_>>(),
            "seq is gap-free and unique"
        );
        // Every reply answers a question of the session.
        let ids: std::collections::HashSet<&str> = msgs
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 21);
        assert!(
            msgs.iter()
                .filter(|m| m["role"] == "assistant")
                .all(|m| ids.contains(m["reply_to"].as_str().unwrap()))
        );
    }
);

both!(
    sessions_are_listed_renamed_archived_and_survive_a_restart,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let a = app.ask("What can I delegate?", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        let b = app.ask("Summarize my day", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        app.ask("What's most urgent today?", Some(&a)).await;

        let (_, list) = app.get("/api/operations-chat/sessions").await;
        let ids: Vec<&str> = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            list["sessions"][0]["message_count"].as_i64().unwrap()
                + list["sessions"][1]["message_count"].as_i64().unwrap(),
            6
        );
        for key in [
            "id",
            "title",
            "started_at",
            "last_message_at",
            "message_count",
        ] {
            assert!(
                !list["sessions"][0][key].is_null(),
                "original field {key} present"
            );
        }
        let (_, one) = app.get("/api/operations-chat/sessions?limit=1").await;
        assert_eq!(one["sessions"].as_array().unwrap().len(), 1);

        let (status, renamed) = app
            .http
            .patch(app.url(&format!("/api/operations-chat/sessions/{b}")))
            .json(&json!({"title": "  Monday   recap "}))
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            renamed.json::<Value>().await.unwrap()["title"],
            "Monday recap"
        );
        let r = app
            .http
            .patch(app.url(&format!("/api/operations-chat/sessions/{a}")))
            .json(&json!({"is_active": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (_, list) = app.get("/api/operations-chat/sessions").await;
        assert_eq!(
            list["sessions"].as_array().unwrap().len(),
            1,
            "archived sessions leave the default list"
        );
        let (_, all) = app
            .get("/api/operations-chat/sessions?include_archived=true")
            .await;
        assert_eq!(all["sessions"].as_array().unwrap().len(), 2);

        // Restart: a new server process on the same database restores everything.
        let before = app.history(&a).await;
        let cfg = app.config.clone();
        app.stop().await;
        let app = TestApp::start(cfg, false).await;
        assert_eq!(app.history(&a).await, before);
        let (_, all) = app
            .get("/api/operations-chat/sessions?include_archived=true")
            .await;
        assert_eq!(all["sessions"].as_array().unwrap().len(), 2);
        let again = app.ask("Show me all my deadlines", Some(&a)).await;
        assert_eq!(again["message_count"], 6);
    }
);

both!(long_sessions_page_backwards, |db: TestDb| async move {
    let app = TestApp::start(config(&db.url), false).await;
    app.import_fixture().await;
    let sid = app.ask("q0 what's urgent", None).await["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 1..6 {
        app.ask(&format!("q{i} what's urgent"), Some(&sid)).await;
    }
    let (_, page) = app
        .get(&format!("/api/operations-chat/history/{sid}?limit=4"))
        .await;
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [9, 10, 11, 12], "the latest page, oldest first");
    assert_eq!(page["has_more"], true);
    let (_, prev) = app
        .get(&format!(
            "/api/operations-chat/history/{sid}?limit=4&before={}",
            page["next_before"]
        ))
        .await;
    let seqs: Vec<i64> = prev["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 6, 7, 8]);
    let (_, first) = app
        .get(&format!(
            "/api/operations-chat/history/{sid}?limit=4&before=5"
        ))
        .await;
    assert_eq!(first["has_more"], false);
    assert_eq!(first["next_before"], Value::Null);
});
