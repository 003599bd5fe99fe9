//! Server-side cost of Argon2id under each hash profile: the time one
//! password verification takes, which bounds sign-in and recovery throughput.
//!
//! Run with `cargo bench --bench hashing`; Criterion prints the median.

use criterion::{criterion_group, criterion_main, Criterion};
use recoverylab::journeys::hashing::{HashProfile, PasswordHasherProfile};

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("argon2id_verify");
    group.sample_size(30);
    for profile in [HashProfile::Production, HashProfile::Fast] {
        let hasher = PasswordHasherProfile::new(profile);
        let hash = hasher.hash("correct horse battery staple");
        group.bench_function(profile.name(), |bench| {
            bench.iter(|| assert!(hasher.verify("correct horse battery staple", &hash)))
        });
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
