//! Suggested questions, derived from today's data rather than a fixed list.

use crate::context::OpsContext;

/// Up to eight questions worth asking today, the most pressing first.
pub fn for_today(ctx: &OpsContext) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let pressing = ctx.overdue().next().is_some() || ctx.due_today().next().is_some();
    if pressing || !ctx.open_tasks.is_empty() {
        out.push("What's most urgent today?".into());
    }
    if ctx.follow_ups_due().next().is_some() {
        out.push("Who do I need to follow up with?".into());
    }
    if !ctx.deadlines().is_empty() {
        out.push("Show me all my deadlines".into());
    }
    if ctx.open_tasks.iter().any(|t| t.delegatable) {
        out.push("What can I delegate?".into());
    }
    if !ctx.open_tasks.is_empty() || ctx.digest.is_some() {
        out.push("Summarize my day".into());
    }
    if let Some(top) = ctx.open_tasks.first() {
        out.push(format!("What's the priority on \"{}\"?", top.title));
    }
    if let Some(next) = ctx
        .deadlines()
        .into_iter()
        .find(|t| Some(t.id) != ctx.open_tasks.first().map(|f| f.id))
    {
        out.push(format!("When is \"{}\" due?", next.title));
    }
    if !ctx.open_tasks.is_empty() {
        out.push("Help me plan my next 2 hours".into());
    }
    if out.is_empty() {
        out.push("What can you help me with?".into());
    }
    out.truncate(8);
    out
}
