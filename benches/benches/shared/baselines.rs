//! The two serde_json measurements every decode group starts with, on the same bytes as the feedwire paths:
//! `IgnoredAny` (the floor: the frame validated once, nothing kept) and `serde_json::Value`.

use std::hint::black_box;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;

/// Adds `serde_json_ignored_any` and `serde_json_value` over `text` to `g`.
pub fn serde_baselines(g: &mut BenchmarkGroup<'_, WallTime>, text: &str) {
    g.bench_function("serde_json_ignored_any", |b| {
        b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(black_box(text)).unwrap())
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(text)).unwrap())
    });
}
