//! The actions a model may propose, as Chat Completions tool definitions (JSON Schema), and
//! the calls it makes. A call is only a proposal: `chat::actions` validates it against the
//! user's data, and nothing changes until the manager confirms.

use serde_json::{Value, json};

/// A tool call as the model made it (name and raw JSON arguments), not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}

/// Accumulates streamed `tool_calls` deltas (by index; name and argument text arrive in
/// pieces) into whole calls.
#[derive(Debug, Default)]
pub struct ToolCallParts {
    calls: Vec<(String, String)>,
}

impl ToolCallParts {
    pub fn push(&mut self, index: usize, name: Option<&str>, arguments: Option<&str>) {
        // A model server may send any index; more than a few dozen calls is not a plan.
        if index >= 64 {
            return;
        }
        if self.calls.len() <= index {
            self.calls.resize(index + 1, (String::new(), String::new()));
        }
        if let Some(n) = name {
            self.calls[index].0.push_str(n);
        }
        if let Some(a) = arguments {
            self.calls[index].1.push_str(a);
        }
    }

    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .filter(|(n, _)| !n.is_empty())
            .map(|(name, arguments)| ToolCall { name, arguments })
            .collect()
    }
}

const DATE: &str = "a date, YYYY-MM-DD";

fn task_ref() -> Value {
    json!({"type": "string", "description": "the task: its reference from the data (T1, T2, ...) or its exact title"})
}

fn delegation_ref() -> Value {
    json!({"type": "string", "description": "the delegation: its reference from the data (D1, D2, ...), its exact description, or the person it is assigned to"})
}

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            },
        },
    })
}

/// The tools sent with every request to an OpenAI-compatible model.
pub fn definitions() -> Value {
    let priority = json!({"type": "string", "enum": ["low", "medium", "high", "urgent"]});
    json!([
        function(
            "create_task",
            "Propose adding a task to the manager's list.",
            json!({
                "title": {"type": "string", "description": "what needs doing, without dates or priority words"},
                "due_date": {"type": "string", "description": DATE},
                "priority": priority,
                "time_estimate_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
            }),
            &["title"],
        ),
        function(
            "update_task",
            "Propose changing a task: mark it completed (or another status), move its due date, change its priority or estimate.",
            json!({
                "task": task_ref(),
                "status": {"type": "string", "enum": ["todo", "in_progress", "completed", "cancelled"]},
                "due_date": {"type": "string", "description": DATE},
                "priority": priority,
                "time_estimate_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
            }),
            &["task"],
        ),
        function(
            "delegate_task",
            "Propose handing a task to someone, with an optional due date and follow-up date.",
            json!({
                "task": task_ref(),
                "assigned_to": {"type": "string", "description": "the person's name"},
                "due_date": {"type": "string", "description": DATE},
                "follow_up_date": {"type": "string", "description": DATE},
            }),
            &["task", "assigned_to"],
        ),
        function(
            "add_delegation_note",
            "Propose adding a note to a delegation's log (what the person said, where it stands).",
            json!({"delegation": delegation_ref(), "note": {"type": "string"}}),
            &["delegation", "note"],
        ),
        function(
            "set_follow_up",
            "Propose moving a delegation's follow-up date, or clearing it with null.",
            json!({
                "delegation": delegation_ref(),
                "follow_up_date": {"type": ["string", "null"], "description": "a date, YYYY-MM-DD, or null to clear it"},
            }),
            &["delegation", "follow_up_date"],
        ),
        function(
            "complete_delegation",
            "Propose marking a delegation completed (its task, if it has one, is completed too).",
            json!({"delegation": delegation_ref()}),
            &["delegation"],
        ),
        function(
            "set_digest",
            "Propose replacing today's daily digest with this text.",
            json!({"text": {"type": "string"}}),
            &["text"],
        ),
    ])
}

/// What the system prompt says about actions.
pub const INSTRUCTIONS: &str = "When the manager asks you to change their plan (complete, add, \
move, reprioritise or delegate a task; note, move or clear a follow-up; complete a delegation; \
set today's digest), call the matching tool; refer to items by their reference in brackets \
([T1], [D2]). A call only proposes the change: the manager confirms it. Never claim a change is \
made. If it is unclear which item is meant, ask instead of calling a tool.\n\n";
