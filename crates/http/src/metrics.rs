//! `GET /metrics`: what operators scrape, in the Prometheus text format (or OpenMetrics when
//! the scraper asks for it), through the Prometheus project's `prometheus-client`.
//!
//! Two kinds of series: those counted as requests are answered ([`RequestMetrics`], updated by
//! the request middleware), and those read from the trail at scrape time ([`TrailFacts`]:
//! the writer's atomics, the snapshot, the notary, the audits, the uploader). Reading at
//! scrape time keeps the append path free of any metrics work beyond the writer's atomics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use annal_storage::HistogramSnapshot;

use crate::facts::{seconds_since, ProcessFacts, TrailFacts};

/// Upper bounds (seconds) of the request latency histograms: 0.5 ms to 30 s (the request
/// timeout's default).
const REQUEST_SECONDS_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Labels of an answered request. `route` is the route's pattern (`/v1/events/{key}`), never
/// the path asked, and `method` one of the methods the API has, so a client cannot make the
/// series grow without bound.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Answered {
    /// Route pattern, or `unmatched`.
    pub route: String,
    /// HTTP method, or `other`.
    pub method: &'static str,
    /// Status code.
    pub status: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Route pattern.
    pub route: String,
}

/// Series the request middleware updates.
pub struct RequestMetrics {
    registry: Registry,
    answered: Family<Answered, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_SECONDS_BOUNDS)
}

impl Default for RequestMetrics {
    fn default() -> RequestMetrics {
        let mut registry = Registry::default();
        let answered = Family::<Answered, Counter>::default();
        registry.register(
            "annal_http_responses",
            "HTTP answers by route, method and status (429: writer queue full or too many streams, 503: no signer or bucket not reached in time, 507: disk full)",
            answered.clone(),
        );
        let latency: Family<RouteLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register_with_unit(
            "annal_http_request_duration",
            "Time from a request's arrival to its answer's head, by route (streams and exports, which last as long as the client reads, are left out)",
            Unit::Seconds,
            latency.clone(),
        );
        RequestMetrics {
            registry,
            answered,
            latency,
        }
    }
}

impl RequestMetrics {
    /// Counts one answer.
    pub fn answered(&self, labels: Answered) {
        self.answered.get_or_create(&labels).inc();
    }

    /// Records how long an answer to `route` took.
    pub fn took(&self, route: &str, elapsed: Duration) {
        let label = RouteLabel {
            route: route.to_string(),
        };
        self.latency
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition of these series and of `facts`: OpenMetrics text when `openmetrics`,
    /// else the Prometheus text format 0.0.4.
    pub fn encode(
        &self,
        facts: TrailFacts,
        process: ProcessFacts,
        openmetrics: bool,
    ) -> Result<String, std::fmt::Error> {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(FactsCollector(facts, process)));
        let mut out = String::new();
        if openmetrics {
            prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)?;
            prometheus_client::encoding::text::encode_registry(&mut out, &scrape)?;
            prometheus_client::encoding::text::encode_eof(&mut out)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
            prometheus_client::encoding::prometheus_text::encode(&mut out, &scrape)?;
        }
        Ok(out)
    }
}

/// Media type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// Media type of OpenMetrics text.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The trail's facts as series, read once per scrape.
#[derive(Debug)]
struct FactsCollector(TrailFacts, ProcessFacts);

/// Encodes series one call each.
struct Series<'a, 'b> {
    encoder: &'a mut DescriptorEncoder<'b>,
}

impl Series<'_, '_> {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, v: f64) -> std::fmt::Result {
        let m = self
            .encoder
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, v: u64) -> std::fmt::Result {
        let m = self
            .encoder
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
        ConstCounter::new(v).encode(m)
    }

    /// A histogram from the writer's atomic one, its values scaled by `scale` (nanoseconds
    /// to seconds, say).
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        h: &HistogramSnapshot,
        scale: f64,
    ) -> std::fmt::Result {
        let mut m =
            self.encoder
                .encode_descriptor(name, help, unit.as_ref(), MetricType::Histogram)?;
        encode_histogram(&mut m, h, scale)
    }
}

/// Cumulative buckets, as the exposition formats count them, with `+Inf` last.
fn encode_histogram(
    m: &mut MetricEncoder<'_>,
    h: &HistogramSnapshot,
    scale: f64,
) -> std::fmt::Result {
    let mut cumulative = 0;
    let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(h.counts.len());
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        let bound = h.bounds.get(i).map_or(f64::INFINITY, |b| *b as f64 * scale);
        buckets.push((bound, cumulative));
    }
    m.encode_histogram::<NoLabelSet>(h.sum as f64 * scale, cumulative, &buckets, None)
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Collector for FactsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (f, p) = (&self.0, &self.1);
        let t = &f.telemetry;
        let mut s = Series {
            encoder: &mut encoder,
        };
        s.gauge(
            "annal_stream_clients",
            "Live tails (SSE) being served",
            None,
            p.stream_clients as f64,
        )?;
        if let Some(rss) = p.resident_bytes {
            s.gauge(
                "process_resident_memory",
                "Resident memory size of the process",
                Some(Unit::Bytes),
                rss as f64,
            )?;
        }
        s.counter("annal_appended_events", "Events written to the write-ahead log since the start (re-sent ids answered from the store are not)", None, t.counters.events)?;
        s.counter("annal_appended", "Bytes written to the write-ahead log since the start (batch frames with their headers)", Some(Unit::Bytes), t.counters.bytes)?;
        s.histogram(
            "annal_group_commit_events",
            "Events per group commit: how many appends one write (and fdatasync) covered",
            None,
            &t.group_events,
            1.0,
        )?;
        s.histogram(
            "annal_wal_fdatasync",
            "fdatasync latency of the write-ahead log",
            Some(Unit::Seconds),
            &t.sync_nanos,
            1e-9,
        )?;
        s.gauge("annal_writer_queue_depth", "Append requests waiting for the writer (at annal_writer_queue_capacity appends are refused with 429)", None, t.queue_depth as f64)?;
        s.gauge(
            "annal_writer_queue_capacity",
            "The most append requests that may wait for the writer",
            None,
            t.queue_capacity as f64,
        )?;
        s.gauge(
            "annal_trail_events",
            "Events in the trail: the next seq",
            None,
            f.events as f64,
        )?;
        s.gauge(
            "annal_trail_start",
            "The first seq the trail holds (0 until a prune)",
            None,
            f.start as f64,
        )?;
        s.gauge(
            "annal_seal_lag_events",
            "Events in rolled segments the sealer has not sealed yet",
            None,
            f.seal_lag_events as f64,
        )?;
        s.gauge(
            "annal_index_lag_events",
            "Events no index covers yet",
            None,
            f.index_lag_events as f64,
        )?;
        s.gauge(
            "annal_segments",
            "Segment files (sealed, rolled and active)",
            None,
            (f.segments.sealed + f.segments.rolled + f.segments.active) as f64,
        )?;
        s.gauge(
            "annal_data",
            "Bytes of every file in the data directory",
            Some(Unit::Bytes),
            f.data_bytes as f64,
        )?;
        if let Some(cp) = &f.checkpoint {
            s.gauge(
                "annal_checkpoint_size",
                "Tree size of the newest signed checkpoint",
                None,
                cp.size as f64,
            )?;
            s.gauge(
                "annal_checkpoint_age",
                "Time since the newest checkpoint was signed",
                Some(Unit::Seconds),
                seconds_since(cp.signed_at),
            )?;
        }
        let (passed, failed) = f.verify_counts;
        s.counter(
            "annal_verify_passed",
            "The server's audits of its trail that found nothing wrong",
            None,
            passed,
        )?;
        s.counter(
            "annal_verify_failed",
            "The server's audits of its trail that found a problem",
            None,
            failed,
        )?;
        if let Some(v) = &f.verify {
            s.gauge(
                "annal_verify_last_ok",
                "1 when the newest audit found nothing wrong, 0 when it found a problem",
                None,
                f64::from(u8::from(v.ok)),
            )?;
            s.gauge(
                "annal_verify_last_timestamp",
                "When the newest audit finished (Unix time)",
                Some(Unit::Seconds),
                unix_seconds(v.at),
            )?;
            s.gauge(
                "annal_verify_last_duration",
                "How long the newest audit took",
                Some(Unit::Seconds),
                v.seconds,
            )?;
        }
        if let Some(b) = &f.bucket {
            s.gauge(
                "annal_bucket_upload_lag_events",
                "Acknowledged events the bucket does not hold yet",
                None,
                b.lag_events() as f64,
            )?;
            s.gauge(
                "annal_bucket_queued",
                "Local bytes not yet in the bucket",
                Some(Unit::Bytes),
                b.queued_bytes as f64,
            )?;
            if let Some(at) = b.last_ok_at() {
                s.gauge(
                    "annal_bucket_last_upload_age",
                    "Time since an upload round last succeeded",
                    Some(Unit::Seconds),
                    seconds_since(at),
                )?;
            }
            s.counter(
                "annal_bucket_upload_errors",
                "Upload rounds that failed since the start",
                None,
                b.failed_rounds,
            )?;
            s.counter(
                "annal_bucket_uploaded",
                "Bytes uploaded and checked since the start",
                Some(Unit::Bytes),
                b.uploaded_bytes,
            )?;
            s.gauge(
                "annal_bucket_fenced",
                "1 when another writer took the prefix over and this one stopped uploading",
                None,
                f64::from(u8::from(b.fenced)),
            )?;
        }
        Ok(())
    }
}
