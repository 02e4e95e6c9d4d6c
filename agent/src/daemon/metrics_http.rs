//! `[daemon] metrics_listen`: the service answers `GET /metrics` (the same
//! families as the metrics file, built from the ledger at each request) and
//! `GET /healthz` (200 while the service runs and its ledger reads; 503
//! otherwise) over HTTP, as Prometheus and Kubernetes probes expect.

use super::*;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// The answer to one request.
fn answer(agent: &Agent, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let report = || {
        let config = agent.config();
        let r = lock(&agent.recorder);
        status::StatusReport::build(&config, &r.ledger, agent.clock.now())
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => match report() {
            Ok(r) => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                r.to_prometheus(),
            ),
            Err(e) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("the ledger cannot be read: {e}\n"),
            ),
        },
        (&Method::GET, "/healthz") => match report() {
            Ok(_) => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
            Err(e) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("the ledger cannot be read: {e}\n"),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "restoreproof answers GET /metrics and GET /healthz\n".into(),
        ),
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the service stops; a
/// port that cannot be bound is said once and the service runs on.
pub(super) async fn serve(agent: Arc<Agent>, addr: std::net::SocketAddr, stop: Stop) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "Cannot listen for metrics requests; check daemon.metrics_listen (is the port in use?). The service runs on without it.");
            return;
        }
    };
    tracing::info!(%addr, "Answering GET /metrics and /healthz.");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "A metrics connection could not be accepted.");
                    continue;
                }
            },
            () = stop.finishing() => return,
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = answer(&agent, &req);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
