//! Analytics: known conversations give exact figures (tokens, cost, outcomes, latency
//! percentiles, question groups, heat map, backlog), a user sees only their own, an admin sees
//! the instance and per-user totals without anyone's text. On both databases.

use crate::both;
use crate::support::{TestApp, TestDb, config};
use chrono::{DateTime, Utc};
use opschat::domain::{MessageStatus, ReplyStats, Role};
use opschat::store::{NewMessage, NewSession, Store};
use serde_json::{Value, json};
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct Reply {
    model: &'static str,
    status: MessageStatus,
    tokens: Option<(i32, i32)>,
    cost: Option<f64>,
    latency: Option<i32>,
    first: Option<i32>,
    items: Value,
}

fn reply(
    model: &'static str,
    status: MessageStatus,
    tokens: Option<(i32, i32)>,
    cost: Option<f64>,
    timings: (Option<i32>, Option<i32>),
) -> Reply {
    Reply {
        model,
        status,
        tokens,
        cost,
        latency: timings.0,
        first: timings.1,
        items: json!([]),
    }
}

fn message(session: Uuid, role: Role, content: &str, when: &str, r: Option<&Reply>) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        session_id: session,
        role,
        content: content.into(),
        context_used: r.map(|r| json!({"items_used": r.items})),
        model_used: r.map(|r| r.model.to_string()),
        tokens_used: r.and_then(|r| r.tokens).map(|(p, c)| p + c),
        prompt_tokens: r.and_then(|r| r.tokens).map(|t| t.0),
        completion_tokens: r.and_then(|r| r.tokens).map(|t| t.1),
        status: r.map(|r| r.status).unwrap_or(MessageStatus::Complete),
        error: None,
        reply_to: None,
        created_at: at(when),
        stats: ReplyStats {
            provider: r.map(|_| "test".into()),
            latency_ms: r.and_then(|r| r.latency),
            first_token_ms: r.and_then(|r| r.first),
            cached_tokens: r.and_then(|r| r.tokens).map(|_| 0),
            cost_usd: r.and_then(|r| r.cost),
        },
    }
}

/// A session of (question, time, reply, time) turns.
async fn seed(
    store: &dyn Store,
    owner: &str,
    title: &str,
    snapshot: Value,
    turns: Vec<(&str, &str, Reply, &str)>,
) -> Uuid {
    let sid = Uuid::now_v7();
    let first = message(sid, Role::User, turns[0].0, turns[0].1, None);
    store
        .create_session(
            &NewSession {
                id: sid,
                user_id: owner.into(),
                title: title.into(),
                context_snapshot: Some(snapshot),
                started_at: at(turns[0].1),
            },
            &first,
        )
        .await
        .unwrap();
    for (i, (q, qt, r, rt)) in turns.iter().enumerate() {
        if i > 0 {
            store
                .append_message(&message(sid, Role::User, q, qt, None))
                .await
                .unwrap();
        }
        store
            .append_message(&message(sid, Role::Assistant, "answer", rt, Some(r)))
            .await
            .unwrap();
    }
    sid
}

async fn get_as(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, Value) {
    let r = client.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn day<'a>(v: &'a Value, date: &str) -> &'a Value {
    v["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == date)
        .unwrap_or_else(|| panic!("no {date} in {v}"))
}

both!(
    known_conversations_give_exact_figures_to_their_owner_only,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let store = app.store.as_ref();
        let task = Uuid::now_v7();
        let mut first = reply(
            "gpt-4o",
            MessageStatus::Complete,
            Some((1000, 200)),
            Some(0.0045),
            (Some(1000), Some(200)),
        );
        first.items = json!([{"kind": "task", "id": task, "title": "Fix walk-in gasket"}]);
        let mut second = reply(
            "gpt-4o",
            MessageStatus::Complete,
            Some((2000, 100)),
            Some(0.006),
            (Some(3000), Some(400)),
        );
        second.items = first.items.clone();
        let s1 = seed(
            store,
            &app.owner,
            "Sunday plan",
            json!({"open_tasks": 5, "overdue": [Uuid::now_v7(), Uuid::now_v7()]}),
            vec![
                (
                    "What's most urgent today?",
                    "2026-11-22T10:00:00Z",
                    first,
                    "2026-11-22T10:00:02Z",
                ),
                (
                    "anything urgent",
                    "2026-11-22T10:05:00Z",
                    second,
                    "2026-11-22T10:05:03Z",
                ),
            ],
        )
        .await;
        let s2 = seed(
            store,
            &app.owner,
            "Monday follow-ups",
            json!({"open_tasks": 3, "overdue": []}),
            vec![
                (
                    "what's urgent?",
                    "2026-11-23T15:00:00Z",
                    reply(
                        "opschat-local",
                        MessageStatus::Complete,
                        Some((500, 50)),
                        Some(0.0),
                        (Some(10), Some(10)),
                    ),
                    "2026-11-23T15:00:00.5Z",
                ),
                (
                    "Who do I need to follow up with?",
                    "2026-11-23T15:10:00Z",
                    reply(
                        "gpt-4o",
                        MessageStatus::Failed,
                        None,
                        None,
                        (Some(500), None),
                    ),
                    "2026-11-23T15:10:01Z",
                ),
                (
                    "who should I follow up with",
                    "2026-11-23T15:20:00Z",
                    reply(
                        "gpt-4o",
                        MessageStatus::Stopped,
                        Some((300, 20)),
                        Some(0.001),
                        (Some(2000), Some(300)),
                    ),
                    "2026-11-23T15:20:02Z",
                ),
            ],
        )
        .await;
        // A regenerated reply: it cost tokens, it is not a turn.
        store
            .append_message(&message(
                s2,
                Role::Assistant,
                "old answer",
                "2026-11-23T15:21:00Z",
                Some(&reply(
                    "gpt-4o",
                    MessageStatus::Superseded,
                    Some((100, 10)),
                    Some(0.0002),
                    (Some(900), Some(90)),
                )),
            ))
            .await
            .unwrap();
        // Another user's conversation, which the manager must never see in their figures.
        let bob = app.add_user("bob").await;
        seed(
            store,
            &bob.id,
            "Bob secret plan",
            json!({"open_tasks": 40, "overdue": []}),
            vec![(
                "Bob secret question about payroll",
                "2026-11-23T08:00:00Z",
                reply(
                    "gpt-4o-mini",
                    MessageStatus::Complete,
                    Some((10_000, 1000)),
                    Some(1.0),
                    (Some(99_000), Some(9_000)),
                ),
                "2026-11-23T08:00:05Z",
            )],
        )
        .await;

        // Usage.
        let (s, u) = app.get("/api/analytics/usage?days=7").await;
        assert_eq!(s, 200, "{u}");
        assert_eq!(
            u["range"],
            json!({"from": "2026-11-18", "to": "2026-11-24"})
        );
        assert_eq!(u["days"].as_array().unwrap().len(), 7);
        let sun = day(&u, "2026-11-22");
        assert_eq!(sun["by_model"]["gpt-4o"]["input_tokens"], 3000);
        assert_eq!(sun["by_model"]["gpt-4o"]["output_tokens"], 300);
        assert_eq!(sun["by_model"]["gpt-4o"]["cost_usd"], 0.0105);
        assert_eq!(sun["outcomes"]["turns"], 2);
        let mon = day(&u, "2026-11-23");
        assert_eq!(mon["by_model"]["opschat-local"]["tokens"], 550);
        assert_eq!(mon["by_model"]["opschat-local"]["cost_usd"], 0.0);
        assert_eq!(mon["by_model"]["gpt-4o"]["replies"], 3);
        assert_eq!(mon["by_model"]["gpt-4o"]["input_tokens"], 400);
        assert_eq!(mon["by_model"]["gpt-4o"]["cost_usd"], 0.0012);
        assert_eq!(mon["outcomes"]["turns"], 3);
        assert_eq!(mon["outcomes"]["failed"], 1);
        assert_eq!(mon["outcomes"]["stopped"], 1);
        assert_eq!(mon["outcomes"]["failed_share"], 0.3333);
        assert!(mon["by_model"].get("gpt-4o-mini").is_none(), "{mon}");
        assert_eq!(u["totals"]["tokens"], 4280);
        assert_eq!(u["totals"]["cost_usd"], 0.0117);
        assert_eq!(u["totals"]["outcomes"]["turns"], 5);
        assert_eq!(day(&u, "2026-11-20")["tokens"], 0);
        // A custom range that leaves Sunday out.
        let (_, u) = app
            .get("/api/analytics/usage?from=2026-11-23&to=2026-11-23")
            .await;
        assert_eq!(u["days"].as_array().unwrap().len(), 1);
        assert_eq!(u["totals"]["tokens"], 980);

        // Latency: nearest rank over completed replies.
        let (s, l) = app.get("/api/analytics/latency?days=7").await;
        assert_eq!(s, 200, "{l}");
        let gpt = l["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == "gpt-4o")
            .unwrap();
        assert_eq!(gpt["replies"], 2);
        assert_eq!(gpt["total_ms"], json!({"p50": 1000, "p95": 3000}));
        assert_eq!(gpt["first_token_ms"], json!({"p50": 200, "p95": 400}));
        assert_eq!(l["totals"]["total_ms"], json!({"p50": 1000, "p95": 3000}));
        assert_eq!(
            day(&l, "2026-11-23")["by_model"]["opschat-local"]["total_ms"],
            json!({"p50": 10, "p95": 10})
        );
        assert_eq!(day(&l, "2026-11-21")["replies"], 0);

        // Cost per conversation, sorted both ways.
        let (s, t) = app.get("/api/analytics/sessions?days=7").await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["total"], 2);
        let rows = t["sessions"].as_array().unwrap();
        assert_eq!(rows[0]["session_id"], s1.to_string());
        assert_eq!(rows[0]["title"], "Sunday plan");
        assert_eq!(rows[0]["turns"], 2);
        assert_eq!(rows[0]["tokens"], 3300);
        assert_eq!(rows[0]["cost_usd"], 0.0105);
        assert_eq!(rows[1]["models"], json!({"gpt-4o": 3, "opschat-local": 1}));
        assert_eq!(rows[1]["tokens"], 980);
        let (_, t) = app
            .get("/api/analytics/sessions?days=7&sort=turns&order=desc&limit=1")
            .await;
        assert_eq!(t["sessions"][0]["session_id"], s2.to_string());
        assert_eq!(t["next_offset"], 1);

        // Patterns: Sunday 10h twice, Monday 15h three times (Monday first).
        let (s, p) = app.get("/api/analytics/patterns?days=7").await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["heat_map"][6][10], 2);
        assert_eq!(p["heat_map"][0][15], 3);
        let cells: i64 = p["heat_map"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|c| c.as_i64().unwrap()))
            .sum();
        assert_eq!(cells, 5);
        assert_eq!(p["turns_per_session"]["sessions"], 2);
        assert_eq!(p["turns_per_session"]["mean"], 2.5);
        assert_eq!(
            p["turns_per_session"]["histogram"][1],
            json!({"turns": "2", "sessions": 1})
        );
        assert_eq!(
            p["turns_per_session"]["histogram"][2],
            json!({"turns": "3", "sessions": 1})
        );
        let spd: Vec<i64> = p["sessions_per_day"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["sessions"].as_i64().unwrap())
            .collect();
        assert_eq!(spd, vec![0, 0, 0, 0, 1, 1, 0]);

        // Common questions: three wordings of "urgent", two of "follow up".
        let (s, q) = app.get("/api/analytics/questions?days=7").await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["questions"], 5);
        assert_eq!(q["groups"], 2);
        assert_eq!(q["common"][0]["count"], 3);
        assert_eq!(q["common"][0]["words"], json!(["urgent"]));
        assert_eq!(q["common"][0]["wordings"].as_array().unwrap().len(), 3);
        assert_eq!(q["common"][1]["count"], 2);
        assert_eq!(
            q["common"][0]["trend"]["per_day"],
            json!([0, 0, 0, 0, 2, 1, 0])
        );

        // Operations context: the cited item, the backlog sessions started with.
        let (s, c) = app.get("/api/analytics/context?days=7").await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["cited"][0]["id"], task.to_string());
        assert_eq!(c["cited"][0]["title"], "Fix walk-in gasket");
        assert_eq!(c["cited"][0]["answers"], 2);
        assert_eq!(
            day(&json!({"days": c["backlog"]}), "2026-11-22")["open_tasks"],
            5.0
        );
        assert_eq!(
            day(&json!({"days": c["backlog"]}), "2026-11-22")["overdue"],
            2.0
        );
        assert_eq!(
            day(&json!({"days": c["backlog"]}), "2026-11-23")["open_tasks"],
            3.0
        );

        // Nothing of Bob's reached the manager's own figures.
        for path in [
            "usage",
            "latency",
            "sessions",
            "patterns",
            "questions",
            "context",
        ] {
            let (_, v) = app.get(&format!("/api/analytics/{path}?days=7")).await;
            let text = v.to_string();
            assert!(
                !text.contains("Bob secret")
                    && !text.contains("gpt-4o-mini")
                    && !text.contains(&bob.id),
                "{path}: {text}"
            );
        }

        // Bob sees his own, and may not ask for the manager's or the instance's.
        let (s, v) = get_as(&bob.http, &app, "/api/analytics/usage?days=7").await;
        assert_eq!(s, 200);
        assert_eq!(v["totals"]["cost_usd"], 1.0);
        let (s, v) = get_as(
            &bob.http,
            &app,
            &format!("/api/analytics/usage?user={}", app.owner),
        )
        .await;
        assert_eq!(s, 403, "{v}");
        let (s, _) = get_as(&bob.http, &app, "/api/analytics/sessions?scope=all").await;
        assert_eq!(s, 403);
        let (s, _) = get_as(&bob.http, &app, "/api/analytics/users").await;
        assert_eq!(s, 403);

        // The admin: the instance, one user, per-user totals; figures, never Bob's text.
        let (s, v) = app.get("/api/analytics/usage?days=7&scope=all").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["totals"]["tokens"], 4280 + 11_000);
        assert_eq!(v["totals"]["cost_usd"], 1.0117);
        let (_, v) = app
            .get(&format!("/api/analytics/usage?days=7&user={}", bob.id))
            .await;
        assert_eq!(v["totals"]["tokens"], 11_000);
        let (s, v) = app.get("/api/analytics/users?days=7").await;
        assert_eq!(s, 200, "{v}");
        let bob_row = v["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "bob")
            .unwrap();
        assert_eq!(bob_row["tokens"], 11_000);
        assert_eq!(bob_row["cost_usd"], 1.0);
        assert_eq!(bob_row["sessions"], 1);
        assert_eq!(bob_row["questions"], 1);
        for path in [
            "sessions?scope=all".to_string(),
            "questions?scope=all".to_string(),
            "context?scope=all".to_string(),
            format!("sessions?user={}", bob.id),
            format!("questions?user={}", bob.id),
            "users".to_string(),
        ] {
            let (s, v) = app.get(&format!("/api/analytics/{path}")).await;
            assert_eq!(s, 200, "{path}: {v}");
            let text = v.to_string();
            assert!(!text.contains("Bob secret"), "{path}: {text}");
        }
        let (_, v) = app
            .get(&format!("/api/analytics/questions?user={}", bob.id))
            .await;
        assert_eq!(v["common"][0]["question"], "bob payroll question secret");
        assert_eq!(v["common"][0]["wordings"], Value::Null);

        // A real turn is counted with its provider's figures.
        app.import_fixture().await;
        app.ask("What's most urgent today?", None).await;
        let (_, l) = app.get("/api/analytics/latency?days=1").await;
        assert_eq!(l["models"][0]["model"], "opschat-local");
        assert_eq!(l["models"][0]["replies"], 1);
        assert!(l["models"][0]["total_ms"]["p50"].as_i64().is_some(), "{l}");
        let (_, u) = app.get("/api/analytics/usage?days=1").await;
        assert_eq!(u["totals"]["cost_usd"], 0.0);
        assert!(u["totals"]["tokens"].as_i64().unwrap() > 0, "{u}");
    }
);

both!(
    bad_analytics_parameters_are_4xx_naming_the_field,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        for (query, field) in [
            ("usage?days=0", "days"),
            ("usage?days=abc", "days"),
            ("usage?days=367", "days"),
            ("usage?days=7&from=2026-11-01", "days"),
            ("usage?from=2026-11-01", "to"),
            ("usage?to=2026-11-01", "from"),
            ("usage?from=2026-11-05&to=2026-11-01", "to"),
            ("usage?from=2024-01-01&to=2026-11-01", "to"),
            ("usage?from=nope&to=2026-11-01", "from"),
            ("usage?scope=everyone", "scope"),
            ("usage?user=not-a-uuid", "user"),
            ("usage?sort=cost", "sort"),
            ("sessions?sort=price", "sort"),
            ("sessions?order=sideways", "order"),
            ("sessions?limit=0", "limit"),
            ("sessions?limit=501", "limit"),
            ("sessions?offset=-1", "offset"),
            ("questions?limit=1000", "limit"),
            ("users?scope=all", "scope"),
        ] {
            let (s, v) = app.get(&format!("/api/analytics/{query}")).await;
            assert_eq!(s, 400, "{query}: {v}");
            assert_eq!(v["error"]["field"], field, "{query}: {v}");
        }
        let (s, v) = app.get("/api/analytics/usage?bogus=1").await;
        assert_eq!(s, 400, "{v}");
        let (s, v) = app
            .get(&format!("/api/analytics/usage?user={}", Uuid::now_v7()))
            .await;
        assert_eq!(s, 404, "{v}");
    }
);

both!(
    days_are_the_viewers_local_days_across_dst_and_quarter_hour_zones,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let store = app.store.as_ref();
        let one = |when: &'static str| {
            (
                "what's urgent?",
                when,
                reply(
                    "gpt-4o",
                    MessageStatus::Complete,
                    Some((100, 10)),
                    Some(0.001),
                    (Some(100), Some(10)),
                ),
                when,
            )
        };
        // Berlin: CET (+1) until 2026-03-29 01:00 UTC, then CEST (+2).
        // 22:30 UTC on the 28th is 23:30 local (the 28th); 22:30 UTC on the 29th is 00:30 on
        // the 30th. Kathmandu (+5:45): 18:14 UTC is 23:59 local, 18:16 UTC is 00:01 next day.
        for when in [
            "2026-03-28T22:30:00Z",
            "2026-03-29T22:30:00Z",
            "2026-11-20T18:14:00Z",
            "2026-11-20T18:16:00Z",
        ] {
            seed(store, &app.owner, "tz", json!({}), vec![one(when)]).await;
        }
        let turns = |v: &Value, d: &str| day(v, d)["outcomes"]["turns"].as_i64().unwrap();
        let (s, _) = app
            .patch("/api/auth/me", &json!({"time_zone": "Europe/Berlin"}))
            .await;
        assert_eq!(s, 200);
        let (s, v) = app
            .get("/api/analytics/usage?from=2026-03-27&to=2026-03-31")
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(turns(&v, "2026-03-28"), 1, "{v}");
        assert_eq!(turns(&v, "2026-03-29"), 0, "{v}");
        assert_eq!(turns(&v, "2026-03-30"), 1, "{v}");
        let (_, v) = app
            .get("/api/analytics/patterns?from=2026-03-27&to=2026-03-31")
            .await;
        // Saturday 23:xx and Monday 00:xx, local.
        assert_eq!(v["heat_map"][5][23], 1, "{v}");
        assert_eq!(v["heat_map"][0][0], 1, "{v}");
        let (s, _) = app
            .patch("/api/auth/me", &json!({"time_zone": "Asia/Kathmandu"}))
            .await;
        assert_eq!(s, 200);
        let (_, v) = app
            .get("/api/analytics/usage?from=2026-11-19&to=2026-11-22")
            .await;
        assert_eq!(turns(&v, "2026-11-20"), 1, "{v}");
        assert_eq!(turns(&v, "2026-11-21"), 1, "{v}");
        assert_eq!(v["totals"]["outcomes"]["turns"], 2);
        assert_eq!(v["totals"]["tokens"], 220);
    }
);
