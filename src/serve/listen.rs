//! Where the API listens on TCP (`--listen`). Locally it answers on the control socket too
//! (`control::Server::serve_http`), to its own user only, without a token.

use std::net::SocketAddr;

use anyhow::{Context, bail};

use super::api::{Api, router};

/// Refuses to listen beyond this machine without a token.
pub fn check_listen(addr: SocketAddr, has_token: bool) -> anyhow::Result<()> {
    if !has_token && !addr.ip().is_loopback() {
        bail!(
            "refusing to serve the HTTP API on {addr} without a token: anyone who reaches it \
             could start and decide runs; set BATON_API_TOKEN or `[serve] token_file` in \
             config.toml, or listen on a loopback address (127.0.0.1:PORT)"
        );
    }
    Ok(())
}

/// Serves `api` on `addr` on the current runtime; returns the bound address (port 0 picks one).
pub async fn tcp(
    api: Api,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = router(api);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("HTTP API on {bound}: {e}");
        }
    });
    Ok((bound, task))
}
