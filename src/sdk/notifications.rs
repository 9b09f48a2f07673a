//! [`Notifier`] over EventBridge and [`Dedup`] over DynamoDB: one notification per violation,
//! whether the EventBridge record or the trail file brings it first.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

use super::clients::LazyAws;
use super::errors::call_failed;
use crate::guard::api::{ApiError, Dedup, Notifier};

/// How long a claimed eventID is remembered: the trail file of an event arrives minutes after
/// its EventBridge delivery, and DynamoDB's TTL deletes the item some time after this.
const DEDUP_TTL_SECS: u64 = 24 * 3600;

/// PutEvents takes at most 10 entries per call.
const PUT_EVENTS_BATCH: usize = 10;

impl Dedup for LazyAws {
    async fn first_claim(&self, event_id: &str) -> Result<bool, ApiError> {
        let Some(table) = &self.dedup_table else {
            return Ok(true);
        };
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + DEDUP_TTL_SECS)
            .unwrap_or(DEDUP_TTL_SECS);
        let out = self
            .clients()
            .await
            .dynamodb
            .put_item()
            .table_name(table)
            .item("eventId", AttributeValue::S(event_id.to_owned()))
            .item("expiresAt", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(eventId)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(call_failed(&format!("PutItem {table}"), &e)),
        }
    }
}

impl Notifier for LazyAws {
    async fn publish(&self, entries: &[(String, Value)]) -> Result<(), ApiError> {
        let Some(bus) = &self.event_bus else {
            return Ok(());
        };
        let client = &self.clients().await.events;
        for chunk in entries.chunks(PUT_EVENTS_BATCH) {
            let batch: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|(detail_type, detail)| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(bus)
                        .source("invokeguard")
                        .detail_type(detail_type)
                        .detail(detail.to_string())
                        .build()
                })
                .collect();
            let out = client
                .put_events()
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(|e| call_failed("PutEvents", &e))?;
            if out.failed_entry_count() > 0 {
                let codes: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|e| {
                        e.error_code()
                            .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
                    })
                    .collect();
                return Err(ApiError::Other(format!(
                    "PutEvents: {} of {} entries failed ({})",
                    out.failed_entry_count(),
                    chunk.len(),
                    codes.join("; ")
                )));
            }
        }
        Ok(())
    }
}
