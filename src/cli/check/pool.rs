//! One thread enumerates the sources (files, directories, S3 prefixes) and hands each file to
//! a pool of threads that judge them; the writer gets a slot per file in input order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

#[cfg(feature = "aws")]
use super::judge::{FileResult, Source, judge};
use super::judge::{Lines, PIECES_IN_FLIGHT, Piece, judge_path};
use super::sources::{self, Range, Skipped};
use crate::allowlist::Allowlist;
use crate::record::event::{FileKind, file_kind};
#[cfg(feature = "aws")]
use crate::sdk::s3;

/// What the dispatcher hands the writer, in input order.
pub(super) enum Slot {
    File(Receiver<Piece>),
    Note(String),
    Error(String),
    /// More files to come (for the progress bar).
    Total(usize),
}

/// One file for a worker, and where its lines go.
pub(super) struct Job {
    body: Body,
    done: SyncSender<Piece>,
}

enum Body {
    Path(PathBuf),
    #[cfg(feature = "aws")]
    Bytes {
        origin: String,
        bytes: Vec<u8>,
    },
    /// An S3 object too large to hold, in a temporary file.
    #[cfg(feature = "aws")]
    Spilled {
        origin: String,
        file: s3::Spill,
    },
    #[cfg(feature = "aws")]
    Failed(String),
}

/// The writer went away (it failed to write): stop.
pub(super) struct Stopped;

fn submit(body: Body, jobs: &SyncSender<Job>, slots: &SyncSender<Slot>) -> Result<(), Stopped> {
    let (done, rx) = sync_channel(PIECES_IN_FLIGHT);
    slots.send(Slot::File(rx)).map_err(|_| Stopped)?;
    jobs.send(Job { body, done }).map_err(|_| Stopped)
}

/// Enumerates the sources in order: a slot per file for the writer, a job per file for the
/// workers. `region` is the S3 client's when none is configured.
#[cfg_attr(not(feature = "aws"), allow(unused_variables))]
pub(super) fn dispatch(
    sources: &[PathBuf],
    range: Range,
    region: Option<&str>,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    #[cfg(feature = "aws")]
    let mut s3 = S3Sources { region };
    for source in sources {
        let name = source.display().to_string();
        if let Some(url) = source.to_str().and_then(sources::parse_s3_url) {
            match url {
                Err(e) => send(Slot::Error(format!("error: {e}")))?,
                #[cfg(feature = "aws")]
                Ok((bucket, prefix)) => s3.dispatch(&name, bucket, prefix, range, jobs, slots)?,
                #[cfg(not(feature = "aws"))]
                Ok(_) => send(Slot::Error(format!(
                    "error: {name}: reading S3 needs invokeguard built with the `aws` feature"
                )))?,
            }
            continue;
        }
        if name != "-" && std::fs::metadata(source).is_ok_and(|m| m.is_dir()) {
            dispatch_dir(source, &name, range, jobs, slots)?;
            continue;
        }
        if name != "-" && !range.admits(sources::day_in_path(&name)) {
            send(Slot::Note(format!(
                "note: {name}: outside --since/--until, not read"
            )))?;
            continue;
        }
        send(Slot::Total(1))?;
        submit(Body::Path(source.clone()), jobs, slots)?;
    }
    Ok(())
}

fn dispatch_dir(
    dir: &Path,
    name: &str,
    range: Range,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    let files = match sources::walk(dir) {
        Ok(files) => files,
        Err(e) => return send(Slot::Error(format!("error: {name}: cannot read: {e}"))),
    };
    let mut skipped = Skipped::default();
    let mut trails = 0usize;
    let mut admitted = Vec::new();
    for f in files {
        let path = f.display().to_string();
        let relative = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
        match file_kind(&relative) {
            FileKind::Digest => skipped.digests += 1,
            FileKind::Other => {
                skipped.others += 1;
                skipped.example.get_or_insert(path);
            }
            FileKind::Trail => {
                trails += 1;
                if range.admits(sources::day_in_path(&path)) {
                    admitted.push(f);
                } else {
                    skipped.out_of_range += 1;
                }
            }
        }
    }
    if trails == 0 {
        return send(Slot::Error(format!(
            "error: {name}: is a directory with no trail files (*.json.gz) in it"
        )));
    }
    if let Some(note) = skipped.note(name) {
        send(Slot::Note(note))?;
    }
    send(Slot::Total(admitted.len()))?;
    for f in admitted {
        submit(Body::Path(f), jobs, slots)?;
    }
    Ok(())
}

/// The `s3://` sources of a run, listed and fetched on the CLI's one runtime.
#[cfg(feature = "aws")]
struct S3Sources<'r> {
    region: Option<&'r str>,
}

#[cfg(feature = "aws")]
impl S3Sources<'_> {
    fn dispatch(
        &mut self,
        name: &str,
        bucket: String,
        prefix: String,
        range: Range,
        jobs: &SyncSender<Job>,
        slots: &SyncSender<Slot>,
    ) -> Result<(), Stopped> {
        let rt = match crate::cli::runtime::runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let e = format!("error: {name}: {e}");
                return slots.send(Slot::Error(e)).map_err(|_| Stopped);
            }
        };
        rt.block_on(dispatch_s3(
            name,
            bucket,
            prefix,
            range,
            self.region,
            jobs,
            slots,
        ))
    }
}

#[cfg(feature = "aws")]
async fn dispatch_s3(
    name: &str,
    bucket: String,
    prefix: String,
    range: Range,
    region: Option<&str>,
    jobs: &SyncSender<Job>,
    slots: &SyncSender<Slot>,
) -> Result<(), Stopped> {
    enum Item {
        Total(usize),
        Fetch(String, tokio::task::JoinHandle<Result<s3::Fetched, String>>),
        Failed(String),
        Done(usize, Skipped),
    }
    let client = s3::client(region).await;
    // Fetches start as keys are listed; the channel's bound keeps at most IN_FLIGHT of them
    // (and their bodies) ahead of the judges.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(s3::IN_FLIGHT);
    let url = name.to_owned();
    let lister = tokio::spawn(async move {
        let mut token = None;
        let mut skipped = Skipped::default();
        let mut trails = 0usize;
        loop {
            let (keys, next) = match s3::list_page(&client, &bucket, &prefix, token).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx
                        .send(Item::Failed(format!("error: {url}: cannot list: {e}")))
                        .await;
                    return;
                }
            };
            let mut admitted = Vec::new();
            for key in keys {
                match file_kind(&key) {
                    FileKind::Digest => skipped.digests += 1,
                    FileKind::Other => {
                        skipped.others += 1;
                        skipped
                            .example
                            .get_or_insert_with(|| format!("s3://{bucket}/{key}"));
                    }
                    FileKind::Trail if range.admits(sources::day_in_path(&key)) => {
                        trails += 1;
                        admitted.push(key);
                    }
                    FileKind::Trail => {
                        trails += 1;
                        skipped.out_of_range += 1;
                    }
                }
            }
            if tx.send(Item::Total(admitted.len())).await.is_err() {
                return;
            }
            for key in admitted {
                let origin = format!("s3://{bucket}/{key}");
                let fetch = tokio::spawn(s3::get(client.clone(), bucket.clone(), key));
                if tx.send(Item::Fetch(origin, fetch)).await.is_err() {
                    return;
                }
            }
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let _ = tx.send(Item::Done(trails, skipped)).await;
    });
    let send = |slot: Slot| slots.send(slot).map_err(|_| Stopped);
    let mut result = Ok(());
    while let Some(item) = rx.recv().await {
        result = match item {
            Item::Total(n) => send(Slot::Total(n)),
            Item::Failed(e) => send(Slot::Error(e)),
            Item::Fetch(origin, fetch) => {
                let body = match fetch.await {
                    Ok(Ok(s3::Fetched::Bytes(bytes))) => Body::Bytes { origin, bytes },
                    Ok(Ok(s3::Fetched::Spilled(file))) => Body::Spilled { origin, file },
                    Ok(Err(e)) => Body::Failed(format!("error: {origin}: {e}")),
                    Err(e) => Body::Failed(format!("error: {origin}: cannot read: {e}")),
                };
                submit(body, jobs, slots)
            }
            Item::Done(0, _) => send(Slot::Error(format!(
                "error: {name}: no trail files (*.json.gz) under it"
            ))),
            Item::Done(_, skipped) => match skipped.note(name) {
                Some(note) => send(Slot::Note(note)),
                None => Ok(()),
            },
        };
        if result.is_err() {
            lister.abort();
            break;
        }
    }
    result
}

/// A worker: judges the files it is handed until the jobs run out.
pub(super) fn work(allowlist: &Allowlist, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let mut lines = Lines::to(job.done.clone());
        let result = match job.body {
            Body::Path(path) => judge_path(allowlist, &path, &mut lines),
            #[cfg(feature = "aws")]
            Body::Bytes { origin, bytes } => {
                judge(allowlist, &Source::Bytes(&bytes), &origin, &mut lines)
            }
            #[cfg(feature = "aws")]
            Body::Spilled { origin, file } => {
                judge(allowlist, &Source::File(file.path()), &origin, &mut lines)
            }
            #[cfg(feature = "aws")]
            Body::Failed(message) => FileResult::failed(message),
        };
        lines.finish(result);
    }
}
