//! Speed of the simulator on one core: whole journeys of the national
//! scenario, and the building blocks per event (drawing an arrival from a
//! shaped Poisson process, one push and pop of the event queue).
//!
//! Run with `cargo bench --bench simulator`. For `national_one_day_one_core`
//! Criterion prints the median time of one simulated day, and as `thrpt` the
//! simulated journeys per second of wall time. For the building blocks it
//! prints the median time per batch of 100,000 events.

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recoverylab::sim::plan::Plan;
use recoverylab::sim::run::run_plan;
use recoverylab::sim::{ArrivalShape, Arrivals, EventQueue};

const BATCH: u64 = 100_000;

fn arrivals(c: &mut Criterion) {
    let mut shape = ArrivalShape::flat(BATCH as f64);
    shape.hour_of_day = [
        1.0, 0.5, 0.5, 0.5, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 8.0, 7.0, 6.0, 7.0, 8.0, 8.0, 7.0, 6.0,
        5.0, 4.0, 3.0, 2.0, 1.5, 1.0,
    ];
    let start = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut group = c.benchmark_group("simulator");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("arrivals_one_day", |bench| {
        bench.iter(|| Arrivals::new(shape.clone(), 9, start, 86_400.0).count())
    });
    group.bench_function("event_queue_push_pop", |bench| {
        bench.iter(|| {
            let mut queue = EventQueue::new();
            // A working set of 1,000 pending events, as journeys in flight.
            for index in 0..1_000u64 {
                queue.push(index * 7 % 1_000, index);
            }
            for index in 1_000..BATCH + 1_000 {
                let (at, _) = queue.pop().expect("the queue is never empty");
                queue.push(at + index % 977 + 1, index);
            }
            queue.len()
        })
    });
    group.finish();
}

/// Simulates the national scenario's first day (a Monday, about 1.45 million
/// journeys) and the 30 days its postal journeys take to finish, on one thread.
fn national_day(c: &mut Criterion) {
    let scenario =
        recoverylab::config::load_scenario(std::path::Path::new("scenarios/national.toml"))
            .expect("the national scenario is valid");
    let plan = Plan::new(&scenario, Some(1));
    let journeys: u64 = run_plan(&plan, 1)
        .kinds
        .iter()
        .map(|kind| kind.started)
        .sum();
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    group.throughput(Throughput::Elements(journeys));
    group.bench_function("national_one_day_one_core", |bench| {
        bench.iter(|| run_plan(&plan, 1))
    });
    group.finish();
}

criterion_group!(benches, national_day, arrivals);
criterion_main!(benches);
