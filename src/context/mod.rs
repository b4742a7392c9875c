//! The context of a turn: today's operations data (and what the client sent) turned into what
//! the model is told, plus the manifest of exactly which items that was.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::domain::{
    Delegation, DelegationNote, DelegationStatus, Digest, Due, Task, urgency_order,
};
use crate::store::{Store, StoreResult};

/// How many open tasks the prompt lists at most; the rest are summarised by count.
const MAX_PROMPT_TASKS: usize = 60;
/// How many client-supplied operations items the prompt lists at most.
const MAX_CLIENT_ITEMS: usize = 50;
/// How many notes of one delegation the prompt quotes (the latest).
const NOTES_PER_DELEGATION: usize = 3;
/// How many notes of open delegations are loaded at most.
const MAX_NOTES: i64 = 300;
/// The horizon of "deadlines coming up".
pub const UPCOMING_DAYS: i64 = 7;

/// What a turn's context is built from, as read for one owner and day.
struct OpsData {
    tasks: Vec<Task>,
    delegations: Vec<Delegation>,
    digest: Option<Digest>,
    notes: Vec<DelegationNote>,
}

impl OpsData {
    async fn read(store: &dyn Store, owner: &str, today: NaiveDate) -> StoreResult<Self> {
        let (tasks, delegations, digest, notes) = tokio::try_join!(
            store.tasks(owner, true),
            store.delegations(owner, false),
            store.digest_on_or_before(owner, today),
            store.recent_notes(owner, MAX_NOTES)
        )?;
        Ok(Self {
            tasks,
            delegations,
            digest,
            notes,
        })
    }
}

/// An owner's operations for one day, sorted for the prompt. Built once per workspace version
/// and day and shared by every turn that sees them: a turn, and an open stream, holds a
/// reference, not a copy.
#[derive(Debug, Default)]
pub struct OpsItems {
    /// Open tasks, most urgent first.
    pub open_tasks: Vec<Task>,
    /// Completed and cancelled tasks: never open work, but "when is X due" may name one.
    pub closed_tasks: Vec<Task>,
    /// Delegations that are not completed.
    pub delegations: Vec<Delegation>,
    /// The latest notes of open delegations, newest first.
    pub notes: Vec<DelegationNote>,
    pub digest: Option<Digest>,
}

impl OpsItems {
    /// Splits and sorts what was read; the order depends on `today` (what is overdue).
    pub fn new(
        today: NaiveDate,
        tasks: Vec<Task>,
        delegations: Vec<Delegation>,
        digest: Option<Digest>,
        notes: Vec<DelegationNote>,
    ) -> Self {
        let (mut open_tasks, closed_tasks): (Vec<_>, Vec<_>) =
            tasks.into_iter().partition(|t| t.status.is_open());
        open_tasks.sort_by(|a, b| urgency_order(a, b, today));
        let mut delegations: Vec<_> = delegations
            .into_iter()
            .filter(|d| d.status.is_open())
            .collect();
        delegations.sort_by(|a, b| {
            a.follow_up_date
                .or(a.due_date)
                .cmp(&b.follow_up_date.or(b.due_date))
                .then(b.priority.rank().cmp(&a.priority.rank()))
                .then_with(|| a.assigned_to.cmp(&b.assigned_to))
        });
        Self {
            open_tasks,
            closed_tasks,
            delegations,
            notes,
            digest,
        }
    }

    fn from_data(today: NaiveDate, data: OpsData) -> Self {
        Self::new(today, data.tasks, data.delegations, data.digest, data.notes)
    }
}

/// How many owners' operations data `OpsCache` keeps.
const OPS_CACHE_OWNERS: usize = 512;

/// The operations data of recent turns, per owner, with the workspace version and day it was
/// read for. An entry is used only when the version a turn has just read from the database is
/// the same, so a change made through any instance is seen by the next turn on every instance.
#[derive(Debug, Default)]
pub struct OpsCache {
    entries: Mutex<HashMap<String, CachedOps>>,
}

/// An owner's items with the workspace version and day they were read for.
type CachedOps = (i64, NaiveDate, Arc<OpsItems>);

impl OpsCache {
    fn get(&self, owner: &str, version: i64, today: NaiveDate) -> Option<Arc<OpsItems>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(owner) {
            Some((v, day, data)) if *v == version && *day == today => Some(data.clone()),
            _ => None,
        }
    }

    /// What was last loaded for `owner` on `today`, with the version it was loaded under.
    fn latest(&self, owner: &str, today: NaiveDate) -> Option<(i64, Arc<OpsItems>)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(owner) {
            Some((v, day, data)) if *day == today => Some((*v, data.clone())),
            _ => None,
        }
    }

    fn put(&self, owner: &str, version: i64, today: NaiveDate, data: Arc<OpsItems>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= OPS_CACHE_OWNERS && !entries.contains_key(owner) {
            // Full: forget the lot rather than track recency; it refills one turn per owner.
            entries.clear();
        }
        entries.insert(owner.to_string(), (version, today, data));
    }
}

/// A reference to an operations item an answer drew on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRef {
    /// `task`, `delegation` or `digest`.
    pub kind: &'static str,
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
}

impl ItemRef {
    pub fn task(t: &Task) -> Self {
        Self {
            kind: "task",
            id: t.id,
            external_id: t.external_id.clone(),
            title: t.title.clone(),
        }
    }
    pub fn delegation(d: &Delegation) -> Self {
        Self {
            kind: "delegation",
            id: d.id,
            external_id: d.external_id.clone(),
            title: format!("{} ({})", d.task_description, d.assigned_to),
        }
    }
    pub fn digest(d: &Digest) -> Self {
        Self {
            kind: "digest",
            id: d.id,
            external_id: d.external_id.clone(),
            title: format!("Daily digest {}", d.date),
        }
    }
}

/// What the client sent as `context`, in the original's shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientContext {
    pub daily_digest: Option<String>,
    /// (what, priority) of each operations item, as the original read `action` and `priority`.
    pub operations: Vec<(String, Option<String>)>,
}

impl ClientContext {
    /// Reads the original's `{"dailyDigest": str, "operations": [...]}`; other keys are ignored.
    /// Errors name what is wrong so the client can fix it.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("context must be a JSON object")?;
        let daily_digest = match obj.get("dailyDigest") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Some(_) => return Err("context.dailyDigest must be a string".into()),
        };
        let operations = match obj.get("operations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let text = ["action", "title", "task", "description"]
                        .iter()
                        .find_map(|k| item.get(*k).and_then(Value::as_str))
                        .or_else(|| item.as_str())?;
                    let priority = item
                        .get("priority")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    Some((text.trim().to_string(), priority))
                })
                .filter(|(t, _)| !t.is_empty())
                .collect(),
            Some(_) => return Err("context.operations must be an array".into()),
        };
        Ok(Self {
            daily_digest,
            operations,
        })
    }

    fn is_empty(&self) -> bool {
        self.daily_digest.is_none() && self.operations.is_empty()
    }
}

/// Today's operations as one turn sees them. The items are shared (`OpsItems`, reached
/// through `Deref`: `ctx.open_tasks`); what is the turn's own is the moment and the client's
/// context.
#[derive(Debug, Clone)]
pub struct OpsContext {
    pub now: DateTime<Utc>,
    pub local_now: DateTime<FixedOffset>,
    pub today: NaiveDate,
    pub items: Arc<OpsItems>,
    pub client: Option<ClientContext>,
}

impl std::ops::Deref for OpsContext {
    type Target = OpsItems;
    fn deref(&self) -> &OpsItems {
        &self.items
    }
}

impl OpsContext {
    /// Loads the owner's data for the day `local_now` falls on.
    pub async fn load(
        store: &dyn Store,
        owner: &str,
        local_now: DateTime<FixedOffset>,
        client: Option<ClientContext>,
    ) -> StoreResult<Self> {
        let today = local_now.date_naive();
        let data = OpsData::read(store, owner, today).await?;
        let items = Arc::new(OpsItems::from_data(today, data));
        Ok(Self::with_items(local_now, items, client))
    }

    /// Loads the owner's data for the day `local_now` falls on, or reuses what `cache` loaded
    /// earlier for the same workspace `version` and day (read by the caller *before* this, so
    /// data loaded now is at least as new as the version it is remembered under).
    pub async fn load_cached(
        cache: &OpsCache,
        store: &dyn Store,
        owner: &str,
        version: i64,
        local_now: DateTime<FixedOffset>,
        client: Option<ClientContext>,
    ) -> StoreResult<Self> {
        let today = local_now.date_naive();
        let items = match cache.get(owner, version, today) {
            Some(items) => items,
            None => {
                let data = OpsData::read(store, owner, today).await?;
                let items = Arc::new(OpsItems::from_data(today, data));
                cache.put(owner, version, today, items.clone());
                items
            }
        };
        Ok(Self::with_items(local_now, items, client))
    }

    /// The owner's data for the day `local_now` falls on as `cache` last loaded it, with the
    /// workspace version it was loaded under, without reading anything: for a write that
    /// checks the version itself (`Store::start_session_at`).
    pub fn cached(
        cache: &OpsCache,
        owner: &str,
        local_now: DateTime<FixedOffset>,
        client: Option<ClientContext>,
    ) -> Option<(i64, Self)> {
        let (version, items) = cache.latest(owner, local_now.date_naive())?;
        Some((version, Self::with_items(local_now, items, client)))
    }

    /// A context of items already derived for the day `local_now` falls on.
    pub fn with_items(
        local_now: DateTime<FixedOffset>,
        items: Arc<OpsItems>,
        client: Option<ClientContext>,
    ) -> Self {
        Self {
            now: local_now.with_timezone(&Utc),
            local_now,
            today: local_now.date_naive(),
            items,
            client: client.filter(|c| !c.is_empty()),
        }
    }

    /// A delegation's latest notes, newest first.
    pub fn notes_of(&self, delegation: uuid::Uuid) -> impl Iterator<Item = &DelegationNote> {
        self.notes
            .iter()
            .filter(move |n| n.delegation_id == delegation)
            .take(NOTES_PER_DELEGATION)
    }

    /// The open delegation a task was handed over in.
    pub fn delegation_of(&self, task: &Task) -> Option<&Delegation> {
        let id = task.delegation_id?;
        self.delegations.iter().find(|d| d.id == id)
    }

    /// Open tasks due before today.
    pub fn overdue(&self) -> impl Iterator<Item = &Task> {
        self.open_tasks
            .iter()
            .filter(move |t| t.due_date.is_some_and(|d| d < self.today))
    }

    /// Open tasks due today.
    pub fn due_today(&self) -> impl Iterator<Item = &Task> {
        self.open_tasks
            .iter()
            .filter(move |t| t.due_date == Some(self.today))
    }

    /// Open tasks due from today through the next `UPCOMING_DAYS` days, by date.
    pub fn deadlines(&self) -> Vec<&Task> {
        let horizon = self.today + chrono::Days::new(UPCOMING_DAYS as u64);
        let mut v: Vec<_> = self
            .open_tasks
            .iter()
            .filter(|t| t.due_date.is_some_and(|d| d >= self.today && d <= horizon))
            .collect();
        v.sort_by(|a, b| {
            a.due_date
                .cmp(&b.due_date)
                .then(b.priority.rank().cmp(&a.priority.rank()))
        });
        v
    }

    /// Delegations whose follow-up date (or, lacking one, due date) is today or earlier, and
    /// that are not parked on hold.
    pub fn follow_ups_due(&self) -> impl Iterator<Item = &Delegation> {
        self.delegations.iter().filter(move |d| {
            d.status != DelegationStatus::OnHold
                && d.follow_up_date
                    .or(d.due_date)
                    .is_some_and(|f| f <= self.today)
        })
    }

    /// Delegations in progress (planning or active).
    pub fn active_delegations(&self) -> impl Iterator<Item = &Delegation> {
        self.delegations.iter().filter(|d| {
            matches!(
                d.status,
                DelegationStatus::Active | DelegationStatus::Planning
            )
        })
    }

    /// The tasks the prompt lists (the most urgent, capped).
    pub fn prompt_tasks(&self) -> &[Task] {
        &self.open_tasks[..self.open_tasks.len().min(MAX_PROMPT_TASKS)]
    }

    /// The operations data as the model reads it.
    pub fn prompt_text(&self) -> String {
        let mut s = String::with_capacity(4096);
        let _ = writeln!(
            s,
            "Now: {} (UTC{}).",
            self.local_now.format("%A %-d %B %Y, %H:%M"),
            self.local_now.format("%:z")
        );
        let overdue = self.overdue().count();
        let today = self.due_today().count();
        let _ = writeln!(
            s,
            "\nOPEN TASKS, most urgent first ({} open: {overdue} overdue, {today} due today):",
            self.open_tasks.len()
        );
        if self.open_tasks.is_empty() {
            s.push_str("- none\n");
        }
        for (i, t) in self.prompt_tasks().iter().enumerate() {
            let _ = write!(s, "- [T{}] {} [{}]", i + 1, t.title, t.priority);
            if let Some(due) = t.due(self.today) {
                let _ = write!(
                    s,
                    ", due {} ({})",
                    t.due_date.map(|d| d.to_string()).unwrap_or_default(),
                    due.describe()
                );
            }
            if t.status == crate::domain::TaskStatus::InProgress {
                s.push_str(", in progress");
            }
            if let Some(m) = t.time_estimate_minutes {
                let _ = write!(s, ", est. {m} min");
            }
            if let Some(d) = self.delegation_of(t) {
                let _ = write!(s, ", delegated to {}", d.assigned_to);
            } else if t.delegatable {
                s.push_str(", delegatable");
            }
            if let Some(r) = &t.recurrence {
                let _ = write!(s, ", repeats {}", r.describe());
            }
            if let Some(q) = t.quadrant {
                let _ = write!(s, ", quadrant: {q}");
            }
            if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
                let _ = write!(s, ". {}", one_line(d, 200));
            }
            s.push('\n');
        }
        if self.open_tasks.len() > MAX_PROMPT_TASKS {
            let _ = writeln!(
                s,
                "- (+{} lower-priority open tasks not listed)",
                self.open_tasks.len() - MAX_PROMPT_TASKS
            );
        }
        let _ = writeln!(
            s,
            "\nDELEGATED WORK ({} not completed):",
            self.delegations.len()
        );
        if self.delegations.is_empty() {
            s.push_str("- none\n");
        }
        for (i, d) in self.delegations.iter().enumerate() {
            let _ = write!(
                s,
                "- [D{}] {} -> {}",
                i + 1,
                d.task_description,
                d.assigned_to
            );
            if let Some(e) = &d.assigned_to_email {
                let _ = write!(s, " <{e}>");
            }
            let _ = write!(s, " [{}, {}]", d.priority, d.status);
            if let Some(f) = d.follow_up_date {
                let _ = write!(
                    s,
                    ", follow up {f} ({})",
                    Due::of(f, self.today).describe().replace("due ", "")
                );
            }
            if let Some(due) = d.due_date {
                let _ = write!(s, ", due {due}");
            }
            if let Some(at) = d.last_followed_up_at {
                let _ = write!(
                    s,
                    ", last followed up {}",
                    at.with_timezone(self.local_now.offset()).format("%Y-%m-%d")
                );
            }
            s.push('\n');
            for n in self.notes_of(d.id) {
                let _ = writeln!(
                    s,
                    "  - note {}: {}",
                    n.created_at
                        .with_timezone(self.local_now.offset())
                        .format("%Y-%m-%d"),
                    one_line(&n.body, 300)
                );
            }
        }
        match &self.digest {
            Some(d) => {
                let label = if d.date == self.today {
                    "TODAY'S DIGEST".to_string()
                } else {
                    format!("LATEST DIGEST ({})", d.date)
                };
                let _ = writeln!(s, "\n{label}:\n{}", d.text.trim());
            }
            None => s.push_str("\nNo daily digest on file.\n"),
        }
        if let Some(c) = &self.client {
            s.push_str("\nFROM THE DASHBOARD:\n");
            if let Some(d) = &c.daily_digest {
                let _ = writeln!(s, "Digest: {}", d);
            }
            for (what, prio) in c.operations.iter().take(MAX_CLIENT_ITEMS) {
                match prio {
                    Some(p) => {
                        let _ = writeln!(s, "- {what} [{p}]");
                    }
                    None => {
                        let _ = writeln!(s, "- {what}");
                    }
                }
            }
        }
        s
    }

    /// Every item the prompt names.
    pub fn prompt_items(&self) -> Vec<ItemRef> {
        let mut v: Vec<ItemRef> = self.prompt_tasks().iter().map(ItemRef::task).collect();
        v.extend(self.delegations.iter().map(ItemRef::delegation));
        v.extend(self.digest.iter().map(ItemRef::digest));
        v
    }

    /// The items whose titles an answer mentions: how a model's answer is traced to the data.
    pub fn items_mentioned_in(&self, answer: &str) -> Vec<ItemRef> {
        let hay = answer.to_lowercase();
        let mut v: Vec<ItemRef> = self
            .open_tasks
            .iter()
            .chain(self.closed_tasks.iter())
            .filter(|t| hay.contains(&t.title.to_lowercase()))
            .map(ItemRef::task)
            .collect();
        v.extend(
            self.delegations
                .iter()
                .filter(|d| hay.contains(&d.task_description.to_lowercase()))
                .map(ItemRef::delegation),
        );
        v
    }

    /// A compact summary of the day, stored as a session's `context_snapshot`.
    pub fn snapshot(&self) -> Value {
        json!({
            "as_of": self.now,
            "today": self.today,
            "open_tasks": self.open_tasks.len(),
            "overdue": self.overdue().map(|t| t.id).collect::<Vec<_>>(),
            "due_today": self.due_today().map(|t| t.id).collect::<Vec<_>>(),
            "deadlines_next_7_days": self.deadlines().iter().map(|t| t.id).collect::<Vec<_>>(),
            "follow_ups_due": self.follow_ups_due().map(|d| d.id).collect::<Vec<_>>(),
            "active_delegations": self.active_delegations().count(),
            "digest_date": self.digest.as_ref().map(|d| d.date),
            "client_context": self.client.is_some(),
        })
    }

    /// The manifest stored as a reply's `context_used`: exactly what the model was given.
    pub fn manifest(&self, history_ids: &[Uuid], history_tokens: i32) -> Value {
        let tasks: Vec<_> = self.prompt_tasks().iter().map(|t| t.id).collect();
        let delegations: Vec<_> = self.delegations.iter().map(|d| d.id).collect();
        json!({
            "as_of": self.now,
            "today": self.today,
            "tasks": tasks,
            "delegations": delegations,
            "digest": self.digest.as_ref().map(|d| json!({"id": d.id, "date": d.date})),
            "client_context": self.client.as_ref().map(|c| json!({
                "daily_digest": c.daily_digest.is_some(),
                "operations": c.operations.len().min(MAX_CLIENT_ITEMS),
            })),
            "history": history_ids,
            "history_tokens": history_tokens,
        })
    }
}

/// Folds whitespace and cuts at `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let folded = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max {
        folded
    } else {
        let mut cut: String = folded.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn turns_of_one_version_and_day_share_one_copy_of_the_items() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("ops.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let cache = OpsCache::default();
        let now = DateTime::parse_from_rfc3339("2026-12-05T09:00:00+01:00").unwrap();
        let load =
            |version, at| OpsContext::load_cached(&cache, store.as_ref(), "u:1", version, at, None);
        let first = load(1, now).await.unwrap();
        let again = load(1, now).await.unwrap();
        assert!(Arc::ptr_eq(&first.items, &again.items));
        let changed = load(2, now).await.unwrap();
        assert!(!Arc::ptr_eq(&first.items, &changed.items));
        let (version, cached) = OpsContext::cached(&cache, "u:1", now, None).unwrap();
        assert_eq!(version, 2);
        assert!(Arc::ptr_eq(&cached.items, &changed.items));
        // Another day sorts what is overdue differently: read again, never shared.
        let tomorrow = now + chrono::Days::new(1);
        assert!(OpsContext::cached(&cache, "u:1", tomorrow, None).is_none());
        let next_day = load(2, tomorrow).await.unwrap();
        assert!(!Arc::ptr_eq(&next_day.items, &changed.items));
    }

    #[test]
    fn client_context_reads_the_original_shape() {
        let c = ClientContext::from_json(&json!({
            "dailyDigest": " Busy day ",
            "operations": [{"action": "Call Sysco", "priority": "urgent"}, {"title": "Fix door"}, {"x": 1}]
        }))
        .unwrap();
        assert_eq!(c.daily_digest.as_deref(), Some("Busy day"));
        assert_eq!(
            c.operations,
            vec![
                ("Call Sysco".into(), Some("urgent".into())),
                ("Fix door".into(), None)
            ]
        );
        assert!(ClientContext::from_json(&json!("text")).is_err());
        assert!(ClientContext::from_json(&json!({"operations": 3})).is_err());
    }
}
