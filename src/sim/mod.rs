//! Loopback simulators (GitHub REST API, OIDC issuer) shared by the tests and `prod-access demo`.
//!
//! They are real HTTP servers on `127.0.0.1`, so the real clients (reqwest) run against
//! them unchanged. A path they do not serve answers `501 METHOD PATH not implemented`,
//! which makes an unexpected call loud. Nothing here is used by `grant` against real
//! services.

pub mod forge;
pub mod oidc;
pub mod story;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The accept loop both simulators run: every connection served over HTTP/1 by `handle`
/// with the simulator's shared state.
pub(crate) fn serve<S, B, H, Fut>(
    listener: TcpListener,
    shared: Arc<S>,
    handle: H,
) -> JoinHandle<()>
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let conn_shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let fut = handle(Arc::clone(&conn_shared), req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
