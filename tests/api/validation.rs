//! Bad input: a clear 4xx JSON error, and nothing changes.

use crate::both;
use crate::support::{PASSWORD, TestApp, TestDb, config};
use serde_json::{Value, json};

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str, case: &str) {
    assert_eq!(status, want_status, "{case}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{case}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{case}: {body}"
    );
}

both!(
    bad_input_gets_a_clear_4xx_and_changes_nothing,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let sid = app.ask("What's most urgent today?", None).await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        let before = app.history(&sid).await;
        let chat = "/api/operations-chat";

        let (s, b) = app
            .post_raw(chat, "application/json", "{\"message\": ")
            .await;
        assert_error(s, &b, 400, "malformed_json", "truncated JSON");
        let (s, b) = app.post_raw(chat, "application/json", "[1, 2]").await;
        assert_error(s, &b, 400, "invalid_request", "array body");
        let (s, b) = app
            .post_raw(chat, "text/plain", "{\"message\": \"hi\"}")
            .await;
        assert_error(
            s,
            &b,
            415,
            "unsupported_media_type",
            "not JSON content type",
        );
        let (s, b) = app.post(chat, &json!({"session_id": sid})).await;
        assert_error(s, &b, 400, "invalid_request", "missing message");
        let (s, b) = app.post(chat, &json!({"message": 42})).await;
        assert_error(s, &b, 400, "invalid_request", "message not a string");
        let (s, b) = app.post(chat, &json!({"message": ""})).await;
        assert_error(s, &b, 400, "invalid_request", "empty message");
        let (s, b) = app
            .post(chat, &json!({"message": " \n\t ", "session_id": sid}))
            .await;
        assert_error(s, &b, 400, "invalid_request", "blank message");
        let (s, b) = app
            .post(
                chat,
                &json!({"message": "x".repeat(32 * 1024 + 1), "session_id": sid}),
            )
            .await;
        assert_error(s, &b, 413, "message_too_large", "33 KiB message");
        // The server refuses an oversized body before reading it all: the client sees the 413,
        // or, if it was still sending, the connection closed under it. Nothing is stored.
        // Its own client: the server closes that connection, and a pooled connection closed
        // under a later request would fail that request instead.
        let huge = crate::support::bearer_client(&app.token)
            .post(app.url(chat))
            .json(&json!({"message": "x".repeat(2 * 1024 * 1024)}))
            .send()
            .await;
        if let Ok(r) = huge {
            let status = r.status().as_u16();
            let body = r.json().await.unwrap_or(Value::Null);
            assert_error(status, &body, 413, "body_too_large", "2 MiB body");
        }
        let (s, b) = app
            .post(chat, &json!({"message": "hi", "session_id": "not-a-uuid"}))
            .await;
        assert_error(s, &b, 400, "invalid_id", "session id not a UUID");
        let (s, b) = app
            .post(
                chat,
                &json!({"message": "hi", "session_id": uuid::Uuid::new_v4()}),
            )
            .await;
        assert_error(s, &b, 404, "session_not_found", "unknown session");
        let (s, b) = app
            .post(chat, &json!({"message": "hi", "context": "everything"}))
            .await;
        assert_error(s, &b, 400, "invalid_request", "context not an object");
        let (s, b) = app
            .post(
                chat,
                &json!({"message": "hi", "context": {"operations": {"a": 1}}}),
            )
            .await;
        assert_error(s, &b, 400, "invalid_request", "operations not an array");
        let (s, b) = app
            .post(chat, &json!({"message": "hi", "model": "gpt-4o"}))
            .await;
        assert_error(
            s,
            &b,
            400,
            "unknown_model",
            "a model with no provider configured",
        );

        let (s, b) = app.get("/api/operations-chat/history/12345").await;
        assert_error(s, &b, 400, "invalid_id", "history id not a UUID");
        let (s, b) = app
            .get(&format!(
                "/api/operations-chat/history/{}",
                uuid::Uuid::new_v4()
            ))
            .await;
        assert_error(
            s,
            &b,
            404,
            "session_not_found",
            "history of unknown session",
        );
        let (s, b) = app
            .get(&format!("/api/operations-chat/history/{sid}?limit=0"))
            .await;
        assert_error(s, &b, 400, "invalid_query", "limit 0");
        let (s, b) = app
            .get(&format!("/api/operations-chat/history/{sid}?before=-3"))
            .await;
        assert_error(s, &b, 400, "invalid_query", "negative before");
        let (s, b) = app.get("/api/operations-chat/sessions?limit=abc").await;
        assert_error(s, &b, 400, "invalid_query", "limit not a number");
        let (s, b) = app.get("/api/operations-chat/sessions?limit=100000").await;
        assert_error(s, &b, 400, "invalid_query", "limit too large");
        let r = app
            .http
            .patch(app.url(&format!("/api/operations-chat/sessions/{sid}")))
            .json(&json!({"title": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = app
            .http
            .patch(app.url(&format!("/api/operations-chat/sessions/{sid}")))
            .json(&json!({"owner": "eve"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = app
            .http
            .patch(app.url(&format!(
                "/api/operations-chat/sessions/{}",
                uuid::Uuid::new_v4()
            )))
            .json(&json!({"title": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let (s, b) = app.get("/api/nope").await;
        assert_error(s, &b, 404, "not_found", "unknown route");
        let r = app.http.delete(app.url(chat)).send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "method_not_allowed"
        );

        // Nothing above wrote anything.
        assert_eq!(app.history(&sid).await, before);
        let (_, list) = app
            .get("/api/operations-chat/sessions?include_archived=true")
            .await;
        assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    }
);

both!(
    the_client_context_of_the_original_is_accepted_and_recorded,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let ctx = json!({"dailyDigest": "Inspector visiting at 2pm", "operations": [{"action": "Call the fire marshal", "priority": "urgent"}, {"action": "Restock napkins", "priority": "low"}]});
        let (s, r) = app.post("/api/operations-chat", &json!({"message": "Summarize my day", "context": ctx, "session_id": null, "model": null})).await;
        assert_eq!(s, 200, "{r}");
        assert!(
            r["response"]
                .as_str()
                .unwrap()
                .contains("Call the fire marshal"),
            "{r}"
        );
        let h = app
            .get(&format!(
                "/api/operations-chat/history/{}?include_context=true",
                r["session_id"].as_str().unwrap()
            ))
            .await
            .1;
        assert_eq!(
            h["messages"][0]["context_used"], ctx,
            "the question keeps the context it was sent with"
        );
        assert_eq!(
            h["messages"][1]["context_used"]["client_context"]["operations"],
            2
        );
    }
);

both!(
    nul_characters_are_refused_everywhere_before_the_database,
    |db: TestDb| async move {
        // PostgreSQL text cannot hold NUL: every JSON body with one is a 400, nothing is written.
        let app = TestApp::start(config(&db.url), false).await;
        let nul = "before\u{0}after";
        for (method, path, body) in [
            ("POST", "/api/operations-chat", json!({"message": nul})),
            (
                "POST",
                "/api/operations/import",
                json!({"tasks": [{"id": "t", "title": nul}]}),
            ),
            ("PATCH", "/api/auth/me", json!({"display_name": nul})),
            ("POST", "/api/tokens", json!({"name": nul})),
            (
                "POST",
                "/api/admin/users",
                json!({"username": "dana", "password": PASSWORD, "display_name": nul}),
            ),
            (
                "POST",
                "/api/auth/login",
                json!({"username": nul, "password": "x"}),
            ),
        ] {
            let r = app
                .http
                .request(method.parse().unwrap(), app.url(path))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (400, Some("invalid_text")),
                "{method} {path}: {v}"
            );
        }
        let (_, list) = app.get("/api/operations-chat/sessions").await;
        assert_eq!(list["sessions"].as_array().unwrap().len(), 0);
        let (_, me) = app.get("/api/auth/me").await;
        assert_eq!(me["user"]["display_name"], "Maria Lopez");
        let (_, users) = app.get("/api/admin/users").await;
        assert_eq!(users["users"].as_array().unwrap().len(), 1);
    }
);
