//! The storage conformance suite: written once against the `Store` trait, run unchanged on
//! PostgreSQL and SQLite.

use crate::both;
use crate::support::{TestDb, config};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use opschat::domain::{MessageStatus, Priority, Role, TaskStatus};
use opschat::store::{
    FinishedReply, NewMessage, NewSession, OpsBatch, SessionPatch, Store, StoreError, TaskInput,
    connect,
};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

async fn store(db: &TestDb) -> Arc<dyn Store> {
    let s = connect(&db.url, 4).await.unwrap();
    s.migrate().await.unwrap();
    s.migrate().await.expect("migrations are idempotent");
    s
}

fn tester() -> opschat::store::Actor {
    opschat::store::Actor {
        id: "john".into(),
        name: "John".into(),
        via: "test".into(),
    }
}

fn at(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, min, 0).unwrap()
        + chrono::TimeDelta::microseconds(123_456)
}

fn msg(
    session: Uuid,
    role: Role,
    content: &str,
    status: MessageStatus,
    when: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        session_id: session,
        role,
        content: content.into(),
        context_used: Some(json!({"k": [1, 2, {"nested": "ünïcødé"}]})),
        model_used: (role == Role::Assistant).then(|| "gpt-4o".into()),
        tokens_used: Some(12),
        prompt_tokens: None,
        completion_tokens: (role == Role::Assistant).then_some(5),
        status,
        error: (status == MessageStatus::Failed).then(|| "boom".into()),
        reply_to: None,
        created_at: when,
        stats: match role {
            Role::Assistant => opschat::domain::ReplyStats {
                provider: Some("openai-compatible".into()),
                latency_ms: Some(1234),
                first_token_ms: Some(321),
                cached_tokens: Some(7),
                cost_usd: Some(0.000_123_75),
            },
            Role::User => Default::default(),
        },
    }
}

both!(sessions_and_messages_round_trip, |db: TestDb| async move {
    let s = store(&db).await;
    let sid = Uuid::now_v7();
    let new = NewSession {
        id: sid,
        user_id: "john".into(),
        title: "Plan".into(),
        context_snapshot: Some(json!({"open": 3})),
        started_at: at(0),
    };
    let first = msg(sid, Role::User, "hello", MessageStatus::Complete, at(0));
    let (session, m1) = s.create_session(&new, &first).await.unwrap();
    assert_eq!(
        (
            session.message_count,
            session.is_active,
            session.started_at,
            session.last_message_at
        ),
        (1, true, at(0), at(0))
    );
    assert_eq!(session.context_snapshot, Some(json!({"open": 3})));
    assert_eq!((m1.seq, m1.id, m1.created_at), (1, first.id, at(0)));
    assert_eq!(m1.context_used, first.context_used);

    let mut reply = msg(
        sid,
        Role::Assistant,
        "hi there",
        MessageStatus::Complete,
        at(1),
    );
    reply.reply_to = Some(m1.id);
    let appended = s.append_message(&reply).await.unwrap();
    assert_eq!(
        (appended.message_count, appended.last_message_at),
        (2, at(1))
    );
    let m2 = appended.message;
    assert_eq!(
        (
            m2.seq,
            m2.reply_to,
            m2.model_used.as_deref(),
            m2.completion_tokens
        ),
        (2, Some(m1.id), Some("gpt-4o"), Some(5))
    );
    assert_eq!(
        m2.stats, reply.stats,
        "provider, times, cached tokens and cost are kept"
    );
    assert_eq!(m1.stats, opschat::domain::ReplyStats::default());
    let read = s.messages("john", sid, None, 10).await.unwrap();
    assert_eq!(read[1].stats, reply.stats);
    let failed = s
        .append_message(&msg(sid, Role::Assistant, "", MessageStatus::Failed, at(2)))
        .await
        .unwrap()
        .message;
    assert_eq!((failed.seq, failed.error.as_deref()), (3, Some("boom")));
    // An earlier timestamp never moves last_message_at backwards.
    s.append_message(&msg(
        sid,
        Role::User,
        "late writer",
        MessageStatus::Complete,
        at(1),
    ))
    .await
    .unwrap();

    let got = s.session("john", sid).await.unwrap().unwrap();
    assert_eq!(got.message_count, 3, "failed replies are not counted");
    assert_eq!(got.last_message_at, at(2));
    let all = s.messages("john", sid, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(all[1], m2);
    let convo = s.recent_conversation(sid, 5, 10).await.unwrap();
    assert_eq!(
        convo.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4, 2, 1],
        "failed rows are not conversation"
    );
    assert_eq!(
        (
            convo[1].role,
            convo[1].content.as_str(),
            convo[1].content_tokens
        ),
        (Role::Assistant, "hi there", Some(5))
    );
    assert_eq!(convo[2].content_tokens, Some(12), "a question's own tokens");
    let latest = s.recent_conversation(sid, 5, 2).await.unwrap();
    assert_eq!(
        latest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4, 2],
        "the latest, newest first"
    );
    let page = s.messages("john", sid, Some(3), 1).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [2]);

    let missing = s
        .append_message(&msg(
            Uuid::now_v7(),
            Role::User,
            "x",
            MessageStatus::Complete,
            at(3),
        ))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    assert!(s.session("john", Uuid::now_v7()).await.unwrap().is_none());
});

/// A new session of john's, without a snapshot, started at `at(0)`.
fn johns_session(id: Uuid, title: &str) -> NewSession {
    NewSession {
        id,
        user_id: "john".into(),
        title: title.into(),
        context_snapshot: None,
        started_at: at(0),
    }
}

/// Imports one task for john, which moves his workspace version; returns the new version.
async fn import_a_task(s: &Arc<dyn Store>, when: DateTime<Utc>) -> i64 {
    s.import(
        "john",
        &OpsBatch {
            tasks: vec![task(Some("a"), "A", TaskStatus::Todo)],
            ..Default::default()
        },
        &tester(),
        when,
        &|_| {},
    )
    .await
    .unwrap();
    let version = s.workspace_version("john").await.unwrap();
    assert!(version > 0);
    version
}

// A turn's question and a stream's empty reply row are written together (one statement on
// PostgreSQL), only into the owner's session, with the workspace version read alongside.
both!(a_turns_rows_are_written_together, |db: TestDb| async move {
    let s = store(&db).await;
    let sid = Uuid::now_v7();
    let new = johns_session(sid, "Plan");
    let q1 = msg(sid, Role::User, "first", MessageStatus::Complete, at(0));
    let mut r1 = msg(sid, Role::Assistant, "", MessageStatus::Streaming, at(1));
    r1.reply_to = Some(q1.id);
    let (session, rows) = s
        .start_session(&new, &[q1.clone(), r1.clone()])
        .await
        .unwrap();
    assert_eq!((session.message_count, session.last_message_at), (2, at(1)));
    assert_eq!(
        rows.iter()
            .map(|m| (m.id, m.seq, m.status, m.reply_to))
            .collect::<Vec<_>>(),
        [
            (q1.id, 1, MessageStatus::Complete, None),
            (r1.id, 2, MessageStatus::Streaming, Some(q1.id))
        ]
    );
    assert_eq!(rows[1].stats, r1.stats);

    // Another owner's session: nothing written, as if it did not exist.
    let q2 = msg(sid, Role::User, "second", MessageStatus::Complete, at(2));
    let mut r2 = msg(sid, Role::Assistant, "", MessageStatus::Streaming, at(2));
    r2.reply_to = Some(q2.id);
    let two = [q2.clone(), r2.clone()];
    assert!(
        s.continue_session("maria", sid, &two)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.continue_session("john", Uuid::now_v7(), &two)
            .await
            .is_err(),
        "rows of another session are refused"
    );
    assert_eq!(s.messages("john", sid, None, 10).await.unwrap().len(), 2);

    let went = s
        .continue_session("john", sid, &two)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(went.version, 0, "no operations data yet");
    assert_eq!(
        (
            went.session.id,
            went.session.message_count,
            went.session.last_message_at
        ),
        (sid, 4, at(2))
    );
    assert_eq!(
        went.messages
            .iter()
            .map(|m| (m.id, m.seq, m.content.as_str()))
            .collect::<Vec<_>>(),
        [(q2.id, 3, "second"), (r2.id, 4, "")]
    );
    let stored = s.messages("john", sid, None, 10).await.unwrap();
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(stored[2], went.messages[0]);
    assert_eq!(stored[3], went.messages[1]);

    // The version moves with the operations data and is read with the append.
    let version = import_a_task(&s, at(3)).await;
    let q3 = msg(sid, Role::User, "third", MessageStatus::Complete, at(4));
    let went = s
        .continue_session("john", sid, &[q3])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            went.version,
            went.session.message_count,
            went.messages[0].seq
        ),
        (version, 5, 5)
    );
});

// A new session from cached operations data checks the version the data was cached under in
// the same write: the snapshot is kept while it is current, left for the caller to give when
// the data changed meanwhile, and `set_snapshot` never replaces one or touches another's.
both!(
    a_new_session_checks_its_cached_version,
    |db: TestDb| async move {
        let s = store(&db).await;
        let new = |owner: &str| NewSession {
            id: Uuid::now_v7(),
            user_id: owner.into(),
            title: "Plan".into(),
            context_snapshot: Some(json!({"open": 1})),
            started_at: at(0),
        };
        let first = |n: &NewSession| {
            let q = msg(n.id, Role::User, "hi", MessageStatus::Complete, at(0));
            let mut r = msg(n.id, Role::Assistant, "", MessageStatus::Streaming, at(1));
            r.reply_to = Some(q.id);
            [q, r]
        };
        let snapshot_of = |sid: Uuid| {
            let s = s.clone();
            async move {
                s.session("john", sid)
                    .await
                    .unwrap()
                    .unwrap()
                    .context_snapshot
            }
        };
        let current = new("john");
        let (session, rows, version) = s
            .start_session_at(&current, &first(&current), 0)
            .await
            .unwrap();
        assert_eq!(version, 0);
        assert_eq!(session.context_snapshot, Some(json!({"open": 1})));
        assert_eq!((session.message_count, session.last_message_at), (2, at(1)));
        assert_eq!(rows.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);

        let moved = import_a_task(&s, at(1)).await;

        // Cached under 0, the data is now at `moved`: no snapshot, the version read is returned.
        let stale = new("john");
        let (session, rows, version) = s.start_session_at(&stale, &first(&stale), 0).await.unwrap();
        assert_eq!((version, session.context_snapshot.clone()), (moved, None));
        assert_eq!(rows.len(), 2);
        assert_eq!(snapshot_of(stale.id).await, None);
        // Another owner cannot give it one; its owner can, once.
        s.set_snapshot("maria", stale.id, &json!({"open": 9}))
            .await
            .unwrap();
        assert_eq!(snapshot_of(stale.id).await, None);
        s.set_snapshot("john", stale.id, &json!({"open": 2}))
            .await
            .unwrap();
        s.set_snapshot("john", stale.id, &json!({"open": 3}))
            .await
            .unwrap();
        assert_eq!(snapshot_of(stale.id).await, Some(json!({"open": 2})));
        s.set_snapshot("john", current.id, &json!({"open": 4}))
            .await
            .unwrap();
        assert_eq!(snapshot_of(current.id).await, Some(json!({"open": 1})));
        // Cached under the version now current: kept. Another owner's version is their own.
        let fresh = new("john");
        let (session, _, version) = s
            .start_session_at(&fresh, &first(&fresh), moved)
            .await
            .unwrap();
        assert_eq!(
            (version, session.context_snapshot),
            (moved, Some(json!({"open": 1})))
        );
        let theirs = new("maria");
        let (session, _, version) = s
            .start_session_at(&theirs, &first(&theirs), 0)
            .await
            .unwrap();
        assert_eq!(
            (version, session.context_snapshot),
            (0, Some(json!({"open": 1})))
        );
    }
);

// A turn's write that fails after its first statement (here a trigger refuses a message)
// leaves nothing behind: not the session's bump, not a new session, and no transaction held
// open on a pooled connection, which would stall or swallow every later write.
both!(
    a_write_that_fails_part_way_changes_nothing,
    |db: TestDb| async move {
        let s = store(&db).await;
        let sid = Uuid::now_v7();
        let new = johns_session(sid, "Plan");
        let q1 = msg(sid, Role::User, "first", MessageStatus::Complete, at(0));
        s.start_session(&new, std::slice::from_ref(&q1))
            .await
            .unwrap();
        if db.url.starts_with("postgres") {
            crate::support::exec(
                &db.url,
                "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'boom refused'; END $$; \
             CREATE TRIGGER refuse_boom BEFORE INSERT ON chat_messages FOR EACH ROW \
             WHEN (NEW.content = 'boom') EXECUTE FUNCTION refuse_boom();",
            )
            .await;
        } else {
            crate::support::exec(
                &db.url,
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON chat_messages \
             WHEN NEW.content = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
            )
            .await;
        }
        // More failures than the pool has connections: each would keep one if not rolled back.
        for i in 0..6 {
            let q = msg(sid, Role::User, "fine", MessageStatus::Complete, at(1));
            let mut r = msg(
                sid,
                Role::Assistant,
                "boom",
                MessageStatus::Streaming,
                at(1),
            );
            r.reply_to = Some(q.id);
            let refused = match i % 3 {
                0 => s.continue_session("john", sid, &[q, r]).await.map(|_| ()),
                1 => s.append_message(&r).await.map(|_| ()),
                _ => {
                    let other = NewSession {
                        id: Uuid::now_v7(),
                        ..new.clone()
                    };
                    let q = msg(other.id, Role::User, "fine", MessageStatus::Complete, at(1));
                    let r = msg(
                        other.id,
                        Role::Assistant,
                        "boom",
                        MessageStatus::Failed,
                        at(1),
                    );
                    s.start_session(&other, &[q, r]).await.map(|_| ())
                }
            };
            assert!(refused.is_err(), "the trigger refuses write {i}");
        }
        // Later writes go through at once, on every connection, and number on from the last.
        for n in 0..6u32 {
            let q = msg(sid, Role::User, "next", MessageStatus::Complete, at(2 + n));
            let went = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                s.continue_session("john", sid, std::slice::from_ref(&q)),
            )
            .await
            .expect("no write waits on a transaction left open")
            .unwrap()
            .unwrap();
            assert_eq!(went.messages[0].seq, 2 + i64::from(n));
            assert_eq!(went.session.message_count, 2 + i32::try_from(n).unwrap());
        }
        // What another connection sees: one session, its seven questions, nothing of the failures.
        let url = &db.url;
        assert_eq!(
            crate::support::count(url, "SELECT COUNT(*) FROM chat_sessions").await,
            1
        );
        assert_eq!(
            crate::support::count(url, "SELECT COUNT(*) FROM chat_messages").await,
            7
        );
        assert_eq!(
            crate::support::count(url, "SELECT MAX(last_seq) FROM chat_sessions").await,
            7
        );
    }
);

both!(sessions_list_by_recency_per_user, |db: TestDb| async move {
    let s = store(&db).await;
    let mut ids = Vec::new();
    for (i, user) in ["john", "john", "maria", "john"].iter().enumerate() {
        let sid = Uuid::now_v7();
        let new = NewSession {
            id: sid,
            user_id: (*user).into(),
            title: format!("s{i}"),
            context_snapshot: None,
            started_at: at(i as u32),
        };
        s.create_session(
            &new,
            &msg(sid, Role::User, "q", MessageStatus::Complete, at(i as u32)),
        )
        .await
        .unwrap();
        ids.push(sid);
    }
    s.append_message(&msg(
        ids[0],
        Role::User,
        "bump",
        MessageStatus::Complete,
        at(30),
    ))
    .await
    .unwrap();
    let list = s.sessions("john", 10, false).await.unwrap();
    assert_eq!(
        list.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(),
        ["s0", "s3", "s1"]
    );
    assert_eq!(s.sessions("john", 2, false).await.unwrap().len(), 2);

    let archived = s
        .update_session(
            "john",
            ids[1],
            &SessionPatch {
                title: Some("renamed".into()),
                is_active: Some(false),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (archived.title.as_str(), archived.is_active),
        ("renamed", false)
    );
    assert_eq!(s.sessions("john", 10, false).await.unwrap().len(), 2);
    assert_eq!(s.sessions("john", 10, true).await.unwrap().len(), 3);
    let untouched = s
        .update_session("john", ids[1], &SessionPatch::default())
        .await
        .unwrap();
    assert_eq!(untouched.title, "renamed");
    assert!(matches!(
        s.update_session("john", Uuid::now_v7(), &SessionPatch::default())
            .await,
        Err(StoreError::NotFound)
    ));
});

fn task(ext: Option<&str>, title: &str, status: TaskStatus) -> TaskInput {
    TaskInput {
        external_id: ext.map(String::from),
        title: title.into(),
        description: None,
        due_date: NaiveDate::from_ymd_opt(2026, 11, 24),
        priority: Priority::High,
        status,
        time_estimate_minutes: Some(30),
        source: None,
        delegatable: true,
    }
}

both!(imports_upsert_by_external_id, |db: TestDb| async move {
    let s = store(&db).await;
    assert!(!s.has_ops_data("john").await.unwrap());
    let batch = OpsBatch {
        tasks: vec![
            task(Some("a"), "A", TaskStatus::Todo),
            task(None, "B", TaskStatus::Todo),
            task(Some("c"), "C", TaskStatus::Completed),
        ],
        ..Default::default()
    };
    let ticks = std::sync::atomic::AtomicU64::new(0);
    let sum = s
        .import("john", &batch, &tester(), at(0), &|n| {
            ticks.store(n, std::sync::atomic::Ordering::Relaxed)
        })
        .await
        .unwrap();
    assert_eq!((sum.tasks.created, sum.tasks.updated), (3, 0));
    assert_eq!(
        ticks.into_inner(),
        3,
        "progress reports the records written"
    );
    let again = OpsBatch {
        tasks: vec![task(Some("a"), "A renamed", TaskStatus::InProgress)],
        ..Default::default()
    };
    let sum = s
        .import("john", &again, &tester(), at(1), &|_| {})
        .await
        .unwrap();
    assert_eq!((sum.tasks.created, sum.tasks.updated), (0, 1));
    let open = s.tasks("john", false).await.unwrap();
    let mut titles: Vec<_> = open.iter().map(|t| (t.title.as_str(), t.status)).collect();
    titles.sort_by_key(|t| t.0);
    assert_eq!(
        titles,
        [
            ("A renamed", TaskStatus::InProgress),
            ("B", TaskStatus::Todo)
        ]
    );
    assert_eq!(s.tasks("john", true).await.unwrap().len(), 3);
    let t = &open[0];
    assert_eq!(
        (
            t.due_date,
            t.priority,
            t.time_estimate_minutes,
            t.delegatable
        ),
        (
            NaiveDate::from_ymd_opt(2026, 11, 24),
            Priority::High,
            Some(30),
            true
        )
    );
    assert!(s.has_ops_data("john").await.unwrap());
});

both!(digests_are_one_per_date, |db: TestDb| async move {
    use opschat::store::DigestInput;
    let s = store(&db).await;
    let d = |day: u32, text: &str| DigestInput {
        external_id: None,
        date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
        text: text.into(),
    };
    s.import(
        "john",
        &OpsBatch {
            digests: vec![d(22, "old"), d(23, "yesterday")],
            ..Default::default()
        },
        &tester(),
        at(0),
        &|_| {},
    )
    .await
    .unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    assert_eq!(
        s.digest_on_or_before("john", today)
            .await
            .unwrap()
            .unwrap()
            .text,
        "yesterday"
    );
    s.import(
        "john",
        &OpsBatch {
            digests: vec![d(24, "today"), d(23, "yesterday, corrected")],
            ..Default::default()
        },
        &tester(),
        at(1),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        s.digest_on_or_before("john", today)
            .await
            .unwrap()
            .unwrap()
            .text,
        "today"
    );
    assert_eq!(
        s.digest_on_or_before("john", today.pred_opt().unwrap())
            .await
            .unwrap()
            .unwrap()
            .text,
        "yesterday, corrected"
    );
    assert!(
        s.digest_on_or_before("john", NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
            .await
            .unwrap()
            .is_none()
    );
});

both!(
    the_migrate_command_and_config_agree,
    |db: TestDb| async move {
        // `connect` picks the backend from the URL, as the binary does.
        let s = store(&db).await;
        let want = if db.url.starts_with("postgres") {
            opschat::store::Backend::Postgres
        } else {
            opschat::store::Backend::Sqlite
        };
        assert_eq!(s.backend(), want);
        s.ping().await.unwrap();
        let _ = config(&db.url);
    }
);

both!(
    browser_sessions_expire_and_are_swept,
    |db: TestDb| async move {
        use opschat::store::{NewUser, NewWebSession};
        let s = store(&db).await;
        let user = s
            .create_user(
                &NewUser {
                    id: Uuid::now_v7(),
                    username: "maria".into(),
                    display_name: "Maria".into(),
                    password_hash: None,
                    role: opschat::domain::UserRole::Admin,
                    time_zone: None,
                    created_at: at(0),
                },
                true,
            )
            .await
            .unwrap();
        for (hash, expires) in [("live", at(30)), ("expired", at(10))] {
            s.create_web_session(&NewWebSession {
                hash: hash.into(),
                user_id: user.id,
                created_at: at(0),
                expires_at: expires,
                user_agent: None,
            })
            .await
            .unwrap();
        }
        // At 09:20 one has expired (microseconds matter: both backends compare instants).
        let now = at(20);
        assert_eq!(
            s.web_session_user("live", now).await.unwrap().unwrap().0.id,
            user.id
        );
        assert!(
            s.web_session_user("expired", now).await.unwrap().is_none(),
            "an expired session is never accepted"
        );
        assert!(
            s.web_session_user("expired", at(9))
                .await
                .unwrap()
                .is_some(),
            "…and was valid before"
        );
        assert_eq!(s.delete_expired_web_sessions(now).await.unwrap(), 1);
        assert_eq!(s.delete_expired_web_sessions(now).await.unwrap(), 0);
        assert!(s.web_session_user("live", now).await.unwrap().is_some());
        // Sliding expiry: a touch moves it on.
        s.touch_web_session("live", at(29), at(59)).await.unwrap();
        assert!(s.web_session_user("live", at(45)).await.unwrap().is_some());
    }
);

both!(
    the_roll_up_counts_what_the_messages_say_through_every_change,
    |db: TestDb| async move {
        use opschat::analytics::{Offsets, SessionSort};
        let s = store(&db).await;
        // Two users, replies over three quarter-hours: complete, failed, streamed then
        // finished with another model, regenerated, stopped, interrupted, and one before the
        // token split (only a total).
        // Answers cite items: `a` twice in one answer, and entries that are no items (an id
        // that is not one, a number, no kind) that never count.
        let (a, b, dl) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let item =
            |kind: &str, id: Uuid, title: &str| json!({"kind": kind, "id": id, "title": title});
        let cites = |items: serde_json::Value| Some(json!({"items_used": items, "history": 2}));
        let mut streams = Vec::new();
        let (mut sessions, mut failed_ids) = (Vec::new(), Vec::new());
        for (i, user) in ["john", "maria", "john"].iter().enumerate() {
            let sid = Uuid::now_v7();
            let t0 = at(10 * i as u32);
            let new = NewSession {
                id: sid,
                user_id: (*user).into(),
                title: format!("s{i}"),
                context_snapshot: None,
                started_at: t0,
            };
            s.create_session(
                &new,
                &msg(sid, Role::User, "q", MessageStatus::Complete, t0),
            )
            .await
            .unwrap();
            sessions.push(sid);
            let mut answer = msg(sid, Role::Assistant, "a", MessageStatus::Complete, t0);
            answer.context_used = cites(json!([
                item("task", a, "Order produce"),
                item("task", b, "Fix cooler")
            ]));
            let done = s.append_message(&answer).await.unwrap();
            let mut failed = msg(
                sid,
                Role::Assistant,
                "",
                MessageStatus::Failed,
                at(10 * i as u32 + 1),
            );
            failed.model_used = None;
            failed.context_used = cites(json!([item("task", a, "Order produce")]));
            failed_ids.push(failed.id);
            s.append_message(&failed).await.unwrap();
            let mut old = msg(
                sid,
                Role::Assistant,
                "old",
                MessageStatus::Complete,
                at(10 * i as u32 + 2),
            );
            (old.completion_tokens, old.tokens_used, old.stats) =
                (None, Some(40), Default::default());
            old.context_used = cites(json!([
                item("task", a, "Order produce"),
                item("task", a, "Order produce"),
                {"kind": "task", "id": "x", "title": "not an item"},
                5,
                {"id": b, "title": "no kind"}
            ]));
            s.append_message(&old).await.unwrap();
            s.append_message(&msg(
                sid,
                Role::User,
                "again",
                MessageStatus::Complete,
                at(10 * i as u32 + 3),
            ))
            .await
            .unwrap();
            let streaming = msg(
                sid,
                Role::Assistant,
                "",
                MessageStatus::Streaming,
                at(10 * i as u32 + 4),
            );
            s.append_message(&streaming).await.unwrap();
            streams.push((sid, streaming.id, *user));
            if i == 0 {
                s.supersede(done.message.id).await.unwrap();
            }
        }
        let finished = FinishedReply {
            content: "streamed".into(),
            status: MessageStatus::Complete,
            error: None,
            model_used: Some("gpt-4o-mini".into()),
            tokens_used: Some(30),
            prompt_tokens: Some(20),
            completion_tokens: Some(10),
            context_used: cites(json!([item("delegation", dl, "Chase Marcus")])),
            stats: opschat::domain::ReplyStats {
                cost_usd: Some(0.000_012_5),
                cached_tokens: Some(4),
                ..Default::default()
            },
        };
        s.finish_stream(streams[0].1, &finished).await.unwrap();
        s.stop_streams(streams[1].2, streams[1].0).await.unwrap();
        s.interrupt_stale_streams(at(59)).await.unwrap();

        // The roll-up answers a range on quarter-hours; one a second wider reads the messages.
        let (from, to) = (
            at(0) - chrono::TimeDelta::hours(9),
            at(0) + chrono::TimeDelta::hours(15),
        );
        let from = from - chrono::TimeDelta::microseconds(123_456);
        let to = to - chrono::TimeDelta::microseconds(123_456);
        let (rf, rt) = (
            from - chrono::TimeDelta::seconds(1),
            to + chrono::TimeDelta::seconds(1),
        );
        let rolled = Offsets(vec![(from.timestamp(), 0)]);
        let raw = Offsets(vec![(rf.timestamp(), 0)]);
        assert!(rolled.on_quarter_hours() && !raw.on_quarter_hours());
        let sorted = |mut v: Vec<opschat::store::analytics::ReplyDay>| {
            v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            v
        };
        for owner in [Some("john"), Some("maria"), None] {
            let a = sorted(s.reply_days(owner, from, to, &rolled).await.unwrap());
            let b = sorted(s.reply_days(owner, rf, rt, &raw).await.unwrap());
            assert_eq!(a, b, "{owner:?}");
            assert!(!a.is_empty());
            let (pa, pb) = (
                s.pattern_counts(owner, from, to, &rolled).await.unwrap(),
                s.pattern_counts(owner, rf, rt, &raw).await.unwrap(),
            );
            let norm = |mut p: opschat::store::analytics::PatternCounts| {
                p.hours_of_week.sort();
                p.questions_per_session.sort();
                p.started.sort();
                p
            };
            assert_eq!(norm(pa), norm(pb));
            for sort in [SessionSort::Cost, SessionSort::Tokens, SessionSort::Turns] {
                let ca = s
                    .session_costs(owner, from, to, sort, false, 50, 0)
                    .await
                    .unwrap();
                let cb = s
                    .session_costs(owner, rf, rt, sort, false, 50, 0)
                    .await
                    .unwrap();
                assert_eq!(format!("{ca:?}"), format!("{cb:?}"));
            }
        }
        assert_eq!(
            s.user_totals(from, to).await.unwrap(),
            s.user_totals(rf, rt).await.unwrap()
        );
        // And the figures are the messages': john's first session regenerated one reply.
        let john = s.reply_days(Some("john"), from, to, &rolled).await.unwrap();
        let count = |st: MessageStatus| {
            john.iter()
                .filter(|r| r.status == st)
                .map(|r| r.replies)
                .sum::<i64>()
        };
        assert_eq!(
            (
                count(MessageStatus::Complete),
                count(MessageStatus::Superseded),
                count(MessageStatus::Failed),
                count(MessageStatus::Interrupted),
                count(MessageStatus::Streaming)
            ),
            (4, 1, 2, 1, 0)
        );
        let mini: Vec<_> = john
            .iter()
            .filter(|r| r.model.as_deref() == Some("gpt-4o-mini"))
            .collect();
        assert_eq!(mini.len(), 1);
        assert_eq!(
            (
                mini[0].replies,
                mini[0].prompt_tokens,
                mini[0].completion_tokens,
                mini[0].cached_tokens
            ),
            (1, 20, 10, 4)
        );
        assert!((mini[0].cost_usd - 0.000_012_5).abs() < 1e-12);

        // Cited items: a range of whole UTC days (read from the roll-up, with partial days at
        // its ends from the messages) and one inside a day (the messages only) agree, and count
        // every answer but the regenerated one; `a` twice where an answer listed it twice.
        let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        let cited = |owner: Option<&'static str>, from, to| {
            let s = s.clone();
            async move {
                s.cited(owner, from, to, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| (c.kind, c.id, c.title, c.answers))
                    .collect::<Vec<_>>()
            }
        };
        let agreed = |owner: Option<&'static str>| async move {
            let wide = cited(owner, day(22, 10), day(26, 3)).await;
            assert_eq!(
                wide,
                cited(owner, day(24, 8), day(24, 11)).await,
                "{owner:?}"
            );
            assert_eq!(
                wide,
                cited(owner, day(24, 0), day(25, 0)).await,
                "{owner:?}"
            );
            assert!(cited(owner, day(23, 0), day(24, 9)).await.is_empty());
            wide
        };
        let row = |kind: &str, id: Uuid, title: &str, n: i64| {
            (kind.to_string(), id, title.to_string(), n)
        };
        assert_eq!(
            agreed(Some("john")).await,
            vec![
                row("task", a, "Order produce", 7),
                row("task", b, "Fix cooler", 1),
                row("delegation", dl, "Chase Marcus", 1)
            ]
        );
        assert_eq!(
            agreed(Some("maria")).await,
            vec![
                row("task", a, "Order produce", 4),
                row("task", b, "Fix cooler", 1)
            ]
        );
        assert_eq!(
            agreed(None).await,
            vec![
                row("task", a, "Order produce", 11),
                row("task", b, "Fix cooler", 2),
                row("delegation", dl, "Chase Marcus", 1)
            ]
        );
        // Deleting a message, and a whole session, takes their counts away everywhere.
        crate::support::exec(
            &db.url,
            &format!("DELETE FROM chat_messages WHERE id = '{}'", failed_ids[1]),
        )
        .await;
        crate::support::exec(
            &db.url,
            &format!("DELETE FROM chat_sessions WHERE id = '{}'", sessions[0]),
        )
        .await;
        assert_eq!(
            agreed(Some("maria")).await,
            vec![
                row("task", a, "Order produce", 3),
                row("task", b, "Fix cooler", 1)
            ]
        );
        assert_eq!(
            agreed(Some("john")).await,
            vec![
                row("task", a, "Order produce", 4),
                row("task", b, "Fix cooler", 1)
            ]
        );
        for owner in [Some("john"), Some("maria"), None] {
            assert_eq!(
                sorted(s.reply_days(owner, from, to, &rolled).await.unwrap()),
                sorted(s.reply_days(owner, rf, rt, &raw).await.unwrap()),
                "after deletes: {owner:?}"
            );
        }
    }
);

both!(
    questions_are_keyed_once_and_grouped_by_key,
    |db: TestDb| async move {
        use opschat::analytics::Offsets;
        let s = store(&db).await;
        let sid = Uuid::now_v7();
        let asked = [
            "What's most urgent today?",
            "anything urgent",
            "Who do I need to follow up with?",
            "what's urgent?",
            "?!",
        ];
        let new = johns_session(sid, "q");
        s.create_session(
            &new,
            &msg(sid, Role::User, asked[0], MessageStatus::Complete, at(0)),
        )
        .await
        .unwrap();
        for (i, q) in asked.iter().enumerate().skip(1) {
            // The last two on the next local day: 23:00 UTC is midnight at UTC+1.
            let when = if i >= 3 {
                at(0) + chrono::TimeDelta::hours(14)
            } else {
                at(i as u32)
            };
            s.append_message(&msg(sid, Role::User, q, MessageStatus::Complete, when))
                .await
                .unwrap();
        }
        // Statements (more than MAX_WORDS content words) group only with themselves.
        let long = [
            "Marcus said the walk-in cooler door gasket is torn again and produce came late",
            "Priya wants the brunch schedule, linen order, tip-out sheets and permit renewal",
        ];
        for (i, q) in [long[0], long[1], long[0]].iter().enumerate() {
            s.append_message(&msg(
                sid,
                Role::User,
                q,
                MessageStatus::Complete,
                at(5 + i as u32),
            ))
            .await
            .unwrap();
        }
        let (from, to) = (
            at(0) - chrono::TimeDelta::days(1),
            at(0) + chrono::TimeDelta::days(2),
        );
        let offsets = Offsets(vec![(from.timestamp(), 3600)]);
        let sorted = |mut k: Vec<opschat::store::analytics::KeyedDays>| {
            k.sort_by(|a, b| a.key.cmp(&b.key));
            k
        };
        // Written with their keys…
        assert_eq!(s.key_questions(None, from, to).await.unwrap(), 0);
        let written = sorted(
            s.question_keys(Some("john"), from, to, &offsets, 1)
                .await
                .unwrap()
                .keys,
        );
        // …and questions from before the keys (or restored) get them once, per owner.
        crate::support::exec(&db.url, "UPDATE chat_messages SET question_key = NULL").await;
        assert!(
            s.question_keys(Some("john"), from, to, &offsets, 1)
                .await
                .unwrap()
                .keys
                .is_empty()
        );
        assert_eq!(s.key_questions(Some("maria"), from, to).await.unwrap(), 0);
        assert_eq!(s.key_questions(Some("john"), from, to).await.unwrap(), 8);
        assert_eq!(
            s.key_questions(None, from, to).await.unwrap(),
            0,
            "keyed once"
        );
        let keyed = sorted(
            s.question_keys(Some("john"), from, to, &offsets, 1)
                .await
                .unwrap()
                .keys,
        );
        assert_eq!(keyed, written);
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let days = |k: &opschat::store::analytics::KeyedDays| {
            let mut d = k.days.clone();
            d.sort();
            d
        };
        // "?!" has no words: stored as '' and never grouped. Of the two statements only the
        // most asked is listed (limit 1), and both count in the totals.
        use opschat::store::analytics::stored_key;
        let (short, listed): (Vec<_>, Vec<_>) =
            keyed.iter().partition(|k| k.key.split(' ').count() <= 8);
        assert_eq!(short.len(), 2, "{keyed:?}");
        assert_eq!(short[0].key, "follow");
        assert_eq!(days(short[0]), vec![day(24)]);
        assert_eq!(short[1].key, "urgent");
        assert_eq!(days(short[1]), vec![day(24), day(24), day(25)]);
        assert_eq!(listed.len(), 1, "{keyed:?}");
        assert_eq!(listed[0].key, stored_key(long[0]));
        assert_eq!(listed[0].days.len(), 2);
        let all = s
            .question_keys(Some("john"), from, to, &offsets, 1)
            .await
            .unwrap();
        assert_eq!((all.long_keys, all.long_questions), (2, 3));
        let more = s
            .question_keys(Some("john"), from, to, &offsets, 5)
            .await
            .unwrap();
        assert_eq!(more.keys.len(), 4);
        assert_eq!((more.long_keys, more.long_questions), (2, 3));
        assert!(
            s.question_keys(Some("maria"), from, to, &offsets, 1)
                .await
                .unwrap()
                .keys
                .is_empty()
        );
        let mut w = s
            .wordings(Some("john"), from, to, &["urgent".to_string()], 2)
            .await
            .unwrap();
        w.sort_by(|a, b| a.text.cmp(&b.text));
        // The latest two of the three "urgent" questions, one wording each.
        assert_eq!(
            w.iter()
                .map(|w| (w.text.as_str(), w.count))
                .collect::<Vec<_>>(),
            vec![("anything urgent", 1), ("what's urgent?", 1)]
        );
        assert!(
            s.wordings(Some("john"), from, to, &[], 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both!(
    a_finished_stream_settles_its_row_and_count_once,
    |db: TestDb| async move {
        let s = store(&db).await;
        let sid = Uuid::now_v7();
        let new = johns_session(sid, "Streams");
        let q = msg(sid, Role::User, "what now?", MessageStatus::Complete, at(0));
        s.create_session(&new, &q).await.unwrap();
        let streaming = |when| msg(sid, Role::Assistant, "", MessageStatus::Streaming, when);
        let (a, b, c) = (streaming(at(1)), streaming(at(2)), streaming(at(3)));
        for m in [&a, &b, &c] {
            s.append_message(m).await.unwrap();
        }
        assert_eq!(
            s.session("john", sid).await.unwrap().unwrap().message_count,
            4
        );
        let reply = |content: &str, status| FinishedReply {
            content: content.into(),
            status,
            error: (status == MessageStatus::Failed).then(|| "upstream 502".into()),
            model_used: Some("gpt-4o-mini".into()),
            tokens_used: Some(30),
            prompt_tokens: Some(20),
            completion_tokens: Some(10),
            context_used: Some(json!({"items_used": []})),
            stats: opschat::domain::ReplyStats {
                provider: Some("openai-compatible".into()),
                latency_ms: Some(900),
                first_token_ms: Some(120),
                cached_tokens: Some(4),
                cost_usd: Some(0.000_012_5),
            },
        };

        // A complete reply keeps its place in the count and takes every field.
        let done = s
            .finish_stream(a.id, &reply("all of it", MessageStatus::Complete))
            .await
            .unwrap();
        assert_eq!((done.message_count, done.last_message_at), (4, at(3)));
        let m = &done.message;
        assert_eq!(
            (m.id, m.seq, m.status, m.content.as_str(), m.prompt_tokens),
            (a.id, 2, MessageStatus::Complete, "all of it", Some(20))
        );
        assert_eq!(m.stats, reply("", MessageStatus::Complete).stats);
        // A failed one leaves the conversation.
        let failed = s
            .finish_stream(b.id, &reply("half", MessageStatus::Failed))
            .await
            .unwrap();
        assert_eq!(failed.message_count, 3);
        assert_eq!(
            (failed.message.status, failed.message.error.as_deref()),
            (MessageStatus::Failed, Some("upstream 502"))
        );
        // A stopped one stays stopped when its end is saved.
        assert_eq!(s.stop_streams("john", sid).await.unwrap(), vec![c.id]);
        let stopped = s
            .finish_stream(c.id, &reply("until the stop", MessageStatus::Complete))
            .await
            .unwrap();
        assert_eq!(
            (stopped.message_count, stopped.message.status),
            (3, MessageStatus::Stopped)
        );

        // Finishing again, or a message that never streamed, changes nothing.
        for (mid, what) in [(a.id, "finished"), (b.id, "failed"), (q.id, "a question")] {
            let again = s
                .finish_stream(mid, &reply("again", MessageStatus::Failed))
                .await;
            assert!(
                matches!(again, Err(StoreError::NotFound)),
                "{what}: {again:?}"
            );
        }
        let missing = s
            .finish_stream(Uuid::now_v7(), &reply("x", MessageStatus::Complete))
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
        assert_eq!(
            s.session("john", sid).await.unwrap().unwrap().message_count,
            3
        );
        let rows = s.messages("john", sid, None, 10).await.unwrap();
        assert_eq!(
            rows.iter()
                .map(|m| (m.content.as_str(), m.status))
                .collect::<Vec<_>>(),
            [
                ("what now?", MessageStatus::Complete),
                ("all of it", MessageStatus::Complete),
                ("half", MessageStatus::Failed),
                ("until the stop", MessageStatus::Stopped),
            ]
        );
    }
);
