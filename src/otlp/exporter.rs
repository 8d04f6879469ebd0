//! The OTLP/HTTP exporter: spans to any OpenTelemetry Collector, Jaeger,
//! Tempo, or another `tracelite serve`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use prost::Message;

use super::{from_span_data, json, proto};
use crate::export::SpanExporter;
use crate::trace::{ConfigError, ExportError, SpanData};

/// How spans are encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `http/protobuf` (the default).
    #[default]
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
}

/// Counts of what an [`OtlpExporter`] did.
#[derive(Debug, Default)]
pub struct OtlpExporterStats {
    /// Spans the endpoint accepted.
    pub exported: AtomicU64,
    /// Spans the endpoint rejected in a partial success.
    pub rejected: AtomicU64,
    /// Requests retried (429, 502, 503, 504, connection errors).
    pub retries: AtomicU64,
    /// Batches given up on.
    pub failed_batches: AtomicU64,
}

/// Settings for an [`OtlpExporter`]; start from [`OtlpExporter::builder`].
#[derive(Clone, Debug)]
pub struct OtlpExporterBuilder {
    endpoint: String,
    headers: Vec<(String, String)>,
    protocol: Protocol,
    gzip: bool,
    timeout: Duration,
}

impl OtlpExporterBuilder {
    /// The full URL to POST to (default `http://localhost:4318/v1/traces`).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// Adds a header to every request (e.g. an API key).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Protobuf (default) or JSON.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Compresses request bodies with gzip (off by default).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// How long one export may take, retries included (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the exporter (it starts one small thread for its HTTP client).
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        let uri: http::Uri = self
            .endpoint
            .parse()
            .map_err(|e| ConfigError::new("endpoint", &self.endpoint, format!("not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(ConfigError::new(
                    "endpoint",
                    &self.endpoint,
                    "https needs a TLS client, which this build does not include; send to a local \
                     collector over http",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    "endpoint",
                    &self.endpoint,
                    "must start with http://",
                ))
            }
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| ConfigError::new("header name", k, "not a valid header name"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| ConfigError::new("header value", v, "not a valid header value"))?;
            headers.append(name, value);
        }
        let (jobs, receiver) = mpsc::channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new("runtime", "tokio", e.to_string()))?;
        std::thread::Builder::new()
            .name("tracelite-otlp-export".into())
            .spawn(move || {
                let client: Client<HttpConnector, Full<Bytes>> =
                    runtime.block_on(async { Client::builder(TokioExecutor::new()).build_http() });
                while let Ok(job) = receiver.recv() {
                    let result = runtime.block_on(send(&client, &job));
                    let _ = job.reply.send(result);
                }
            })
            .map_err(|e| ConfigError::new("thread", "tracelite-otlp-export", e.to_string()))?;
        Ok(OtlpExporter {
            uri,
            headers,
            protocol: self.protocol,
            gzip: self.gzip,
            timeout: self.timeout,
            jobs: Mutex::new(Some(jobs)),
            stats: Arc::default(),
        })
    }
}

/// Sends spans over OTLP/HTTP: protobuf by default, JSON on request, gzip
/// optional; endpoint, headers, protocol, compression and timeout from the
/// builder or the standard `OTEL_EXPORTER_OTLP_*` variables. Retries with
/// exponential backoff and jitter on 429, 502, 503, 504 and connection
/// errors, honouring `Retry-After`, within the timeout; other 4xx are not
/// retried. Partial successes are logged once and counted.
///
/// Use it behind a [`BatchSpanProcessor`](crate::BatchSpanProcessor):
/// `export` blocks until the endpoint answers.
///
/// ```no_run
/// use tracelite::otlp::OtlpExporter;
/// use tracelite::{BatchSpanProcessor, TracerProvider};
///
/// let exporter = OtlpExporter::builder()
///     .with_endpoint("http://127.0.0.1:4318/v1/traces")
///     .build()?;
/// let provider = TracerProvider::builder()
///     .with_processor(BatchSpanProcessor::new(exporter))
///     .build();
/// # Ok::<(), tracelite::ConfigError>(())
/// ```
pub struct OtlpExporter {
    uri: http::Uri,
    headers: HeaderMap,
    protocol: Protocol,
    gzip: bool,
    timeout: Duration,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    stats: Arc<OtlpExporterStats>,
}

struct Job {
    request: Request<Full<Bytes>>,
    deadline: Instant,
    stats: Arc<OtlpExporterStats>,
    reply: mpsc::Sender<Result<proto::ExportTraceServiceResponse, ExportError>>,
    protocol: Protocol,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.uri)
            .field("protocol", &self.protocol)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Settings from the `OTEL_EXPORTER_OTLP_*` variables (or the defaults).
    pub fn builder() -> OtlpExporterBuilder {
        builder_from(|k| std::env::var(k).ok())
    }

    /// The exporter's counters.
    pub fn stats(&self) -> Arc<OtlpExporterStats> {
        self.stats.clone()
    }
}

fn builder_from(get: impl Fn(&str) -> Option<String>) -> OtlpExporterBuilder {
    let either = |traces: &str, general: &str| get(traces).or_else(|| get(general));
    let endpoint = match (
        get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(e), _) => e,
        (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
        (None, None) => "http://localhost:4318/v1/traces".to_string(),
    };
    let headers = either(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    )
    .map(|h| {
        h.split(',')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                let v = crate::trace::resource::percent_decode(v.trim())?;
                Some((k.trim().to_string(), v))
            })
            .collect()
    })
    .unwrap_or_default();
    let protocol = match either(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    )
    .as_deref()
    {
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some("http/json") => Protocol::HttpJson,
        Some(other) => {
            crate::diagnostics::warn(&format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported (http/protobuf or \
                 http/json); using http/protobuf"
            ));
            Protocol::HttpProtobuf
        }
    };
    let gzip = either(
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    )
    .is_some_and(|c| c.trim() == "gzip");
    let timeout = either(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    )
    .and_then(|t| t.trim().parse::<u64>().ok())
    .map_or(Duration::from_secs(10), Duration::from_millis);
    OtlpExporterBuilder {
        endpoint,
        headers,
        protocol,
        gzip,
        timeout,
    }
}

/// Statuses worth retrying (the OTLP/HTTP spec's list).
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    job: &Job,
) -> Result<proto::ExportTraceServiceResponse, ExportError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let left = job.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExportError::Timeout(Duration::ZERO));
        }
        let request = clone_request(&job.request);
        let outcome = tokio::time::timeout(left, client.request(request)).await;
        let wait = match outcome {
            Err(_) => return Err(ExportError::Timeout(left)),
            // Connection errors: retry.
            Ok(Err(_)) => None,
            Ok(Ok(response)) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(30)));
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if status.is_success() {
                    let decoded = match job.protocol {
                        Protocol::HttpProtobuf => {
                            proto::ExportTraceServiceResponse::decode(body).unwrap_or_default()
                        }
                        Protocol::HttpJson => decode_json_response(&body),
                    };
                    return Ok(decoded);
                }
                if !retryable(status) {
                    return Err(ExportError::Failed(format!(
                        "the endpoint answered {status}: {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    )));
                }
                retry_after
            }
        };
        if attempt >= 6 {
            return Err(ExportError::Failed(format!(
                "the endpoint was unavailable after {attempt} attempts"
            )));
        }
        // Exponential backoff with ±50% jitter, or what Retry-After says.
        let jitter = 0.5 + (crate::trace::id::random_span_id().to_u64() % 1000) as f64 / 1000.0;
        let delay = wait.unwrap_or_else(|| backoff.mul_f64(jitter));
        if delay >= job.deadline.saturating_duration_since(Instant::now()) {
            return Err(ExportError::Timeout(delay));
        }
        job.stats.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn decode_json_response(body: &[u8]) -> proto::ExportTraceServiceResponse {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let p = &v["partialSuccess"];
    let rejected = match &p["rejectedSpans"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        n => n.as_i64().unwrap_or(0),
    };
    proto::ExportTraceServiceResponse {
        partial_success: p.is_object().then(|| proto::ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: p["errorMessage"].as_str().unwrap_or("").to_string(),
        }),
    }
}

fn clone_request(r: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut out = Request::new(r.body().clone());
    *out.method_mut() = r.method().clone();
    *out.uri_mut() = r.uri().clone();
    *out.headers_mut() = r.headers().clone();
    out
}

impl SpanExporter for OtlpExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let message = from_span_data(batch);
        let (mut body, content_type) = match self.protocol {
            Protocol::HttpProtobuf => (message.encode_to_vec(), "application/x-protobuf"),
            Protocol::HttpJson => (json::encode_request(&message), "application/json"),
        };
        let mut builder = Request::post(self.uri.clone()).header("content-type", content_type);
        if self.gzip {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = e.write_all(&body);
            body = e.finish().unwrap_or_default();
            builder = builder.header("content-encoding", "gzip");
        }
        let mut request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ExportError::Failed(e.to_string()))?;
        for (k, v) in &self.headers {
            request.headers_mut().append(k, v.clone());
        }
        let (reply, answer) = mpsc::channel();
        let job = Job {
            request,
            deadline: Instant::now() + self.timeout,
            stats: self.stats.clone(),
            reply,
            protocol: self.protocol,
        };
        let sent = match &*self.jobs.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => return Err(ExportError::AlreadyShutdown),
        };
        if !sent {
            return Err(ExportError::Failed("the export thread is gone".into()));
        }
        let result = answer
            .recv_timeout(self.timeout + Duration::from_secs(1))
            .unwrap_or(Err(ExportError::Timeout(self.timeout)));
        match result {
            Ok(response) => {
                let rejected = response
                    .partial_success
                    .as_ref()
                    .map_or(0, |p| p.rejected_spans.max(0) as u64);
                if rejected > 0 && self.stats.rejected.fetch_add(rejected, Ordering::Relaxed) == 0 {
                    let why = response
                        .partial_success
                        .map(|p| p.error_message)
                        .unwrap_or_default();
                    crate::diagnostics::warn(&format!(
                        "the OTLP endpoint rejected {rejected} spans: {why} (later rejections are \
                         counted)"
                    ));
                }
                self.stats.exported.fetch_add(
                    batch.len() as u64 - rejected.min(batch.len() as u64),
                    Ordering::Relaxed,
                );
                Ok(())
            }
            Err(e) => {
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_variables() {
        let env: HashMap<&str, &str> = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%20ecret, x-team = core",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]
        .into_iter()
        .collect();
        let b = builder_from(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(b.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(
            b.headers,
            [
                ("api-key".to_string(), "s ecret".to_string()),
                ("x-team".into(), "core".into())
            ]
        );
        assert_eq!(b.protocol, Protocol::HttpJson);
        assert!(b.gzip);
        assert_eq!(b.timeout, Duration::from_millis(2500));
        let b = builder_from(|k| {
            (k == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| "http://x:1/custom".to_string())
        });
        assert_eq!(b.endpoint, "http://x:1/custom");
        assert!(builder_from(|_| None).endpoint.ends_with(":4318/v1/traces"));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        assert!(builder_from(|_| None)
            .with_endpoint("not a url")
            .build()
            .is_err());
        assert!(builder_from(|_| None)
            .with_endpoint("https://x/v1/traces")
            .build()
            .is_err());
        assert!(builder_from(|_| None)
            .with_header("bad name", "v")
            .build()
            .is_err());
    }
}
