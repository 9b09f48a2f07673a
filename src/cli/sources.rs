//! S3 for `check`: listing a prefix and fetching its objects.

#[cfg(feature = "aws")]
pub(crate) mod s3 {
    //! ListObjectsV2 (paginated) and GetObject (streamed, several in flight) for `s3://` sources.

    use std::time::Duration;

    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_s3::error::ProvideErrorMetadata;

    use crate::record::MAX_INPUT_BYTES;

    /// GetObject calls in flight at once.
    pub const IN_FLIGHT: usize = 8;

    /// A client from the environment (credentials, region, `AWS_ENDPOINT_URL`); a local emulator
    /// is addressed by path. Without a configured region, `fallback_region` (the home region).
    pub async fn client(fallback_region: Option<&str>) -> aws_sdk_s3::Client {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new(
                fallback_region.unwrap_or("us-east-1").to_owned(),
            ));
        }
        let base = loader.load().await;
        let config = base
            .to_builder()
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(180))
                    .build(),
            )
            .build();
        crate::sdk::s3_client(&config)
    }

    pub fn describe<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
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
            let path = std::env::temp_dir()
                .join(format!("invokeguard-check-{}-{n}.part", std::process::id()));
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

        let resp = client
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| format!("cannot read: {}", describe(&e)))?;
        let expected = resp
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(SPILL_BYTES);
        let mut body = resp.body;
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
                return Err(format!("is larger than {MAX_INPUT_BYTES} bytes"));
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
}
