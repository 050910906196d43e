//! Opening the node's WebRTC forwarding unit: its UDP port on the listening address, and the
//! addresses written into answers. A port that cannot be opened leaves WebRTC off on this
//! node (logged as an error): phones and viewers use the JPEG paths then, as they do when a
//! browser cannot do WebRTC.

use crate::config::Config;
use std::net::{IpAddr, SocketAddr};
use switchboard_sfu::{Sfu, SfuConfig};
use tokio_util::sync::CancellationToken;

/// The addresses to announce: the configured ones; else the listening address; else, when
/// that is unspecified, this machine's addresses that are not loopback (one per family).
pub fn announced(config: &Config) -> Vec<IpAddr> {
    if !config.webrtc.webrtc_announce.is_empty() {
        return config.webrtc.webrtc_announce.clone();
    }
    let ip = config.network.listen.ip();
    if !ip.is_unspecified() {
        return vec![ip];
    }
    let networks = match sysinfo::Networks::new_with_refreshed_list() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this machine's addresses");
            return Vec::new();
        }
    };
    let mut found: Vec<IpAddr> = Vec::new();
    for data in networks.values() {
        for net in data.ip_networks() {
            let addr = net.addr;
            let usable = !addr.is_loopback()
                && !addr.is_unspecified()
                && match addr {
                    IpAddr::V4(_) => true,
                    // Link-local IPv6 needs a scope id no browser can use from a candidate.
                    IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                };
            if usable
                && addr.is_ipv4() == ip.is_ipv4()
                && !found.iter().any(|f| f.is_ipv4() == addr.is_ipv4())
            {
                found.push(addr);
            }
        }
    }
    found
}

/// Starts the forwarding unit, or says why WebRTC is off.
pub fn start(config: &Config, shutdown: CancellationToken) -> Option<Sfu> {
    let settings = &config.webrtc;
    if !settings.webrtc_enabled {
        tracing::info!(
            "WebRTC is off (webrtc_enabled = false): phones and viewers use the JPEG paths"
        );
        return None;
    }
    let bind = SocketAddr::new(config.network.listen.ip(), settings.webrtc_udp_port);
    let announce = announced(config);
    if announce.is_empty() {
        tracing::error!("WebRTC is off: no address to announce for {bind}; set webrtc_announce");
        return None;
    }
    let sfu_config = SfuConfig {
        bind,
        announce,
        max_publishers: settings.webrtc_max_publishers,
        max_viewers: settings.webrtc_max_viewers,
        connect_timeout: settings.webrtc_connect_timeout,
        tcp: settings.webrtc_tcp,
    };
    match Sfu::start(sfu_config, shutdown) {
        Ok(sfu) => Some(sfu),
        Err(e) => {
            tracing::error!(udp = %bind, error = %e, "WebRTC is off: cannot open its UDP port");
            None
        }
    }
}
