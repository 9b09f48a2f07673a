//! [`SweepQueue`] over SQS's SendMessageBatch: the planner's one call. The queue is FIFO so
//! that a pair's message group keeps two consumers from sweeping one account and region at
//! once; the group and deduplication ids are the planner's.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::clients::LazyAws;
use super::errors::call_failed;
use crate::guard::api::{ApiError, QueueEntry, SweepQueue};

impl SweepQueue for LazyAws {
    fn sweep_queue_configured(&self) -> bool {
        self.sweep_queue.is_some()
    }

    async fn send_sweep_batch(
        &self,
        entries: &[QueueEntry],
    ) -> Result<Vec<(String, String)>, ApiError> {
        let Some(queue_url) = &self.sweep_queue else {
            return Err(ApiError::Other(
                "SendMessageBatch: INVOKEGUARD_SWEEP_QUEUE_URL is not set".into(),
            ));
        };
        let batch = entries
            .iter()
            .map(|e| {
                SendMessageBatchRequestEntry::builder()
                    .id(&e.id)
                    .message_body(&e.body)
                    .message_group_id(&e.group_id)
                    .message_deduplication_id(&e.dedup_id)
                    .build()
                    .map_err(|b| ApiError::Other(format!("SendMessageBatch entry {}: {b}", e.id)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .clients()
            .await
            .sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(batch))
            .send()
            .await
            .map_err(|e| call_failed("SendMessageBatch", &e))?;
        Ok(out
            .failed()
            .iter()
            .map(|f| {
                (
                    f.id().to_owned(),
                    format!("{} {}", f.code(), f.message().unwrap_or_default()),
                )
            })
            .collect())
    }
}
