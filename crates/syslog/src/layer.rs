//! The report log to syslog: a `tracing` layer that sends every event the process logs (at
//! the level the filter lets through) as a `report` record.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::central::CentralLog;
use crate::record::{Level, ReportRecord};

/// Sends the report log through a [`CentralLog`]; add it beside the formatting layer.
#[derive(Debug, Clone)]
pub struct SyslogLayer {
    central: Arc<CentralLog>,
}

impl SyslogLayer {
    /// A layer sending through `central` (whose configuration may change on reload).
    pub fn new(central: Arc<CentralLog>) -> Self {
        Self { central }
    }
}

/// The event's text and its other fields.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields.push((field.name(), format!("{value:?}")));
        }
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !self.central.wants_report(meta.target()) {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        self.central.report(&ReportRecord {
            level,
            target: meta.target(),
            message: &f.message,
            fields: &f.fields,
        });
    }
}
