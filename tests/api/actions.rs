//! Chat actions: the assistant proposes changes, the manager confirms, cancels or undoes them.
//! With the offline analyst and with a fake OpenAI-compatible server emitting real
//! `tool_calls`, streamed and not; on both databases.

use crate::both;
use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};

async fn task(app: &TestApp, title: &str) -> Value {
    let (_, v) = app
        .get("/api/tasks?include_deleted=true&status=all&limit=1000")
        .await;
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == title)
        .cloned()
        .unwrap_or_else(|| panic!("no task {title}: {v}"))
}

async fn delegation(app: &TestApp, description: &str) -> Value {
    let (_, v) = app.get("/api/delegations?include_deleted=true").await;
    v["delegations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["task_description"] == description)
        .cloned()
        .unwrap_or_else(|| panic!("no delegation {description}: {v}"))
}

async fn act(app: &TestApp, id: &str, verb: &str) -> (u16, Value) {
    app.post(
        &format!("/api/operations-chat/actions/{id}/{verb}"),
        &json!({}),
    )
    .await
}

/// Asks, expects exactly one proposal, confirms it; returns (proposal, applied).
async fn propose_and_confirm(app: &TestApp, question: &str) -> (Value, Value) {
    let r = app.ask(question, None).await;
    let actions = r["actions"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(actions.len(), 1, "{question}: {r}");
    let a = actions[0].clone();
    assert_eq!(a["status"], "proposed");
    // Confirmed twice at once, as two tabs would: both see it applied, it applies once.
    let id = a["id"].as_str().unwrap();
    let ((s, done), (s2, again)) = tokio::join!(act(app, id, "confirm"), act(app, id, "confirm"));
    assert_eq!((s, s2), (200, 200), "{done} {again}");
    let (_, done) = app.get(&format!("/api/operations-chat/actions/{id}")).await;
    assert_eq!(done["status"], "applied", "{question}: {done}");
    (a, done)
}

fn activity_actions(v: &Value) -> Vec<String> {
    v["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["action"].as_str().unwrap(),
                a["via"].as_str().unwrap()
            )
        })
        .collect()
}

both!(
    the_offline_assistant_proposes_nothing_changes_until_confirmed_once_and_undo_restores,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let r = app.ask("Mark the cooler gasket done", None).await;
        let a = &r["actions"][0];
        assert_eq!(a["status"], "proposed", "{r}");
        assert_eq!(
            a["summary"],
            "Mark **Fix walk-in cooler door gasket** completed"
        );
        assert!(
            a["summary_html"]
                .as_str()
                .unwrap()
                .contains("<strong>Fix walk-in cooler door gasket</strong>")
        );
        assert!(
            r["response"]
                .as_str()
                .unwrap()
                .contains("nothing changes until you confirm"),
            "{r}"
        );
        let gasket = task(&app, "Fix walk-in cooler door gasket").await;
        assert_eq!(
            gasket["status"], "in_progress",
            "nothing changed before the confirm"
        );
        let id = a["id"].as_str().unwrap().to_string();

        // Two confirms at once (two tabs): applied once.
        let (one, two) = tokio::join!(act(&app, &id, "confirm"), act(&app, &id, "confirm"));
        assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
        let (_, done) = app.get(&format!("/api/operations-chat/actions/{id}")).await;
        assert_eq!(done["status"], "applied");
        assert_eq!(done["decided_by"], "Maria Lopez");
        assert_eq!(done["before"]["status"], "in_progress");
        assert_eq!(done["after"]["status"], "completed");
        let gasket = task(&app, "Fix walk-in cooler door gasket").await;
        assert_eq!(gasket["status"], "completed");
        let (_, log) = app
            .get(&format!(
                "/api/tasks/{}/activity",
                gasket["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            activity_actions(&log),
            ["imported/api", "action_proposed/chat", "completed/chat"],
            "one completion, by the chat"
        );
        let (s, _) = act(&app, &id, "confirm").await;
        assert_eq!(s, 200, "a late confirm is harmless");
        let (s, e) = act(&app, &id, "cancel").await;
        assert_eq!(s, 409, "an applied change is undone, not cancelled: {e}");

        // Undo puts it back; a second undo does nothing more.
        let (s, undone) = act(&app, &id, "undo").await;
        assert_eq!(s, 200, "{undone}");
        assert_eq!(undone["status"], "undone");
        assert_eq!(undone["undone_by"], "Maria Lopez");
        assert_eq!(
            task(&app, "Fix walk-in cooler door gasket").await["status"],
            "in_progress"
        );
        let (_, log) = app
            .get(&format!(
                "/api/tasks/{}/activity",
                gasket["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            activity_actions(&log)[3..],
            ["reopened/chat", "action_undone/chat"]
        );
        let (s, again) = act(&app, &id, "undo").await;
        assert_eq!((s, again["status"].as_str()), (200, Some("undone")));

        // The transcript keeps the proposal and what became of it.
        let session = r["session_id"].as_str().unwrap();
        let h = app.history(session).await;
        let reply = &h["messages"][1];
        assert_eq!(reply["actions"][0]["id"], id.as_str());
        assert_eq!(reply["actions"][0]["status"], "undone");
    }
);

both!(
    every_action_kind_from_the_offline_assistant_applies_and_undoes,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        // Today is Tuesday 2026-11-24.
        // Add a task.
        let (_, done) =
            propose_and_confirm(&app, "Add a task: call the linen supplier, high priority").await;
        assert_eq!(done["after"]["title"], "Call the linen supplier");
        assert_eq!(done["after"]["priority"], "high");
        let (s, undone) = act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(s, 200, "{undone}");
        assert!(task(&app, "Call the linen supplier").await["deleted_at"].is_string());
        let (_, all) = app
            .get("/api/tasks?include_deleted=true&q=linen%20supplier")
            .await;
        assert_eq!(all["total"], 1, "a double confirm created one task");

        // Move a due date.
        let r = app.ask("push the HVAC invoice to tomorrow", None).await;
        assert!(
            r["response"]
                .as_str()
                .unwrap()
                .contains("already like that"),
            "it is due tomorrow already: {r}"
        );
        let (a, done) = propose_and_confirm(&app, "push the HVAC invoice to friday").await;
        assert_eq!(
            a["summary"],
            "Move **Approve Corrigo invoice for HVAC repair** to Fri 27 Nov"
        );
        assert_eq!(done["after"]["due_date"], "2026-11-27");
        // Priority and estimate.
        let (_, done) = propose_and_confirm(&app, "make the allergen cards urgent").await;
        assert_eq!(done["after"]["priority"], "urgent");
        act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(
            task(&app, "Update allergen cards for the new menu").await["priority"],
            "medium"
        );
        let (_, done) =
            propose_and_confirm(&app, "estimate the holiday party staffing at 90 min").await;
        assert_eq!(done["after"]["time_estimate_minutes"], 90);

        // Delegate with due and follow-up dates.
        let (a, done) = propose_and_confirm(
            &app,
            "Give the fryer oil filters to Marcus, due Friday, follow up Thursday",
        )
        .await;
        assert_eq!(
            a["summary"],
            "Delegate **Order replacement fryer oil filters** to Marcus, due Fri 27 Nov, follow up Thu 26 Nov"
        );
        assert_eq!(done["after"]["delegation"]["assigned_to"], "Marcus");
        assert_eq!(done["after"]["delegation"]["due_date"], "2026-11-27");
        assert_eq!(done["after"]["delegation"]["follow_up_date"], "2026-11-26");
        let (s, _) = act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(s, 200);
        assert!(
            delegation(&app, "Order replacement fryer oil filters").await["deleted_at"].is_string()
        );
        assert_eq!(
            task(&app, "Order replacement fryer oil filters").await["delegation_id"],
            Value::Null
        );

        // Follow-up moved, then cleared.
        let (a, done) =
            propose_and_confirm(&app, "Remind me to follow up with Dana tomorrow").await;
        assert_eq!(
            a["summary"],
            "Follow up with Dana Ortiz on **Schedule the pest control visit** Wed 25 Nov"
        );
        assert_eq!(done["after"]["follow_up_date"], "2026-11-25");
        let (_, done) = propose_and_confirm(&app, "clear the follow-up with Dana").await;
        assert_eq!(done["after"]["follow_up_date"], Value::Null);
        act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(
            delegation(&app, "Schedule the pest control visit").await["follow_up_date"],
            "2026-11-25"
        );

        // A note, and its undo.
        let (_, done) =
            propose_and_confirm(&app, "Note for Marcus: counted the walk-in, bar is next").await;
        assert_eq!(done["after"]["body"], "counted the walk-in, bar is next");
        let inv = delegation(&app, "Sunday inventory count").await;
        let notes_path = format!("/api/delegations/{}/notes", inv["id"].as_str().unwrap());
        assert_eq!(
            app.get(&notes_path).await.1["notes"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(
            app.get(&notes_path).await.1["notes"]
                .as_array()
                .unwrap()
                .len(),
            0
        );

        // Complete a delegation.
        let (a, done) = propose_and_confirm(&app, "mark the pest control visit done").await;
        assert_eq!(
            a["summary"],
            "Mark **Schedule the pest control visit** (Dana Ortiz) completed"
        );
        assert_eq!(done["after"]["delegation"]["status"], "completed");
        act(&app, done["id"].as_str().unwrap(), "undo").await;
        assert_eq!(
            delegation(&app, "Schedule the pest control visit").await["status"],
            "planning"
        );

        // Today's digest, and its undo back to the imported one.
        let (_, done) =
            propose_and_confirm(&app, "Set today's digest: Inspector at 2pm. Walk-in fixed.").await;
        assert_eq!(done["after"]["text"], "Inspector at 2pm. Walk-in fixed.");
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(today["digest"]["text"], "Inspector at 2pm. Walk-in fixed.");
        act(&app, done["id"].as_str().unwrap(), "undo").await;
        let (_, today) = app.get("/api/operations/today").await;
        assert!(
            today["digest"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Cooler running warm")
        );
    }
);

both!(
    yes_and_no_in_the_chat_decide_and_ambiguity_asks,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let r = app.ask("What's most urgent today?", None).await;
        let session = r["session_id"].as_str().unwrap().to_string();
        // "it" names the one task the last answer... named three: ask which.
        let r = app.ask("Done, mark it complete", Some(&session)).await;
        assert_eq!(r["actions"].as_array().unwrap().len(), 0, "{r}");
        assert!(r["response"].as_str().unwrap().contains("Which one"), "{r}");

        let r = app
            .ask("mark the payroll discrepancy done", Some(&session))
            .await;
        assert_eq!(r["actions"].as_array().unwrap().len(), 1);
        let r = app.ask("yes", Some(&session)).await;
        assert_eq!(r["model"], "opschat-actions");
        assert!(
            r["response"]
                .as_str()
                .unwrap()
                .contains("Done: Mark **Resolve Hannah's payroll discrepancy** completed"),
            "{r}"
        );
        assert_eq!(
            task(&app, "Resolve Hannah's payroll discrepancy").await["status"],
            "completed"
        );

        let r = app.ask("push the schedule to friday", Some(&session)).await;
        let id = r["actions"][0]["id"].as_str().unwrap().to_string();
        let r = app.ask("no", Some(&session)).await;
        assert!(
            r["response"].as_str().unwrap().starts_with("Cancelled"),
            "{r}"
        );
        let (_, a) = app.get(&format!("/api/operations-chat/actions/{id}")).await;
        assert_eq!(a["status"], "cancelled");
        assert_eq!(
            task(&app, "Submit manager schedule for next week").await["due_date"],
            "2026-11-24"
        );
        let (s, e) = act(&app, &id, "confirm").await;
        assert_eq!(s, 409, "a cancelled change stays cancelled: {e}");
        // "yes" with nothing waiting is an ordinary question.
        let r = app.ask("yes", Some(&session)).await;
        assert_eq!(r["model"], "opschat-local");

        // Two invoices open: "the invoice" is ambiguous, so the assistant asks.
        app.post(
            "/api/tasks",
            &json!({"title": "Pay the linen invoice", "due_date": "2026-11-26"}),
        )
        .await;
        let r = app.ask("mark the invoice done", Some(&session)).await;
        assert_eq!(r["actions"].as_array().unwrap().len(), 0);
        let text = r["response"].as_str().unwrap();
        assert!(
            text.contains("Approve Corrigo invoice for HVAC repair")
                && text.contains("Pay the linen invoice")
                && text.contains("Which one"),
            "{text}"
        );
        // A cancelled proposal shows in its item's activity.
        let t = task(&app, "Submit manager schedule for next week").await;
        let (_, log) = app
            .get(&format!(
                "/api/tasks/{}/activity",
                t["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            activity_actions(&log),
            [
                "imported/api",
                "action_proposed/chat",
                "action_cancelled/chat"
            ]
        );
    }
);

async fn ai_app(db: &TestDb, fake: &FakeOpenAi) -> TestApp {
    let mut cfg = config(&db.url);
    fake.configure(&mut cfg);
    let app = TestApp::start(cfg, false).await;
    app.import_fixture().await;
    app
}

fn tools(calls: &[(&str, Value)]) -> Step {
    Step::Tools {
        text: None,
        calls: calls
            .iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect(),
    }
}

both!(
    a_model_proposes_through_tool_calls_validated_like_api_input,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("ok")).await;
        let app = ai_app(&db, &fake).await;
        // Non-streamed: a valid call by reference, one by title, and bad ones.
        fake.then(tools(&[
            ("update_task", json!({"task": "T1", "status": "completed"})),
            ("delegate_task", json!({"task": "Approve Corrigo invoice for HVAC repair", "assigned_to": "Dana Ortiz", "follow_up_date": "2026-11-26"})),
            ("update_task", json!({"task": "T2", "due_date": "next tuesday"})),
            ("update_task", json!({"task": "T2", "title": "renamed by the model"})),
            ("update_task", json!({"task": "Reboot the mainframe", "status": "completed"})),
            ("drop_table", json!({})),
        ]));
        let r = app
            .ask("Close the gasket and give the invoice to Dana", None)
            .await;
        let actions = r["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 2, "{r}");
        assert_eq!(
            actions[0]["summary"],
            "Mark **Fix walk-in cooler door gasket** completed"
        );
        assert_eq!(
            actions[1]["summary"],
            "Delegate **Approve Corrigo invoice for HVAC repair** to Dana Ortiz, due Wed 25 Nov, follow up Thu 26 Nov"
        );
        let text = r["response"].as_str().unwrap();
        assert!(text.contains("“next tuesday” is not a date"), "{text}");
        assert!(
            text.contains("`update_task` tried to set `title`, which it may not touch"),
            "{text}"
        );
        assert!(
            text.contains("can't find a task called “Reboot the mainframe”"),
            "{text}"
        );
        assert!(text.contains("no action called `drop_table`"), "{text}");
        // The request carried the tool definitions and the references.
        let req = fake.requests().last().unwrap().body.clone();
        let names: Vec<&str> = req["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "create_task",
                "update_task",
                "delegate_task",
                "add_delegation_note",
                "set_follow_up",
                "complete_delegation",
                "set_digest"
            ]
        );
        assert!(
            req["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("[T1] Fix walk-in cooler door gasket")
        );
        for a in actions {
            let (s, v) = act(&app, a["id"].as_str().unwrap(), "confirm").await;
            assert_eq!((s, v["status"].as_str()), (200, Some("applied")), "{v}");
        }
        assert_eq!(
            task(&app, "Fix walk-in cooler door gasket").await["status"],
            "completed"
        );
        assert_eq!(
            delegation(&app, "Approve Corrigo invoice for HVAC repair").await["assigned_to"],
            "Dana Ortiz"
        );

        // Streamed: the arguments arrive in pieces; the proposal ends the streamed text.
        fake.then(tools(&[(
            "set_digest",
            json!({"text": "Inspector moved to Thursday."}),
        )]));
        let resp = app
            .http
            .post(app.url("/api/operations-chat"))
            .header("accept", "text/event-stream")
            .json(&json!({"message": "Put the inspector news in today's digest"}))
            .send()
            .await
            .unwrap();
        let body = resp.text().await.unwrap();
        let done: Value = body
            .split("event: done\ndata: ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .map(|l| serde_json::from_str(l).unwrap())
            .unwrap_or_else(|| panic!("no done event: {body}"));
        assert_eq!(
            done["actions"][0]["summary"], "Set today's digest to “Inspector moved to Thursday.”",
            "{done}"
        );
        assert!(
            body.contains("Proposed changes"),
            "the listing was streamed: {body}"
        );
        let (s, v) = act(&app, done["actions"][0]["id"].as_str().unwrap(), "confirm").await;
        assert_eq!((s, v["status"].as_str()), (200, Some("applied")));
        let (_, today) = app.get("/api/operations/today").await;
        assert_eq!(today["digest"]["text"], "Inspector moved to Thursday.");
    }
);

both!(
    a_tool_call_cannot_reach_another_users_items_and_actions_are_private,
    |db: TestDb| async move {
        let fake = FakeOpenAi::start(Step::reply("ok")).await;
        let app = ai_app(&db, &fake).await;
        let gasket = task(&app, "Fix walk-in cooler door gasket").await;
        let gasket_id = gasket["id"].as_str().unwrap().to_string();
        let bob = app.add_user("bob").await;
        // Bob's model names Maria's task by its id.
        fake.then(tools(&[(
            "update_task",
            json!({"task": gasket_id, "status": "completed"}),
        )]));
        let r = bob
            .http
            .post(app.url("/api/operations-chat"))
            .json(&json!({"message": "complete it"}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["actions"].as_array().unwrap().len(), 0, "{v}");
        assert!(
            !v["response"].as_str().unwrap().contains("Fix walk-in"),
            "{v}"
        );
        assert_eq!(
            task(&app, "Fix walk-in cooler door gasket").await["status"],
            "in_progress"
        );
        // And Maria's proposal is not Bob's to confirm.
        fake.then(tools(&[(
            "update_task",
            json!({"task": "T1", "status": "completed"}),
        )]));
        let r = app.ask("close the gasket", None).await;
        let id = r["actions"][0]["id"].as_str().unwrap();
        for verb in ["confirm", "cancel", "undo"] {
            let r = bob
                .http
                .post(app.url(&format!("/api/operations-chat/actions/{id}/{verb}")))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
        }
        assert_eq!(
            task(&app, "Fix walk-in cooler door gasket").await["status"],
            "in_progress"
        );
    }
);
