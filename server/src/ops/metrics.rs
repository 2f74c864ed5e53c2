//! `/metrics`: Prometheus text format through the `metrics` facade.
//!
//! The recorder is process-wide (one per server process, as Prometheus
//! expects). Counters and histograms are recorded where things happen;
//! gauges that describe state (the pool, the argon2 queue) are read at scrape
//! time.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

const REQUESTS: &str = "strop_http_requests_total";
const LATENCY: &str = "strop_http_request_duration_seconds";
const RATE_LIMITED: &str = "strop_login_rate_limited_total";
const HISTORY_BATCH: &str = "strop_history_batch_rows";

/// Rows per history commit: 1 when calm, up to the writer's batch cap under load.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Latency buckets, in seconds: sub-millisecond strops up to slow logins.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The recorder's handle, once installed.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder's handle, installed on first use.
fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.into()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(HISTORY_BATCH.into()), &BATCH_BUCKETS)
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests answered, by route and status.");
    metrics::describe_histogram!(
        LATENCY,
        metrics::Unit::Seconds,
        "Time from request head to answer, by route."
    );
    metrics::describe_counter!(
        RATE_LIMITED,
        "Login and register attempts refused with 429, by the key that ran out."
    );
    metrics::describe_gauge!(
        "strop_db_pool_max_size",
        "Largest number of database connections."
    );
    metrics::describe_gauge!("strop_db_pool_size", "Database connections open.");
    metrics::describe_gauge!("strop_db_pool_available", "Idle database connections.");
    metrics::describe_gauge!(
        "strop_db_pool_waiting",
        "Requests waiting for a connection."
    );
    metrics::describe_gauge!(
        "strop_argon2_queue_depth",
        "Password hashes waiting for a hashing slot."
    );
    metrics::describe_histogram!(
        HISTORY_BATCH,
        metrics::Unit::Count,
        "History rows committed per batch (group commit)."
    );
    metrics::describe_gauge!("strop_build_info", "Always 1; the version is a label.");
    metrics::gauge!("strop_build_info", "version" => crate::config::VERSION).set(1.0);
}

/// Installs the recorder (idempotent), so counters count from start-up.
pub fn install() {
    handle();
}

pub fn record_request(route: &'static str, status: u16, latency: Duration) {
    if HANDLE.get().is_none() {
        // No recorder (metrics are off): nothing would be kept.
        return;
    }
    let (count, latencies) = request_handles(route, status);
    count.increment(1);
    latencies.record(latency.as_secs_f64());
}

/// The request metrics of one route and status, registered with the installed
/// recorder on first use and kept: a request then records with two atomic
/// updates, where the macros would format the status and look both series up
/// in the registry each time. Routes and statuses are few: the map stays small.
/// (Kept handles assume the recorder never drops idle series: no
/// `idle_timeout` on the builder above.)
fn request_handles(route: &'static str, status: u16) -> (Counter, Histogram) {
    type Handles = HashMap<(&'static str, u16), (Counter, Histogram)>;
    static HANDLES: LazyLock<RwLock<Handles>> = LazyLock::new(Default::default);
    if let Some(found) = HANDLES
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(route, status))
    {
        return found.clone();
    }
    HANDLES
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry((route, status))
        .or_insert_with(|| {
            (
                metrics::counter!(REQUESTS, "route" => route, "status" => status.to_string()),
                metrics::histogram!(LATENCY, "route" => route),
            )
        })
        .clone()
}

/// `by` is `address` or `username`.
pub fn record_rate_limited(by: &'static str) {
    metrics::counter!(RATE_LIMITED, "by" => by).increment(1);
}

pub fn record_history_batch(rows: usize) {
    metrics::histogram!(HISTORY_BATCH).record(rows as f64);
}

/// The text exposition, with state gauges read now.
pub fn render(state: &AppState) -> String {
    let pool = state.pool.status();
    metrics::gauge!("strop_db_pool_max_size").set(pool.max_size as f64);
    metrics::gauge!("strop_db_pool_size").set(pool.size as f64);
    metrics::gauge!("strop_db_pool_available").set(pool.available as f64);
    metrics::gauge!("strop_db_pool_waiting").set(pool.waiting as f64);
    metrics::gauge!("strop_argon2_queue_depth").set(state.passwords.queue_depth() as f64);
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}
