//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE`
//! lines per family, then one `name{label="value",...} number` line per sample.
//! Label values escape `\`, `"` and newlines; help text escapes `\` and newlines.

use std::fmt::{Display, Write};

/// The `Content-Type` of an exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// An exposition being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its help and type lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.name());
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's samples: `name_bucket` per bound (cumulative, then
    /// `le="+Inf"`), `name_sum` and `name_count`. `counts` are per bucket, not
    /// cumulative; observations above the last bound are in `count` only.
    pub fn histogram(&mut self, name: &str, bounds: &[f64], counts: &[u64], sum: f64, count: u64) {
        let bucket = format!("{name}_bucket");
        let mut seen = 0u64;
        for (bound, n) in bounds.iter().zip(counts) {
            seen += n;
            let le = bound.to_string();
            self.sample(&bucket, &[("le", &le)], seen);
        }
        self.sample(&bucket, &[("le", "+Inf")], count);
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Appends `v` escaped for a label value.
pub fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let cases = [
            ("plain", "plain"),
            ("a\"b", "a\\\"b"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
            ("", ""),
            ("ünï", "ünï"),
        ];
        for (raw, want) in cases {
            let mut out = String::new();
            escape_label(raw, &mut out);
            assert_eq!(out, want, "{raw:?}");
        }
    }

    #[test]
    fn samples_with_and_without_labels() {
        let mut e = Exposition::default();
        e.family("x_total", Kind::Counter, "Things.\nAnd \\ more.");
        e.sample("x_total", &[], 3);
        e.sample("x_total", &[("a", "1"), ("b", "q\"")], 4);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nAnd \\\\ more.\n# TYPE x_total counter\n\
             x_total 3\nx_total{a=\"1\",b=\"q\\\"\"} 4\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_and_ends_with_inf_sum_and_count() {
        let mut e = Exposition::default();
        e.family("d_seconds", Kind::Histogram, "Durations.");
        e.histogram("d_seconds", &[0.1, 1.0, 2.5], &[2, 0, 3], 4.25, 6);
        let text = e.finish();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "d_seconds_bucket{le=\"0.1\"} 2",
                "d_seconds_bucket{le=\"1\"} 2",
                "d_seconds_bucket{le=\"2.5\"} 5",
                "d_seconds_bucket{le=\"+Inf\"} 6",
                "d_seconds_sum 4.25",
                "d_seconds_count 6",
            ]
        );
    }
}
