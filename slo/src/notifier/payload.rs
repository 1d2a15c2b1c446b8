//! The body of `POST /api/v2/alerts`: Alertmanager's `postableAlerts` as Prometheus writes them
//! (`notifier/util.go`, `alertsToOpenAPIAlerts`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::Alert;
use crate::api::params::civil_from_days;

/// One `postableAlert`, its keys in the order go-swagger's `MarshalJSON` writes them
/// (`annotations`, `endsAt`, `startsAt`, then the embedded `Alert`'s `generatorURL`, `labels`).
#[derive(Serialize)]
struct PostableAlert<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
    labels: &'a BTreeMap<String, String>,
}

/// The JSON array of a batch. Divergence in bytes only: Go's `encoding/json` writes `<`, `>` and
/// `&` as `\u003c`, `\u003e`, `\u0026`; serde_json writes them as they are, which Alertmanager
/// decodes to the same strings.
pub(crate) fn encode(alerts: &[Alert]) -> Vec<u8> {
    let postable: Vec<PostableAlert<'_>> = alerts
        .iter()
        .map(|a| PostableAlert {
            annotations: &a.annotations,
            ends_at: format_rfc3339_millis(a.ends_at_ms),
            starts_at: format_rfc3339_millis(a.starts_at_ms),
            generator_url: &a.generator_url,
            labels: &a.labels,
        })
        .collect();
    // Serialising maps of strings cannot fail.
    serde_json::to_vec(&postable).unwrap_or_else(|_| b"[]".to_vec())
}

/// A Unix millisecond time as go-openapi's `strfmt.DateTime` marshals it: UTC with exactly three
/// fractional digits (`RFC3339Millis`, `2006-01-02T15:04:05.000Z07:00`), so
/// `2026-12-03T12:00:00.000Z`, unlike `time.Time`'s own JSON which trims trailing zeros.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_strfmt_datetime_writes_them() {
        // Values from Go: strfmt.DateTime(time.UnixMilli(ms)).MarshalJSON().
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (1_700_000_000_120, "2023-11-14T22:13:20.120Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_rfc3339_millis(ms), want, "{ms}");
        }
    }

    #[test]
    fn a_batch_is_encoded_as_postable_alerts() {
        let alert = Alert {
            labels: BTreeMap::from([
                ("alertname".to_string(), "SloBurn".to_string()),
                ("severity".to_string(), "page".to_string()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), "a \"quoted\" <b>".to_string())]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: 1_700_000_240_500,
            generator_url: "http://h:9090/graph?g0.expr=up".to_string(),
        };
        let body = String::from_utf8(encode(std::slice::from_ref(&alert))).unwrap();
        assert_eq!(
            body,
            r#"[{"annotations":{"summary":"a \"quoted\" <b>"},"endsAt":"2023-11-14T22:17:20.500Z","startsAt":"2023-11-14T22:13:20.000Z","generatorURL":"http://h:9090/graph?g0.expr=up","labels":{"alertname":"SloBurn","severity":"page"}}]"#
        );
        // Empty annotations and generator URL are left out, as Go's omitempty does.
        let bare = Alert {
            annotations: BTreeMap::new(),
            generator_url: String::new(),
            ..alert
        };
        let body = String::from_utf8(encode(&[bare])).unwrap();
        assert!(
            !body.contains("annotations") && !body.contains("generatorURL"),
            "{body}"
        );
        assert_eq!(String::from_utf8(encode(&[])).unwrap(), "[]");
    }
}
