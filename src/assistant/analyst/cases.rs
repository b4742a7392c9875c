//! The analyst's table-driven test set: `tests/analyst/cases.txt` holds one case per line over
//! the datasets beside it, so adding a case is adding a line.
//!
//! A line is `dataset | question >> follow-up >> ... | check ; check ; ...`. Every question
//! but the last is answered first and fed back as history, the way a session does; the checks
//! are about the last answer:
//! - `+text`: the answer contains `text` (case-insensitive);
//! - `-text`: it does not;
//! - `@id`: the answer cites the item with that external id;
//! - `!id`: it does not.
//!
//! `OPSCHAT_CASES_SHOW=1 cargo test --lib analyst::cases -- --nocapture` prints every answer;
//! `OPSCHAT_CASES=/path/to/file` reads another case file.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use crate::assistant::HistoryMessage;
use crate::context::{OpsContext, OpsItems};
use crate::domain::{Delegation, DelegationNote, Digest, Role, Task};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/analyst");

/// A dataset: its operations and the moment the questions are asked.
struct Dataset {
    local_now: DateTime<FixedOffset>,
    tasks: Vec<Task>,
    delegations: Vec<Delegation>,
    notes: Vec<DelegationNote>,
    digest: Option<Digest>,
}

impl Dataset {
    fn context(&self) -> OpsContext {
        let items = OpsItems::new(
            self.local_now.date_naive(),
            self.tasks.clone(),
            self.delegations.clone(),
            self.digest.clone(),
            self.notes.clone(),
        );
        OpsContext::with_items(self.local_now, std::sync::Arc::new(items), None)
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn date(v: &Value, key: &str) -> Option<NaiveDate> {
    text(v, key).map(|s| s.parse().unwrap_or_else(|e| panic!("{key} {s:?}: {e}")))
}

fn instant(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    text(v, key).map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .unwrap_or_else(|e| panic!("{key} {s:?}: {e}"))
            .with_timezone(&Utc)
    })
}

fn word<T: std::str::FromStr>(v: &Value, key: &str, default: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let s = text(v, key).unwrap_or_else(|| default.to_string());
    s.parse().unwrap_or_else(|e| panic!("{key} {s:?}: {e:?}"))
}

fn load(name: &str) -> Dataset {
    let path = format!("{DIR}/{name}.json");
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{path}: {e}"));
    let local_now = DateTime::parse_from_rfc3339(doc["now"].as_str().expect("now"))
        .unwrap_or_else(|e| panic!("{path}: now: {e}"));
    let created = local_now.with_timezone(&Utc) - chrono::Days::new(7);
    let mut ids = HashMap::new();
    let mut id_of = |ext: &str| *ids.entry(ext.to_string()).or_insert_with(Uuid::new_v4);
    let list = |key: &str| doc[key].as_array().cloned().unwrap_or_default();
    let tasks = list("tasks")
        .iter()
        .map(|t| Task {
            id: id_of(t["id"].as_str().expect("task id")),
            external_id: text(t, "id"),
            title: text(t, "title").expect("title"),
            description: text(t, "description"),
            due_date: date(t, "due_date"),
            priority: word(t, "priority", "medium"),
            status: word(t, "status", "todo"),
            time_estimate_minutes: t["time_estimate_minutes"].as_i64().map(|m| m as i32),
            source: text(t, "source"),
            delegatable: t["delegatable"].as_bool().unwrap_or(false),
            quadrant: None,
            recurrence: None,
            series_id: None,
            previous_id: None,
            delegation_id: None,
            version: 1,
            completed_at: instant(t, "completed_at"),
            deleted_at: None,
            created_at: created,
            updated_at: created,
        })
        .collect();
    let delegations = list("delegations")
        .iter()
        .map(|d| Delegation {
            id: id_of(d["id"].as_str().expect("delegation id")),
            external_id: text(d, "id"),
            task_description: text(d, "task_description").expect("task_description"),
            assigned_to: text(d, "assigned_to").expect("assigned_to"),
            assigned_to_email: text(d, "assigned_to_email"),
            due_date: date(d, "due_date"),
            follow_up_date: date(d, "follow_up_date"),
            priority: word(d, "priority", "medium"),
            status: word(d, "status", "active"),
            task_id: None,
            last_followed_up_at: None,
            version: 1,
            completed_at: instant(d, "completed_at"),
            deleted_at: None,
            created_at: created,
            updated_at: created,
        })
        .collect();
    let notes = list("notes")
        .iter()
        .map(|n| DelegationNote {
            id: Uuid::new_v4(),
            delegation_id: id_of(n["delegation"].as_str().expect("note delegation")),
            body: text(n, "body").expect("note body"),
            author_id: "manager".into(),
            author_name: text(n, "author").unwrap_or_else(|| "Manager".into()),
            created_at: instant(n, "at").expect("note at"),
        })
        .collect();
    let digest = doc.get("digest").map(|g| Digest {
        id: id_of(g["id"].as_str().expect("digest id")),
        external_id: text(g, "id"),
        date: date(g, "date").expect("digest date"),
        text: text(g, "text").expect("digest text"),
        version: 1,
        updated_at: created,
    });
    Dataset {
        local_now,
        tasks,
        delegations,
        notes,
        digest,
    }
}

/// One line of the case file.
struct Case {
    line: usize,
    dataset: String,
    questions: Vec<String>,
    checks: Vec<String>,
}

fn cases() -> Vec<Case> {
    // OPSCHAT_CASES=other.txt tries a scratch file of cases (the count check still applies).
    let path = std::env::var("OPSCHAT_CASES").unwrap_or_else(|_| format!("{DIR}/cases.txt"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    raw.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let parts: Vec<&str> = l.split(" | ").collect();
            assert_eq!(
                parts.len(),
                3,
                "cases.txt:{}: want `dataset | questions | checks`",
                i + 1
            );
            let checks: Vec<String> = parts[2]
                .split(" ; ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            assert!(
                !checks.is_empty(),
                "cases.txt:{}: a case checks something",
                i + 1
            );
            Case {
                line: i + 1,
                dataset: parts[0].trim().to_string(),
                questions: parts[1]
                    .split(" >> ")
                    .map(|q| q.trim().to_string())
                    .collect(),
                checks,
            }
        })
        .collect()
}

/// Answers a case's questions in turn, feeding each answer back as history.
fn run(ctx: &OpsContext, questions: &[String]) -> (String, Vec<Option<String>>) {
    let mut history = Vec::new();
    let mut last = (String::new(), Vec::new());
    for q in questions {
        let (text, items) = super::answer(q, ctx, &history);
        history.push(HistoryMessage {
            role: Role::User,
            content: q.clone(),
        });
        history.push(HistoryMessage {
            role: Role::Assistant,
            content: text.clone(),
        });
        last = (text, items.into_iter().map(|i| i.external_id).collect());
    }
    last
}

fn failures(case: &Case, answer: &str, cited: &[Option<String>]) -> Vec<String> {
    let lower = answer.to_lowercase();
    let cites = |id: &str| cited.iter().any(|c| c.as_deref() == Some(id));
    case.checks
        .iter()
        .filter(|check| {
            let (op, arg) = check.split_at(1);
            match op {
                "+" => !lower.contains(&arg.to_lowercase()),
                "-" => lower.contains(&arg.to_lowercase()),
                "@" => !cites(arg),
                "!" => cites(arg),
                _ => panic!("cases.txt:{}: unknown check {check:?}", case.line),
            }
        })
        .cloned()
        .collect()
}

#[test]
fn the_case_file_passes() {
    let cases = cases();
    let mut datasets: HashMap<String, OpsContext> = HashMap::new();
    let show = std::env::var_os("OPSCHAT_CASES_SHOW").is_some();
    let mut failed = Vec::new();
    for case in &cases {
        let ctx = datasets
            .entry(case.dataset.clone())
            .or_insert_with(|| load(&case.dataset).context());
        let (answer, cited) = run(ctx, &case.questions);
        let wrong = failures(case, &answer, &cited);
        if show {
            println!(
                "--- {}: {}\n{answer}\n",
                case.line,
                case.questions.join(" >> ")
            );
        }
        if !wrong.is_empty() {
            failed.push(format!(
                "cases.txt:{} {:?} failed {wrong:?}; the answer was:\n{answer}\n",
                case.line, case.questions
            ));
        }
    }
    let kinds: Vec<&String> = datasets.keys().collect();
    assert!(
        datasets.len() >= 2,
        "the cases use one dataset only: {kinds:?}"
    );
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    assert!(cases.len() >= 150, "only {} cases", cases.len());
}

#[test]
fn the_same_question_gets_the_same_answer() {
    let ctx = load("bistro").context();
    for q in [
        "what's overdue and who do I chase?",
        "how's the week looking?",
    ] {
        let first = super::answer(q, &ctx, &[]);
        assert_eq!(first, super::answer(q, &ctx, &[]), "{q}");
    }
}

/// The understanding + answer step's speed over every case's questions: `bench/analyst.sh`.
#[test]
#[ignore = "a benchmark: bench/analyst.sh runs it"]
fn speed() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let mut datasets: HashMap<String, OpsContext> = HashMap::new();
    let mut samples = Vec::new();
    for case in cases() {
        let ctx = datasets
            .entry(case.dataset.clone())
            .or_insert_with(|| load(&case.dataset).context());
        let (last, earlier) = case.questions.split_last().expect("a question");
        let mut history = Vec::new();
        for q in earlier {
            let (text, _) = super::answer(q, ctx, &history);
            history.push(HistoryMessage {
                role: Role::User,
                content: q.clone(),
            });
            history.push(HistoryMessage {
                role: Role::Assistant,
                content: text,
            });
        }
        for _ in 0..rounds {
            let start = std::time::Instant::now();
            let out = super::answer(last, ctx, &history);
            samples.push(start.elapsed());
            std::hint::black_box(out);
        }
    }
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    let mean = samples.iter().sum::<std::time::Duration>() / samples.len() as u32;
    println!(
        "analyst: {} answers ({} questions x {rounds}): mean {:?}, p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        samples.len() / rounds,
        mean,
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
