//! The OTLP/HTTP receiver: `POST /v1/traces` as a Tower service, feeding a
//! bounded queue that a writer thread empties into the store.

use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use prost::Message;

use super::{convert, json, proto};
use crate::store::Store;
use crate::trace::SpanData;

/// The largest request body accepted by default (16 MiB), compressed or not.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// `google.rpc.Status`, the body of OTLP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Counts of what the ingest queue did.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Spans accepted into the queue.
    pub accepted: AtomicU64,
    /// Spans written to the store.
    pub written: AtomicU64,
    /// Spans the store refused (after acceptance: a full disk, say).
    pub failed: AtomicU64,
    /// Requests refused with 503 because the queue was full.
    pub refused_requests: AtomicU64,
    /// Spans rejected for invalid ids.
    pub rejected: AtomicU64,
}

/// A bounded queue of received spans and the thread that writes them to a
/// store, several requests per transaction when they pile up.
pub struct IngestQueue {
    sender: Mutex<Option<SyncSender<Vec<SpanData>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<IngestCounters>,
}

impl IngestQueue {
    /// A queue of at most `capacity` requests in front of `store`.
    pub fn new(store: Store, capacity: usize) -> Arc<IngestQueue> {
        let (sender, receiver) = mpsc::sync_channel::<Vec<SpanData>>(capacity.max(1));
        let counters = Arc::new(IngestCounters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("tracelite-otlp-ingest".into())
            .spawn(move || write_loop(store, receiver, c))
            .ok();
        Arc::new(IngestQueue {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(thread),
            counters,
        })
    }

    /// The counters.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Queues spans; `false` when the queue is full or closed.
    fn offer(&self, spans: Vec<SpanData>) -> bool {
        let n = spans.len() as u64;
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        match sender.as_ref().map(|s| s.try_send(spans)) {
            Some(Ok(())) => {
                self.counters.accepted.fetch_add(n, Ordering::Relaxed);
                true
            }
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
        }
    }

    /// Stops taking spans, writes everything accepted, and waits for the
    /// writer. Idempotent.
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for IngestQueue {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(store: Store, receiver: Receiver<Vec<SpanData>>, counters: Arc<IngestCounters>) {
    while let Ok(mut batch) = receiver.recv() {
        // Requests that queued up meanwhile share one transaction.
        while batch.len() < 4096 {
            match receiver.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match store.ingest(&batch) {
            Ok(_) => counters.written.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                if counters.failed.fetch_add(n, Ordering::Relaxed) == 0 {
                    crate::diagnostics::warn(&format!(
                        "storing {n} received spans failed: {e} (later failures are counted)"
                    ));
                }
                0
            }
        };
    }
}

/// The OTLP/HTTP trace receiver as a Tower service.
///
/// `POST /v1/traces` (any prefix) with `application/x-protobuf` or
/// `application/json`, plain or `Content-Encoding: gzip`. Answers an
/// `ExportTraceServiceResponse` in the request's encoding, with partial
/// success for spans with invalid ids; `400` with a `google.rpc.Status` for
/// a body that does not decode; `415` for another content type or encoding;
/// `413` beyond the body limit (checked while reading, before and after
/// decompression); `503` with `Retry-After` when the ingest queue is full
/// (nothing of that request is kept, so the sender's retry loses nothing).
#[derive(Clone)]
pub struct OtlpReceiver {
    queue: Arc<IngestQueue>,
    max_body: usize,
}

impl OtlpReceiver {
    /// A receiver feeding `queue`.
    pub fn new(queue: Arc<IngestQueue>) -> OtlpReceiver {
        OtlpReceiver {
            queue,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Refuses bodies larger than `bytes` (default 16 MiB).
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes.max(1);
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

fn reply(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let ct = match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    response
}

fn failure(status: StatusCode, encoding: Encoding, message: String) -> Response<Full<Bytes>> {
    // gRPC codes: 3 invalid argument, 8 resource exhausted, 14 unavailable.
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::PAYLOAD_TOO_LARGE => 8,
        _ => 3,
    };
    let body = match encoding {
        Encoding::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    reply(status, encoding, body)
}

impl<B> tower::Service<Request<B>> for OtlpReceiver
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}

impl OtlpReceiver {
    async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let encoding = match content_type.as_str() {
            "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
            "application/json" => Encoding::Json,
            _ => {
                return failure(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Encoding::Json,
                    format!(
                        "content type {content_type:?} is not supported; send \
                         application/x-protobuf or application/json"
                    ),
                )
            }
        };
        if !request.uri().path().ends_with("/v1/traces") {
            return failure(
                StatusCode::NOT_FOUND,
                encoding,
                "only /v1/traces is served here".into(),
            );
        }
        if request.method() != Method::POST {
            return failure(
                StatusCode::METHOD_NOT_ALLOWED,
                encoding,
                "send traces with POST".into(),
            );
        }
        let gzip = match request
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("identity") => false,
            Some("gzip") => true,
            Some(other) => {
                return failure(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    encoding,
                    format!("content encoding {other:?} is not supported; use gzip or none"),
                )
            }
        };
        // Read at most the limit, refusing as soon as it is passed.
        let body = match Limited::new(request.into_body(), self.max_body)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return failure(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    encoding,
                    format!("the body exceeds {} bytes", self.max_body),
                )
            }
            Err(e) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    encoding,
                    format!("cannot read the body: {e}"),
                )
            }
        };
        let body = if gzip {
            let mut out = Vec::new();
            let limit = self.max_body as u64;
            match flate2::read::GzDecoder::new(&body[..])
                .take(limit + 1)
                .read_to_end(&mut out)
            {
                Ok(_) if out.len() as u64 > limit => {
                    return failure(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        encoding,
                        format!("the decompressed body exceeds {} bytes", self.max_body),
                    )
                }
                Ok(_) => Bytes::from(out),
                Err(e) => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        encoding,
                        format!("the body is not valid gzip: {e}"),
                    )
                }
            }
        } else {
            body
        };
        let decoded = match encoding {
            Encoding::Protobuf => proto::ExportTraceServiceRequest::decode(body)
                .map_err(|e| format!("not an ExportTraceServiceRequest: {e}")),
            Encoding::Json => json::decode_request(&body).map_err(|e| e.0),
        };
        let request = match decoded {
            Ok(r) => r,
            Err(msg) => return failure(StatusCode::BAD_REQUEST, encoding, msg),
        };
        let converted = convert::to_span_data(request);
        let counters = self.queue.counters();
        if !converted.spans.is_empty() && !self.queue.offer(converted.spans) {
            counters.refused_requests.fetch_add(1, Ordering::Relaxed);
            let mut response = failure(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                "the ingest queue is full; retry shortly".into(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        counters
            .rejected
            .fetch_add(converted.rejected, Ordering::Relaxed);
        let response = proto::ExportTraceServiceResponse {
            partial_success: (converted.rejected > 0).then(|| proto::ExportTracePartialSuccess {
                rejected_spans: converted.rejected as i64,
                error_message: converted.error.unwrap_or_default(),
            }),
        };
        let body = match encoding {
            Encoding::Protobuf => response.encode_to_vec(),
            Encoding::Json => json::encode_response(&response),
        };
        reply(StatusCode::OK, encoding, body)
    }
}
