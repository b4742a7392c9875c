//! The operations import document: parsed and validated whole before anything is written.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;

use crate::domain::{DelegationStatus, Priority, TaskStatus};
use crate::store::{DelegationInput, DigestInput, OpsBatch, TaskInput};

/// The most problems one failed import reports.
const MAX_PROBLEMS: usize = 20;

/// Why a document cannot be imported: every problem found, each naming its record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct ImportError {
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    tasks: Vec<Value>,
    #[serde(default)]
    delegations: Vec<Value>,
    #[serde(default)]
    digests: Vec<Value>,
}

/// Parses and validates an import document.
pub fn parse(json: &str) -> Result<OpsBatch, ImportError> {
    let value: Value = serde_json::from_str(json).map_err(|e| ImportError {
        problems: vec![format!("not valid JSON: {e}")],
    })?;
    validate(value)
}

/// Validates an already parsed import document.
pub fn validate(value: Value) -> Result<OpsBatch, ImportError> {
    let doc: Document = serde_json::from_value(value).map_err(|e| ImportError {
        problems: vec![format!("the document must be an object with \"tasks\", \"delegations\" and \"digests\" arrays: {e}")],
    })?;
    let mut v = Validator::default();
    let mut batch = OpsBatch::default();
    let mut seen = HashSet::new();
    for (i, rec) in doc.tasks.iter().enumerate() {
        let at = v.record("tasks", i, rec);
        if let Some(t) = v.task(&at, rec, &mut seen) {
            batch.tasks.push(t);
        }
    }
    seen.clear();
    for (i, rec) in doc.delegations.iter().enumerate() {
        let at = v.record("delegations", i, rec);
        if let Some(d) = v.delegation(&at, rec, &mut seen) {
            batch.delegations.push(d);
        }
    }
    seen.clear();
    for (i, rec) in doc.digests.iter().enumerate() {
        let at = v.record("digests", i, rec);
        if let Some(g) = v.digest(&at, rec, &mut seen) {
            batch.digests.push(g);
        }
    }
    if v.problems.is_empty() {
        Ok(batch)
    } else {
        if v.problems.len() > MAX_PROBLEMS {
            let more = v.problems.len() - MAX_PROBLEMS;
            v.problems.truncate(MAX_PROBLEMS);
            v.problems.push(format!("and {more} more problems"));
        }
        Err(ImportError {
            problems: v.problems,
        })
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<String>,
}

impl Validator {
    /// "tasks[3] (id \"t-9\")": how a record is named in errors.
    fn record(&self, kind: &str, i: usize, rec: &Value) -> String {
        match rec.get("id").and_then(id_text) {
            Some(id) => format!("{kind}[{i}] (id {id:?})"),
            None => format!("{kind}[{i}]"),
        }
    }

    fn fail(&mut self, at: &str, msg: impl std::fmt::Display) {
        self.problems.push(format!("{at}: {msg}"));
    }

    fn object<'a>(
        &mut self,
        at: &str,
        rec: &'a Value,
    ) -> Option<&'a serde_json::Map<String, Value>> {
        let o = rec.as_object();
        if o.is_none() {
            self.fail(at, "must be an object");
        }
        o
    }

    fn text(
        &mut self,
        at: &str,
        o: &serde_json::Map<String, Value>,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match o.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(at, format!("{key} is required"));
                }
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                if required {
                    self.fail(at, format!("{key} must not be empty"));
                }
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => {
                self.fail(at, format!("{key} must be a string"));
                None
            }
        }
    }

    fn date(
        &mut self,
        at: &str,
        o: &serde_json::Map<String, Value>,
        key: &str,
    ) -> Option<NaiveDate> {
        let s = self.text(at, o, key, false)?;
        // Accept a full timestamp too, keeping its date: exports often carry one.
        let day = s.get(..10).unwrap_or(&s);
        match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d)
                if s.len() == 10
                    || s.as_bytes()
                        .get(10)
                        .is_some_and(|b| *b == b'T' || *b == b' ') =>
            {
                Some(d)
            }
            _ => {
                self.fail(at, format!("{key} {s:?} is not a date (YYYY-MM-DD)"));
                None
            }
        }
    }

    fn word<T: std::str::FromStr<Err = crate::domain::UnknownValue>>(
        &mut self,
        at: &str,
        o: &serde_json::Map<String, Value>,
        key: &str,
        default: T,
    ) -> T {
        match self.text(at, o, key, false) {
            None => default,
            Some(s) => s.parse().unwrap_or_else(|e| {
                self.fail(at, e);
                default
            }),
        }
    }

    fn external_id(
        &mut self,
        at: &str,
        o: &serde_json::Map<String, Value>,
        seen: &mut HashSet<String>,
    ) -> Option<String> {
        let id = match o.get("id") {
            None | Some(Value::Null) => return None,
            Some(v) => match id_text(v) {
                Some(s) => s,
                None => {
                    self.fail(at, "id must be a non-empty string or a number");
                    return None;
                }
            },
        };
        if !seen.insert(id.clone()) {
            self.fail(at, format!("id {id:?} appears more than once in this file"));
        }
        Some(id)
    }

    fn task(&mut self, at: &str, rec: &Value, seen: &mut HashSet<String>) -> Option<TaskInput> {
        let o = self.object(at, rec)?;
        let before = self.problems.len();
        let external_id = self.external_id(at, o, seen);
        let title = self.text(at, o, "title", true);
        let description = self.text(at, o, "description", false);
        let due_date = self.date(at, o, "due_date");
        let priority = self.word(at, o, "priority", Priority::Medium);
        let status = self.word(at, o, "status", TaskStatus::Todo);
        let time_estimate_minutes = match o.get("time_estimate_minutes") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(m) if (1..=10_080).contains(&m) => i32::try_from(m).ok(),
                _ => {
                    self.fail(at, format!("time_estimate_minutes {v} must be a whole number of minutes from 1 to 10080"));
                    None
                }
            },
        };
        let source = self.text(at, o, "source", false);
        let delegatable = match o.get("delegatable") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.fail(at, format!("delegatable {v} must be true or false"));
                false
            }
        };
        (self.problems.len() == before).then_some(TaskInput {
            external_id,
            title: title?,
            description,
            due_date,
            priority,
            status,
            time_estimate_minutes,
            source,
            delegatable,
        })
    }

    fn delegation(
        &mut self,
        at: &str,
        rec: &Value,
        seen: &mut HashSet<String>,
    ) -> Option<DelegationInput> {
        let o = self.object(at, rec)?;
        let before = self.problems.len();
        let external_id = self.external_id(at, o, seen);
        let task_description = self.text(at, o, "task_description", true);
        let assigned_to = self.text(at, o, "assigned_to", true);
        let assigned_to_email = self.text(at, o, "assigned_to_email", false);
        if let Some(e) = &assigned_to_email
            && !e.contains('@')
        {
            self.fail(
                at,
                format!("assigned_to_email {e:?} is not an email address"),
            );
        }
        let due_date = self.date(at, o, "due_date");
        let follow_up_date = self.date(at, o, "follow_up_date");
        let priority = self.word(at, o, "priority", Priority::Medium);
        let status = self.word(at, o, "status", DelegationStatus::Active);
        (self.problems.len() == before).then_some(DelegationInput {
            external_id,
            task_description: task_description?,
            assigned_to: assigned_to?,
            assigned_to_email,
            due_date,
            follow_up_date,
            priority,
            status,
        })
    }

    fn digest(&mut self, at: &str, rec: &Value, seen: &mut HashSet<String>) -> Option<DigestInput> {
        let o = self.object(at, rec)?;
        let before = self.problems.len();
        let external_id = self.external_id(at, o, &mut HashSet::new());
        let date = self.date(at, o, "date");
        if o.get("date").is_none_or(Value::is_null) {
            self.fail(at, "date is required");
        }
        if let Some(d) = date
            && !seen.insert(d.to_string())
        {
            self.fail(
                at,
                format!("a digest for {d} appears more than once in this file"),
            );
        }
        let text = self.text(at, o, "text", true);
        (self.problems.len() == before).then_some(DigestInput {
            external_id,
            date: date?,
            text: text?,
        })
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_document_parses() {
        let b = parse(r#"{"tasks":[{"id":7,"title":"Fix door","due_date":"2026-11-24","priority":"urgent","status":"in_progress","time_estimate_minutes":45,"delegatable":true}],
            "delegations":[{"id":"d1","task_description":"Count stock","assigned_to":"Marcus","assigned_to_email":"m@x.com","follow_up_date":"2026-11-24T09:00:00Z","status":"on_hold"}],
            "digests":[{"date":"2026-11-24","text":"Busy"}]}"#).unwrap();
        assert_eq!(b.tasks[0].external_id.as_deref(), Some("7"));
        assert_eq!(b.tasks[0].status, TaskStatus::InProgress);
        assert_eq!(b.delegations[0].status, DelegationStatus::OnHold);
        assert_eq!(b.digests.len(), 1);
    }

    #[test]
    fn every_problem_is_named() {
        let e = parse(r#"{"tasks":[{"id":"t1","title":"ok"},{"id":"t2","title":"x","priority":"asap"},{"id":"t3","title":"y","due_date":"24/11/2026"},{"id":"t1","title":"dup"}],
            "delegations":[{"task_description":"z"}]}"#).unwrap_err();
        let all = e.to_string();
        assert!(
            all.contains(r#"tasks[1] (id "t2"): unknown priority "asap""#),
            "{all}"
        );
        assert!(
            all.contains(r#"tasks[2] (id "t3"): due_date "24/11/2026" is not a date"#),
            "{all}"
        );
        assert!(all.contains("appears more than once"), "{all}");
        assert!(
            all.contains("delegations[0]: assigned_to is required"),
            "{all}"
        );
        assert!(parse("[1,2]").is_err());
        assert!(parse(r#"{"task":[]}"#).is_err());
    }
}
