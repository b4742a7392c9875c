//! Accounts over the real server: first-account set-up, sign-in, sign-out, tokens, disabled
//! accounts, brute-force slowdown, same-origin checks, time zones, the trusted proxy header,
//! and an upgrade from the single-user schema.

use crate::both;
use crate::support::{
    PASSWORD, TestApp, TestDb, bearer_client, config, count, exec, session_cookie, sign_in,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn anon() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

both!(
    the_first_account_is_an_admin_and_set_up_happens_once,
    |db: TestDb| async move {
        // A server with no account: nothing but set-up, sign-in, health and assets.
        opschat::install_crypto_provider();
        let app = opschat::App::build(
            &config(&db.url),
            opschat::BuildOptions {
                migrate: true,
                demo: true,
            },
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server =
            tokio::spawn(async move { app.serve(listener, std::future::pending::<()>()).await });
        let c = anon();
        let (s, v) = body(
            c.get(format!("{base}/api/auth/state"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, v["setup_required"].as_bool()),
            (StatusCode::OK, Some(true))
        );
        let page = c.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert_eq!(page.headers()["location"], "/login");
        assert_eq!(
            c.get(format!("{base}/login"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            c.get(format!("{base}/static/app.js"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            c.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let (s, v) = body(
            c.get(format!("{base}/api/operations/today"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "unauthenticated");

        // Bad input changes nothing.
        for bad in [
            json!({"username": "", "password": PASSWORD}),
            json!({"username": "ok", "password": "short"}),
            json!({"username": "ok", "password": PASSWORD, "time_zone": "-05:00"}),
            json!({"username": "bad name!", "password": PASSWORD}),
        ] {
            let (s, v) = body(
                c.post(format!("{base}/api/auth/setup"))
                    .json(&bad)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        }
        let (s, _) = body(
            c.post(format!("{base}/api/auth/setup"))
                .header("origin", "https://evil.example")
                .json(&json!({"username": "evil", "password": PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "a foreign page cannot set up the instance"
        );

        let r = c
            .post(format!("{base}/api/auth/setup"))
            .json(&json!({"username": " Maria ", "password": PASSWORD, "display_name": "Maria Lopez", "time_zone": "America/New_York"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let cookie_header = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie_header.contains("HttpOnly")
                && cookie_header.contains("SameSite=Lax")
                && !cookie_header.contains("Secure"),
            "{cookie_header}"
        );
        let cookie = session_cookie(&r);
        let (_, v) = body(r).await;
        assert_eq!(v["user"]["username"], "maria");
        assert_eq!(v["user"]["role"], "admin");
        assert_eq!(v["user"]["time_zone"], "America/New_York");
        assert!(v["user"].get("password_hash").is_none(), "{v}");

        // The demo restaurant belongs to the first account.
        let (s, today) = body(
            c.get(format!("{base}/api/operations/today"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(today["counts"]["open"].as_i64().unwrap() >= 8, "{today}");

        // Only once.
        let (s, v) = body(
            c.post(format!("{base}/api/auth/setup"))
                .json(&json!({"username": "second", "password": PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (_, v) = body(
            c.get(format!("{base}/api/auth/state"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["setup_required"], false);
        let page = c
            .get(format!("{base}/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "signed in, the dashboard is served");
        server.abort();
    }
);

both!(
    sign_in_sign_out_and_failures_that_tell_nothing,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let c = anon();
        let login = |u: &str, p: &str| {
            c.post(app.url("/api/auth/login"))
                .json(&json!({"username": u, "password": p}))
                .send()
        };
        let (s1, wrong) = body(login("manager", "not the password").await.unwrap()).await;
        let (s2, unknown) = body(login("nobody", "not the password").await.unwrap()).await;
        assert_eq!(
            (s1, s2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            wrong, unknown,
            "an unknown user and a wrong password answer the same"
        );
        assert_eq!(wrong["error"]["code"], "invalid_credentials");

        let (cookie, v) = sign_in(&app.base, "MANAGER", PASSWORD).await;
        assert_eq!(
            v["user"]["username"], "manager",
            "usernames are case-insensitive"
        );
        let me = |cookie: String| {
            c.get(app.url("/api/auth/me"))
                .header("cookie", cookie)
                .send()
        };
        let (s, v) = body(me(cookie.clone()).await.unwrap()).await;
        assert_eq!((s, v["auth"].as_str()), (StatusCode::OK, Some("session")));

        // A state-changing cookie request must come from our own pages.
        let (s, v) = body(
            c.post(app.url("/api/auth/logout"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("cross_origin"))
        );
        let (s, _) = body(
            c.post(app.url("/api/operations-chat"))
                .header("cookie", &cookie)
                .header("origin", "https://evil.example")
                .json(&json!({"message": "hi"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = body(
            c.post(app.url("/api/operations-chat"))
                .header("cookie", &cookie)
                .header("sec-fetch-site", "cross-site")
                .json(&json!({"message": "hi"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, list) = app.get("/api/operations-chat/sessions").await;
        assert_eq!(
            list["sessions"].as_array().unwrap().len(),
            0,
            "nothing was written"
        );
        let (s, _) = body(
            c.post(app.url("/api/operations-chat"))
                .header("cookie", &cookie)
                .header("sec-fetch-site", "same-origin")
                .json(&json!({"message": "What's most urgent today?"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);

        // Sign-out ends the session in the database: the cookie is dead, even replayed.
        let out = c
            .post(app.url("/api/auth/logout"))
            .header("cookie", &cookie)
            .header("origin", &app.base)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 200);
        assert!(
            out.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let (s, _) = body(me(cookie.clone()).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Repeated failures are slowed: 429 with Retry-After, even for the right password.
        for _ in 0..5 {
            let (s, _) = body(login("manager", "guess").await.unwrap()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let r = login("manager", "guess").await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "the sixth failure is still answered"
        );
        let r = login("manager", PASSWORD).await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        let (_, v) = body(r).await;
        assert_eq!(v["error"]["code"], "too_many_attempts");
        tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
        sign_in(&app.base, "manager", PASSWORD).await;
    }
);

both!(
    api_tokens_are_shown_once_used_and_revoked,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let (s, created) = app
            .post("/api/tokens", &json!({"name": "  morning   report "}))
            .await;
        assert_eq!(s, 201, "{created}");
        let secret = created["token"].as_str().unwrap().to_string();
        assert!(secret.starts_with("opc_") && secret.len() > 40);
        assert_eq!(created["name"], "morning report");
        let id = created["id"].as_str().unwrap().to_string();

        let script = bearer_client(&secret);
        let r = script.get(app.url("/api/auth/me")).send().await.unwrap();
        let (s, me) = body(r).await;
        assert_eq!(
            (s, me["auth"].as_str(), me["user"]["username"].as_str()),
            (StatusCode::OK, Some("token"), Some("manager"))
        );
        // A token is not ambient: no Origin needed.
        let r = script
            .post(app.url("/api/operations-chat"))
            .json(&json!({"message": "What can I delegate?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        let (_, list) = app.get("/api/tokens").await;
        let listed = list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()
            .clone();
        assert!(
            listed.get("token").is_none() && !list.to_string().contains(&secret),
            "never shown again: {list}"
        );
        assert!(secret.starts_with(listed["prefix"].as_str().unwrap()));
        assert!(
            listed["last_used_at"].is_string(),
            "last use is recorded: {listed}"
        );

        for (bad, code) in [
            ("Bearer nope", "invalid_token"),
            ("Basic abc", "invalid_token"),
            ("Bearer ", "invalid_token"),
        ] {
            let r = anon()
                .get(app.url("/api/auth/me"))
                .header("authorization", bad)
                .send()
                .await
                .unwrap();
            let (s, v) = body(r).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some(code)),
                "{bad}"
            );
        }
        let (s, _) = app.post("/api/tokens", &json!({"name": "  "})).await;
        assert_eq!(s, 400);

        let r = app
            .http
            .delete(app.url(&format!("/api/tokens/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = script.get(app.url("/api/auth/me")).send().await.unwrap();
        assert_eq!(
            r.status(),
            401,
            "revocation is honoured at once on this instance"
        );
        let r = app
            .http
            .delete(app.url(&format!("/api/tokens/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = app
            .http
            .delete(app.url("/api/tokens/not-a-uuid"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);

both!(
    a_disabled_account_is_locked_out_everywhere,
    |db: TestDb| async move {
        let mut cfg = config(&db.url);
        cfg.auth_cache_secs = 1;
        let one = TestApp::start(cfg.clone(), false).await;
        // A second instance on the same database, as behind a load balancer.
        let two = TestApp::start(cfg, false).await;
        let bob = one.add_user("bob").await;
        let as_bob_cookie = |base: String, cookie: String| async move {
            anon()
                .get(format!("{base}/api/auth/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        };
        for base in [&one.base, &two.base] {
            assert_eq!(
                bob.http
                    .get(format!("{base}/api/auth/me"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                200
            );
            assert_eq!(as_bob_cookie(base.clone(), bob.cookie.clone()).await, 200);
        }
        let (s, v) = one
            .patch(
                &format!("/api/admin/users/{}", bob.id),
                &json!({"disabled": true}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["user"]["disabled"], true);
        // At once on the instance that disabled it; within the cache time on the other.
        assert_eq!(
            bob.http
                .get(one.url("/api/auth/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            as_bob_cookie(one.base.clone(), bob.cookie.clone()).await,
            401
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            bob.http
                .get(two.url("/api/auth/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            as_bob_cookie(two.base.clone(), bob.cookie.clone()).await,
            401
        );
        let r = anon()
            .post(one.url("/api/auth/login"))
            .json(&json!({"username": "bob", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "a disabled account cannot sign in");

        // The last admin cannot be disabled or demoted; nobody disables themselves.
        let (_, me) = one.get("/api/auth/me").await;
        let me_id = me["user"]["id"].as_str().unwrap().to_string();
        let (s, _) = one
            .patch(
                &format!("/api/admin/users/{me_id}"),
                &json!({"role": "manager"}),
            )
            .await;
        assert_eq!(s, 409);
        let (s, _) = one
            .patch(
                &format!("/api/admin/users/{me_id}"),
                &json!({"disabled": true}),
            )
            .await;
        assert_eq!(s, 400);

        // Enabled again, the token works again; the browser session stays ended.
        let (s, _) = one
            .patch(
                &format!("/api/admin/users/{}", bob.id),
                &json!({"disabled": false}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(
            bob.http
                .get(one.url("/api/auth/me"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            as_bob_cookie(one.base.clone(), bob.cookie.clone()).await,
            401
        );

        // A manager is not an admin.
        let r = bob
            .http
            .get(one.url("/api/admin/users"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let page = anon()
            .get(one.url("/admin"))
            .header("cookie", sign_in(&one.base, "bob", PASSWORD).await.0)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (
                page.status().as_u16(),
                page.headers()["location"].to_str().unwrap()
            ),
            (303, "/")
        );

        // An admin's password reset ends the account's sessions and shows a temporary one once.
        let (bob_cookie, _) = sign_in(&one.base, "bob", PASSWORD).await;
        let (s, v) = one
            .post(&format!("/api/admin/users/{}/password", bob.id), &json!({}))
            .await;
        assert_eq!(s, 200);
        let temporary = v["temporary_password"].as_str().unwrap().to_string();
        assert_eq!(as_bob_cookie(one.base.clone(), bob_cookie).await, 401);
        let (cookie, _) = sign_in(&one.base, "bob", &temporary).await;
        // …and bob changes it; his other sessions end, this one stays.
        let (other, _) = sign_in(&one.base, "bob", &temporary).await;
        let r = anon()
            .post(one.url("/api/auth/password"))
            .header("cookie", &cookie)
            .header("origin", &one.base)
            .json(&json!({"current_password": "wrong one", "new_password": "a new passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = anon()
            .post(one.url("/api/auth/password"))
            .header("cookie", &cookie)
            .header("origin", &one.base)
            .json(&json!({"current_password": temporary, "new_password": "a new passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(as_bob_cookie(one.base.clone(), cookie).await, 200);
        assert_eq!(as_bob_cookie(one.base.clone(), other).await, 401);
        sign_in(&one.base, "bob", "a new passphrase").await;
    }
);

both!(
    each_user_has_a_time_zone_that_decides_today,
    |db: TestDb| async move {
        // Now is 2026-11-24 09:30 UTC: still the 23rd on Midway, the 24th in New York.
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let (_, t) = app.get("/api/operations/today").await;
        assert_eq!(t["today"], "2026-11-24");
        let overdue_utc = t["counts"]["overdue"].as_i64().unwrap();
        let (s, v) = app
            .patch("/api/auth/me", &json!({"time_zone": "Pacific/Midway"}))
            .await;
        assert_eq!(s, 200, "{v}");
        let (_, t) = app.get("/api/operations/today").await;
        assert_eq!(t["today"], "2026-11-23");
        assert!(t["counts"]["overdue"].as_i64().unwrap() <= overdue_utc);
        assert!(
            t["now"].as_str().unwrap().ends_with("-11:00"),
            "{}",
            t["now"]
        );
        let (s, _) = app
            .patch("/api/auth/me", &json!({"time_zone": "Mars/Olympus_Mons"}))
            .await;
        assert_eq!(s, 400);
        let (s, v) = app.patch("/api/auth/me", &json!({"time_zone": null})).await;
        assert_eq!((s, &v["user"]["time_zone"]), (200, &Value::Null));
        let (_, t) = app.get("/api/operations/today").await;
        assert_eq!(t["today"], "2026-11-24");
    }
);

both!(
    a_trusted_proxy_header_signs_in_and_creates_the_account,
    |db: TestDb| async move {
        let mut cfg = config(&db.url);
        cfg.trusted_user_header = Some("X-Forwarded-Email".into());
        cfg.trusted_proxies = Some("127.0.0.1".into());
        let app = TestApp::start(cfg.clone(), false).await;
        let c = anon();
        let (s, v) = body(
            c.get(app.url("/api/auth/me"))
                .header("x-forwarded-email", "Chef@Example.com")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (
                v["user"]["username"].as_str(),
                v["user"]["role"].as_str(),
                v["auth"].as_str()
            ),
            (
                Some("chef@example.com"),
                Some("manager"),
                Some("single_sign_on")
            )
        );
        // The proxy's header is ambient like a cookie: writes need our origin.
        let (s, _) = body(
            c.post(app.url("/api/operations-chat"))
                .header("x-forwarded-email", "chef@example.com")
                .json(&json!({"message": "hi"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, users) = app.get("/api/admin/users").await;
        assert_eq!(users["users"].as_array().unwrap().len(), 2);
        app.stop().await;

        // From an address that is not a trusted proxy, the header means nothing.
        cfg.trusted_proxies = Some("10.1.2.3".into());
        let app = TestApp::start(cfg, false).await;
        let r = c
            .get(app.url("/api/auth/me"))
            .header("x-forwarded-email", "manager")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
);

both!(
    upgrading_a_single_user_database_loses_nothing,
    |db: TestDb| async move {
        // The schema before accounts: the first two migrations only.
        if db.url.starts_with("postgres") {
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.migrations = std::borrow::Cow::Owned(m.migrations[..2].to_vec());
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            m.run(&pool).await.unwrap();
            pool.close().await;
        } else {
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.migrations = std::borrow::Cow::Owned(m.migrations[..2].to_vec());
            let opts: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true))
                .await
                .unwrap();
            m.run(&pool).await.unwrap();
            pool.close().await;
        }
        // What the single-user version wrote.
        exec(&db.url, "
            INSERT INTO chat_sessions (id, user_id, title, context_snapshot, started_at, last_message_at, message_count, is_active, last_seq)
              VALUES ('0190a000-0000-7000-8000-000000000001', 'john', 'Walk-in cooler in October', NULL,
                      '2026-10-20T10:00:00+00:00', '2026-10-20T10:01:00+00:00', 2, TRUE, 2),
                     ('0190a000-0000-7000-8000-000000000002', 'john', 'Archived chat', NULL,
                      '2026-10-21T10:00:00+00:00', '2026-10-21T10:00:00+00:00', 0, FALSE, 0);
            INSERT INTO chat_messages (id, session_id, seq, role, content, created_at, status)
              VALUES ('0190a000-0000-7000-8000-000000000011', '0190a000-0000-7000-8000-000000000001', 1, 'user', 'Is the walk-in fixed?', '2026-10-20T10:00:00+00:00', 'complete'),
                     ('0190a000-0000-7000-8000-000000000012', '0190a000-0000-7000-8000-000000000001', 2, 'assistant', 'Not yet: the gasket is on order.', '2026-10-20T10:01:00+00:00', 'complete');
            INSERT INTO tasks (id, external_id, title, due_date, priority, status, delegatable, created_at, updated_at)
              VALUES ('0190a000-0000-7000-8000-000000000021', 't-legacy', 'Legacy task: call the fire marshal', '2026-11-24', 'urgent', 'todo', FALSE, '2026-10-20T10:00:00+00:00', '2026-10-20T10:00:00+00:00');
            INSERT INTO delegations (id, external_id, task_description, assigned_to, follow_up_date, priority, status, created_at, updated_at)
              VALUES ('0190a000-0000-7000-8000-000000000031', 'd-legacy', 'Deep clean the fryers', 'Marcus Lee', '2026-11-24', 'high', 'active', '2026-10-20T10:00:00+00:00', '2026-10-20T10:00:00+00:00');
            INSERT INTO daily_digests (id, external_id, date, text, created_at, updated_at)
              VALUES ('0190a000-0000-7000-8000-000000000041', NULL, '2026-11-24', 'Legacy digest: health inspection Thursday.', '2026-10-20T10:00:00+00:00', '2026-10-20T10:00:00+00:00');
        ").await;

        // Upgrade (migrations run on start), then the first account is created.
        let app = TestApp::start(config(&db.url), true).await;
        for table in ["chat_sessions", "tasks", "delegations", "daily_digests"] {
            let others = count(
                &db.url,
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE user_id <> '{}'",
                    app.owner
                ),
            )
            .await;
            assert_eq!(others, 0, "every row of {table} moved to the first account");
        }
        assert_eq!(
            count(&db.url, "SELECT COUNT(*) FROM chat_messages").await,
            2
        );
        let (_, list) = app
            .get("/api/operations-chat/sessions?include_archived=true")
            .await;
        let titles: Vec<&str> = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Archived chat", "Walk-in cooler in October"]);
        let h = app.history("0190a000-0000-7000-8000-000000000001").await;
        let contents: Vec<&str> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            contents,
            ["Is the walk-in fixed?", "Not yet: the gasket is on order."]
        );
        let (_, today) = app.get("/api/operations/today").await;
        let text = today.to_string();
        assert!(
            text.contains("Legacy task: call the fire marshal")
                && text.contains("Deep clean the fryers")
                && text.contains("Legacy digest"),
            "{today}"
        );
        assert_eq!(
            today["counts"]["open"], 1,
            "no demo data on top of real data: {today}"
        );
        // The old owner key is gone from every table, and the same import id can be reused by
        // another account now that keys are per account.
        let bob = app.add_user("bob").await;
        let r = bob
            .http
            .post(app.url("/api/operations/import"))
            .json(&json!({"tasks": [{"id": "t-legacy", "title": "Bob's own task"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (_, today) = app.get("/api/operations/today").await;
        assert!(!today.to_string().contains("Bob's own task"));
    }
);

both!(
    two_admins_demoting_each_other_at_once_leave_one_admin,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        let (_, me) = app.get("/api/auth/me").await;
        let first = me["user"]["id"].as_str().unwrap().to_string();
        for round in 0..5 {
            let name = format!("second{round}");
            let (s, v) = app
                .post(
                    "/api/admin/users",
                    &json!({"username": name, "password": PASSWORD, "role": "admin"}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            let second_id = v["user"]["id"].as_str().unwrap().to_string();
            let (cookie, _) = sign_in(&app.base, &name, PASSWORD).await;
            let token = crate::support::create_token(&app.base, &cookie, "t").await;
            let second = bearer_client(&token);
            // Both at once: each demotes the other.
            let (a, b) = tokio::join!(
                app.http
                    .patch(app.url(&format!("/api/admin/users/{second_id}")))
                    .json(&json!({"role": "manager"}))
                    .send(),
                second
                    .patch(app.url(&format!("/api/admin/users/{first}")))
                    .json(&json!({"role": "manager"}))
                    .send(),
            );
            let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
            assert!(
                statuses.iter().all(|s| [200, 403, 409].contains(s)),
                "{statuses:?}"
            );
            let (_, users) = body(
                reqwest::Client::new()
                    .get(app.url("/api/admin/users"))
                    .bearer_auth(if statuses[0] == 200 {
                        &app.token
                    } else {
                        &token
                    })
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            let admins = users["users"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["role"] == "admin" && u["disabled"] == false)
                .count();
            assert!(
                admins >= 1,
                "round {round}: {statuses:?} left no admin: {users}"
            );
            // Back to one admin (the first) for the next round.
            let first_is_admin = users["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["id"] == first.as_str() && u["role"] == "admin");
            if !first_is_admin {
                let r = second
                    .patch(app.url(&format!("/api/admin/users/{first}")))
                    .json(&json!({"role": "admin"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (s, _) = app
                .patch(
                    &format!("/api/admin/users/{second_id}"),
                    &json!({"role": "manager"}),
                )
                .await;
            assert!(s == 200 || s == 401 || s == 403, "{s}");
        }
    }
);
