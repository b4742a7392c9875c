//! Chat actions: changes to the workspace the assistant proposes and the manager confirms.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ItemKind, Priority, TaskStatus};

word_enum!(
    /// Where a proposed action stands. `applying` and `undoing` are held only while one
    /// confirm or undo runs, so a second one (another click, another tab) does nothing.
    ActionStatus, "action status", {
        Proposed => "proposed", Applying => "applying", Applied => "applied",
        Cancelled => "cancelled", Undoing => "undoing", Undone => "undone", Failed => "failed"
    }
);

/// What an action does, validated and resolved to the user's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionSpec {
    CreateTask {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_estimate_minutes: Option<i32>,
    },
    UpdateTask {
        task_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<TaskStatus>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_estimate_minutes: Option<i32>,
    },
    DelegateTask {
        task_id: Uuid,
        assigned_to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_date: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        follow_up_date: Option<NaiveDate>,
    },
    AddNote {
        delegation_id: Uuid,
        body: String,
    },
    /// Moves the follow-up, or clears it with `None`.
    SetFollowUp {
        delegation_id: Uuid,
        follow_up_date: Option<NaiveDate>,
    },
    CompleteDelegation {
        delegation_id: Uuid,
    },
    SetDigest {
        date: NaiveDate,
        text: String,
    },
}

impl ActionSpec {
    /// The item the action changes, when it changes an existing one.
    pub fn target(&self) -> Option<(ItemKind, Uuid)> {
        match self {
            ActionSpec::CreateTask { .. } | ActionSpec::SetDigest { .. } => None,
            ActionSpec::UpdateTask { task_id, .. } | ActionSpec::DelegateTask { task_id, .. } => {
                Some((ItemKind::Task, *task_id))
            }
            ActionSpec::AddNote { delegation_id, .. }
            | ActionSpec::SetFollowUp { delegation_id, .. }
            | ActionSpec::CompleteDelegation { delegation_id } => {
                Some((ItemKind::Delegation, *delegation_id))
            }
        }
    }
}

/// An action as stored with the reply that proposed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatAction {
    pub id: Uuid,
    pub session_id: Uuid,
    /// The assistant reply that proposed it.
    pub message_id: Uuid,
    pub spec: ActionSpec,
    /// What it does, naming the exact item: "Mark **Fix walk-in cooler door gasket** completed".
    pub summary: String,
    pub status: ActionStatus,
    /// The item before and after it was applied.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub error: Option<String>,
    pub proposed_at: DateTime<Utc>,
    /// Who confirmed or cancelled it, and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub undone_by: Option<String>,
    pub undone_at: Option<DateTime<Utc>>,
}
