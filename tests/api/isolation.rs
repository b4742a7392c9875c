//! The isolation matrix: every route of the router, walked from the route table (so a route
//! added later is covered without anyone remembering), called anonymously and as user B
//! against user A's ids and data. Nothing of A's is readable, nothing of A's changes.

use crate::both;
use crate::support::{TestApp, TestDb, config};
use opschat::http::{Access, routes};
use reqwest::Method;
use serde_json::{Value, json};

/// A's data as A sees it: compared before and after B's walk.
async fn snapshot(app: &TestApp, session: &str) -> Value {
    let (_, history) = app
        .get(&format!(
            "/api/operations-chat/history/{session}?limit=1000&include_context=true"
        ))
        .await;
    let (_, sessions) = app
        .get("/api/operations-chat/sessions?include_archived=true&limit=100")
        .await;
    let (_, today) = app.get("/api/operations/today").await;
    let (_, tokens) = app.get("/api/tokens").await;
    let (_, me) = app.get("/api/auth/me").await;
    let (_, tasks) = app.get("/api/tasks?include_deleted=true&limit=1000").await;
    let (_, delegations) = app
        .get("/api/delegations?include_deleted=true&limit=1000")
        .await;
    let (_, digests) = app.get("/api/digests?limit=1000").await;
    let (_, activity) = app.get("/api/activity?limit=1000").await;
    let mut notes = Vec::new();
    for d in delegations["delegations"].as_array().unwrap() {
        let (_, n) = app
            .get(&format!(
                "/api/delegations/{}/notes",
                d["id"].as_str().unwrap()
            ))
            .await;
        notes.push(n);
    }
    json!({"history": history, "sessions": sessions, "today": today, "tokens": tokens, "me": me,
           "tasks": tasks, "delegations": delegations, "digests": digests, "activity": activity,
           "notes": notes})
}

/// A body that would be valid for the route, so that only ownership can stop it.
fn body_for(method: &Method, path: &str, a_session: &str) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(match path {
        "/api/operations-chat" => {
            json!({"message": "What's most urgent today?", "session_id": a_session})
        }
        "/api/operations-chat/sessions/{id}" => json!({"title": "taken over", "is_active": false}),
        "/api/operations/import" => {
            json!({"tasks": [{"id": "t-cooler", "title": "Overwritten by B"}]})
        }
        "/api/auth/me" => json!({"display_name": "B renamed"}),
        "/api/auth/password" => {
            json!({"current_password": "not it", "new_password": "another passphrase"})
        }
        "/api/tokens" => json!({"name": "B's token"}),
        "/api/admin/users" => json!({"username": "intruder", "password": "intruder password"}),
        "/api/admin/users/{id}" => json!({"disabled": true}),
        "/api/admin/users/{id}/password" => json!({"password": "taken over now"}),
        "/api/auth/login" => json!({"username": "manager", "password": "wrong"}),
        "/api/tasks" => json!({"title": "B's own task"}),
        "/api/tasks/{id}" => json!({"title": "taken over", "status": "completed"}),
        "/api/tasks/{id}/delegate" => json!({"assigned_to": "B's friend"}),
        "/api/delegations" => json!({"task_description": "B's errand", "assigned_to": "Sam"}),
        "/api/delegations/{id}" => json!({"status": "completed", "assigned_to": "B"}),
        "/api/delegations/{id}/notes" => json!({"body": "B was here"}),
        "/api/delegations/{id}/follow-up" => json!({"note": "B followed up"}),
        "/api/digests/{date}" => json!({"text": "B's digest"}),
        "/api/auth/setup" => json!({"username": "intruder", "password": "intruder password"}),
        "/v1/chat/completions" => json!({"model": "opschat-local", "messages": [
            {"role": "user", "content": "What's due today?"}]}),
        _ => json!({}),
    })
}

both!(
    every_route_keeps_one_users_data_from_another,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let asked = app.ask("What's most urgent today?", None).await;
        let a_session = asked["session_id"].as_str().unwrap().to_string();
        let proposed = app
            .ask("Mark the cooler gasket done", Some(&a_session))
            .await;
        let a_action = proposed["actions"][0]["id"].as_str().unwrap().to_string();
        let (_, token) = app
            .post("/api/tokens", &json!({"name": "A's script"}))
            .await;
        let a_token = token["id"].as_str().unwrap().to_string();
        let (_, me) = app.get("/api/auth/me").await;
        let a_user = me["user"]["id"].as_str().unwrap().to_string();
        let (_, tasks) = app.get("/api/tasks").await;
        let a_task = tasks["tasks"][0]["id"].as_str().unwrap().to_string();
        let (_, delegations) = app.get("/api/delegations").await;
        let a_delegation = delegations["delegations"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, _) = app
            .post(
                &format!("/api/delegations/{a_delegation}/notes"),
                &json!({"body": "Marcus Lee says half done"}),
            )
            .await;
        assert_eq!(s, 201);
        let (_, digests) = app.get("/api/digests").await;
        let a_digest = digests["digests"][0]["date"].as_str().unwrap().to_string();
        let a_digest_id = digests["digests"][0]["id"].as_str().unwrap().to_string();
        let b = app.add_user("bob").await;
        let before = snapshot(&app, &a_session).await;
        // What must never appear in B's answers: A's ids, words and data.
        let secrets = [
            a_session.as_str(),
            a_token.as_str(),
            "What's most urgent today",
            "Fix walk-in cooler door gasket",
            "Marcus Lee",
            "Payroll fix due before Friday",
            a_task.as_str(),
            a_delegation.as_str(),
            a_digest_id.as_str(),
            a_action.as_str(),
            "half done",
        ];

        let anon = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let table = routes();
        assert!(
            table.len() >= 25,
            "the table lists the whole router: {}",
            table.len()
        );
        for route in &table {
            let path = route.path.replace("{date}", &a_digest).replace("{id}", if route.path.starts_with("/api/operations-chat/actions/") {
            &a_action
        } else if route.path.starts_with("/api/operations-chat/") {
            &a_session
        } else if route.path.starts_with("/api/tokens/") {
            &a_token
        } else if route.path.starts_with("/api/admin/users/") {
            &a_user
        } else if route.path.starts_with("/api/tasks/") {
            &a_task
        } else if route.path.starts_with("/api/delegations/") {
            &a_delegation
        } else {
            assert!(!route.path.replace("{date}", "").contains('{'), "{} takes a parameter this test does not know: teach it which of A's ids to try", route.path);
            ""
        });
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let body = body_for(&method, route.path, &a_session);
            let send = |client: &reqwest::Client| {
                let mut r = client.request(method.clone(), app.url(&path));
                if let Some(b) = &body {
                    r = r.json(b);
                }
                r.send()
            };

            // Anonymous: only public routes answer; the API says 401, a page goes to sign-in.
            let r = send(&anon).await.unwrap();
            let status = r.status().as_u16();
            match route.access {
                Access::Public => assert!(status < 500, "{} {path}: {status}", route.method),
                _ if (path.starts_with("/api/") && path != "/api/docs")
                    || path.starts_with("/v1/") =>
                {
                    assert_eq!(status, 401, "{} {path} must need sign-in", route.method);
                    let v: Value = r.json().await.unwrap();
                    assert_eq!(v["error"]["code"], "unauthenticated");
                }
                _ => {
                    assert_eq!(
                        status, 303,
                        "{} {path}: a page sends strangers to sign-in",
                        route.method
                    );
                    assert_eq!(r.headers()["location"], "/login");
                }
            }

            // As B, against A's ids and data.
            let r = send(&b.http).await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert!(
                status < 500,
                "{} {path} as B: {status} {text}",
                route.method
            );
            if route.access == Access::Admin && !path.starts_with("/api/") {
                assert_eq!(
                    status, 303,
                    "{} {path}: B is no admin, back to the dashboard",
                    route.method
                );
            } else if route.access == Access::Admin {
                assert_eq!(
                    status, 403,
                    "{} {path}: B is no admin: {text}",
                    route.method
                );
            } else if route.path.contains("{id}") {
                assert_eq!(
                    status, 404,
                    "{} {path}: A's id must look missing to B, not forbidden: {text}",
                    route.method
                );
            } else if route.path.contains("{date}") {
                // A date is not A's: B reads (404 until B writes one) and writes B's own
                // digest of that date; A's digest never shows (its id is a secret below).
                assert!(
                    status == 404 || status < 300,
                    "{} {path} as B: {status} {text}",
                    route.method
                );
            }
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{} {path} as B leaked {secret:?}: {text}",
                    route.method
                );
            }
        }

        let after = snapshot(&app, &a_session).await;
        assert_eq!(before, after, "nothing of A's changed");
        // And B still has only B's own.
        let r = b
            .http
            .get(app.url("/api/operations-chat/sessions"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(
            v["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["id"] != a_session.as_str())
        );
    }
);
