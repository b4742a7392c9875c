//! Reading a Server-Sent Events response the way a client does, event by event.

use futures::StreamExt;
use serde_json::Value;
use std::time::Instant;

/// One parsed SSE event with when it arrived.
#[derive(Debug, Clone)]
pub struct Ev {
    pub name: String,
    pub data: Value,
    pub at: Instant,
}

/// Reads SSE events as they arrive; `until` decides when to stop reading (and drop the body).
pub async fn read_events(resp: reqwest::Response, mut until: impl FnMut(&Ev) -> bool) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("body chunk")));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue; // keep-alive comment
            }
            let ev = Ev {
                name,
                data: serde_json::from_str(&data).expect("event JSON"),
                at: Instant::now(),
            };
            let stop = until(&ev);
            out.push(ev);
            if stop {
                return out;
            }
        }
    }
    out
}
