//! `opschat export --all` and `opschat restore`: a whole instance as JSON lines, moved between
//! databases (SQLite to PostgreSQL and back) without losing anything.
//!
//! The first line names the format; every other line is `{"table": …, "row": {…}}`, tables in
//! the order `store::archive::TABLES` gives (parents first), so a restore inserts in order.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::io::{BufRead, Write};

use crate::store::Store;
use crate::store::archive::{ARCHIVE_FORMAT, Incoming, TABLES, TableSpec};

/// Rows read or written per query.
const PAGE: i64 = 1000;

/// Writes every table; without `with_secrets`, password hashes are left out (people set a new
/// password on the new instance) and API tokens are not moved. Returns the rows written.
pub async fn write(
    store: &dyn Store,
    with_secrets: bool,
    exported_at: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
    progress: &dyn Fn(u64),
) -> anyhow::Result<u64> {
    let head = json!({
        "format": ARCHIVE_FORMAT,
        "exported_at": crate::store::archive::time_text(exported_at),
        "secrets": with_secrets,
    });
    writeln!(out, "{head}")?;
    let mut written = 0u64;
    for table in TABLES.iter().filter(|t| with_secrets || !t.secret) {
        let mut offset = 0;
        loop {
            let rows = store
                .archive_rows(table, offset, PAGE)
                .await
                .with_context(|| format!("reading {}", table.name))?;
            for mut row in rows.iter().cloned() {
                if table.name == "users" && !with_secrets {
                    row.insert("password_hash".into(), Value::Null);
                }
                writeln!(out, "{}", json!({"table": table.name, "row": row}))?;
                written += 1;
            }
            progress(written);
            if (rows.len() as i64) < PAGE {
                break;
            }
            offset += PAGE;
        }
    }
    out.flush()?;
    Ok(written)
}

fn spec(name: &str) -> anyhow::Result<&'static TableSpec> {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .with_context(|| format!("the archive names an unknown table {name:?}"))
}

/// Loads an archive into an empty database (migrated, with no account yet). Returns the rows
/// loaded.
pub async fn restore(
    store: &dyn Store,
    input: &mut dyn BufRead,
    progress: &dyn Fn(u64),
) -> anyhow::Result<u64> {
    if store.user_count().await? > 0 {
        bail!("restore needs an empty database: this one has accounts already");
    }
    let mut lines = input.lines();
    let head: Value = match lines.next() {
        Some(line) => serde_json::from_str(&line?).context("the first line is not JSON")?,
        None => bail!("the archive is empty"),
    };
    if head["format"] != ARCHIVE_FORMAT {
        bail!(
            "not an opschat archive of format {ARCHIVE_FORMAT}: {}",
            head["format"]
        );
    }
    // The database takes rows as they are read, in one transaction it commits only after the
    // last line: a bad line halfway leaves the database empty, ready for another try.
    let (tx, rx) = tokio::sync::mpsc::channel(PAGE as usize);
    let read = async move {
        let mut sent = 0u64;
        for (n, line) in lines.enumerate() {
            let line = line.with_context(|| format!("reading line {}", n + 2))?;
            if line.trim().is_empty() {
                continue;
            }
            let mut v: Value = serde_json::from_str(&line)
                .with_context(|| format!("line {} is not JSON", n + 2))?;
            let name = v["table"]
                .as_str()
                .with_context(|| format!("line {} has no table", n + 2))?
                .to_string();
            let Value::Object(row) = v["row"].take() else {
                bail!("line {} has no row", n + 2);
            };
            let table = spec(&name).with_context(|| format!("line {}", n + 2))?;
            if tx.send(Incoming::Row(table, row)).await.is_err() {
                bail!("the database stopped taking rows");
            }
            sent += 1;
            if sent.is_multiple_of(PAGE as u64) {
                progress(sent);
            }
        }
        if tx.send(Incoming::End).await.is_err() {
            bail!("the database stopped taking rows");
        }
        progress(sent);
        Ok(sent)
    };
    let (read, loaded) = tokio::join!(read, store.restore_all(rx));
    match (read, loaded) {
        (_, Ok(loaded)) => Ok(loaded),
        // The reader failed first; the database only saw the rows stop.
        (Err(e), Err(crate::store::StoreError::Invalid { field, .. })) if field == "archive" => {
            Err(e.context("nothing was restored"))
        }
        (_, Err(e)) => {
            Err(anyhow::Error::new(e).context("loading the archive; nothing was restored"))
        }
    }
}
