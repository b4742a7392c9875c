//! The `opschat` command line, run as a real process against both databases.

use crate::both;
use crate::support::{NOW, TestDb};
use std::io::Write as _;

async fn opschat(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_opschat"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("OPSCHAT_NOW", NOW)
        .env("OPSCHAT_UTC_OFFSET", "+00:00")
        .env_remove("OPENAI_API_KEY")
        .output()
        .await
        .expect("run opschat");
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
    }
);
