//! The `opschat` command line, run as a real process against both databases.

use crate::both;
use crate::support::{NOW, TestDb};
use std::io::Write as _;

async fn opschat(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    opschat_with_input(db, args, "").await
}

async fn opschat_with_input(db: &TestDb, args: &[&str], input: &str) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_opschat"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("OPSCHAT_NOW", NOW)
        .env("OPSCHAT_UTC_OFFSET", "+00:00")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPSCHAT_USER")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run opschat");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait for opschat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both!(
    the_cli_migrates_imports_asks_and_lists,
    |db: TestDb| async move {
        let (code, out, err) = opschat(&db, &["migrate"]).await;
        assert_eq!(code, 0, "{out}{err}");
        let (code, _, _) = opschat(&db, &["migrate"]).await;
        assert_eq!(code, 0, "migrate is idempotent");

        let (code, _, err) = opschat(&db, &["sessions"]).await;
        assert_ne!(code, 0);
        assert!(err.contains("no account exists yet"), "{err}");
        let (code, out, err) = opschat_with_input(
            &db,
            &["--no-demo", "user", "add", "Maria", "--password-stdin"],
            "correct horse battery\n",
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("created maria (admin)"),
            "the first account is an admin: {out}"
        );
        let (code, _, err) =
            opschat_with_input(&db, &["user", "add", "dana", "--password-stdin"], "short\n").await;
        assert_ne!(code, 0);
        assert!(err.contains("at least 8 characters"), "{err}");
        let (code, out, _) = opschat_with_input(
            &db,
            &["user", "add", "dana", "--password-stdin"],
            "long enough pw\n",
        )
        .await;
        assert_eq!(code, 0);
        assert!(out.contains("created dana (manager)"), "{out}");
        let (_, out, _) = opschat(&db, &["user", "list"]).await;
        assert!(out.contains("maria") && out.contains("dana"), "{out}");

        let (code, token, err) = opschat(&db, &["token", "create", "reports"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            token.trim().starts_with("opc_") && err.contains("for maria"),
            "{token}{err}"
        );
        let (_, out, _) = opschat(&db, &["token", "list"]).await;
        assert!(
            out.contains("reports") && !out.contains(token.trim()),
            "listed, never shown again: {out}"
        );
        let (_, out, _) = opschat(&db, &["--user", "dana", "token", "list"]).await;
        assert!(out.contains("no tokens"), "tokens are per account: {out}");

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::File::create(&bad).unwrap().write_all(br#"{"tasks":[{"id":"x","title":"Fine"},{"id":"y","title":"Bad","status":"someday"}]}"#).unwrap();
        let (code, _, err) = opschat(&db, &["import", bad.to_str().unwrap()]).await;
        assert_ne!(code, 0);
        assert!(
            err.contains(r#"tasks[1] (id "y"): unknown status "someday""#)
                && err.contains("nothing was written"),
            "{err}"
        );

        let good = dir.path().join("ops.json");
        std::fs::write(&good, crate::support::FIXTURE).unwrap();
        let (code, out, err) = opschat(&db, &["import", good.to_str().unwrap()]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("tasks 9 created, 0 updated"), "{out}");
        let (_, out, _) = opschat(&db, &["import", good.to_str().unwrap()]).await;
        assert!(out.contains("tasks 0 created, 9 updated"), "{out}");

        let (code, out, err) =
            opschat(&db, &["--no-demo", "ask", "What's most urgent today?"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Fix walk-in cooler door gasket"), "{out}");
        assert!(
            !out.contains("Fine"),
            "the rejected file wrote nothing: {out}"
        );
        let session = err
            .split_whitespace()
            .skip_while(|w| *w != "session")
            .nth(1)
            .expect(&err)
            .to_string();
        let (code, out, err) = opschat(
            &db,
            &[
                "ask",
                "Who do I need to follow up with?",
                "--session",
                &session,
            ],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Marcus Lee"), "{out}");

        let (code, out, _) = opschat(&db, &["sessions"]).await;
        assert_eq!(code, 0);
        assert!(
            out.contains(&session)
                && out.contains("4 msgs")
                && out.contains("What's most urgent today?"),
            "{out}"
        );

        let (code, _, err) = opschat(&db, &["ask", "hi", "--session", "nope"]).await;
        assert_ne!(code, 0);
        assert!(err.contains("not a UUID"), "{err}");

        // Another account sees none of it: not the sessions, not the imported tasks.
        let (code, out, _) = opschat(&db, &["--user", "dana", "sessions"]).await;
        assert_eq!(code, 0);
        assert!(out.contains("no sessions yet"), "{out}");
        let (code, _, err) =
            opschat(&db, &["--user", "dana", "ask", "hi", "--session", &session]).await;
        assert_ne!(code, 0, "another account's session is not found");
        assert!(err.contains("not found"), "{err}");
        let (_, out, _) =
            opschat(&db, &["--user", "dana", "ask", "What's most urgent today?"]).await;
        assert!(!out.contains("Fix walk-in cooler door gasket"), "{out}");

        let (code, out, _) = opschat(&db, &["user", "disable", "dana"]).await;
        assert_eq!(code, 0);
        assert!(out.contains("dana disabled"), "{out}");
        let (code, _, err) = opschat(&db, &["--user", "dana", "sessions"]).await;
        assert_ne!(code, 0);
        assert!(err.contains("disabled"), "{err}");
    }
);

both!(
    the_cli_exports_one_session_or_all_of_them,
    |db: TestDb| async move {
        let (code, _, err) = opschat_with_input(
            &db,
            &["--no-demo", "user", "add", "maria", "--password-stdin"],
            "correct horse battery\n",
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let (code, _, session) = opschat(&db, &["ask", "What's most urgent today?"]).await;
        assert_eq!(code, 0, "{session}");
        let id = session
            .split_whitespace()
            .find(|w| {
                uuid::Uuid::parse_str(w.trim_matches(|c: char| !c.is_ascii_hexdigit() && c != '-'))
                    .is_ok()
            })
            .map(|w| {
                w.trim_matches(|c: char| !c.is_ascii_hexdigit() && c != '-')
                    .to_string()
            })
            .unwrap_or_else(|| panic!("no session id in {session:?}"));
        let (code, out, err) = opschat(&db, &["export", "--format", "json"]).await;
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["sessions"][0]["messages"][0]["content"],
            "What's most urgent today?"
        );
        let (code, out, err) =
            opschat(&db, &["export", "--session", &id, "--format", "html"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("<!doctype html>"), "{out}");
        let (code, _, err) = opschat(&db, &["export", "--format", "html"]).await;
        assert_ne!(code, 0);
        assert!(err.contains("--session"), "{err}");
        let (code, _, err) = opschat(&db, &["export", "--format", "pdf"]).await;
        assert_ne!(code, 0);
        assert!(err.contains("md, json or html"), "{err}");
    }
);

/// Moving an instance: SQLite -> archive -> PostgreSQL -> archive gives the same archive, and
/// the restored instance works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_moves_from_sqlite_to_postgresql_and_loses_nothing() {
    use crate::support::Db;
    let sqlite = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let Some(pg) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (code, _, err) = opschat_with_input(
        &sqlite,
        &["--no-demo", "user", "add", "maria", "--password-stdin"],
        "correct horse battery\n",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops.json");
    let (code, _, err) = opschat(&sqlite, &["import", fixture]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = opschat(&sqlite, &["ask", "What's most urgent today?"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = opschat(&sqlite, &["ask", "Mark the cooler gasket done"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, token, err) = opschat(&sqlite, &["token", "create", "reports"]).await;
    assert_eq!(code, 0, "{err}");

    let (code, archive, err) = opschat(&sqlite, &["export", "--all", "--with-secrets"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = archive.lines().collect();
    assert!(lines[0].contains("opschat.archive.v1"));
    for table in [
        "users",
        "chat_sessions",
        "chat_messages",
        "tasks",
        "delegations",
        "daily_digests",
        "chat_actions",
        "activity_log",
        "api_tokens",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("\"table\":\"{table}\""))),
            "{table} is in the archive"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("instance.jsonl");
    std::fs::write(&file, &archive).unwrap();

    // A damaged archive (a line cut short near the end, or a value of the wrong kind) loads
    // nothing: the database stays empty and the good archive restores afterwards.
    let mut cut = lines.clone();
    let last = cut.len() - 1;
    cut[last] = &lines[last][..lines[last].len() / 2];
    let mut wrong: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let msg = wrong
        .iter()
        .rposition(|l| l.contains("\"table\":\"chat_messages\""))
        .unwrap();
    wrong[msg] = wrong[msg].replace("\"seq\":", "\"seq\":\"x\",\"was\":");
    for (name, text) in [("cut", cut.join("\n")), ("wrong", wrong.join("\n"))] {
        let damaged = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&damaged, text).unwrap();
        let (code, _, err) = opschat(&pg, &["restore", damaged.to_str().unwrap()]).await;
        assert_ne!(code, 0, "{name}");
        assert!(err.contains("nothing was restored"), "{name}: {err}");
        let (_, users, _) = opschat(&pg, &["user", "list"]).await;
        assert!(!users.contains("maria"), "{name}: {users}");
    }

    let (code, out, err) = opschat(&pg, &["restore", file.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restored"), "{out}");
    // Restored questions come with their grouping key, as written ones do.
    let keyed = "SELECT COUNT(*) FROM chat_messages WHERE role = 'user' AND question_key <> ''";
    let unkeyed = "SELECT COUNT(*) FROM chat_messages WHERE role = 'user' AND question_key IS NULL";
    assert!(crate::support::count(&pg.url, keyed).await > 0);
    assert_eq!(crate::support::count(&pg.url, unkeyed).await, 0);
    let (code, again, err) = opschat(&pg, &["export", "--all", "--with-secrets"]).await;
    assert_eq!(code, 0, "{err}");
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(
        sorted(&archive),
        sorted(&again),
        "byte for byte, after sorting"
    );

    // The moved instance works: the same sessions, sign-in data and tokens, and it goes on.
    let (_, listed, _) = opschat(&pg, &["sessions"]).await;
    assert!(listed.contains("What's most urgent today?"), "{listed}");
    let (code, _, err) = opschat(&pg, &["ask", "Who do I need to follow up with?"]).await;
    assert_eq!(code, 0, "{err}");
    let (_, tokens, _) = opschat(&pg, &["token", "list"]).await;
    assert!(
        tokens.contains("reports") && !tokens.contains(token.trim()),
        "{tokens}"
    );
    // A second restore finds the database in use.
    let (code, _, err) = opschat(&pg, &["restore", file.to_str().unwrap()]).await;
    assert_ne!(code, 0);
    assert!(err.contains("empty database"), "{err}");
    // Without secrets, no password or token hash leaves the instance.
    let (_, plain, _) = opschat(&sqlite, &["export", "--all"]).await;
    assert!(!plain.contains("argon2") && !plain.contains("\"table\":\"api_tokens\""));
}
