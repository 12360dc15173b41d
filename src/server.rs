//! UDP and TCP listeners: a thin shell around [`wire::respond`]. Each query reads the current
//! snapshot with one atomic load, so a reload never blocks or splits an answer.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::lookup::Snapshot;
use crate::wire::{self, Limits, Transport};

/// Largest UDP request we read; anything longer is not a DNS query we could answer.
const UDP_RECV_BUFFER: usize = 65_535;

/// Sockets bound and ready; [`Listeners::serve`] runs them.
pub struct Listeners {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

/// What the serving tasks share.
#[derive(Clone)]
pub struct Serving {
    pub store: Arc<ArcSwap<Snapshot>>,
    pub limits: Limits,
    pub tcp_idle_timeout: Duration,
    pub tcp_connections: Arc<Semaphore>,
}

impl Serving {
    pub fn new(config: &Config, store: Arc<ArcSwap<Snapshot>>) -> Self {
        Self {
            store,
            limits: Limits {
                udp_payload_cap: config.edns_udp_payload,
            },
            tcp_idle_timeout: Duration::from_secs(config.tcp_idle_timeout),
            tcp_connections: Arc::new(Semaphore::new(config.tcp_max_connections)),
        }
    }
}

impl Listeners {
    /// Binds UDP and TCP on every address. Port 0 picks one free port for both.
    pub async fn bind(addrs: &[SocketAddr]) -> io::Result<Self> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut last_error = None;
        for &addr in addrs {
            // An address the host lacks (no IPv6 loopback, say) must not stop the others.
            match bind_pair(addr).await {
                Ok((u, t)) => {
                    info!(udp = %u.local_addr()?, tcp = %t.local_addr()?, "listening");
                    udp.push(Arc::new(u));
                    tcp.push(t);
                }
                Err(e) => {
                    warn!(%addr, "cannot listen: {e}");
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            Some(e) if tcp.is_empty() => Err(e),
            _ => Ok(Self { udp, tcp }),
        }
    }

    /// The addresses actually bound (UDP and TCP share each).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|t| t.local_addr().ok())
            .collect()
    }

    /// Serves until the process ends.
    pub async fn serve(self, serving: Serving) {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut tasks = tokio::task::JoinSet::new();
        for socket in self.udp {
            for _ in 0..workers {
                tasks.spawn(udp_worker(socket.clone(), serving.clone()));
            }
        }
        for listener in self.tcp {
            tasks.spawn(tcp_acceptor(listener, serving.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((bind_udp(addr)?, bind_tcp(addr)?));
    }
    // Port 0: take TCP's free port for UDP too, retrying if UDP's is taken meanwhile.
    let mut last = None;
    for _ in 0..20 {
        let tcp = bind_tcp(addr)?;
        match bind_udp(tcp.local_addr()?) {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

/// A socket for `addr`; IPv6 sockets take IPv6 only, so `[::]:53` and `0.0.0.0:53` can both
/// be configured (Linux would otherwise let the first claim both families).
fn socket(addr: SocketAddr, kind: Type) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket(addr, Type::DGRAM)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = socket(addr, Type::STREAM)?;
    // Restarts must not wait for TIME_WAIT connections of the previous process.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// Receives, answers, sends; one buffer pair per worker, reused.
async fn udp_worker(socket: Arc<UdpSocket>, serving: Serving) {
    let mut request = vec![0u8; UDP_RECV_BUFFER];
    let mut response = Vec::with_capacity(4096);
    loop {
        let (len, peer) = match socket.recv_from(&mut request).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                debug!("udp receive: {e}");
                continue;
            }
        };
        // The snapshot guard is released before the send: a reload never waits on a socket.
        let answered = wire::respond(
            &serving.store.load(),
            &request[..len],
            Transport::Udp,
            serving.limits,
            &mut response,
        );
        if answered && let Err(e) = socket.send_to(&response, peer).await {
            debug!(%peer, "udp send: {e}");
        }
    }
}

/// Accepts while fewer than `tcp_max_connections` are open; the rest wait in the backlog.
async fn tcp_acceptor(listener: TcpListener, serving: Serving) {
    loop {
        let Ok(permit) = serving.tcp_connections.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let serving = serving.clone();
                tokio::spawn(async move {
                    if let Err(e) = tcp_connection(stream, &serving).await {
                        debug!(%peer, "tcp connection: {e}");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                warn!("tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// RFC 1035 §4.2.2 framing: a two-byte length before each message, several per connection,
/// closed after `tcp_idle_timeout` without a request.
async fn tcp_connection(mut stream: TcpStream, serving: &Serving) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut request = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(4096);
    loop {
        let len = match tokio::time::timeout(serving.tcp_idle_timeout, stream.read_u16()).await {
            Err(_) => return Ok(()), // idle
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        request.resize(usize::from(len), 0);
        tokio::time::timeout(serving.tcp_idle_timeout, stream.read_exact(&mut request))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request body timed out"))??;
        let snapshot = serving.store.load();
        if !wire::respond(
            &snapshot,
            &request,
            Transport::Tcp,
            serving.limits,
            &mut response,
        ) {
            continue;
        }
        drop(snapshot);
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&(response.len() as u16).to_be_bytes());
        framed.extend_from_slice(&response);
        stream.write_all(&framed).await?;
    }
}
