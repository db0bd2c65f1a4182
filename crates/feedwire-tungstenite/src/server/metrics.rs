//! The server's figures in a `prometheus-client` registry (feature `metrics`): a collector that reads the
//! server's atomics at each scrape, so serving traffic never touches the registry.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::flow::Meters;
use super::http::ResponseBody;

/// The prefix of every metric the server registers.
const PREFIX: &str = "feedwire_server";

/// Registers the server's collector under `feedwire_server_`.
pub(super) fn register(meters: &Arc<Meters>, registry: &mut Registry) {
    registry
        .sub_registry_with_prefix(PREFIX)
        .register_collector(Box::new(Figures(meters.clone())));
}

/// The registry in Prometheus' text exposition format, as a `GET /metrics` answer.
pub(super) fn exposition(registry: &Registry) -> Response<ResponseBody> {
    let mut text = String::new();
    let status = match prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
        Ok(()) => StatusCode::OK,
        Err(_) => {
            text = "cannot encode the metrics\n".to_owned();
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let mut resp = Response::new(ResponseBody::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    resp
}

#[derive(Debug)]
struct Figures(Arc<Meters>);

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.0.stats();
        let bytes = Some(&Unit::Bytes);
        // (name, help, unit, value, whether a gauge); the labelled families follow
        let single: [(&str, &str, Option<&Unit>, u64, bool); 9] = [
            (
                "connections_open",
                "WebSocket connections open now",
                None,
                s.connections_open,
                true,
            ),
            (
                "connections",
                "WebSocket connections opened",
                None,
                s.connections_total,
                false,
            ),
            (
                "frames_received",
                "Text frames received",
                None,
                s.frames_in,
                false,
            ),
            (
                "received",
                "Payload bytes of the text frames received",
                bytes,
                s.bytes_in,
                false,
            ),
            ("frames_sent", "Text frames written", None, s.frames_out, false),
            (
                "sent",
                "Payload bytes of the text frames written",
                bytes,
                s.bytes_out,
                false,
            ),
            (
                "slow_reader_closes",
                "Connections closed with 1008 for making no write progress for the stall timeout",
                None,
                s.slow_reader_closes,
                false,
            ),
            (
                "publish_rejections",
                "HTTP requests answered 429 after waiting for the backlog to fall",
                None,
                s.publish_rejections,
                false,
            ),
            (
                "queued",
                "Bytes queued for writing on all connections",
                bytes,
                s.queued_bytes,
                true,
            ),
        ];
        for (name, help, unit, v, gauge) in single {
            if gauge {
                let g = ConstGauge::new(v);
                g.encode(enc.encode_descriptor(name, help, unit, g.metric_type())?)?;
            } else {
                let c = ConstCounter::new(v);
                c.encode(enc.encode_descriptor(name, help, unit, c.metric_type())?)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "backpressure_waits",
                "Waits for queued bytes to drain: WebSocket reads paused (kind=read), HTTP requests that may publish held back (kind=publish)",
                None,
                MetricType::Counter,
            )?;
            for (kind, v) in [("read", s.read_pauses), ("publish", s.publish_waits)] {
                ConstCounter::new(v).encode(m.encode_family(&[("kind", kind)])?)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "http_responses",
            "HTTP responses by status class (WebSocket upgrades are 1xx)",
            None,
            MetricType::Counter,
        )?;
        for (class, v) in ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .into_iter()
            .zip(s.http_responses)
        {
            ConstCounter::new(v).encode(m.encode_family(&[("class", class)])?)?;
        }
        Ok(())
    }
}
