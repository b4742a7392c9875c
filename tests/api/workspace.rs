//! The operations workspace over HTTP: tasks, delegations, notes, follow-ups, digests, the
//! activity log, optimistic concurrency, repeating tasks, bad input. Each on both databases.

use crate::both;
use crate::support::{TestApp, TestDb, config};
use reqwest::Method;
use serde_json::{Value, json};

/// One request: (status, body, ETag).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, Value, Option<String>) {
    let mut r = app.http.request(method, app.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(v) = if_match {
        r = r.header("If-Match", v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v, etag)
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (s, t, _) = call(app, Method::POST, "/api/tasks", Some(body), None).await;
    assert_eq!(s, 201, "{t}");
    t
}

async fn titles(app: &TestApp, query: &str) -> Vec<String> {
    let (s, v) = app.get(&format!("/api/tasks?{query}")).await;
    assert_eq!(s, 200, "{query}: {v}");
    let mut t: Vec<String> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

async fn actions(app: &TestApp, path: &str) -> Vec<String> {
    let (s, v) = app.get(path).await;
    assert_eq!(s, 200, "{v}");
    v["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect()
}

both!(
    tasks_are_created_filtered_edited_completed_and_logged,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        // Today is Tuesday 2026-11-24.
        let door = create(
            &app,
            json!({"title": "Fix walk-in door", "description": "Gasket torn, cold air leaking",
                   "due_date": "2026-11-23", "priority": "urgent", "time_estimate_minutes": 45,
                   "delegatable": true, "quadrant": "do"}),
        )
        .await;
        assert_eq!(door["version"], 1);
        assert_eq!(door["overdue"], true);
        assert_eq!(door["due"], "overdue by 1 day");
        assert_eq!(door["quadrant"], "do");
        let quick = create(&app, json!({"quick": "Call linen supplier tomorrow !high"})).await;
        assert_eq!(quick["title"], "Call linen supplier");
        assert_eq!(quick["due_date"], "2026-11-25");
        assert_eq!(quick["priority"], "high");
        create(
            &app,
            json!({"title": "Order napkins", "due_date": "2026-12-02", "priority": "low"}),
        )
        .await;
        create(&app, json!({"title": "Write menu notes"})).await;

        assert_eq!(
            titles(&app, "").await,
            [
                "Call linen supplier",
                "Fix walk-in door",
                "Order napkins",
                "Write menu notes"
            ]
        );
        assert_eq!(titles(&app, "overdue=true").await, ["Fix walk-in door"]);
        assert_eq!(
            titles(&app, "priority=urgent,high").await,
            ["Call linen supplier", "Fix walk-in door"]
        );
        assert_eq!(
            titles(&app, "due_before=2026-11-30&due_after=2026-11-23").await,
            ["Call linen supplier"]
        );
        assert_eq!(titles(&app, "q=GASKET").await, ["Fix walk-in door"]);
        assert_eq!(titles(&app, "q=linen").await, ["Call linen supplier"]);
        assert_eq!(titles(&app, "delegatable=true").await, ["Fix walk-in door"]);
        let (_, page) = app.get("/api/tasks?limit=2&offset=1").await;
        assert_eq!(page["total"], 4);
        assert_eq!(page["tasks"].as_array().unwrap().len(), 2);

        // Read one: its version is the ETag; a PATCH names it.
        let id = door["id"].as_str().unwrap();
        let path = format!("/api/tasks/{id}");
        let (s, got, etag) = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(s, 200);
        assert_eq!(etag.as_deref(), Some("\"1\""));
        assert_eq!(got["title"], "Fix walk-in door");
        let (s, v2, etag) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"title": "Fix walk-in cooler door", "time_estimate_minutes": null})),
            Some("\"1\""),
        )
        .await;
        assert_eq!(s, 200, "{v2}");
        assert_eq!(v2["version"], 2);
        assert_eq!(etag.as_deref(), Some("\"2\""));
        assert_eq!(v2["time_estimate_minutes"], Value::Null);

        // Another tab still holds version 1: its write is refused with the current item.
        let (s, stale, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"priority": "low", "version": 1})),
            None,
        )
        .await;
        assert_eq!(s, 409, "{stale}");
        assert_eq!(stale["error"]["code"], "version_conflict");
        assert_eq!(stale["error"]["current"]["version"], 2);
        assert_eq!(
            stale["error"]["current"]["title"],
            "Fix walk-in cooler door"
        );
        let (_, still, _) = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(
            still["priority"], "urgent",
            "the stale write changed nothing"
        );

        // Complete, reopen: completed_at follows.
        let (s, done, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"status": "completed", "version": 2})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{done}");
        assert_eq!(done["completed_at"], "2026-11-24T09:30:00Z");
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(
            today["counts"]["overdue"], 0,
            "the dashboard sees it at once"
        );
        assert_eq!(today["counts"]["open"], 3);
        let (s, open, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"status": "todo"})),
            Some("W/\"3\""),
        )
        .await;
        assert_eq!(s, 200, "{open}");
        assert_eq!(open["completed_at"], Value::Null);
        // Nothing changed: no new version.
        let (s, same, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"priority": "urgent"})),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(same["version"], 4);

        // Delete is soft: gone from lists and the assistant, still readable by id.
        let (s, gone, _) = call(&app, Method::DELETE, &path, None, Some("\"4\"")).await;
        assert_eq!(s, 200, "{gone}");
        assert!(gone["deleted_at"].is_string());
        assert!(
            !titles(&app, "")
                .await
                .contains(&"Fix walk-in cooler door".to_string())
        );
        assert!(
            titles(&app, "include_deleted=true")
                .await
                .contains(&"Fix walk-in cooler door".to_string())
        );
        let (s, _, _) = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(s, 200, "a cited task stays resolvable");
        let (s, e, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"title": "edit a deleted one"})),
            None,
        )
        .await;
        assert_eq!(s, 409);
        assert_eq!(e["error"]["code"], "not_allowed");
        let answer = app.ask("What's most urgent today?", None).await;
        assert!(
            !answer["response"]
                .as_str()
                .unwrap()
                .contains("walk-in cooler door"),
            "{answer}"
        );
        let (s, back, _) = call(&app, Method::POST, &format!("{path}/restore"), None, None).await;
        assert_eq!(s, 200);
        assert_eq!(back["deleted_at"], Value::Null);
        let answer = app.ask("What's most urgent today?", None).await;
        assert!(
            answer["response"]
                .as_str()
                .unwrap()
                .contains("Fix walk-in cooler door"),
            "{answer}"
        );

        // The activity log: who, how, what changed, in order.
        let (s, log) = app.get(&format!("{path}/activity")).await;
        assert_eq!(s, 200);
        let entries = log["activity"].as_array().unwrap();
        let acts: Vec<&str> = entries
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            acts,
            [
                "created",
                "updated",
                "completed",
                "reopened",
                "deleted",
                "restored"
            ]
        );
        assert_eq!(entries[1]["actor_name"], "Maria Lopez");
        assert_eq!(entries[1]["via"], "api");
        assert_eq!(
            entries[1]["changes"]["title"],
            json!(["Fix walk-in door", "Fix walk-in cooler door"])
        );
        assert_eq!(entries[1]["snapshot"]["title"], "Fix walk-in cooler door");
        assert_eq!(entries[2]["item_version"], 3);
        let (_, recent) = app.get("/api/activity?limit=1").await;
        assert_eq!(recent["activity"][0]["action"], "restored");
        assert_eq!(recent["revision"], recent["activity"][0]["id"]);
    }
);

both!(
    concurrent_writes_of_one_version_let_exactly_one_win,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let t = create(&app, json!({"title": "Prep station rota"})).await;
        let path = format!("/api/tasks/{}", t["id"].as_str().unwrap());
        let writes = (0..6).map(|i| {
            let app = &app;
            let path = path.clone();
            async move {
                call(
                    app,
                    Method::PATCH,
                    &path,
                    Some(json!({"title": format!("Rota v{i}"), "version": 1})),
                    None,
                )
                .await
                .0
            }
        });
        let mut statuses = futures::future::join_all(writes).await;
        statuses.sort();
        assert_eq!(statuses, [200, 409, 409, 409, 409, 409]);
        let (_, now, _) = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(now["version"], 2);
    }
);

both!(
    bad_input_names_the_field_and_writes_nothing,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let t = create(&app, json!({"title": "Check fryer oil"})).await;
        let task = format!("/api/tasks/{}", t["id"].as_str().unwrap());
        let (_, d) = app
            .post(
                "/api/delegations",
                &json!({"task_description": "Deep clean", "assigned_to": "Ana"}),
            )
            .await;
        let deleg = format!("/api/delegations/{}", d["id"].as_str().unwrap());
        let (_, before_tasks) = app.get("/api/tasks?include_deleted=true").await;
        let (_, before_log) = app.get("/api/activity?limit=1000").await;
        let long = "x".repeat(301);
        let cases: Vec<(Method, String, Value, &str)> = vec![
            (Method::POST, "/api/tasks".into(), json!({}), "title"),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "  "}),
                "title",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": long}),
                "title",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": 5}),
                "title",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "due_date": "2026-02-30"}),
                "due_date",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "priority": "asap"}),
                "priority",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "status": "done-ish"}),
                "status",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "time_estimate_minutes": 0}),
                "time_estimate_minutes",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "time_estimate_minutes": "1h"}),
                "time_estimate_minutes",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "delegatable": "yes"}),
                "delegatable",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "quadrant": "urgent"}),
                "quadrant",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "recurrence": {"every": "fortnight"}}),
                "recurrence.every",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "recurrence": {"every": "week", "days": ["funday"]}}),
                "recurrence.days",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "recurrence": {"every": "day", "interval": 0}}),
                "recurrence.interval",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "recurrence": {"every": "month", "month_day": 32}}),
                "recurrence.month_day",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "colour": "red"}),
                "colour",
            ),
            (
                Method::POST,
                "/api/tasks".into(),
                json!({"title": "x", "quick": "y"}),
                "quick",
            ),
            (Method::PATCH, task.clone(), json!({"title": ""}), "title"),
            (
                Method::PATCH,
                task.clone(),
                json!({"version": "one"}),
                "version",
            ),
            (
                Method::PATCH,
                task.clone(),
                json!({"due_date": 20261124}),
                "due_date",
            ),
            (
                Method::POST,
                format!("{task}/delegate"),
                json!({}),
                "assigned_to",
            ),
            (
                Method::POST,
                format!("{task}/delegate"),
                json!({"assigned_to": "Sam", "assigned_to_email": "not-an-email"}),
                "assigned_to_email",
            ),
            (
                Method::POST,
                format!("{task}/delegate"),
                json!({"assigned_to": "Sam", "follow_up_date": "2025-01-01"}),
                "follow_up_date",
            ),
            (
                Method::POST,
                "/api/delegations".into(),
                json!({"assigned_to": "Sam"}),
                "task_description",
            ),
            (
                Method::PATCH,
                deleg.clone(),
                json!({"status": "waiting"}),
                "status",
            ),
            (
                Method::PATCH,
                deleg.clone(),
                json!({"complete_task": "yes"}),
                "complete_task",
            ),
            (
                Method::POST,
                format!("{deleg}/notes"),
                json!({"body": ""}),
                "body",
            ),
            (
                Method::POST,
                format!("{deleg}/notes"),
                json!({"body": "x".repeat(4001)}),
                "body",
            ),
            (
                Method::POST,
                format!("{deleg}/follow-up"),
                json!({"next_follow_up_date": "2026-11-24"}),
                "next_follow_up_date",
            ),
            (
                Method::PUT,
                "/api/digests/2026-11-24".into(),
                json!({"text": ""}),
                "text",
            ),
            (
                Method::PUT,
                "/api/digests/2026-11-31".into(),
                json!({"text": "x"}),
                "date",
            ),
            (
                Method::GET,
                "/api/tasks?status=someday".into(),
                Value::Null,
                "status",
            ),
            (
                Method::GET,
                "/api/tasks?due_before=tomorrow".into(),
                Value::Null,
                "due_before",
            ),
            (
                Method::GET,
                "/api/tasks?overdue=maybe".into(),
                Value::Null,
                "overdue",
            ),
            (
                Method::GET,
                "/api/tasks?limit=0".into(),
                Value::Null,
                "limit",
            ),
            (
                Method::GET,
                "/api/delegations?follow_up_due=perhaps".into(),
                Value::Null,
                "follow_up_due",
            ),
        ];
        for (method, path, body, field) in cases {
            let body = (!body.is_null()).then_some(body);
            let (s, e, _) = call(&app, method.clone(), &path, body.clone(), None).await;
            assert_eq!(s, 400, "{method} {path} {body:?}: {e}");
            assert_eq!(e["error"]["field"], field, "{method} {path} {body:?}: {e}");
            assert!(
                e["error"]["message"].as_str().unwrap().starts_with(field),
                "{e}"
            );
        }
        let (s, e, _) = call(
            &app,
            Method::PATCH,
            &task,
            Some(json!({"title": "x"})),
            Some("yesterday"),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(e["error"]["field"], "If-Match");
        for path in ["/api/tasks?q=a%00b", "/api/delegations?assigned_to=%00"] {
            let (s, e, _) = call(&app, Method::GET, path, None, None).await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (400, Some("invalid_text")),
                "{path}: {e}"
            );
        }
        let (s, e, _) = call(&app, Method::GET, "/api/tasks/not-a-uuid", None, None).await;
        assert_eq!(s, 400, "{e}");
        let (s, _, _) = call(
            &app,
            Method::GET,
            "/api/tasks/0191e0a0-0000-7000-8000-000000000000",
            None,
            None,
        )
        .await;
        assert_eq!(s, 404);
        let (s, e) = app
            .post_raw("/api/tasks", "application/x-www-form-urlencoded", "title=x")
            .await;
        assert_eq!(s, 415, "{e}");

        let (_, after_tasks) = app.get("/api/tasks?include_deleted=true").await;
        let (_, after_log) = app.get("/api/activity?limit=1000").await;
        assert_eq!(before_tasks, after_tasks, "nothing was written");
        assert_eq!(before_log, after_log, "nothing was logged");
    }
);

both!(
    delegating_following_up_noting_and_completing,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let t = create(
            &app,
            json!({"title": "Repair fryer thermostat", "due_date": "2026-11-27", "priority": "high", "delegatable": true}),
        )
        .await;
        let task = format!("/api/tasks/{}", t["id"].as_str().unwrap());
        let (s, v, _) = call(
            &app,
            Method::POST,
            &format!("{task}/delegate"),
            Some(json!({"assigned_to": "Marcus", "assigned_to_email": "marcus@example.com",
                        "follow_up_date": "2026-11-24", "note": "Asked at the 3pm huddle", "version": 1})),
            None,
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let d = &v["delegation"];
        assert_eq!(d["task_description"], "Repair fryer thermostat");
        assert_eq!(
            d["due_date"], "2026-11-27",
            "the task's due date carries over"
        );
        assert_eq!(d["priority"], "high");
        assert_eq!(d["task_id"], t["id"]);
        assert_eq!(d["follow_up_due"], true);
        assert_eq!(v["task"]["delegated_to"]["assigned_to"], "Marcus");
        let deleg = format!("/api/delegations/{}", d["id"].as_str().unwrap());

        // Delegating it again is refused while Marcus has it.
        let (s, e, _) = call(
            &app,
            Method::POST,
            &format!("{task}/delegate"),
            Some(json!({"assigned_to": "Ana"})),
            None,
        )
        .await;
        assert_eq!(s, 409, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains("Marcus"));
        // The task list shows who has it; the assistant stops offering it for delegation.
        let (_, list) = app.get("/api/tasks").await;
        assert_eq!(list["tasks"][0]["delegated_to"]["assigned_to"], "Marcus");

        let (s, n) = app
            .post(
                &format!("{deleg}/notes"),
                &json!({"body": "Marcus says the fryer is half done"}),
            )
            .await;
        assert_eq!(s, 201, "{n}");
        assert_eq!(n["author_name"], "Maria Lopez");
        let (_, notes) = app.get(&format!("{deleg}/notes")).await;
        let bodies: Vec<&str> = notes["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["body"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                "Asked at the 3pm huddle",
                "Marcus says the fryer is half done"
            ]
        );
        let (_, due) = app.get("/api/delegations?follow_up_due=true").await;
        assert_eq!(due["total"], 1);
        let answer = app.ask("Who do I need to follow up with?", None).await;
        let text = answer["response"].as_str().unwrap();
        assert!(text.contains("Marcus"), "{text}");
        assert!(
            text.contains("half done"),
            "the latest note is in the answer: {text}"
        );
        let answer = app.ask("What can I delegate?", None).await;
        assert!(
            !answer["response"]
                .as_str()
                .unwrap()
                .contains("**Repair fryer thermostat**"),
            "{answer}"
        );

        // Followed up: the next follow-up moves two days on by default.
        let (s, f, _) = call(
            &app,
            Method::POST,
            &format!("{deleg}/follow-up"),
            Some(json!({"note": "Parts arrive Thursday"})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{f}");
        assert_eq!(f["follow_up_date"], "2026-11-26");
        assert_eq!(f["last_followed_up_at"], "2026-11-24T09:30:00Z");
        assert_eq!(f["follow_up_due"], false);
        let (_, due) = app.get("/api/delegations?follow_up_due=true").await;
        assert_eq!(due["total"], 0);
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(today["counts"]["follow_ups_due"], 0);
        let (s, f, _) = call(
            &app,
            Method::POST,
            &format!("{deleg}/follow-up"),
            Some(json!({"next_follow_up_date": "2026-11-30"})),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(f["follow_up_date"], "2026-11-30");

        // Completing the delegation completes the task it came from.
        let version = f["version"].as_i64().unwrap();
        let (s, c, _) = call(
            &app,
            Method::PATCH,
            &deleg,
            Some(json!({"status": "completed", "version": version})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{c}");
        assert!(c["completed_at"].is_string());
        assert_eq!(c["completed_task"]["status"], "completed");
        let (_, tnow, _) = call(&app, Method::GET, &task, None, None).await;
        assert_eq!(tnow["status"], "completed");
        assert_eq!(
            actions(&app, &format!("{task}/activity")).await,
            ["created", "delegated", "completed"]
        );
        assert_eq!(
            actions(&app, &format!("{deleg}/activity")).await,
            [
                "created",
                "note_added",
                "note_added",
                "followed_up",
                "note_added",
                "followed_up",
                "completed"
            ]
        );

        // complete_task: false leaves the task open; deleting a delegation frees its task.
        let t2 = create(&app, json!({"title": "Book pest control"})).await;
        let task2 = format!("/api/tasks/{}", t2["id"].as_str().unwrap());
        let (_, v2, _) = call(
            &app,
            Method::POST,
            &format!("{task2}/delegate"),
            Some(json!({"assigned_to": "Ana"})),
            None,
        )
        .await;
        let deleg2 = format!(
            "/api/delegations/{}",
            v2["delegation"]["id"].as_str().unwrap()
        );
        let (s, c2, _) = call(
            &app,
            Method::PATCH,
            &deleg2,
            Some(json!({"status": "completed", "complete_task": false})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{c2}");
        assert_eq!(c2["completed_task"], Value::Null);
        let (s, _, _) = call(&app, Method::DELETE, &deleg2, None, None).await;
        assert_eq!(s, 200);
        let (_, t2now, _) = call(&app, Method::GET, &task2, None, None).await;
        assert_eq!(t2now["status"], "todo");
        assert_eq!(t2now["delegation_id"], Value::Null);
        let (s, _, _) = call(
            &app,
            Method::POST,
            &format!("{task2}/delegate"),
            Some(json!({"assigned_to": "Sam"})),
            None,
        )
        .await;
        assert_eq!(s, 201, "a freed task can be delegated again");
        let (s, e) = app
            .post(&format!("{deleg2}/notes"), &json!({"body": "late note"}))
            .await;
        assert_eq!(s, 409, "no notes on a deleted delegation: {e}");
    }
);

both!(
    the_digest_is_written_read_versioned_and_logged,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let (s, e, _) = call(&app, Method::GET, "/api/digests/2026-11-24", None, None).await;
        assert_eq!(s, 404, "{e}");
        let (s, d, etag) = call(
            &app,
            Method::PUT,
            "/api/digests/2026-11-24",
            Some(json!({"text": "Health inspector Thursday. Cooler running warm."})),
            None,
        )
        .await;
        assert_eq!(s, 201, "{d}");
        assert_eq!(etag.as_deref(), Some("\"1\""));
        let (s, d2, _) = call(
            &app,
            Method::PUT,
            "/api/digests/2026-11-24",
            Some(json!({"text": "Health inspector Thursday. Cooler fixed.", "version": 1})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{d2}");
        assert_eq!(d2["version"], 2);
        let (s, stale, _) = call(
            &app,
            Method::PUT,
            "/api/digests/2026-11-24",
            Some(json!({"text": "An older tab's text"})),
            Some("\"1\""),
        )
        .await;
        assert_eq!(s, 409);
        assert_eq!(
            stale["error"]["current"]["text"],
            "Health inspector Thursday. Cooler fixed."
        );
        let (_, got, _) = call(&app, Method::GET, "/api/digests/2026-11-24", None, None).await;
        assert_eq!(got["text"], "Health inspector Thursday. Cooler fixed.");
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(
            today["digest"]["text"],
            "Health inspector Thursday. Cooler fixed."
        );
        let answer = app.ask("Summarize my day", None).await;
        assert!(
            answer["response"]
                .as_str()
                .unwrap()
                .contains("Cooler fixed")
                || answer["context_used"]
                    .to_string()
                    .contains(d["id"].as_str().unwrap()),
            "{answer}"
        );
        assert_eq!(
            actions(&app, "/api/digests/2026-11-24/activity").await,
            ["created", "updated"]
        );
        let (_, list) = app.get("/api/digests").await;
        assert_eq!(list["digests"].as_array().unwrap().len(), 1);
    }
);

/// An app whose clock reads `now`, on `db`, in `zone` (the first account's time zone).
async fn app_at(db: &TestDb, now: &str, zone: &str) -> TestApp {
    let mut cfg = config(&db.url);
    cfg.now = Some(now.into());
    let app = TestApp::start(cfg, false).await;
    let (s, v) = app.patch("/api/auth/me", &json!({"time_zone": zone})).await;
    assert_eq!(s, 200, "{v}");
    app
}

async fn complete(app: &TestApp, id: &str) -> Value {
    let (s, v, _) = call(
        app,
        Method::PATCH,
        &format!("/api/tasks/{id}"),
        Some(json!({"status": "completed"})),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

both!(
    repeating_tasks_follow_month_ends_and_the_users_daylight_saving_time,
    |db: TestDb| async move {
        // Month ends: the 31st becomes the 28th in February and comes back in March.
        let app = app_at(&db, "2027-01-31T15:00:00Z", "America/New_York").await;
        let t = create(
            &app,
            json!({"title": "Pay the linen invoice", "due_date": "2027-01-31",
                                    "recurrence": {"every": "month"}}),
        )
        .await;
        assert_eq!(
            t["recurrence"],
            json!({"every": "month", "interval": 1, "month_day": 31})
        );
        assert_eq!(t["recurrence_text"], "every month on the 31st");
        let first = complete(&app, t["id"].as_str().unwrap()).await;
        let feb = &first["next_occurrence"];
        assert_eq!(feb["due_date"], "2027-02-28");
        assert_eq!(feb["series_id"], t["id"]);
        assert_eq!(feb["previous_id"], t["id"]);
        let second = complete(&app, feb["id"].as_str().unwrap()).await;
        assert_eq!(second["next_occurrence"]["due_date"], "2027-03-31");
        // The assistant and the lists see only the current occurrence.
        assert_eq!(titles(&app, "status=open").await, ["Pay the linen invoice"]);
        let (_, open) = app.get("/api/tasks?status=open").await;
        assert_eq!(open["tasks"][0]["due_date"], "2027-03-31");
        // Undo (reopen) takes back the occurrence that completion created.
        let feb_id = feb["id"].as_str().unwrap();
        let (s, _, _) = call(
            &app,
            Method::PATCH,
            &format!("/api/tasks/{feb_id}"),
            Some(json!({"status": "todo"})),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let (_, open) = app.get("/api/tasks?status=open").await;
        assert_eq!(open["total"], 1);
        assert_eq!(open["tasks"][0]["due_date"], "2027-02-28");
        app.stop().await;

        // Daylight saving time starts in New York on Sunday 14 March 2027 at 02:00. At
        // 04:30 UTC on the 15th it is already Monday 00:30 there (EDT, UTC-4); under standard
        // time it would still be Sunday. A daily check overdue since the 10th, done now,
        // comes back for the user's today: Monday.
        let app = app_at(&db, "2027-03-15T04:30:00Z", "America/New_York").await;
        let t = create(
            &app,
            json!({"quick": "Line checks daily", "due_date": "2027-03-10"}),
        )
        .await;
        assert_eq!(t["recurrence"]["every"], "day");
        let done = complete(&app, t["id"].as_str().unwrap()).await;
        assert_eq!(done["next_occurrence"]["due_date"], "2027-03-15");
        // The week's rule lands on the Sunday of the change, and the next.
        let t = create(
            &app,
            json!({"title": "Count bar inventory", "due_date": "2027-03-07",
                                    "recurrence": {"every": "week", "days": ["sun"]}}),
        )
        .await;
        let done = complete(&app, t["id"].as_str().unwrap()).await;
        assert_eq!(
            done["next_occurrence"]["due_date"], "2027-03-21",
            "the 14th is already past"
        );
        app.stop().await;

        // Late on Saturday 13 March in New York (04:30 UTC on the 14th, still EST) the user's
        // today is the 13th, while UTC already says the 14th.
        let app = app_at(&db, "2027-03-14T04:30:00Z", "America/New_York").await;
        let t = create(
            &app,
            json!({"title": "Close-out checklist", "due_date": "2027-03-12",
                                    "recurrence": {"every": "day"}}),
        )
        .await;
        let done = complete(&app, t["id"].as_str().unwrap()).await;
        assert_eq!(done["next_occurrence"]["due_date"], "2027-03-13");
        // A quick-add "tomorrow" is the user's tomorrow too.
        let q = create(&app, json!({"quick": "Order produce tomorrow"})).await;
        assert_eq!(q["due_date"], "2027-03-14");
        let answer = app.ask("What's most urgent today?", None).await;
        let text = answer["response"].as_str().unwrap();
        assert!(text.contains("Close-out checklist"), "{text}");
    }
);

both!(
    the_import_document_still_works_and_is_logged,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let (_, list) = app.get("/api/tasks?q=gasket&include_deleted=true").await;
        let id = list["tasks"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(
            actions(&app, &format!("/api/tasks/{id}/activity")).await,
            ["imported"]
        );
        app.import_fixture().await;
        let (_, t, _) = call(&app, Method::GET, &format!("/api/tasks/{id}"), None, None).await;
        assert_eq!(t["version"], 2, "a re-import is a new version");
        assert_eq!(
            actions(&app, &format!("/api/tasks/{id}/activity")).await,
            ["imported", "imported"]
        );
        // Imported items are edited like any other.
        let (s, v, _) = call(
            &app,
            Method::PATCH,
            &format!("/api/tasks/{id}"),
            Some(json!({"status": "completed", "version": 2})),
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["external_id"], "t-cooler");
    }
);

both!(
    delegation_lists_filter_and_a_delegation_reads_restores_and_refuses_stale_writes,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let mk = |what: &str, who: &str, follow: &str, status: &str| json!({"task_description": what, "assigned_to": who, "follow_up_date": follow, "status": status});
        for body in [
            mk(
                "Sunday inventory count",
                "Marcus Lee",
                "2026-11-24",
                "active",
            ),
            mk(
                "Schedule pest control",
                "Dana Ortiz",
                "2026-11-27",
                "planning",
            ),
            mk("Fix the ice machine", "marcus lee", "2026-11-20", "on_hold"),
            mk(
                "Train the new host",
                "Priya Shah",
                "2026-11-22",
                "completed",
            ),
        ] {
            let (s, v) = app.post("/api/delegations", &body).await;
            assert_eq!(s, 201, "{v}");
        }
        let names = |v: &Value| -> Vec<String> {
            let mut n: Vec<String> = v["delegations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["task_description"].as_str().unwrap().to_string())
                .collect();
            n.sort();
            n
        };
        let (_, all) = app.get("/api/delegations").await;
        assert_eq!(all["total"], 4);
        let (_, open) = app.get("/api/delegations?status=open").await;
        assert_eq!(
            names(&open),
            [
                "Fix the ice machine",
                "Schedule pest control",
                "Sunday inventory count"
            ]
        );
        let (_, planning) = app.get("/api/delegations?status=planning,completed").await;
        assert_eq!(
            names(&planning),
            ["Schedule pest control", "Train the new host"]
        );
        let (_, marcus) = app.get("/api/delegations?assigned_to=Marcus%20Lee").await;
        assert_eq!(
            names(&marcus),
            ["Fix the ice machine", "Sunday inventory count"]
        );
        let (_, due) = app.get("/api/delegations?follow_up_due=true").await;
        assert_eq!(
            names(&due),
            ["Sunday inventory count"],
            "on hold and completed are not due"
        );
        let (_, text) = app.get("/api/delegations?q=PEST").await;
        assert_eq!(names(&text), ["Schedule pest control"]);
        let (_, text) = app.get("/api/delegations?q=priya").await;
        assert_eq!(names(&text), ["Train the new host"]);
        let (s, e) = app.get("/api/delegations?colour=red").await;
        assert_eq!(s, 400, "{e}");

        let id = open["delegations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["task_description"] == "Sunday inventory count")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/delegations/{id}");
        app.post(
            &format!("{path}/notes"),
            &json!({"body": "Counted the walk-in"}),
        )
        .await;
        let (s, d, etag) = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(s, 200);
        assert_eq!(
            etag.as_deref(),
            Some("\"1\""),
            "a note is not a change of the delegation"
        );
        assert_eq!(d["notes"][0]["body"], "Counted the walk-in");
        assert_eq!(d["follow_up_due"], true);
        let (s, _, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"priority": "urgent"})),
            Some("\"1\""),
        )
        .await;
        assert_eq!(s, 200);
        let (s, stale, _) = call(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"priority": "low"})),
            Some("\"1\""),
        )
        .await;
        assert_eq!(s, 409);
        assert_eq!(stale["error"]["current"]["priority"], "urgent");
        let (s, _, _) = call(&app, Method::DELETE, &path, None, Some("\"1\"")).await;
        assert_eq!(s, 409, "a stale delete is refused too");
        let (s, gone, _) = call(&app, Method::DELETE, &path, None, Some("\"2\"")).await;
        assert_eq!(s, 200, "{gone}");
        let (_, open) = app.get("/api/delegations?status=open").await;
        assert_eq!(open["total"], 2);
        let (_, with) = app
            .get("/api/delegations?status=open&include_deleted=true")
            .await;
        assert_eq!(with["total"], 3);
        let (s, back, _) = call(&app, Method::POST, &format!("{path}/restore"), None, None).await;
        assert_eq!(s, 200, "{back}");
        assert_eq!(back["deleted_at"], Value::Null);
        assert_eq!(
            actions(&app, &format!("{path}/activity")).await,
            ["created", "note_added", "updated", "deleted", "restored"]
        );
    }
);

both!(
    an_item_reads_as_it_stood_when_an_answer_cited_it,
    |db: TestDb| async move {
        let app = app_at(&db, "2026-11-24T09:00:00Z", "Europe/London").await;
        let t = create(
            &app,
            json!({"title": "Call the fish supplier", "priority": "high"}),
        )
        .await;
        let id = t["id"].as_str().unwrap().to_string();
        let asked = app.ask("What's most urgent today?", None).await;
        assert!(asked["items_used"].to_string().contains(&id), "{asked}");
        app.stop().await;
        let app = app_at(&db, "2026-11-24T15:00:00Z", "Europe/London").await;
        let (s, _, _) = call(
            &app,
            Method::PATCH,
            &format!("/api/tasks/{id}"),
            Some(json!({"title": "Call the fish supplier about Friday", "priority": "low"})),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let (s, then) = app
            .get(&format!("/api/tasks/{id}?as_of=2026-11-24T10:00:00Z"))
            .await;
        assert_eq!(s, 200, "{then}");
        assert_eq!(then["item"]["title"], "Call the fish supplier");
        assert_eq!(then["item"]["priority"], "high");
        let (_, now) = app
            .get(&format!("/api/tasks/{id}?as_of=2026-11-24T16:00:00Z"))
            .await;
        assert_eq!(now["item"]["priority"], "low");
        let (s, _) = app
            .get(&format!("/api/tasks/{id}?as_of=2026-11-23T10:00:00Z"))
            .await;
        assert_eq!(s, 404, "it did not exist yet");
        let (s, e) = app.get(&format!("/api/tasks/{id}?as_of=yesterday")).await;
        assert_eq!(s, 400);
        assert_eq!(e["error"]["field"], "as_of");
    }
);
