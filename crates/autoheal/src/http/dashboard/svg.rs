//! The charts, as data for the templates to draw as inline SVG: a heartbeat
//! bar of recent checks and a latency line. Only numbers and fixed class
//! names come from here; every text (a check's detail in a tooltip) goes
//! through the template's escaping.

use autoheal_store::CheckResultRow;

/// One check in a heartbeat bar.
pub struct Bar {
    pub x: u32,
    /// `up`, `degraded`, `down`, or `none` for a slot without a check yet.
    pub class: &'static str,
    /// The tooltip: time, status, latency and detail.
    pub title: String,
}

/// Recent checks as a row of bars, oldest on the left.
pub struct Heartbeat {
    pub width: u32,
    pub bars: Vec<Bar>,
}

pub const BAR_W: u32 = 6;
const BAR_GAP: u32 = 2;

fn status_class(s: &str) -> &'static str {
    match s {
        "up" => "up",
        "degraded" => "degraded",
        "down" => "down",
        _ => "none",
    }
}

/// `checks` newest first (as the store answers them), drawn in `slots`.
pub fn heartbeat(checks: &[CheckResultRow], slots: usize) -> Heartbeat {
    let shown: Vec<&CheckResultRow> = checks.iter().take(slots).rev().collect();
    let empty = slots - shown.len();
    let mut bars = Vec::with_capacity(slots);
    for i in 0..slots {
        let x = i as u32 * (BAR_W + BAR_GAP);
        match i.checked_sub(empty).and_then(|j| shown.get(j)) {
            Some(c) => bars.push(Bar {
                x,
                class: status_class(&c.status),
                title: format!(
                    "{} {}{}{}",
                    utc(c.at),
                    c.status,
                    c.latency_ms
                        .map(|l| format!(", {l} ms"))
                        .unwrap_or_default(),
                    if c.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", c.detail)
                    }
                ),
            }),
            None => bars.push(Bar {
                x,
                class: "none",
                title: "no check yet".into(),
            }),
        }
    }
    Heartbeat {
        width: (slots as u32 * (BAR_W + BAR_GAP)).saturating_sub(BAR_GAP),
        bars,
    }
}

/// A failed check on the latency chart.
pub struct Mark {
    pub x: String,
    pub y: String,
    pub title: String,
}

/// Latency over the recent checks.
pub struct Chart {
    pub width: u32,
    pub height: u32,
    /// `x,y x,y ...` of the line.
    pub points: String,
    pub marks: Vec<Mark>,
    /// The top of the scale, in ms.
    pub max_ms: i64,
    /// The y of the top grid line.
    pub top: u32,
    pub bottom: u32,
    pub empty: bool,
}

pub fn latency(checks: &[CheckResultRow]) -> Chart {
    let (width, height, pad) = (720u32, 160u32, 12u32);
    let rows: Vec<&CheckResultRow> = checks.iter().rev().collect();
    let max_ms = rows
        .iter()
        .filter_map(|c| c.latency_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    // A round top: 1, 2, 5, 10, 20, 50 ... ms.
    let mut top_ms = 1i64;
    while top_ms < max_ms {
        top_ms = match top_ms.to_string().chars().next() {
            Some('1') => top_ms * 2,
            Some('2') => top_ms / 2 * 5,
            _ => top_ms * 2,
        };
    }
    let n = rows.len();
    let x_of = |i: usize| -> f64 {
        if n <= 1 {
            f64::from(width) / 2.0
        } else {
            f64::from(pad) + i as f64 * f64::from(width - 2 * pad) / (n - 1) as f64
        }
    };
    let y_of = |ms: i64| -> f64 {
        f64::from(height - pad) - ms as f64 / top_ms as f64 * f64::from(height - 2 * pad)
    };
    let mut points = String::new();
    let mut marks = Vec::new();
    for (i, c) in rows.iter().enumerate() {
        if let Some(ms) = c.latency_ms {
            if !points.is_empty() {
                points.push(' ');
            }
            points.push_str(&format!("{:.1},{:.1}", x_of(i), y_of(ms)));
        }
        if c.status != "up" {
            marks.push(Mark {
                x: format!("{:.1}", x_of(i)),
                y: format!("{:.1}", y_of(c.latency_ms.unwrap_or(0))),
                title: format!("{} {}: {}", utc(c.at), c.status, c.detail),
            });
        }
    }
    Chart {
        width,
        height,
        points,
        marks,
        max_ms: top_ms,
        top: pad,
        bottom: height - pad,
        empty: n == 0,
    }
}

/// A time as UTC text (the page's script shows it in the browser's zone).
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(at: i64, status: &str, ms: Option<i64>) -> CheckResultRow {
        CheckResultRow {
            target: "t".into(),
            at,
            status: status.into(),
            latency_ms: ms,
            detail: "<b>x</b>".into(),
        }
    }

    #[test]
    fn the_heartbeat_puts_the_newest_on_the_right_and_pads_the_left() {
        let checks = [check(3, "down", None), check(2, "up", Some(5))];
        let hb = heartbeat(&checks, 4);
        let classes: Vec<_> = hb.bars.iter().map(|b| b.class).collect();
        assert_eq!(classes, ["none", "none", "up", "down"]);
        assert_eq!(hb.width, 4 * 8 - 2);
        assert!(hb.bars[2].title.contains("5 ms"));
    }

    #[test]
    fn the_latency_scale_is_round_and_failures_are_marked() {
        let checks = [
            check(3, "down", None),
            check(2, "up", Some(130)),
            check(1, "up", Some(20)),
        ];
        let c = latency(&checks);
        assert_eq!(c.max_ms, 200);
        assert_eq!(c.points.split(' ').count(), 2);
        assert_eq!(c.marks.len(), 1);
        assert!(latency(&[]).empty);
    }
}
