//! The `metrics` feature: every metric of `scheduler_core::metrics`' table, checked
//! through a small recording backend installed for the test thread.

#![cfg(feature = "metrics")]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Rig, block_on, mins};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use scheduler_core::metrics::{self as m, MetricsObserver};
use scheduler_testkit::snapshot::{RecoveredLease, RunSnapshot, SessionSnapshot};

/// What was recorded, by rendered key (`name{label=value,...}`).
#[derive(Debug, Default)]
struct Recorded {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<f64>>,
    units: BTreeMap<String, Option<Unit>>,
}

#[derive(Clone, Default)]
struct TestRecorder(Arc<Mutex<Recorded>>);

/// One metric's handle: its rendered key and the shared record.
struct Handle(String, Arc<Mutex<Recorded>>);

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.1.lock().unwrap().counters.entry(self.0.clone()).or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.1.lock().unwrap().counters.insert(self.0.clone(), value);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self.1.lock().unwrap().gauges.entry(self.0.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.1.lock().unwrap().gauges.entry(self.0.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.1.lock().unwrap().gauges.insert(self.0.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.1.lock().unwrap().histograms.entry(self.0.clone()).or_default().push(value);
    }
}

fn render(key: &Key) -> String {
    let labels: Vec<_> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    if labels.is_empty() { key.name().to_owned() } else { format!("{}{{{}}}", key.name(), labels.join(",")) }
}

impl TestRecorder {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        Arc::new(Handle(render(key), Arc::clone(&self.0)))
    }
    fn unit(&self, key: KeyName, unit: Option<Unit>) {
        self.0.lock().unwrap().units.insert(key.as_str().to_owned(), unit);
    }
    fn counter(&self, key: &str) -> u64 {
        self.0.lock().unwrap().counters.get(key).copied().unwrap_or_else(|| panic!("no counter {key}"))
    }
    fn gauge(&self, key: &str) -> f64 {
        self.0.lock().unwrap().gauges.get(key).copied().unwrap_or_else(|| panic!("no gauge {key}"))
    }
    fn histogram(&self, key: &str) -> Vec<f64> {
        self.0.lock().unwrap().histograms.get(key).cloned().unwrap_or_else(|| panic!("no histogram {key}"))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.unit(key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.unit(key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.unit(key, unit);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// A ladder rig: `r-starved` (queued 10 minutes, needs a GPU nobody has) climbs every
/// tier in one cycle; `r-ok` is woken; `r-bad`'s wake fails; a lease is recovered.
fn rig() -> Rig {
    let rig = Rig::new();
    let long_ago = rig.ago(mins(10));
    rig.tasks.set_pending(vec![
        RunSnapshot::queued("r-starved", "t1").caps(["gpu"]).queued_at(long_ago),
        RunSnapshot::queued("r-ok", "t2").queued_at(rig.ago(Duration::from_secs(30))),
        RunSnapshot::queued("r-bad", "t3").queued_at(rig.ago(Duration::from_secs(20))),
    ]);
    rig.sessions.set(vec![SessionSnapshot::active("sess-1"), SessionSnapshot::active("sess-2")]);
    rig.tasks.recover_next([RecoveredLease::new("r-old", "sess-9")]);
    rig.waker.fail_run("r-bad");
    rig
}

#[test]
fn the_observer_records_every_metric_of_the_table() {
    let recorder = TestRecorder::default();
    let rig = rig();
    let th = scheduler_core::ladder::Thresholds::default()
        .fan_out_after(1)
        .spawn_after(1)
        .event_after(1)
        .needs_attention_after(1)
        .min_queued_age(mins(1));
    let mut s = rig
        .builder()
        .starvation_thresholds(th)
        .ladder(rig.store.clone(), rig.actor.clone())
        .observer(MetricsObserver::new().with_not_woken_reasons())
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        MetricsObserver::describe();
        block_on(s.run_once());
        // Second cycle: the sessions source fails (the gauges keep their values).
        rig.sessions.faults().fail_next("sessions");
        block_on(s.run_once());
    });

    assert_eq!(recorder.counter(m::CYCLES), 2);
    assert_eq!(recorder.counter(m::WAKES_SENT), 1);
    assert_eq!(recorder.counter(m::WAKES_FAILED), 1);
    assert_eq!(recorder.counter(m::LEASES_RECOVERED), 1);
    assert_eq!(recorder.counter(m::STARVED_RUNS), 1);
    assert_eq!(recorder.counter(m::SPAWNS_REQUESTED), 1);
    assert_eq!(recorder.counter(m::NEEDS_ATTENTION), 1);
    assert_eq!(recorder.counter("scheduler_seam_errors_total{seam=wake}"), 1);
    assert_eq!(recorder.counter("scheduler_seam_errors_total{seam=sessions}"), 1);
    assert_eq!(recorder.counter("scheduler_runs_not_woken_total{reason=no_session_with_capabilities}"), 1);

    assert_eq!(recorder.gauge(m::PENDING_RUNS), 3.0);
    assert_eq!(recorder.gauge(m::ACTIVE_RUNS), 0.0);
    assert_eq!(recorder.gauge(m::IDLE_SESSIONS), 2.0);
    assert_eq!(recorder.gauge(m::OLDEST_QUEUED_AGE), 600.0);

    assert_eq!(recorder.histogram(m::CYCLE_DURATION).len(), 2);
    // Every seam call of the first cycle once, the second cycle's reads once more
    // (the fake clock stands still: every latency is zero).
    for (seam, calls) in [("sweep", 2), ("pending_runs", 2), ("sessions", 2), ("wake", 1), ("request_spawn", 1)] {
        let key = format!("scheduler_seam_latency_seconds{{seam={seam}}}");
        assert_eq!(recorder.histogram(&key), vec![0.0; calls], "{key}");
    }

    let units = &recorder.0.lock().unwrap().units;
    assert_eq!(units.len(), 17, "every metric described: {units:?}");
    assert_eq!(units[m::OLDEST_QUEUED_AGE], Some(Unit::Seconds));
    assert_eq!(units[m::SEAM_ERRORS], Some(Unit::Count));
}

#[test]
fn a_contained_panic_and_an_abandoned_cycle_are_counted() {
    let recorder = TestRecorder::default();
    let observer = MetricsObserver::new();
    metrics::with_local_recorder(&recorder, || {
        scheduler_core::observer::Observer::cycle_panicked(&observer, "boom");
        scheduler_core::observer::Observer::cycle_abandoned(&observer, std::time::SystemTime::UNIX_EPOCH);
    });
    assert_eq!(recorder.counter(m::CYCLE_PANICS), 1);
    assert_eq!(recorder.counter(m::CYCLES_ABANDONED), 1);
}

#[test]
fn without_reasons_no_reason_is_counted() {
    let recorder = TestRecorder::default();
    let mut s = rig().builder().observer(MetricsObserver::new()).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        block_on(s.run_once());
    });
    assert!(recorder.0.lock().unwrap().counters.keys().all(|k| !k.starts_with(m::RUNS_NOT_WOKEN)));
}
