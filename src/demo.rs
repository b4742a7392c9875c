//! A realistic demo restaurant, dated relative to today, loaded into an empty database so that a
//! first `cargo run` has something to talk about. External ids start with `demo-`, so loading it
//! again updates rather than duplicates.

use chrono::{Days, NaiveDate};

use crate::domain::{DelegationStatus as D, Priority as P, TaskStatus as S};
use crate::store::{DelegationInput, DigestInput, OpsBatch, TaskInput};

fn day(today: NaiveDate, offset: i64) -> NaiveDate {
    if offset >= 0 {
        today + Days::new(offset as u64)
    } else {
        today - Days::new(offset.unsigned_abs())
    }
}

#[allow(clippy::too_many_arguments)]
fn task(
    id: &str,
    title: &str,
    desc: &str,
    due: Option<NaiveDate>,
    p: P,
    s: S,
    est: Option<i32>,
    source: &str,
    delegatable: bool,
) -> TaskInput {
    TaskInput {
        external_id: Some(format!("demo-{id}")),
        title: title.into(),
        description: Some(desc.into()).filter(|d: &String| !d.is_empty()),
        due_date: due,
        priority: p,
        status: s,
        time_estimate_minutes: est,
        source: Some(source.into()),
        delegatable,
    }
}

#[allow(clippy::too_many_arguments)]
fn delegation(
    id: &str,
    what: &str,
    who: &str,
    email: &str,
    due: Option<NaiveDate>,
    follow: Option<NaiveDate>,
    p: P,
    s: D,
) -> DelegationInput {
    DelegationInput {
        external_id: Some(format!("demo-{id}")),
        task_description: what.into(),
        assigned_to: who.into(),
        assigned_to_email: Some(email.into()),
        due_date: due,
        follow_up_date: follow,
        priority: p,
        status: s,
    }
}

/// The demo operation as of `today`.
pub fn batch(today: NaiveDate) -> OpsBatch {
    let d = |o| Some(day(today, o));
    OpsBatch {
        tasks: vec![
            task("t1", "Fix walk-in cooler door gasket", "Cooler is holding 41°F instead of 38°F; the gasket on the walk-in door is torn. Call Corrigo for a repair ticket before the health inspection.", d(-2), P::Urgent, S::InProgress, Some(45), "email", false),
            task("t2", "Resolve Hannah's payroll discrepancy", "Hannah was short 6.5 overtime hours on last week's check. Fix it in the payroll portal before Friday's run.", d(0), P::Urgent, S::Todo, Some(30), "email", false),
            task("t3", "Submit manager schedule for next week", "Cover the Saturday double and the two call-outs; send to the area director.", d(0), P::High, S::Todo, Some(60), "digest", false),
            task("t4", "Approve Corrigo invoice for HVAC repair", "Invoice #88213, $1,240. Check it against the work order before approving.", d(1), P::High, S::Todo, Some(15), "email", false),
            task("t5", "Health inspection prep walkthrough", "Walk the line with the kitchen manager: temperature logs, labels, sanitizer buckets, hand sinks.", d(3), P::High, S::Todo, Some(90), "calendar", true),
            task("t6", "Review weekly food cost report", "Food cost ran 31.8% against a 29% target; find the drivers.", d(2), P::Medium, S::Todo, Some(40), "digest", false),
            task("t7", "Update allergen cards for the new menu", "Three new items launch next week; allergen binder and table cards need updating.", d(5), P::Medium, S::Todo, Some(45), "email", true),
            task("t8", "Order replacement fryer oil filters", "", d(4), P::Low, S::Todo, Some(10), "manual", true),
            task("t9", "Train Maya on the new POS modifiers", "", d(6), P::Medium, S::Todo, Some(30), "manual", true),
            task("t10", "Plan holiday party staffing", "Two large parties booked for the 12th and 19th.", d(12), P::Low, S::Todo, Some(60), "calendar", true),
            task("t11", "Deep clean the hood vents", "Done by the overnight crew.", d(-1), P::High, S::Completed, Some(120), "calendar", true),
            task("t12", "Renew liquor license", "Renewal filed last month.", d(-10), P::Urgent, S::Cancelled, None, "email", false),
        ],
        delegations: vec![
            delegation("d1", "Sunday inventory count", "Marcus Lee", "marcus.lee@example.com", d(2), d(0), P::High, D::Active),
            delegation("d2", "Call the linen supplier about the short delivery", "Priya Shah", "priya.shah@example.com", d(1), d(-1), P::Medium, D::Active),
            delegation("d3", "Schedule the quarterly pest control visit", "Dana Ortiz", "dana.ortiz@example.com", d(7), d(3), P::Medium, D::Planning),
            delegation("d4", "Repaint the patio railings", "Luis Romero", "luis.romero@example.com", d(20), d(10), P::Low, D::OnHold),
            delegation("d5", "Collect server tip-out sheets", "Priya Shah", "priya.shah@example.com", d(-3), d(-3), P::Medium, D::Completed),
        ],
        digests: vec![
            DigestInput {
                external_id: Some("demo-digest-today".into()),
                date: today,
                text: "Walk-in cooler still running warm (41°F) — repair not confirmed yet. Hannah's payroll correction must go in before Friday's run. Manager schedule for next week is due today. Friday dinner forecast is 340 covers with two servers out. Health inspection window opens in three days.".into(),
            },
            DigestInput {
                external_id: Some("demo-digest-yesterday".into()),
                date: day(today, -1),
                text: "Hood vents deep-cleaned overnight. Linen delivery came in 40 napkins short. Food cost report shows 31.8%.".into(),
            },
        ],
    }
}
