//! S3: the one capped, streamed GetObject, read by the guard's trail-file handler ([`Objects`])
//! and by `check`'s `s3://` sources, and ListObjectsV2 (paginated) for those sources.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;

use super::clients::{LazyAws, s3_client};
use super::config;
use super::errors::call_failed;
use crate::guard::api::{ApiError, ObjectBody, Objects};
use crate::record::MAX_INPUT_BYTES;

/// Why an object's body is not handed out.
enum Refused {
    Call(Box<SdkError<GetObjectError, HttpResponse>>),
    /// S3 says it is larger than the cap.
    TooLarge,
}

/// GetObject, refused before any of the body is read when S3 says it is larger than `limit`;
/// the body is a stream, and whoever reads it counts against `limit` too.
async fn open(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<ByteStream, Refused> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Refused::Call(Box::new(e)))?;
    if out
        .content_length()
        .is_some_and(|n| u64::try_from(n).unwrap_or(0) > limit)
    {
        return Err(Refused::TooLarge);
    }
    Ok(out.body)
}

impl Objects for LazyAws {
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<ObjectBody, ApiError> {
        match open(&self.clients().await.s3, bucket, key, limit).await {
            Ok(body) => Ok(Box::pin(body.into_async_read())),
            Err(Refused::Call(e)) => {
                Err(call_failed(&format!("GetObject s3://{bucket}/{key}"), &*e))
            }
            Err(Refused::TooLarge) => Err(ApiError::Other(format!(
                "s3://{bucket}/{key} is larger than {limit} bytes"
            ))),
        }
    }
}

/// GetObject calls in flight at once.
pub const IN_FLIGHT: usize = 8;

/// A client from the environment (credentials, region, `AWS_ENDPOINT_URL`); a local emulator
/// is addressed by path. Without a configured region, `fallback_region` (the home region), else
/// us-east-1.
pub async fn client(fallback_region: Option<&str>) -> aws_sdk_s3::Client {
    s3_client(&config::load(Some(fallback_region.unwrap_or("us-east-1"))).await)
}

pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// One page of keys (and the token of the next page, if any).
pub async fn list_page(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    token: Option<String>,
) -> Result<(Vec<String>, Option<String>), String> {
    let page = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_continuation_token(token)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let keys = page
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    let next = page
        .is_truncated()
        .unwrap_or(false)
        .then(|| page.next_continuation_token().map(str::to_owned))
        .flatten();
    Ok((keys, next))
}

/// An object held for a judge: in memory when small, else in a temporary file (removed when
/// this is dropped), so that the objects fetched ahead of the judges hold at most
/// [`IN_FLIGHT`] × [`SPILL_BYTES`] of memory.
pub enum Fetched {
    Bytes(Vec<u8>),
    Spilled(Spill),
}

/// Objects larger than this go to a temporary file as they arrive.
pub const SPILL_BYTES: usize = 8 * 1024 * 1024;

/// A temporary file, removed on drop.
pub struct Spill {
    path: std::path::PathBuf,
}

impl Spill {
    fn create() -> std::io::Result<(Spill, std::fs::File)> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("invokeguard-check-{}-{n}.part", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((Spill { path }, file))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The object, read from the response stream as it arrives (at most [`MAX_INPUT_BYTES`]).
pub async fn get(
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
) -> Result<Fetched, String> {
    use std::io::Write;

    let too_large = || format!("is larger than {MAX_INPUT_BYTES} bytes");
    let mut body = match open(&client, &bucket, &key, MAX_INPUT_BYTES).await {
        Ok(body) => body,
        Err(Refused::Call(e)) => return Err(format!("cannot read: {}", describe(&e))),
        Err(Refused::TooLarge) => return Err(too_large()),
    };
    let expected = body
        .size_hint()
        .1
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(SPILL_BYTES);
    let mut bytes = Vec::with_capacity(expected);
    let mut spilled: Option<(Spill, std::io::BufWriter<std::fs::File>)> = None;
    let mut total = 0u64;
    let spill_err = |e: std::io::Error| format!("cannot write a temporary file: {e}");
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("cannot read: {e}"))?
    {
        total += chunk.len() as u64;
        if total > MAX_INPUT_BYTES {
            return Err(too_large());
        }
        match &mut spilled {
            Some((_, file)) => file.write_all(&chunk).map_err(spill_err)?,
            None if bytes.len() + chunk.len() > SPILL_BYTES => {
                let (spill, file) = Spill::create().map_err(spill_err)?;
                let mut file = std::io::BufWriter::new(file);
                file.write_all(&bytes).map_err(spill_err)?;
                file.write_all(&chunk).map_err(spill_err)?;
                bytes = Vec::new();
                spilled = Some((spill, file));
            }
            None => bytes.extend_from_slice(&chunk),
        }
    }
    match spilled {
        Some((spill, mut file)) => {
            file.flush().map_err(spill_err)?;
            Ok(Fetched::Spilled(spill))
        }
        None => Ok(Fetched::Bytes(bytes)),
    }
}
