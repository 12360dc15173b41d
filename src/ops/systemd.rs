//! systemd's readiness protocol (sd_notify(3)), for a `Type=notify` unit: `READY=1` once every
//! zone is loaded and every socket bound, `RELOADING=1` and `READY=1` around a reload,
//! `STOPPING=1` on the way out, each with a one-line `STATUS=`.
//!
//! A datagram to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace), nothing when it is not set. Written here rather than taken from a crate: it is
//! one `sendto` of a few lines of text.

use std::os::unix::net::UnixDatagram;

use tracing::debug;

/// The service is up: every zone loaded, every socket bound.
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}\n"));
}

/// A reload begins. `MONOTONIC_USEC` lets systemd 253 and later pair it with the `READY=1`
/// that ends it (it must come with `RELOADING=1` for a `Type=notify-reload` unit).
pub fn reloading() {
    send(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading\n",
        monotonic_usec()
    ));
}

/// The service is shutting down.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=shutting down\n");
}

fn send(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|s| {
        let bytes = target.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
                s.send_to_addr(state.as_bytes(), &addr)
            }
            None => s.send_to(state.as_bytes(), &target),
        }
    });
    if let Err(e) = sent {
        debug!("NOTIFY_SOCKET {}: {e}", target.to_string_lossy());
    }
}

/// CLOCK_MONOTONIC in microseconds, as systemd reads it.
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000
            + u64::try_from(ts.tv_nsec()).unwrap_or(0) / 1000
    })
}
