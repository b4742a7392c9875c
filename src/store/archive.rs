//! Moving an instance: every table as typed JSON lines, the same on both databases, and back.
//!
//! Each table is described once (its columns and what kind of value each holds), so an
//! archive written from SQLite and one written from PostgreSQL with the same data are the same
//! lines: ids as hyphenated UUIDs, times in UTC to the microsecond (PostgreSQL's precision),
//! JSON parsed and written with sorted keys.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::StoreResult;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Uuid,
    Text,
    I32,
    I64,
    F64,
    Bool,
    Date,
    Time,
    Json,
}

/// One table of the archive.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    /// A total order, so archives of the same data come out in the same order.
    pub order_by: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Holds secrets (password hashes, token hashes): only with `--with-secrets`.
    pub secret: bool,
}

use Kind::*;

/// Every table worth moving, parents before children. Browser sessions are not moved: people
/// sign in again on the new instance.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "users",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("username", Text),
            ("display_name", Text),
            ("password_hash", Text),
            ("role", Text),
            ("time_zone", Text),
            ("disabled_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "instance_setup",
        order_by: "id",
        columns: &[("id", I32), ("first_user_id", Uuid), ("set_up_at", Time)],
        secret: false,
    },
    TableSpec {
        name: "api_tokens",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Uuid),
            ("name", Text),
            ("token_hash", Text),
            ("prefix", Text),
            ("created_at", Time),
            ("last_used_at", Time),
            ("revoked_at", Time),
        ],
        secret: true,
    },
    TableSpec {
        name: "chat_sessions",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("title", Text),
            ("context_snapshot", Json),
            ("started_at", Time),
            ("last_message_at", Time),
            ("message_count", I32),
            ("is_active", Bool),
            ("last_seq", I64),
        ],
        secret: false,
    },
    TableSpec {
        name: "chat_messages",
        order_by: "session_id, seq",
        columns: &[
            ("id", Uuid),
            ("session_id", Uuid),
            ("seq", I64),
            ("role", Text),
            ("content", Text),
            ("context_used", Json),
            ("model_used", Text),
            ("tokens_used", I32),
            ("prompt_tokens", I32),
            ("completion_tokens", I32),
            ("status", Text),
            ("error", Text),
            ("reply_to", Uuid),
            ("created_at", Time),
            ("heartbeat_at", Time),
            ("provider", Text),
            ("latency_ms", I32),
            ("first_token_ms", I32),
            ("cached_tokens", I32),
            ("cost_usd", F64),
        ],
        secret: false,
    },
    TableSpec {
        name: "tasks",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("external_id", Text),
            ("title", Text),
            ("description", Text),
            ("due_date", Date),
            ("priority", Text),
            ("status", Text),
            ("time_estimate_minutes", I32),
            ("source", Text),
            ("delegatable", Bool),
            ("quadrant", Text),
            ("recurrence", Text),
            ("series_id", Uuid),
            ("previous_id", Uuid),
            ("delegation_id", Uuid),
            ("version", I64),
            ("completed_at", Time),
            ("deleted_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "delegations",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("external_id", Text),
            ("task_description", Text),
            ("assigned_to", Text),
            ("assigned_to_email", Text),
            ("due_date", Date),
            ("follow_up_date", Date),
            ("priority", Text),
            ("status", Text),
            ("task_id", Uuid),
            ("last_followed_up_at", Time),
            ("version", I64),
            ("completed_at", Time),
            ("deleted_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "delegation_notes",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("delegation_id", Uuid),
            ("body", Text),
            ("author_id", Text),
            ("author_name", Text),
            ("created_at", Time),
            ("deleted_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "daily_digests",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("external_id", Text),
            ("date", Date),
            ("text", Text),
            ("version", I64),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "chat_actions",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("session_id", Uuid),
            ("message_id", Uuid),
            ("spec", Json),
            ("summary", Text),
            ("status", Text),
            ("before", Json),
            ("after", Json),
            ("error", Text),
            ("proposed_at", Time),
            ("decided_by", Text),
            ("decided_at", Time),
            ("undone_by", Text),
            ("undone_at", Time),
        ],
        secret: false,
    },
    TableSpec {
        name: "activity_log",
        order_by: "id",
        columns: &[
            ("id", Uuid),
            ("user_id", Text),
            ("item_type", Text),
            ("item_id", Uuid),
            ("action", Text),
            ("actor_id", Text),
            ("actor_name", Text),
            ("via", Text),
            ("changes", Json),
            ("snapshot", Json),
            ("item_version", I64),
            ("at", Time),
        ],
        secret: false,
    },
];

/// The first line of an archive.
pub const ARCHIVE_FORMAT: &str = "opschat.archive.v1";

/// Reads and writes archive rows.
#[async_trait]
pub trait Archive: Send + Sync {
    /// A page of a table's rows, in its archive order.
    async fn archive_rows(
        &self,
        table: &TableSpec,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Map<String, Value>>>;
    /// Inserts the rows that arrive, all in one transaction, committed only when `End` comes:
    /// an archive that stops early (a bad line, a closed channel) leaves the database as empty
    /// as it was. Then refreshes the planner's statistics, which a bulk load leaves stale.
    /// Returns the rows inserted.
    async fn restore_all(&self, rows: tokio::sync::mpsc::Receiver<Incoming>) -> StoreResult<u64>;
}

/// The column a restore fills that the archive does not carry, because it is derived from the
/// row: a question's grouping key (`store::analytics::stored_key`), so that restored history
/// is ready for analytics without rewriting every row afterwards.
pub(crate) fn derived(
    table: &TableSpec,
    row: &Map<String, Value>,
) -> Option<(&'static str, Option<String>)> {
    (table.name == "chat_messages").then(|| {
        let question = row.get("role").and_then(Value::as_str) == Some("user");
        let content = row.get("content").and_then(Value::as_str);
        (
            "question_key",
            content
                .filter(|_| question)
                .map(crate::store::analytics::stored_key),
        )
    })
}

/// What a restore sends to the database.
#[derive(Debug)]
pub enum Incoming {
    /// A row of a table.
    Row(&'static TableSpec, Map<String, Value>),
    /// The archive was read to its end: commit.
    End,
}

/// The error `restore_all` returns when the rows stop without `End`.
pub const ENDED_EARLY: &str = "the archive stopped before its end; nothing was kept";

/// A time as the archive writes it: UTC, microseconds.
pub fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

macro_rules! sql_archive {
    ($store:ident, $db:ty, $row:ty, $id:ty, $settle:expr) => {
        #[async_trait::async_trait]
        impl crate::store::archive::Archive for $store {
            async fn archive_rows(
                &self,
                table: &crate::store::archive::TableSpec,
                offset: i64,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<serde_json::Map<String, serde_json::Value>>> {
                use crate::store::archive::Kind;
                use serde_json::Value;
                use sqlx::Row;
                let cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
                    cols.join(", "),
                    table.name,
                    table.order_by
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let mut m = serde_json::Map::new();
                    for (c, kind) in table.columns {
                        let c: &str = c;
                        let v = match kind {
                            Kind::Uuid => r.try_get::<Option<$id>, _>(c)?.map(|u| {
                                Value::String(
                                    <$id as crate::store::sql::IdRepr>::into_uuid(u).to_string(),
                                )
                            }),
                            Kind::Text => r.try_get::<Option<String>, _>(c)?.map(Value::String),
                            Kind::I32 => r.try_get::<Option<i32>, _>(c)?.map(Value::from),
                            Kind::I64 => r.try_get::<Option<i64>, _>(c)?.map(Value::from),
                            Kind::F64 => r.try_get::<Option<f64>, _>(c)?.map(Value::from),
                            Kind::Bool => r.try_get::<Option<bool>, _>(c)?.map(Value::Bool),
                            Kind::Date => r
                                .try_get::<Option<chrono::NaiveDate>, _>(c)?
                                .map(|d| Value::String(d.to_string())),
                            Kind::Time => r
                                .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(c)?
                                .map(|t| Value::String(crate::store::archive::time_text(t))),
                            Kind::Json => r
                                .try_get::<Option<sqlx::types::Json<Value>>, _>(c)?
                                .map(|j| j.0),
                        };
                        m.insert(c.to_string(), v.unwrap_or(Value::Null));
                    }
                    out.push(m);
                }
                Ok(out)
            }

            async fn restore_all(
                &self,
                mut rows: tokio::sync::mpsc::Receiver<crate::store::archive::Incoming>,
            ) -> crate::store::StoreResult<u64> {
                use crate::store::StoreError;
                use crate::store::archive::{Incoming, Kind};
                use serde_json::Value;
                let insert = |table: &crate::store::archive::TableSpec, extra: Option<&str>| {
                    let mut cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
                    cols.extend(extra);
                    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                    format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        table.name,
                        cols.join(", "),
                        marks.join(", ")
                    )
                };
                let (_writing, mut tx) = self.begin_write().await?;
                let mut sql: Option<(&str, String)> = None;
                let mut loaded = 0u64;
                loop {
                    let (table, row) = match rows.recv().await {
                        Some(Incoming::Row(table, row)) => (table, row),
                        Some(Incoming::End) => break,
                        None => {
                            return Err(StoreError::Invalid {
                                field: "archive".into(),
                                message: crate::store::archive::ENDED_EARLY.into(),
                            });
                        }
                    };
                    let bad = |c: &str, v: &Value| StoreError::Invalid {
                        field: format!("{}.{c}", table.name),
                        message: format!("{v} is not a valid value"),
                    };
                    let text = match &sql {
                        Some((name, text)) if *name == table.name => text.clone(),
                        _ => {
                            let extra = crate::store::archive::derived(table, &row).map(|(c, _)| c);
                            let text = insert(table, extra);
                            sql = Some((table.name, text.clone()));
                            text
                        }
                    };
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
                    for (c, kind) in table.columns {
                        let c: &str = c;
                        let v = row.get(c).unwrap_or(&Value::Null);
                        let null = v.is_null();
                        q = match kind {
                            Kind::Uuid => q.bind(if null {
                                None
                            } else {
                                Some(id(v
                                    .as_str()
                                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                                    .ok_or_else(|| bad(c, v))?))
                            }),
                            Kind::Text => q.bind(if null {
                                None
                            } else {
                                Some(v.as_str().ok_or_else(|| bad(c, v))?.to_string())
                            }),
                            Kind::I32 => q.bind(if null {
                                None
                            } else {
                                Some(
                                    v.as_i64()
                                        .and_then(|n| i32::try_from(n).ok())
                                        .ok_or_else(|| bad(c, v))?,
                                )
                            }),
                            Kind::I64 => q.bind(if null {
                                None
                            } else {
                                Some(v.as_i64().ok_or_else(|| bad(c, v))?)
                            }),
                            Kind::F64 => q.bind(if null {
                                None
                            } else {
                                Some(v.as_f64().ok_or_else(|| bad(c, v))?)
                            }),
                            Kind::Bool => q.bind(if null {
                                None
                            } else {
                                Some(v.as_bool().ok_or_else(|| bad(c, v))?)
                            }),
                            Kind::Date => q.bind(if null {
                                None
                            } else {
                                Some(
                                    v.as_str()
                                        .and_then(|s| s.parse::<chrono::NaiveDate>().ok())
                                        .ok_or_else(|| bad(c, v))?,
                                )
                            }),
                            Kind::Time => q.bind(if null {
                                None
                            } else {
                                Some(
                                    v.as_str()
                                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                        .map(|t| t.with_timezone(&chrono::Utc))
                                        .ok_or_else(|| bad(c, v))?,
                                )
                            }),
                            Kind::Json => q.bind(if null {
                                None
                            } else {
                                Some(sqlx::types::Json(v.clone()))
                            }),
                        };
                    }
                    if let Some((_, value)) = crate::store::archive::derived(table, &row) {
                        q = q.bind(value);
                    }
                    q.execute(&mut *tx).await?;
                    loaded += 1;
                }
                tx.commit().await?;
                // Fresh statistics for the planner (and on PostgreSQL the visibility map that
                // index-only scans need) before anyone reads the restored history.
                sqlx::raw_sql($settle).execute(&self.pool).await?;
                Ok(loaded)
            }
        }
    };
}

pub(crate) use sql_archive;
