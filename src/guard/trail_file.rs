//! The backstop: CloudTrail delivers records to EventBridge on a best-effort basis, but always
//! writes them to the trail's S3 bucket. Each new trail log file (an S3 `Object Created` event
//! through EventBridge, or an S3 event notification) is read and its records go down the same
//! path as the EventBridge ones, with `input: trail-file`. A file with no guarded record costs
//! one GetObject; digest files and other prefixes cost nothing.

use serde_json::Value;

use super::api::{Aws, ObjectBody};
use super::dispatch::{self, Arrival};
use super::report::{EventReport, GuardError};
use super::state::State;
use crate::allowlist::Allowlist;
use crate::record::event::{CreatedObject, is_trail_log_file};
use crate::record::{InputError, ReadOptions, change, read_records};

/// A trail log file is a few megabytes of gzip; anything far larger is refused, not read.
pub const MAX_TRAIL_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Reads each trail log file and handles its records; a file that cannot be read fails the
/// event, so that it is retried.
pub(super) async fn handle<A: Aws>(
    g: &State<A>,
    objects: Vec<CreatedObject>,
    request_id: &str,
) -> Result<EventReport, GuardError> {
    let mut report = EventReport::default();
    let mut first_error = None;
    for object in objects {
        if !is_trail_log_file(&object.key) {
            continue;
        }
        if let Err(e) = handle_trail_file(g, &object, request_id, &mut report).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(report), Err)
}

async fn handle_trail_file<A: Aws>(
    g: &State<A>,
    object: &CreatedObject,
    request_id: &str,
    report: &mut EventReport,
) -> Result<(), GuardError> {
    let origin = format!("s3://{}/{}", object.bucket, object.key);
    let body = g
        .aws
        .get_object(&object.bucket, &object.key, MAX_TRAIL_FILE_BYTES)
        .await
        .map_err(|e| {
            let message = format!("{origin}: {e}");
            g.bare_error(request_id, &message);
            GuardError::Incomplete {
                function: "(trail file)".into(),
                detail: message,
            }
        })?;
    report.api_calls += 1;
    // The body is read on a blocking thread as it arrives, one record at a time; refused
    // calls and records of unguarded functions are dropped there, and the rest come here
    // through a short queue and are handled while the reading goes on.
    let (tx, mut rx) = tokio::sync::mpsc::channel(RECORDS_IN_FLIGHT);
    let allowlist = g.allowlist.clone();
    let reader_origin = origin.clone();
    let handle = tokio::runtime::Handle::current();
    let reading = tokio::task::spawn_blocking(move || {
        read_trail_file(body, handle, &reader_origin, &allowlist, &tx)
    });
    let mut first_error = None;
    while let Some(item) = rx.recv().await {
        let result = match item {
            Ok(record) => {
                dispatch::record(
                    g,
                    &record,
                    request_id,
                    report,
                    Arrival::TrailFile { origin: &origin },
                )
                .await
            }
            Err(e) => {
                // A record over the cap: named, counted as an error of the file, and the
                // records after it are still handled.
                let message = e.to_string();
                g.bare_error(request_id, &message);
                Err(GuardError::BadEvent(message))
            }
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    let read = reading.await.unwrap_or_else(|e| {
        Err(InputError::Read {
            origin: origin.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    });
    if let Err(e) = read {
        g.bare_error(request_id, &e.to_string());
        return Err(GuardError::BadEvent(e.to_string()));
    }
    first_error.map_or(Ok(()), Err)
}

/// Guarded records (or a record over the cap) waiting to be handled: the reader stops while
/// the handler is behind, so memory holds at most this many records at once.
const RECORDS_IN_FLIGHT: usize = 4;

type Queue = tokio::sync::mpsc::Sender<Result<Value, InputError>>;

/// Reads a trail file's body with the one record reader and queues what the guard handles.
fn read_trail_file(
    body: ObjectBody,
    handle: tokio::runtime::Handle,
    origin: &str,
    allowlist: &Allowlist,
    queue: &Queue,
) -> Result<usize, InputError> {
    let mut body = BodyReader {
        body,
        handle,
        read: 0,
        limit: MAX_TRAIL_FILE_BYTES,
        failure: None,
    };
    let opts = ReadOptions {
        drop_refused: true,
        ..ReadOptions::default()
    };
    let gone = || InputError::Read {
        origin: origin.to_owned(),
        source: std::io::Error::other("the handler stopped"),
    };
    let read = read_records(&mut body, origin, opts, &mut |item| match item {
        Ok(found) if concerns_a_guarded_function(allowlist, &found.record) => {
            queue.blocking_send(Ok(found.record)).map_err(|_| gone())
        }
        Ok(_) => Ok(()),
        Err(e) => queue.blocking_send(Err(e)).map_err(|_| gone()),
    });
    // The body's own failure (too large, a broken connection) is what went wrong, whatever
    // the reader made of it.
    match body.failure {
        Some(source) => Err(InputError::Read {
            origin: origin.to_owned(),
            source,
        }),
        None => read,
    }
}

/// An object body read from a blocking thread, counted against the object size limit.
struct BodyReader {
    body: ObjectBody,
    handle: tokio::runtime::Handle,
    read: u64,
    limit: u64,
    failure: Option<std::io::Error>,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let body = &mut self.body;
        let n = self.handle.block_on(std::future::poll_fn(|cx| {
            let mut filled = tokio::io::ReadBuf::new(buf);
            body.as_mut()
                .poll_read(cx, &mut filled)
                .map_ok(|()| filled.filled().len())
        }));
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.failure = Some(std::io::Error::new(e.kind(), e.to_string()));
                return Err(e);
            }
        };
        self.read += n as u64;
        if self.read > self.limit {
            let message = format!("is larger than {} bytes", self.limit);
            self.failure = Some(std::io::Error::other(message.clone()));
            return Err(std::io::Error::other(message));
        }
        Ok(n)
    }
}

/// An Invoke or change record of a guarded function (home account and region), or a change
/// record that cannot be read: the rest
/// of a trail file (every other service and function) is dropped as it is read.
fn concerns_a_guarded_function(allowlist: &Allowlist, record: &Value) -> bool {
    if record.get("eventSource").and_then(Value::as_str) != Some("lambda.amazonaws.com") {
        return false;
    }
    match change(record) {
        Ok(Some(c)) => {
            return allowlist
                .lookup(&c.function.name, c.function.arn.as_deref())
                .is_some();
        }
        // A change of who may invoke that cannot be read may be a guarded function's: it goes
        // on to the dispatch, which names it in an `error` line, as for EventBridge.
        Err(_) => return true,
        Ok(None) => {}
    }
    match crate::record::invocation(record) {
        Ok(inv) if inv.is_lambda_invoke() => inv
            .function
            .is_some_and(|f| allowlist.lookup(&f.name, f.arn.as_deref()).is_some()),
        _ => false,
    }
}
