//! Client sockets spread over the loopback addresses 127.0.0.2 and up. Thousands of
//! connections from one address would meet the server's per-address cap
//! (`--max-connections-per-address`, 256) and, past some tens of thousands, run out of
//! ephemeral ports; on Linux every 127.x.y.z address reaches the server without set-up.

use anyhow::Context;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket the bench holds open.
pub type Socket = WebSocketStream<TcpStream>;

/// Sockets opened from one address: below the server's default per-address cap of 256.
pub const SOCKETS_PER_ADDRESS: usize = 200;

/// The address of HTTP API calls (127.0.0.2); WebSockets start at the next one.
const API_ADDRESS: u32 = 0x7f00_0002;

/// How long one WebSocket may take to open.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// The local address of the `n`-th WebSocket of a run.
pub fn socket_address(n: usize) -> IpAddr {
    let offset = u32::try_from(n / SOCKETS_PER_ADDRESS).unwrap_or(u32::MAX - API_ADDRESS - 1);
    IpAddr::V4(Ipv4Addr::from(API_ADDRESS + 1 + offset))
}

/// An HTTP client for API calls, its sockets bound to 127.0.0.2.
pub fn api_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(API_ADDRESS)))
        .tcp_nodelay(true)
        // Few connections kept: the bench calls with bounded concurrency.
        .pool_max_idle_per_host(64)
        .build()
        .context("cannot build an HTTP client")
}

/// Opens the WebSocket at `url` (ws://…) from `local`, authenticated with `bearer`.
pub async fn connect(url: &Url, bearer: &str, local: IpAddr) -> anyhow::Result<Socket> {
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {bearer}"))?,
    );
    let host = url.host_str().context("a WebSocket URL without a host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let server: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("{host} has no IPv4 address"))?;
    let open = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(local, 0))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
        anyhow::Ok(ws)
    };
    tokio::time::timeout(CONNECT_PATIENCE, open)
        .await
        .with_context(|| format!("{url} did not open within {CONNECT_PATIENCE:?}"))?
        .with_context(|| format!("cannot open {url} from {local}"))
}

/// `url` with its scheme made a WebSocket one (http → ws, https → wss).
pub fn ws_url(base: &Url, path: &str) -> anyhow::Result<Url> {
    let mut url = base.join(path)?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|()| anyhow::anyhow!("cannot make a WebSocket URL of {url}"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_sockets_over_addresses() {
        assert_eq!(socket_address(0), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(
            socket_address(SOCKETS_PER_ADDRESS - 1),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))
        );
        assert_eq!(
            socket_address(SOCKETS_PER_ADDRESS * 300),
            IpAddr::V4(Ipv4Addr::new(127, 0, 1, 47))
        );
    }
}
