//! The sweep fanned out (`INVOKEGUARD_SWEEP_QUEUE_URL`): the scheduled event plans, one message
//! per account and region of the policies file, and the guard's SQS event source sweeps each
//! pair on its own ([`sweep_pairs`]), reporting the pairs to redeliver.
//!
//! The queue is FIFO with one message group per pair (`ACCOUNT/REGION`): SQS hands a group's
//! next message to no consumer while one is in flight, so no account and region is swept by two
//! consumers at once, with no lock to take, renew or leak when a consumer times out.

use std::time::Instant;

use serde_json::Value;

use super::api::{Aws, QueueEntry};
use super::report::{BatchItemFailure, EventReport, GuardError};
use super::state::State;
use super::sweep;
use crate::allowlist::Mode;
use crate::log::Level;
use crate::log::line::{Input, Message, Subject, SweepPlanLine};
use crate::record::sweep_pair::{QueueMessage, SEND_BATCH, SweepPair};

/// Sends one message per account and region; `event_id` (the scheduled event's `id`) makes
/// the deduplication ids, so a retried planner sends nothing twice.
pub(super) async fn plan<A: Aws>(
    g: &State<A>,
    event: &Value,
    request_id: &str,
) -> Result<EventReport, GuardError> {
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(request_id);
    let mut line = SweepPlanLine {
        pairs: 0,
        sent: 0,
        failed: 0,
    };
    let mut pairs = Vec::new();
    for (account, region) in sweep::pairs_of(g) {
        line.pairs += 1;
        if account.is_empty() {
            // Only before the home is known: a name has no account to sweep in.
            line.failed += 1;
            g.bare_error(
                request_id,
                "sweep-plan: functions named without an ARN and no home account and region",
            );
            continue;
        }
        pairs.push(SweepPair { account, region });
    }
    for chunk in pairs.chunks(SEND_BATCH) {
        let entries: Vec<QueueEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| QueueEntry {
                id: i.to_string(),
                group_id: p.name(),
                dedup_id: p.dedup_id(event_id),
                body: p.body(),
            })
            .collect();
        match g.aws.send_sweep_batch(&entries).await {
            Ok(refused) => {
                line.sent += entries.len() - refused.len();
                line.failed += refused.len();
                for (id, why) in refused {
                    let pair = entries
                        .iter()
                        .find(|e| e.id == id)
                        .map_or(id.as_str(), |e| e.group_id.as_str());
                    g.bare_error(request_id, &format!("sweep-plan: {pair} not queued: {why}"));
                }
            }
            Err(e) => {
                line.failed += entries.len();
                g.bare_error(
                    request_id,
                    &format!("sweep-plan: {} pairs not queued: {e}", entries.len()),
                );
            }
        }
    }
    let failed = line.failed;
    let level = if failed > 0 {
        Level::Error
    } else {
        Level::Info
    };
    let subject = Subject::new(
        Input::Sweep,
        Some(format!("sweep-plan-{request_id}")),
        None,
        None,
        Mode::Enforce,
        g.account_or_home(None),
    );
    g.lines(request_id, Some(subject))
        .emit(level, Message::SweepPlan(line));
    if failed > 0 {
        // The schedule's retry sends the same deduplication ids: pairs already queued are not
        // queued twice.
        return Err(GuardError::Incomplete {
            function: "(sweep-plan)".into(),
            detail: format!("{failed} accounts and regions not queued"),
        });
    }
    Ok(EventReport::default())
}

/// Sweeps the pair of each message, one after the other (the event source's batch is small and
/// each pair's budget is its own); a message whose pair could not be swept whole, or whose body
/// is not a sweep-pair message, is a batch item failure, and only it is redelivered.
pub(super) async fn sweep_pairs<A: Aws>(
    g: &State<A>,
    messages: Vec<QueueMessage>,
    request_id: &str,
    deadline: Option<Instant>,
) -> EventReport {
    let mut report = EventReport::default();
    let mut failures = Vec::new();
    for m in messages {
        let swept = match SweepPair::from_body(&m.body) {
            Ok(pair) => sweep::run(g, request_id, deadline, Some(&pair))
                .await
                .map(|r| report.add(&r))
                .is_ok(),
            Err(why) => {
                g.bare_error(
                    request_id,
                    &format!("sweep queue message {:?}: {why}", m.message_id),
                );
                false
            }
        };
        if !swept {
            failures.push(BatchItemFailure {
                item_identifier: m.message_id,
            });
        }
    }
    report.batch_item_failures = Some(failures);
    report
}
