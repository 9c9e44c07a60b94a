//! Where the API listens: a TCP address (`--listen`), and `api.sock` beside the control
//! socket, mode 0600, answering only its own user (the kernel's word, as on the control
//! socket), so `curl --unix-socket` works locally without a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::api::{Api, router};
use crate::store::Store;

/// The API's socket of a store directory.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join("api.sock")
}

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

/// Serves `api` on the store's `api.sock` until the guard is dropped (the file is removed then).
pub fn unix(api: Api, store: &Store) -> anyhow::Result<UnixGuard> {
    let path = socket_path(store.dir());
    let listener = crate::control::server::bind_private(&path)?;
    listener.set_nonblocking(true)?;
    let listener = SameUser(tokio::net::UnixListener::from_std(listener)?);
    let app = router(Api {
        check_token: false,
        ..api
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("HTTP API socket: {e}");
        }
    });
    Ok(UnixGuard { path, task })
}

/// Serving on `api.sock`; dropping it stops and removes the socket.
pub struct UnixGuard {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UnixGuard {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A unix listener that hangs up on connections from other users.
struct SameUser(tokio::net::UnixListener);

impl axum::serve::Listener for SameUser {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => match crate::identity::peer_uid(&stream) {
                    Ok(uid) if uid == crate::identity::current_uid() => return (stream, addr),
                    Ok(uid) => tracing::warn!("API socket: refused a connection from uid {uid}"),
                    Err(e) => tracing::warn!("API socket: cannot tell who connected: {e}"),
                },
                Err(e) => {
                    tracing::warn!("API socket: cannot accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
