//! Encoding: series split into requests of bounded size, protobuf-encoded and
//! snappy-compressed (block format, as remote write 1.0 requires).

use bytes::Bytes;
use prost::Message;

use crate::proto::{MetricMetadata, TimeSeries, WriteRequest};

/// One request body ready to send, with what it carries (for counters).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBatch {
    /// The snappy-compressed `WriteRequest`.
    pub body: Bytes,
    /// Float samples in it.
    pub samples: u64,
    /// Native histogram samples in it.
    pub histograms: u64,
    /// Exemplars in it.
    pub exemplars: u64,
    /// Metadata entries in it.
    pub metadata: u64,
    /// Uncompressed protobuf size.
    pub raw_bytes: u64,
}

/// Limits on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Largest uncompressed `WriteRequest` (the OTel Collector's `max_batch_size_bytes`). A
    /// single series larger than this is sent alone.
    pub max_bytes: usize,
    /// Most samples (float + histogram) per request (Prometheus's `max_samples_per_send`);
    /// `0` for no limit.
    pub max_samples: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_bytes: 3_000_000,
            max_samples: 0,
        }
    }
}

/// The bytes a repeated message field adds for one element of `len` bytes: the tag, the
/// length varint and the element.
fn field_len(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Splits `series` (and `metadata`, in requests of their own) into requests within
/// `limits`, in order, and returns each request's uncompressed parts.
pub fn split(
    series: Vec<TimeSeries>,
    metadata: Vec<MetricMetadata>,
    limits: BatchLimits,
) -> Vec<WriteRequest> {
    let mut out = Vec::new();
    let mut current = WriteRequest::default();
    let mut size = 0usize;
    let mut samples = 0usize;
    for ts in series {
        let len = field_len(ts.encoded_len());
        let n = ts.samples.len() + ts.histograms.len();
        let over_bytes = size + len > limits.max_bytes;
        let over_samples = limits.max_samples > 0 && samples + n > limits.max_samples;
        if !current.timeseries.is_empty() && (over_bytes || over_samples) {
            out.push(std::mem::take(&mut current));
            size = 0;
            samples = 0;
        }
        size += len;
        samples += n;
        current.timeseries.push(ts);
    }
    if !current.timeseries.is_empty() {
        out.push(std::mem::take(&mut current));
    }
    size = 0;
    for m in metadata {
        let len = field_len(m.encoded_len());
        if !current.metadata.is_empty() && size + len > limits.max_bytes {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.metadata.push(m);
    }
    if !current.metadata.is_empty() {
        out.push(current);
    }
    out
}

/// Encodes and compresses one request.
pub fn encode(request: &WriteRequest) -> EncodedBatch {
    let raw = request.encode_to_vec();
    let mut encoder = snap::raw::Encoder::new();
    // Compressing into a buffer of max_compress_len cannot fail; the fallback keeps the
    // signature infallible without a panic path.
    let body = encoder.compress_vec(&raw).unwrap_or_default();
    let mut batch = EncodedBatch {
        body: Bytes::from(body),
        samples: 0,
        histograms: 0,
        exemplars: 0,
        metadata: request.metadata.len() as u64,
        raw_bytes: raw.len() as u64,
    };
    for ts in &request.timeseries {
        batch.samples += ts.samples.len() as u64;
        batch.histograms += ts.histograms.len() as u64;
        batch.exemplars += ts.exemplars.len() as u64;
    }
    batch
}

/// Decompresses and decodes a request body (what a receiver does); for tests and tools.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Label, Sample};

    fn series(name: &str, n: usize) -> TimeSeries {
        TimeSeries {
            labels: vec![Label::new("__name__", name)],
            samples: (0..n)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: i as i64,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn requests_stay_under_max_bytes_and_keep_order() {
        let all: Vec<TimeSeries> = (0..100).map(|i| series(&format!("m{i:03}"), 10)).collect();
        let one = field_len(all[0].encoded_len());
        let limits = BatchLimits {
            max_bytes: one * 7 + 1,
            max_samples: 0,
        };
        let reqs = split(all.clone(), Vec::new(), limits);
        assert_eq!(reqs.len(), 15);
        for r in &reqs {
            assert!(r.encoded_len() <= limits.max_bytes, "{}", r.encoded_len());
        }
        let flat: Vec<TimeSeries> = reqs.into_iter().flat_map(|r| r.timeseries).collect();
        assert_eq!(flat, all);
    }

    #[test]
    fn an_oversize_series_goes_alone() {
        let reqs = split(
            vec![series("a", 1), series("big", 1000), series("b", 1)],
            Vec::new(),
            BatchLimits {
                max_bytes: 100,
                max_samples: 0,
            },
        );
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[1].timeseries[0].samples.len(), 1000);
    }

    #[test]
    fn max_samples_splits_requests() {
        let reqs = split(
            (0..10).map(|i| series(&format!("m{i}"), 3)).collect(),
            Vec::new(),
            BatchLimits {
                max_bytes: usize::MAX,
                max_samples: 7,
            },
        );
        assert_eq!(
            reqs.iter().map(|r| r.timeseries.len()).collect::<Vec<_>>(),
            vec![2; 5]
        );
    }

    #[test]
    fn encode_round_trips_through_snappy() {
        let req = WriteRequest {
            timeseries: vec![series("up", 3)],
            metadata: vec![MetricMetadata {
                r#type: crate::proto::MetricType::Gauge as i32,
                metric_family_name: "up".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        };
        let batch = encode(&req);
        assert_eq!((batch.samples, batch.metadata), (3, 1));
        assert_eq!(decode(&batch.body).unwrap(), req);
        assert!(decode(b"\xff\xff\xff").is_err());
    }
}
