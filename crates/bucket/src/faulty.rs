//! A fault-injecting object store for the bucket's fault tests: compiled only with the
//! `fault-injection` feature, so shipped binaries do not carry it. Modelled on the storage
//! engine's `FaultyFs`: every request gets a number, and a test makes chosen numbers go
//! wrong, so it can fail every request of a scripted workload in turn.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use parking_lot::Mutex;

/// Requests a trace keeps at most (the newest ones): a trace is for short, scripted
/// workloads and for reading after a failure, not for a long run.
pub const REQUESTS_TRACED_MAX: usize = 1 << 16;

/// The `store` an injected error names.
const STORE_NAME: &str = "FaultyObjectStore";

/// What a request asked of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOp {
    /// `put_opts` with [`object_store::PutMode::Overwrite`] (or an update).
    Put,
    /// `put_opts` with [`object_store::PutMode::Create`]: a conditional create.
    Create,
    /// `put_multipart_opts`: the start of a multipart upload.
    PutMultipart,
    /// One part of a multipart upload.
    PutPart,
    /// The completion of a multipart upload.
    Complete,
    /// The abort of a multipart upload.
    Abort,
    /// `get_opts` returning bytes (a whole object or a range).
    Get,
    /// `get_opts` with `head`: metadata only.
    Head,
    /// `get_ranges`.
    GetRanges,
    /// `delete_stream` (one request however many keys: a bulk delete).
    Delete,
    /// `list` or `list_with_offset`.
    List,
    /// `list_with_delimiter`.
    ListWithDelimiter,
    /// `copy_opts`.
    Copy,
    /// `rename_opts`.
    Rename,
}

impl RequestOp {
    /// True for a single-request upload (`put_opts`), which [`FaultyObjectStore::partial_put`]
    /// can tear.
    pub fn is_put(self) -> bool {
        matches!(self, RequestOp::Put | RequestOp::Create)
    }

    /// True for a request that changes the bucket, whose answer
    /// [`FaultyObjectStore::lose_reply`] can lose after the change is made.
    pub fn changes(self) -> bool {
        matches!(
            self,
            RequestOp::Put
                | RequestOp::Create
                | RequestOp::PutPart
                | RequestOp::Complete
                | RequestOp::Abort
                | RequestOp::Delete
                | RequestOp::Copy
                | RequestOp::Rename
        )
    }
}

/// A fault that fired on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The request answered an error and changed nothing.
    Failed,
    /// The put stored only the first half of its payload and answered Ok.
    Torn,
    /// One bit of the returned bytes was flipped.
    Flipped,
    /// The request changed the bucket, then answered an error (its answer was lost).
    Lost,
}

/// One request, as recorded by [`FaultyObjectStore::trace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Its number: requests are counted from 0 in the order they were made.
    pub number: u64,
    /// What was asked.
    pub op: RequestOp,
    /// The key (or the prefix of a list, the first key of a delete, `from` of a copy).
    pub key: String,
    /// The fault that fired on it, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug, Default)]
struct Plan {
    /// Requests numbered so far: the number of the next one.
    requests: u64,
    /// Requests that answer an error ([`FaultyObjectStore::fail_request`]).
    fail: BTreeSet<u64>,
    /// An outage: every request from this number on fails until [`FaultyObjectStore::heal`].
    fail_from: Option<u64>,
    /// Puts that store only half their payload ([`FaultyObjectStore::partial_put`]).
    partial: BTreeSet<u64>,
    /// Gets whose bytes come back with a bit flipped ([`FaultyObjectStore::flip_on_get`]).
    flip: BTreeSet<u64>,
    /// Requests made whose answer is an error ([`FaultyObjectStore::lose_reply`]).
    lose: BTreeSet<u64>,
    /// Time every request waits before it is made (a slow or distant bucket).
    delay: Duration,
    /// Faults fired so far.
    fired: u64,
    /// The newest requests, oldest first (at most [`REQUESTS_TRACED_MAX`]).
    trace: VecDeque<Request>,
}

/// What to do with one request, decided when it is numbered.
struct Decision {
    number: u64,
    op: RequestOp,
    key: String,
    fault: Option<Fault>,
    delay: Duration,
}

impl Decision {
    /// The error an injected failure answers: what a 503 from the bucket becomes after
    /// `object_store`'s retries.
    fn error(&self) -> object_store::Error {
        object_store::Error::Generic {
            store: STORE_NAME,
            source: format!(
                "injected fault at request {}: {:?} {}: 503 Service Unavailable",
                self.number, self.op, self.key
            )
            .into(),
        }
    }

    /// What the request answers once made: `made`, unless its answer is lost.
    fn answer<T>(&self, made: object_store::Result<T>) -> object_store::Result<T> {
        match self.fault {
            Some(Fault::Lost) => made.and(Err(self.error())),
            _ => made,
        }
    }

    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

/// An object store that injects faults into another one: chosen requests fail, an outage
/// fails every request until healed, a request can reach the bucket and lose its answer, a
/// put can be torn, a get can return a flipped bit, and every request can be slowed down. Requests are numbered from 0 in the order they are
/// made (each method of [`ObjectStore`] is one request, as is each part, completion and
/// abort of a multipart upload), so with a deterministic workload a test can make each
/// request go wrong in turn. Clones share one plan and one count.
#[derive(Clone, Debug)]
pub struct FaultyObjectStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<Mutex<Plan>>,
}

impl fmt::Display for FaultyObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE_NAME}({})", self.inner)
    }
}

impl FaultyObjectStore {
    /// `inner` with no faults planned.
    pub fn new(inner: Arc<dyn ObjectStore>) -> FaultyObjectStore {
        FaultyObjectStore {
            inner,
            plan: Arc::new(Mutex::new(Plan::default())),
        }
    }

    /// Makes request `number` answer an error (a 503 after retries) and change nothing.
    pub fn fail_request(&self, number: u64) {
        self.plan.lock().fail.insert(number);
    }

    /// An outage: every request from `number` on fails until [`Self::heal`].
    pub fn fail_from(&self, number: u64) {
        self.plan.lock().fail_from = Some(number);
    }

    /// Ends the outage [`Self::fail_from`] started.
    pub fn heal(&self) {
        self.plan.lock().fail_from = None;
    }

    /// Makes every request wait `delay` before it is made.
    pub fn slow(&self, delay: Duration) {
        self.plan.lock().delay = delay;
    }

    /// If request `number` is a single put (`put_opts`, plain or conditional), it stores only
    /// the first half of its payload and answers Ok: a torn object, which only reading it
    /// back can tell. Any other request is unaffected.
    pub fn partial_put(&self, number: u64) {
        self.plan.lock().partial.insert(number);
    }

    /// If request `number` is a get of bytes, the byte in the middle of what it returns has
    /// its lowest bit flipped (nothing is flipped in an empty answer). Any other request is
    /// unaffected.
    pub fn flip_on_get(&self, number: u64) {
        self.plan.lock().flip.insert(number);
    }

    /// Makes request `number` reach the bucket and then answer an error, as a timeout or a
    /// 500 after the bucket made the change does: a put is stored, a create wins its key, a
    /// delete removes. A request that changes nothing simply fails.
    pub fn lose_reply(&self, number: u64) {
        self.plan.lock().lose.insert(number);
    }

    /// Requests numbered so far: the number the next request gets.
    pub fn requests(&self) -> u64 {
        self.plan.lock().requests
    }

    /// Faults fired so far.
    pub fn fired(&self) -> u64 {
        self.plan.lock().fired
    }

    /// The newest requests (at most [`REQUESTS_TRACED_MAX`]), oldest first.
    pub fn trace(&self) -> Vec<Request> {
        self.plan.lock().trace.iter().cloned().collect()
    }

    /// Numbers the request and decides its fault.
    fn begin(&self, op: RequestOp, key: String) -> Decision {
        let mut plan = self.plan.lock();
        let number = plan.requests;
        plan.requests += 1;
        let fault = if plan.fail.contains(&number) || plan.fail_from.is_some_and(|k| number >= k) {
            Some(Fault::Failed)
        } else if op.is_put() && plan.partial.contains(&number) {
            Some(Fault::Torn)
        } else if op == RequestOp::Get && plan.flip.contains(&number) {
            Some(Fault::Flipped)
        } else if plan.lose.contains(&number) {
            Some(if op.changes() {
                Fault::Lost
            } else {
                Fault::Failed
            })
        } else {
            None
        };
        plan.fired += u64::from(fault.is_some());
        if plan.trace.len() >= REQUESTS_TRACED_MAX {
            plan.trace.pop_front();
        }
        plan.trace.push_back(Request {
            number,
            op,
            key: key.clone(),
            fault,
        });
        Decision {
            number,
            op,
            key,
            fault,
            delay: plan.delay,
        }
    }
}

/// `stream` with the lowest bit of byte `at` flipped.
fn flip_at(
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    at: u64,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    let mut start = 0u64;
    stream
        .map(move |chunk| {
            chunk.map(|c| {
                let end = start + c.len() as u64;
                let hit = (start..end).contains(&at);
                let offset = at.saturating_sub(start) as usize;
                start = end;
                if !hit {
                    return c;
                }
                let mut bytes = c.to_vec();
                if let Some(b) = bytes.get_mut(offset) {
                    *b ^= 1;
                }
                Bytes::from(bytes)
            })
        })
        .boxed()
}

/// `inner` after `delay`, or one error after it when `error` is set.
fn delayed_stream<T: Send + 'static>(
    delay: Duration,
    error: Option<object_store::Error>,
    inner: BoxStream<'static, object_store::Result<T>>,
) -> BoxStream<'static, object_store::Result<T>> {
    if let Some(e) = error {
        return futures::stream::once(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Err(e)
        })
        .boxed();
    }
    if delay.is_zero() {
        return inner;
    }
    futures::stream::once(async move {
        tokio::time::sleep(delay).await;
        inner
    })
    .flatten()
    .boxed()
}

#[async_trait]
impl ObjectStore for FaultyObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let op = match opts.mode {
            object_store::PutMode::Create => RequestOp::Create,
            _ => RequestOp::Put,
        };
        let d = self.begin(op, location.to_string());
        d.wait().await;
        match d.fault {
            Some(Fault::Failed) => Err(d.error()),
            Some(Fault::Torn) => {
                let bytes = Bytes::from(payload);
                let half = bytes.slice(..bytes.len() / 2);
                self.inner
                    .put_opts(location, PutPayload::from(half), opts)
                    .await
            }
            _ => d.answer(self.inner.put_opts(location, payload, opts).await),
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let d = self.begin(RequestOp::PutMultipart, location.to_string());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            inner,
            store: self.clone(),
            key: location.to_string(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head {
            RequestOp::Head
        } else {
            RequestOp::Get
        };
        let d = self.begin(op, location.to_string());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        let mut got = self.inner.get_opts(location, options).await?;
        if d.fault != Some(Fault::Flipped) {
            return Ok(got);
        }
        let meta = got.meta.clone();
        let range = got.range.clone();
        let attributes = std::mem::take(&mut got.attributes);
        let extensions = std::mem::take(&mut got.extensions);
        let middle = (range.end - range.start) / 2;
        let stream = flip_at(got.into_stream(), middle);
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream),
            meta,
            range,
            attributes,
            extensions,
        })
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let d = self.begin(RequestOp::GetRanges, location.to_string());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // The keys are known only as the stream is read; the trace names the request by
        // the call, which for annal (one key per delete) is enough.
        let d = self.begin(RequestOp::Delete, String::new());
        let error = (d.fault == Some(Fault::Failed)).then(|| d.error());
        let inner = if error.is_some() {
            futures::stream::empty().boxed()
        } else {
            self.inner.delete_stream(locations)
        };
        if d.fault == Some(Fault::Lost) {
            // Every delete is made, then the answer is an error.
            let lost = d.error();
            let made = futures::stream::once(async move {
                inner.for_each(|_| async {}).await;
                Err(lost)
            });
            return delayed_stream(d.delay, None, made.boxed());
        }
        delayed_stream(d.delay, error, inner)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let d = self.begin(
            RequestOp::List,
            prefix.map(Path::to_string).unwrap_or_default(),
        );
        let error = (d.fault == Some(Fault::Failed)).then(|| d.error());
        delayed_stream(d.delay, error, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let d = self.begin(
            RequestOp::List,
            prefix.map(Path::to_string).unwrap_or_default(),
        );
        let error = (d.fault == Some(Fault::Failed)).then(|| d.error());
        delayed_stream(d.delay, error, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let d = self.begin(
            RequestOp::ListWithDelimiter,
            prefix.map(Path::to_string).unwrap_or_default(),
        );
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let d = self.begin(RequestOp::Copy, from.to_string());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        d.answer(self.inner.copy_opts(from, to, options).await)
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let d = self.begin(RequestOp::Rename, from.to_string());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        d.answer(self.inner.rename_opts(from, to, options).await)
    }
}

/// A multipart upload through a [`FaultyObjectStore`]: each part, the completion and an
/// abort are numbered requests of that store.
#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    store: FaultyObjectStore,
    key: String,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let d = self.store.begin(RequestOp::PutPart, self.key.clone());
        if d.fault == Some(Fault::Failed) {
            // The part is never handed to the inner upload: a failed request stores nothing.
            return Box::pin(async move {
                d.wait().await;
                Err(d.error())
            });
        }
        let part = self.inner.put_part(data);
        Box::pin(async move {
            d.wait().await;
            d.answer(part.await)
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let d = self.store.begin(RequestOp::Complete, self.key.clone());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        d.answer(self.inner.complete().await)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let d = self.store.begin(RequestOp::Abort, self.key.clone());
        d.wait().await;
        if d.fault == Some(Fault::Failed) {
            return Err(d.error());
        }
        d.answer(self.inner.abort().await)
    }
}
