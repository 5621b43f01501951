//! Log set-up: JSON lines for machines, readable text on a terminal.

use std::io::IsTerminal;
use tracing_subscriber::{fmt, EnvFilter};

/// `auto` | `json` | `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Auto,
    Json,
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Format::Auto),
            "json" => Some(Format::Json),
            "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Installs the global subscriber (once, in `main`). `RUST_LOG` wins over
/// `level` when set, so an operator can turn up one module.
pub fn init(format: Format, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,hyper=warn,bollard=warn")));
    let json = match format {
        Format::Json => true,
        Format::Text => false,
        Format::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests that boot several apps) is harmless.
    let _ = result;
}
