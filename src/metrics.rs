//! Prometheus metrics: what `/metrics` shows. One recorder per process, installed the first
//! time it is asked for; the names are listed in the README.

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::domain::{MessageStatus, ReplyStats};

/// Histogram buckets of every `_seconds` metric: 1 ms to 2 minutes.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The most model names kept as labels; a client may name any model, so the rest are `other`.
const MAX_MODELS: usize = 32;

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (an embedding program's): then opschat records into that one.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.install_recorder());
            match built {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "opschat_http_requests_total",
        "HTTP requests by method, route and status"
    );
    describe_histogram!(
        "opschat_http_request_duration_seconds",
        Unit::Seconds,
        "Time to the response head, by method, route and status"
    );
    describe_counter!(
        "opschat_chat_turns_total",
        "Chat turns by model and outcome"
    );
    describe_histogram!(
        "opschat_model_latency_seconds",
        Unit::Seconds,
        "Total answer time of completed replies, by model"
    );
    describe_histogram!(
        "opschat_model_first_token_seconds",
        Unit::Seconds,
        "Time to the first token of completed replies, by model"
    );
    describe_counter!(
        "opschat_tokens_total",
        "Tokens by model and kind (input, output, cached)"
    );
    describe_gauge!("opschat_active_streams", "Replies streaming now");
    describe_gauge!(
        "opschat_db_pool_connections",
        "Database pool connections by state (in_use, idle, max)"
    );
    describe_counter!("opschat_errors_total", "Error responses by error code");
}

/// A model name as a label: the first `MAX_MODELS` names seen, then `other`.
fn model_label(model: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Ok(mut seen) = SEEN.get_or_init(Default::default).lock() else {
        return "other".into();
    };
    if seen.contains(model) {
        return model.to_string();
    }
    if seen.len() < MAX_MODELS {
        seen.insert(model.to_string());
        return model.to_string();
    }
    "other".into()
}

/// One HTTP response. `route` is the matched route template (never the raw path).
pub fn http(method: &str, route: &str, status: u16, took: std::time::Duration) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    counter!("opschat_http_requests_total", &labels).increment(1);
    histogram!("opschat_http_request_duration_seconds", &labels).record(took.as_secs_f64());
}

/// One error response.
pub fn error(code: &'static str) {
    counter!("opschat_errors_total", "code" => code).increment(1);
}

/// One finished reply: the turn's outcome, its tokens, and for a completed one its timings.
pub fn reply(model: &str, status: MessageStatus, stats: &ReplyStats, prompt: i32, completion: i32) {
    let model = model_label(model);
    counter!("opschat_chat_turns_total", "model" => model.clone(), "outcome" => status.as_str())
        .increment(1);
    for (kind, n) in [
        ("input", prompt),
        ("output", completion),
        ("cached", stats.cached_tokens.unwrap_or(0)),
    ] {
        counter!("opschat_tokens_total", "model" => model.clone(), "kind" => kind)
            .increment(u64::try_from(n).unwrap_or(0));
    }
    if status == MessageStatus::Complete {
        if let Some(ms) = stats.latency_ms {
            histogram!("opschat_model_latency_seconds", "model" => model.clone())
                .record(f64::from(ms) / 1000.0);
        }
        if let Some(ms) = stats.first_token_ms {
            histogram!("opschat_model_first_token_seconds", "model" => model)
                .record(f64::from(ms) / 1000.0);
        }
    }
}

/// Counts a reply as streaming for as long as it lives.
pub struct ActiveStream(());

impl ActiveStream {
    pub fn start() -> ActiveStream {
        gauge!("opschat_active_streams").increment(1.0);
        ActiveStream(())
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        gauge!("opschat_active_streams").decrement(1.0);
    }
}

/// The database pool now, set just before a scrape renders.
pub fn pool(in_use: u32, idle: u32, max: u32) {
    for (state, n) in [("in_use", in_use), ("idle", idle), ("max", max)] {
        gauge!("opschat_db_pool_connections", "state" => state).set(f64::from(n));
    }
}
