//! Scale-out: stateless opschat instances on one PostgreSQL behave as one service. SQLite is
//! single-instance, so this runs on PostgreSQL only (and skips loudly without it, except in CI).

use crate::support::fake_openai::{FakeOpenAi, Step};
use crate::support::sse::read_events;
use crate::support::{Db, PASSWORD, TestApp, TestDb, config, sign_in};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `GET /api/auth/me` with a browser's session cookie: the status.
async fn me(base: &str, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET /api/auth/me")
        .status()
        .as_u16()
}

/// The session id from a streamed reply's `start` event, and a task that reads the rest of the
/// stream and returns the final `done` event's data.
async fn stream_on(app: &TestApp, message: &str) -> (String, tokio::task::JoinHandle<Value>) {
    let r = app
        .http
        .post(app.url("/api/operations-chat"))
        .header("accept", "text/event-stream")
        .json(&json!({ "message": message }))
        .send()
        .await
        .expect("POST a streamed turn");
    assert_eq!(r.status(), 200);
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let mut tx = Some(tx);
    let reader = tokio::spawn(async move {
        let events = read_events(r, move |e| {
            if e.name == "start"
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(e.data["session_id"].as_str().expect("id").to_string());
            }
            e.name == "done"
        })
        .await;
        let done = events.last().expect("events");
        assert_eq!(done.name, "done", "the stream ended without a done event");
        done.data.clone()
    });
    (rx.await.expect("a start event"), reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgresql_act_as_one() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let fake = FakeOpenAi::start(Step::Stream {
        pieces: (0..60).map(|i| format!("piece{i} ")).collect(),
        delay: Duration::from_millis(50),
        fail_after: None,
        usage: None,
    })
    .await;
    let mut cfg = config(&db.url);
    cfg.auth_cache_secs = 1;
    // Instance one answers from a (slow, streaming) model, two from the offline analyst: they
    // share nothing but the database.
    let mut with_model = cfg.clone();
    fake.configure(&mut with_model);
    let one = TestApp::start(with_model, false).await;
    let two = TestApp::start(cfg, false).await;
    one.import_fixture().await;

    // Signed in on one is signed in on two; signed out on two is signed out on one, within the
    // documented auth cache time (OPSCHAT_AUTH_CACHE_SECS).
    let (cookie, _) = sign_in(&one.base, "manager", PASSWORD).await;
    assert_eq!(me(&one.base, &cookie).await, 200);
    assert_eq!(me(&two.base, &cookie).await, 200, "signed in on the other");
    let out = reqwest::Client::new()
        .post(two.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", &two.base)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    assert_eq!(me(&two.base, &cookie).await, 401);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(me(&one.base, &cookie).await, 401, "signed out on the other");

    // A stop sent to two ends the stream that one is relaying, and both see the stopped reply.
    let (sid, reader) = stream_on(&one, "plan my day").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let (s, stopped) = two
        .post(
            &format!("/api/operations-chat/sessions/{sid}/stop"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{stopped}");
    assert_eq!(stopped["stopped"].as_array().map(Vec::len), Some(1));
    let done = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .expect("the stream on the other instance ended promptly")
        .expect("reader");
    assert_eq!(done["status"], "stopped", "{done}");
    // 60 pieces at 50 ms would take 3 s; the stop is seen at the next half-second flush.
    assert!(asked.elapsed() < Duration::from_millis(1500));
    for app in [&one, &two] {
        let h = app.history(&sid).await;
        assert_eq!(h["messages"][1]["status"], "stopped", "{h}");
        assert_eq!(h["message_count"], 2);
    }

    // A task completed through one leaves two's answers at once, in the session two answered
    // before: two reuses the operations data it read only while the workspace version it reads
    // from the database with each turn is unchanged, and the completion moved it.
    let cooler = "Fix walk-in cooler door gasket";
    let before = two.ask("What's overdue?", None).await;
    assert!(
        before["response"].as_str().unwrap_or("").contains(cooler),
        "{before}"
    );
    one.complete_task(cooler).await;
    let sid = before["session_id"].as_str().unwrap();
    let after = two.ask("What's overdue?", Some(sid)).await;
    let answer = after["response"].as_str().unwrap_or("");
    assert!(!answer.is_empty() && !answer.contains(cooler), "{after}");
    let (_, today) = two.get("/api/operations/today").await;
    assert!(!today.to_string().contains(cooler), "{today}");
}
