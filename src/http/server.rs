//! The HTTP server: accepts connections through the [`HygienicAcceptor`] and serves each with
//! hyper (HTTP/1.1, and HTTP/2 with prior knowledge), under the `server.*` limits hyper
//! enforces itself: the time a request head may take to arrive (also the HTTP/1.1 keep-alive
//! idle time), its size and header count, and the streams one HTTP/2 connection may open.
//!
//! poem's own server sets none of these (hyper's header timeout needs a timer poem does not
//! give it), so the registry runs this loop instead; the application is still a poem endpoint.
//! On shutdown, listening stops, every connection is asked to finish its requests and close,
//! and those still open after `server.shutdown_timeout_secs` are dropped.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use poem::listener::Acceptor;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection::HygienicAcceptor;
use crate::config::ConnectionSettings;

type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, io::Error>;

/// Serves `app` on `acceptor` until `shutdown` completes, then drains connections for at most
/// `drain`.
pub async fn serve(
    mut acceptor: HygienicAcceptor,
    app: impl IntoEndpoint<Endpoint: 'static>,
    limits: &ConnectionSettings,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    let app: Arc<dyn poem::endpoint::DynEndpoint<Output = Response>> = Arc::new(
        poem::endpoint::ToDynEndpoint(app.into_endpoint().map_to_response()),
    );
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = acceptor.accept() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    let app = app.clone();
                    let limits = limits.clone();
                    let stopping = stopping.clone();
                    connections.spawn(async move {
                        let busy = io.busy();
                        let service = hyper::service::service_fn(move |req| {
                            let app = app.clone();
                            let (local, remote, scheme) =
                                (local.clone(), remote.clone(), scheme.clone());
                            let handling = busy.enter();
                            async move {
                                let resp = app.get_response((req, local, remote, scheme).into()).await;
                                drop(handling);
                                Ok::<_, Infallible>(hyper::Response::<ResponseBody>::from(resp))
                            }
                        });
                        serve_connection(io, service, &limits, stopping).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reap finished connections as they end, so the set stays as large as what is open.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(acceptor);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after server.shutdown_timeout_secs; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn serve_connection<S>(
    io: super::connection::QuietLimit,
    service: S,
    limits: &ConnectionSettings,
    mut stopping: watch::Receiver<bool>,
) where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<ResponseBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_pending_accept_reset_streams(Some(20))
        .max_header_list_size(limits.max_header_bytes.min(u32::MAX as usize) as u32);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopping.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
