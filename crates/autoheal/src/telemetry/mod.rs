//! Telemetry: logs and metrics.
//!
//! Each significant happening is a typed event ([`events`]) whose one
//! `emit()` writes the log line and bumps the metric with the same labels, so
//! logs and metrics never disagree. Metric names are `autoheal_*_total` and
//! `autoheal_*_seconds`, with bounded labels (kinds, outcomes, phases; the
//! target name only where the set of targets is the operator's own config).

pub mod events;
pub mod logging;
pub mod metrics;

pub use metrics::Metrics;
