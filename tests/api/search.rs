//! Full-text search over a user's conversations, the same cases on both databases.

use crate::both;
use crate::support::{TestApp, TestDb, config};
use serde_json::{Value, json};

async fn search(app: &TestApp, query: &str) -> Value {
    let (s, v) = app
        .get(&format!("/api/operations-chat/search?{query}"))
        .await;
    assert_eq!(s, 200, "{query}: {v}");
    v
}

fn contents(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["snippet"].as_str().unwrap().to_string())
        .collect()
}

fn q(s: &str) -> String {
    format!("q={}", urlencode(s))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

both!(
    search_ranks_matches_phrases_exclusions_stems_prefixes_and_filters,
    |db: TestDb| async move {
        let app = TestApp::start(config(&db.url), false).await;
        app.import_fixture().await;
        let first = app
            .ask(
                "Is the walk-in cooler door fixed? The cooler matters most.",
                None,
            )
            .await;
        let s1 = first["session_id"].as_str().unwrap().to_string();
        app.ask("What about the door of the cooler in the bar?", Some(&s1))
            .await;
        let second = app
            .ask("Should I be delegating the fryer filters?", None)
            .await;
        let s2 = second["session_id"].as_str().unwrap().to_string();
        app.ask("When is the HVAC invoice due?", Some(&s2)).await;
        app.ask("Remember the <b>gasket</b> & the hood vents", Some(&s2))
            .await;

        // Words, ranked: the message that says "cooler" twice first.
        let v = search(&app, &format!("{}&role=user", q("cooler "))).await;
        let found = contents(&v);
        assert_eq!(v["total"], 2, "{v}");
        assert!(found[0].contains("walk-in cooler door fixed"), "{found:?}");
        assert_eq!(v["results"][0]["seq"], 1);
        assert_eq!(v["results"][0]["session_id"], s1.as_str());
        assert!(
            v["results"][0]["snippet_html"]
                .as_str()
                .unwrap()
                .contains("<mark>cooler</mark>"),
            "{v}"
        );
        // A phrase: adjacent words only.
        let v = search(&app, &format!("{}&role=user", q("\"cooler door\""))).await;
        assert_eq!(contents(&v).len(), 1, "{v}");
        assert!(contents(&v)[0].contains("walk-in"), "{v}");
        // Phrases with stop words inside, with a hyphenated word, of three words, stemmed, and
        // among alternatives (PostgreSQL narrows phrases by word pairs first: none lost).
        // (PostgreSQL lets any stop word fill a stop word's place: "door of the cooler" also
        // matches "cooler door fixed? The cooler" there.)
        let v = search(&app, &format!("{}&role=user", q("\"door of the cooler\""))).await;
        assert!(
            contents(&v)
                .iter()
                .any(|c| c.contains("door of the cooler")),
            "{v}"
        );
        for (phrase, expected) in [
            ("\"walk-in cooler door\"", "walk-in"),
            ("\"walk in cooler\"", "walk-in"),
            ("\"cooler doors\" ", "walk-in"),
            ("\"fryer filters\" or \"door cooler\" ", "fryer"),
            ("\"the cooler matters\" -bar ", "walk-in"),
        ] {
            let v = search(&app, &format!("{}&role=user", q(phrase))).await;
            assert_eq!(contents(&v).len(), 1, "{phrase}: {v}");
            assert!(contents(&v)[0].contains(expected), "{phrase}: {v}");
        }
        let v = search(&app, &format!("{}&role=user", q("\"door cooler\" "))).await;
        assert_eq!(v["total"], 0, "{v}");
        // Exclusion.
        let v = search(&app, &format!("{}&role=user", q("cooler -bar "))).await;
        assert_eq!(contents(&v).len(), 1);
        assert!(contents(&v)[0].contains("walk-in"));
        // Stemming: "delegate" finds "delegating".
        let v = search(&app, &format!("{}&role=user", q("delegate "))).await;
        assert_eq!(contents(&v).len(), 1, "{v}");
        // Prefix on the last word while typing.
        let v = search(&app, &format!("{}&role=user", q("hvac invo"))).await;
        assert_eq!(contents(&v).len(), 1, "{v}");
        // Either word.
        let v = search(&app, &format!("{}&role=user", q("fryer or hvac "))).await;
        assert_eq!(contents(&v).len(), 2, "{v}");
        // Assistant answers are searchable too, and the model filter narrows them.
        let v = search(
            &app,
            &format!("{}&role=assistant&model=opschat-local", q("gasket ")),
        )
        .await;
        assert!(v["total"].as_i64().unwrap() >= 1, "{v}");
        assert!(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["role"] == "assistant")
        );
        let v = search(&app, &format!("{}&model=gpt-4o", q("gasket "))).await;
        assert_eq!(v["total"], 0);
        // Text is escaped in the snippet; matches are marked.
        let v = search(&app, &format!("{}&role=user", q("hood "))).await;
        let html = v["results"][0]["snippet_html"].as_str().unwrap();
        // (PostgreSQL's headline drops markup tags; SQLite keeps them as text: both are safe.)
        assert!(html.contains("&amp; the <mark>hood</mark>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        // Dates: everything is on 2026-11-24 here.
        let v = search(
            &app,
            &format!("{}&from=2026-11-24&to=2026-11-24", q("cooler ")),
        )
        .await;
        assert!(v["total"].as_i64().unwrap() >= 2);
        let v = search(&app, &format!("{}&from=2026-11-25", q("cooler "))).await;
        assert_eq!(v["total"], 0);
        // Paging.
        let v = search(&app, &format!("{}&limit=1", q("cooler "))).await;
        assert_eq!(v["results"].as_array().unwrap().len(), 1);
        assert_eq!(v["next_offset"], 1);
        let all = search(&app, &q("cooler ")).await;
        let second = search(&app, &format!("{}&limit=1&offset=1", q("cooler "))).await;
        assert_eq!(
            second["results"][0], all["results"][1],
            "page two goes on from page one"
        );
        assert_eq!(second["total"], all["total"]);
        let past = search(&app, &format!("{}&offset=50", q("cooler "))).await;
        assert_eq!(past["results"].as_array().unwrap().len(), 0);
        assert_eq!(
            past["total"], all["total"],
            "a page past the end still has the total"
        );

        // Titles, and archived sessions only when asked.
        let (s, _) = app
            .patch(
                &format!("/api/operations-chat/sessions/{s2}"),
                &json!({"title": "Kitchen repair questions", "is_active": false}),
            )
            .await;
        assert_eq!(s, 200);
        let v = search(&app, &q("repair ")).await;
        assert_eq!(v["sessions"].as_array().unwrap().len(), 0, "archived: {v}");
        let v = search(&app, &format!("{}&include_archived=true", q("repair "))).await;
        assert_eq!(v["sessions"][0]["title"], "Kitchen repair questions");
        let v = search(&app, &format!("{}&role=user", q("fryer "))).await;
        assert_eq!(
            v["total"], 0,
            "an archived session's messages are left out by default"
        );
        let v = search(
            &app,
            &format!("{}&role=user&include_archived=true", q("fryer ")),
        )
        .await;
        assert_eq!(v["total"], 1);
        assert_eq!(v["results"][0]["session_archived"], true);

        // Another user finds none of it.
        let bob = app.add_user("bob").await;
        let r: Value = bob
            .http
            .get(app.url(&format!(
                "/api/operations-chat/search?{}&include_archived=true",
                q("cooler")
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["total"], 0, "{r}");
        assert_eq!(r["sessions"].as_array().unwrap().len(), 0);

        // Bad input.
        for bad in [
            "q=",
            "q=-only",
            "q=x&limit=0",
            "q=x&role=robot",
            "q=x&from=yesterday",
            "q=x&offset=-1",
            "q=x&colour=red",
        ] {
            let (s, e) = app.get(&format!("/api/operations-chat/search?{bad}")).await;
            assert_eq!(s, 400, "{bad}: {e}");
        }
    }
);
