//! UDP and TCP listeners: a thin shell around [`wire::respond`]. Each query reads the current
//! snapshot with one atomic load, so a reload never blocks or splits an answer.
//!
//! UDP runs on plain threads, one per core, each with its own SO_REUSEPORT socket, blocking in
//! `recv_from`: no task wake-ups or readiness polling per packet, which dominated the profile
//! of an async loop. TCP, where connections wait on slow peers, runs on tokio.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::cookie::{self, Cookies};
use crate::lookup::Snapshot;
use crate::ops::metrics;
use crate::ops::tap::{self, Tap};
use crate::ops::throttle::Throttle;
use crate::owner::{Command, Handle, Reply, UpdateRequest};
use crate::wire::{self, Policy, Transport};
use crate::xfr::secondary::Secondaries;
use crate::xfr::transfer::{self, Plan, Transfers};

/// Kernel receive buffer per UDP socket: absorbs bursts while a worker is busy.
const UDP_SOCKET_BUFFER: usize = 4 << 20;
/// How often a blocked UDP worker looks up to see whether it should stop.
const UDP_STOP_CHECK: Duration = Duration::from_millis(200);

/// Sockets bound and ready; [`Listeners::serve`] runs them.
pub struct Listeners {
    /// Per address, one socket per UDP worker, all bound to it with SO_REUSEPORT.
    udp: Vec<Vec<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

/// What the serving tasks share.
#[derive(Clone)]
pub struct Serving {
    pub store: Arc<ArcSwap<Snapshot>>,
    pub policy: Policy,
    pub tcp_idle_timeout: Duration,
    pub tcp_connections: Arc<Semaphore>,
    /// Open TCP connections by client (an address, an IPv6 /64), and how many one may have.
    pub tcp_clients: Arc<ClientConnections>,
    /// Set to stop the UDP workers (the process ending stops them too).
    pub stop: Arc<AtomicBool>,
    /// Where UPDATE messages go: they change zones, which only the owner does.
    pub owner: Handle,
    /// Who may transfer which zone.
    pub transfers: Arc<Transfers>,
    /// Secondary zones: NOTIFY in, and the thread that refreshes them.
    pub secondaries: Arc<Secondaries>,
    /// Count each answer ([`metrics`]): when something shows the counts (`metrics` or
    /// `control` configured).
    pub counting: bool,
    /// dnstap and the query log, if configured.
    pub tap: Option<Arc<Tap>>,
    /// Response rate limiting over UDP, if configured.
    pub rrl: Option<Arc<crate::rrl::Limiter>>,
}

impl Serving {
    /// What `config` asks for; fails only if no random cookie secret can be had.
    pub fn new(
        config: &Config,
        store: Arc<ArcSwap<Snapshot>>,
        owner: Handle,
    ) -> Result<Self, String> {
        let secondaries = Secondaries::start(config, &owner);
        let mut policy = Policy::from_config(config)?;
        policy.expiry = secondaries.expiry.clone();
        Ok(Self {
            store,
            policy,
            tcp_idle_timeout: Duration::from_secs(config.tcp_idle_timeout),
            tcp_connections: Arc::new(Semaphore::new(config.tcp_max_connections)),
            tcp_clients: Arc::new(ClientConnections::new(
                config.tcp_max_connections_per_client,
            )),
            stop: Arc::new(AtomicBool::new(false)),
            secondaries: Arc::new(secondaries),
            owner,
            transfers: Arc::new(Transfers::from_config(config)),
            counting: config.metrics.is_some() || config.control.is_some(),
            tap: Tap::start(config)?,
            rrl: crate::rrl::Limiter::from_config(config).map(Arc::new),
        })
    }
}

/// UDP workers per address: one per core this process may run on.
fn udp_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Listeners {
    /// Binds UDP and TCP on every address. Port 0 picks one free port for both.
    pub async fn bind(addrs: &[SocketAddr]) -> io::Result<Self> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut failures = Vec::new();
        for &addr in addrs {
            // An address the host lacks (no IPv6 loopback, say) must not stop the others.
            match bind_pair(addr, udp_workers()) {
                Ok((u, t)) => {
                    info!(udp = %u[0].local_addr()?, tcp = %t.local_addr()?, udp_workers = u.len(), "listening");
                    udp.push(u);
                    tcp.push(t);
                }
                Err(e) => failures.push((addr, explain_bind_error(addr, e))),
            }
        }
        if tcp.is_empty()
            && let Some((_, first)) = failures.first()
        {
            // Nothing bound: one error that names every address and why.
            let kind = first.kind();
            let all: Vec<String> = failures.iter().map(|(a, e)| format!("{a}: {e}")).collect();
            return Err(io::Error::new(kind, all.join("; ")));
        }
        for (addr, e) in failures {
            warn!(%addr, "cannot listen: {e}");
        }
        Ok(Self { udp, tcp })
    }

    /// The addresses actually bound (UDP and TCP share each).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|t| t.local_addr().ok())
            .collect()
    }

    /// Serves until the process ends (or `serving.stop` is set, for UDP).
    pub async fn serve(self, serving: Serving) {
        for (a, sockets) in self.udp.into_iter().enumerate() {
            for (w, socket) in sockets.into_iter().enumerate() {
                let serving = serving.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("udp-{a}-{w}"))
                    .spawn(move || udp_worker(&socket, &serving));
                if let Err(e) = spawned {
                    warn!("cannot start a UDP worker: {e}");
                }
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(cookies) = serving.policy.cookies.clone().filter(|c| c.rotates()) {
            tasks.spawn(rotate_cookie_secret(cookies));
        }
        for listener in self.tcp {
            tasks.spawn(tcp_acceptor(listener, serving.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Replaces a generated cookie secret every [`cookie::ROTATION`] (RFC 9018 §4.3).
async fn rotate_cookie_secret(cookies: Arc<Cookies>) {
    let mut every = tokio::time::interval(cookie::ROTATION);
    every.tick().await; // the first tick is now
    loop {
        every.tick().await;
        match cookies.rotate() {
            Ok(()) => info!("new cookie secret; the previous one is still accepted"),
            Err(e) => warn!("{e}; keeping the current cookie secret"),
        }
    }
}

/// A bind error with what to do about it: the kernel's words alone ("Permission denied") leave
/// a first-time user guessing.
fn explain_bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            "port {} is below 1024, which needs privilege: run enumd as root, or give it the \
             capability (setcap cap_net_bind_service=+ep /path/to/enumd, or \
             AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit), or lower the sysctl \
             net.ipv4.ip_unprivileged_port_start (containers: --sysctl), or listen on a port \
             above 1023",
            addr.port()
        ),
        io::ErrorKind::AddrInUse => {
            "another process holds this address and port (another DNS server? ss -lunp shows \
             which)"
                .to_string()
        }
        io::ErrorKind::AddrNotAvailable => "this host has no such address".to_string(),
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{e}: {hint}"))
}

/// Binds TCP, then `workers` UDP sockets on the same address and port.
fn bind_pair(addr: SocketAddr, workers: usize) -> io::Result<(Vec<UdpSocket>, TcpListener)> {
    // Port 0: take TCP's free port for UDP too, retrying if UDP's is taken meanwhile.
    let mut last = None;
    for _ in 0..20 {
        let tcp = bind_tcp(addr)?;
        let port = tcp.local_addr()?.port();
        let udp_addr = SocketAddr::new(addr.ip(), port);
        // SO_REUSEPORT would let us join another process's (or a stopping server's) sockets
        // on this port and share its datagrams: a socket bound without it first proves the
        // port is free, and is closed just before the workers' sockets take it.
        let udp: io::Result<Vec<UdpSocket>> = socket(udp_addr, Type::DGRAM)
            .and_then(|probe| probe.bind(&udp_addr.into()))
            .and_then(|()| (0..workers.max(1)).map(|_| bind_udp(udp_addr)).collect());
        match udp {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
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
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket(addr, Type::DGRAM)?;
    s.set_reuse_port(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(UDP_SOCKET_BUFFER);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(UDP_STOP_CHECK))?;
    Ok(s.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = socket(addr, Type::STREAM)?;
    s.set_nonblocking(true)?;
    // Restarts must not wait for TIME_WAIT connections of the previous process.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// Datagrams taken from the kernel, and answers handed back, per system call.
const UDP_BATCH: usize = 32;
/// Requests longer than this are cut short and answered FORMERR: no real query comes near it.
const UDP_REQUEST_MAX: usize = 4096;

/// Receives a batch (`recvmmsg`), answers each, sends the answers in one `sendmmsg`: on a
/// busy server most packets then cost a share of two system calls instead of two each.
/// Buffers are allocated once per worker.
fn udp_worker(socket: &UdpSocket, serving: &Serving) {
    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;

    let fd = socket.as_raw_fd();
    // UPDATE answers leave from the owner thread, through this worker's socket.
    let reply_socket = match socket.try_clone() {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            warn!("cannot share a UDP socket with the zone owner: {e}; UPDATE over UDP is dropped");
            None
        }
    };
    let mut requests: Box<[[u8; UDP_REQUEST_MAX]; UDP_BATCH]> =
        Box::new([[0; UDP_REQUEST_MAX]; UDP_BATCH]);
    let mut responses: Vec<Vec<u8>> = (0..UDP_BATCH).map(|_| Vec::with_capacity(4096)).collect();
    let mut receive_headers = MultiHeaders::<SockaddrStorage>::preallocate(UDP_BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(UDP_BATCH, None);
    let mut received: [(usize, Option<SockaddrStorage>); UDP_BATCH] = [(0, None); UDP_BATCH];
    // Responses this worker's rate limiting held back: every `rrl_slip`th is sent truncated.
    let mut limited = 0u32;
    let shard = serving.counting.then(|| metrics::global().udp_shard());
    let mut recorder = serving.tap.as_ref().map(|t| t.recorder());
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    while !serving.stop.load(Ordering::Relaxed) {
        let count = {
            let mut slices = requests.each_mut().map(|b| [IoSliceMut::new(b)]);
            match recvmmsg(
                fd,
                &mut receive_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(batch) => {
                    let mut n = 0;
                    for msg in batch {
                        received[n] = (msg.bytes, msg.address);
                        n += 1;
                    }
                    n
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems; keep serving.
                    debug!("udp receive: {e}");
                    continue;
                }
            }
        };
        let received_at = if recorder.is_some() {
            tap::now()
        } else {
            (0, 0)
        };
        let rrl_now = serving.rrl.as_ref().map_or(0, |r| r.now());
        // One snapshot for the batch; released before sending, so a reload never waits.
        let mut replies: [Option<SockaddrStorage>; UDP_BATCH] = [None; UDP_BATCH];
        let mut ready = 0;
        {
            let snapshot = serving.store.load();
            for (i, &(len, peer)) in received[..count].iter().enumerate() {
                let len = len.min(UDP_REQUEST_MAX);
                if is_update(&requests[i][..len]) {
                    let peer = peer.and_then(|p| sockaddr(&p));
                    if let (Some(peer), Some(socket)) = (peer, &reply_socket) {
                        serving.owner.try_send(Command::Update(UpdateRequest {
                            message: requests[i][..len].to_vec(),
                            peer,
                            reply: Reply::Udp(socket.clone()),
                        }));
                    }
                    continue;
                }
                if is_notify(&requests[i][..len]) {
                    let Some(from) = peer.as_ref().and_then(sockaddr) else {
                        continue;
                    };
                    responses[i] =
                        serving
                            .secondaries
                            .notify(&requests[i][..len], from, unix_seconds());
                    responses.swap(i, ready);
                    replies[ready] = peer;
                    ready += 1;
                    continue;
                }
                let Some(client) = peer.as_ref().and_then(ip_of) else {
                    continue;
                };
                if let Some(qtype) = transfer::transfer_type(&requests[i][..len]) {
                    // Rare: AXFR refused, IXFR answered with the SOA alone (RFC 1995 §4).
                    let plan = transfer::plan(
                        &snapshot,
                        &requests[i][..len],
                        client,
                        false,
                        &serving.transfers,
                        unix_seconds(),
                    );
                    responses[i] = match plan {
                        Plan::Reply(m) => {
                            count_transfer(qtype, "sent");
                            m
                        }
                        Plan::Refuse(m, why) => {
                            static LOGGED: Throttle = Throttle::new();
                            if let Some(held_back) = LOGGED.admit() {
                                info!(peer = %client, held_back, "transfer over UDP refused: {why}");
                            }
                            count_transfer(qtype, "refused");
                            m
                        }
                        Plan::Stream(_) => continue, // never over UDP
                    };
                    responses.swap(i, ready);
                    replies[ready] = peer;
                    ready += 1;
                    continue;
                }
                let outcome = wire::respond(
                    &snapshot,
                    &requests[i][..len],
                    Transport::Udp,
                    client,
                    &serving.policy,
                    &mut responses[i],
                );
                if let (Some(rrl), wire::Outcome::Answered(served)) = (&serving.rrl, outcome) {
                    match rrl.check(client, served.kind, rrl_now, &mut limited) {
                        crate::rrl::Verdict::Send => {}
                        crate::rrl::Verdict::Slip => {
                            wire::truncate_to_question(&mut responses[i]);
                            if let Some(shard) = &shard {
                                shard.count_rate_limited(true);
                            }
                        }
                        crate::rrl::Verdict::Drop => {
                            // Not answered: counted here only, and not logged.
                            if let Some(shard) = &shard {
                                shard.count_rate_limited(false);
                            }
                            continue;
                        }
                    }
                }
                if let Some(shard) = &shard {
                    shard.count(&outcome, responses[i].len());
                }
                if let Some(r) = recorder.as_mut()
                    && let wire::Outcome::Answered(served) = outcome
                    && r.wants()
                {
                    r.record(|e| {
                        e.client = peer.as_ref().and_then(sockaddr).unwrap_or(local);
                        e.server = local;
                        e.transport = Transport::Udp;
                        e.served = Some(served);
                        e.query_time = received_at;
                        e.response_time = tap::now();
                        e.query.clear();
                        e.query.extend_from_slice(&requests[i][..len]);
                        e.response.clear();
                        e.response.extend_from_slice(&responses[i]);
                    });
                }
                if outcome.answered() {
                    responses.swap(i, ready);
                    replies[ready] = peer;
                    ready += 1;
                }
            }
        }
        send_batch(
            fd,
            &mut send_headers,
            &responses[..ready],
            &replies[..ready],
        );
    }
}

/// A NOTIFY request (opcode 4, QR clear, RFC 1996 §3.1).
fn is_notify(msg: &[u8]) -> bool {
    msg.len() >= 12 && msg[2] & 0x80 == 0 && (msg[2] >> 3) & 0x0f == 4
}

/// An UPDATE request (opcode 5, QR clear, RFC 2136 §2.2): the owner's to answer.
fn is_update(msg: &[u8]) -> bool {
    msg.len() >= 12 && msg[2] & 0x80 == 0 && (msg[2] >> 3) & 0x0f == 5
}

/// The address of a datagram's sender.
fn ip_of(s: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

fn sockaddr(s: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// Sends `responses[i]` to `peers[i]`, in as few `sendmmsg` calls as it takes. A datagram the
/// kernel refuses (its peer unreachable, say) is dropped and the rest still go.
fn send_batch(
    fd: std::os::fd::RawFd,
    headers: &mut nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
    responses: &[Vec<u8>],
    peers: &[Option<nix::sys::socket::SockaddrStorage>],
) {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmmsg};
    use std::io::IoSlice;

    let mut from = 0;
    while from < responses.len() {
        let slices: Vec<[IoSlice<'_>; 1]> = responses[from..]
            .iter()
            .map(|r| [IoSlice::new(r)])
            .collect();
        let no_cmsgs: [ControlMessage<'_>; 0] = [];
        match sendmmsg(
            fd,
            headers,
            &slices,
            &peers[from..],
            no_cmsgs,
            MsgFlags::empty(),
        ) {
            // sendmmsg stops before a datagram that fails; the next call reports that one's
            // error, and the arm below skips it.
            Ok(sent) => from += sent.count().max(1),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                debug!("udp send: {e}");
                from += 1;
            }
        }
    }
}

/// Accepts while fewer than `tcp_max_connections` are open; the rest wait in the backlog.
async fn tcp_acceptor(listener: TcpListener, serving: Serving) {
    let counts = metrics::global();
    loop {
        let permit = match serving.tcp_connections.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                counts.tcp_cap_reached.fetch_add(1, Ordering::Relaxed);
                let Ok(p) = serving.tcp_connections.clone().acquire_owned().await else {
                    return;
                };
                p
            }
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                counts.tcp_accepted.fetch_add(1, Ordering::Relaxed);
                let Some(client) = serving.tcp_clients.enter(peer.ip()) else {
                    // Closed at once (the client sees it, rather than wait in the backlog),
                    // its slot given back to the others.
                    counts.tally("enumd_tcp_closed", &[("reason", "client_limit")]);
                    client_limit_logged(peer);
                    drop(stream);
                    continue;
                };
                let serving = serving.clone();
                counts.tcp_open.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if let Err(e) = tcp_connection(stream, &serving).await {
                        debug!(%peer, "tcp connection: {e}");
                    }
                    counts.tcp_open.fetch_sub(1, Ordering::Relaxed);
                    drop(client);
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
    let peer = stream.peer_addr()?;
    let local = stream.local_addr()?;
    let mut request = Vec::with_capacity(512);
    let mut response = Vec::with_capacity(4096);
    let shard = serving.counting.then(|| metrics::global().tcp_shard());
    loop {
        let len = match tokio::time::timeout(serving.tcp_idle_timeout, stream.read_u16()).await {
            Err(_) => {
                metrics::global()
                    .tcp_idle_closed
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        request.resize(usize::from(len), 0);
        tokio::time::timeout(serving.tcp_idle_timeout, stream.read_exact(&mut request))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request body timed out"))??;
        let received_at = if serving.tap.is_some() {
            tap::now()
        } else {
            (0, 0)
        };
        if transfer::transfer_type(&request).is_some() {
            tcp_transfer(&mut stream, &request, peer, serving).await?;
            continue;
        }
        if is_notify(&request) {
            let answer = serving.secondaries.notify(&request, peer, unix_seconds());
            write_framed(&mut stream, &answer, serving.tcp_idle_timeout).await?;
            continue;
        }
        if is_update(&request) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let sent = serving.owner.try_send(Command::Update(UpdateRequest {
                message: request.clone(),
                peer,
                reply: Reply::Tcp(tx),
            }));
            let Ok(answer) = rx.await else {
                let why = if sent {
                    "the zone owner has stopped"
                } else {
                    "too many UPDATEs waiting"
                };
                return Err(io::Error::other(why));
            };
            write_framed(&mut stream, &answer, serving.tcp_idle_timeout).await?;
            continue;
        }
        let snapshot = serving.store.load();
        let outcome = wire::respond(
            &snapshot,
            &request,
            Transport::Tcp,
            peer.ip(),
            &serving.policy,
            &mut response,
        );
        if let Some(shard) = &shard {
            shard.count(&outcome, response.len());
        }
        if let (Some(t), wire::Outcome::Answered(served)) = (&serving.tap, outcome) {
            t.record_tcp(|e| {
                e.client = peer;
                e.server = local;
                e.transport = Transport::Tcp;
                e.served = Some(served);
                e.query_time = received_at;
                e.response_time = tap::now();
                e.query.clear();
                e.query.extend_from_slice(&request);
                e.response.clear();
                e.response.extend_from_slice(&response);
            });
        }
        if !outcome.answered() {
            continue;
        }
        drop(snapshot);
        write_framed(&mut stream, &response, serving.tcp_idle_timeout).await?;
    }
}

/// Octets of framed messages handed from a transfer's encoder to its writer at a time: one
/// hand-over and one write per dozen messages, not per message (which spent a fifth of an
/// AXFR's CPU switching between the two threads).
const TRANSFER_CHUNK: usize = 256 << 10;

/// Answers a transfer request: one message, or a transfer streamed from the version that was
/// serving when it arrived. Messages are encoded on a blocking thread and handed over a
/// channel of a few chunks, so a slow client holds back the encoder, never a runtime thread,
/// and a client that goes away stops it.
async fn tcp_transfer(
    stream: &mut TcpStream,
    request: &[u8],
    peer: SocketAddr,
    serving: &Serving,
) -> io::Result<()> {
    let plan = {
        let snapshot = serving.store.load();
        transfer::plan(
            &snapshot,
            request,
            peer.ip(),
            true,
            &serving.transfers,
            unix_seconds(),
        )
    };
    let qtype = transfer::transfer_type(request).unwrap_or(0);
    let out = match plan {
        Plan::Reply(m) => {
            count_transfer(qtype, "sent");
            return write_framed(stream, &m, serving.tcp_idle_timeout).await;
        }
        Plan::Refuse(m, why) => {
            static LOGGED: Throttle = Throttle::new();
            if let Some(held_back) = LOGGED.admit() {
                info!(%peer, held_back, "transfer refused: {why}");
            }
            count_transfer(qtype, "refused");
            return write_framed(stream, &m, serving.tcp_idle_timeout).await;
        }
        Plan::Stream(out) => out,
    };
    let (apex, kind, serial) = (out.apex.clone(), out.kind, out.serial());
    let started = std::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let encoder = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(TRANSFER_CHUNK + (64 << 10));
        let counts = out.run(unix_seconds, |m| {
            // The encoder keeps every message within 65,535 octets.
            let Ok(len) = u16::try_from(m.len()) else {
                return false;
            };
            chunk.extend_from_slice(&len.to_be_bytes());
            chunk.extend_from_slice(&m);
            if chunk.len() < TRANSFER_CHUNK {
                return true;
            }
            let next = Vec::with_capacity(TRANSFER_CHUNK + (64 << 10));
            tx.blocking_send(std::mem::replace(&mut chunk, next))
                .is_ok()
        });
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
        counts
    });
    let mut written = 0usize;
    while let Some(chunk) = rx.recv().await {
        let wrote = tokio::time::timeout(serving.tcp_idle_timeout, stream.write_all(&chunk)).await;
        match wrote {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => {
                warn!(zone = %apex, %peer, kind, serial, "transfer out cut off after {written} octets: {e}");
                count_transfer(qtype, "failed");
                return Err(e);
            }
            Err(_) => {
                warn!(zone = %apex, %peer, kind, serial, "transfer out stopped after {written} octets: the client stopped reading");
                count_transfer(qtype, "failed");
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client not reading",
                ));
            }
        }
    }
    let (messages, records) = encoder.await.unwrap_or_default();
    count_transfer(qtype, "sent");
    info!(
        zone = %apex,
        %peer,
        kind,
        serial,
        messages,
        records,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "transfer out"
    );
    Ok(())
}

fn count_transfer(qtype: u16, result: &str) {
    let kind = if qtype == crate::rdata::rtype::IXFR {
        "ixfr"
    } else {
        "axfr"
    };
    metrics::global().tally("enumd_transfers_out", &[("type", kind), ("result", result)]);
}

/// Seconds since the Unix epoch, for TSIG.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes one message with its two-byte length (RFC 1035 §4.2.2), within `timeout`: a client
/// that reads nothing for that long (its window full) loses the connection rather than hold
/// a slot, as one that sends nothing does.
async fn write_framed(stream: &mut TcpStream, message: &[u8], timeout: Duration) -> io::Result<()> {
    // The encoder keeps TCP responses within 65,535 octets, OPT record included.
    let Ok(len) = u16::try_from(message.len()) else {
        return Err(io::Error::other("response over 65535 octets"));
    };
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    match tokio::time::timeout(timeout, stream.write_all(&framed)).await {
        Ok(written) => written,
        Err(_) => {
            metrics::global().tally("enumd_tcp_closed", &[("reason", "write_timeout")]);
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read no answer",
            ))
        }
    }
}

/// Open TCP connections per client (an IPv4 address, or an IPv6 /64: a host is given a /64,
/// and would otherwise have as many addresses as it likes), each held by a [`ClientSlot`]
/// until its connection ends. Touched once per connection, never per query.
pub struct ClientConnections {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

impl ClientConnections {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// A slot for one more connection from `ip`; None if it has `max` open.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = match ip {
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(a) & !u128::from(u64::MAX)).into()),
            },
            IpAddr::V4(_) => ip,
        };
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// One connection's place in [`ClientConnections`], given back when dropped.
struct ClientSlot {
    clients: Arc<ClientConnections>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Logs a connection closed for its client's limit, throttled: a client that keeps trying
/// must not fill the log.
fn client_limit_logged(peer: SocketAddr) {
    static LOGGED: Throttle = Throttle::new();
    if let Some(held_back) = LOGGED.admit() {
        info!(%peer, held_back, "TCP connection closed: its address has tcp_max_connections_per_client open");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_sockets_never_join_a_port_others_hold_with_reuseport() {
        // A stopping server's workers (or another process of this user) hold the UDP port
        // with SO_REUSEPORT while its TCP port is free: joining them would split the datagrams.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _context = runtime.enter();
        let held = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = held.local_addr().unwrap();
        let err = bind_pair(addr, 2).expect_err("the UDP port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Port 0 moves on to a port of its own.
        let (udp, _tcp) = bind_pair("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        assert_ne!(udp[0].local_addr().unwrap(), addr);
        assert_eq!(udp.len(), 2);
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        let clients = Arc::new(ClientConnections::new(2));
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let a = clients.enter(ip("2001:db8:1:2::1"));
        let b = clients.enter(ip("2001:db8:1:2:ffff::9"));
        assert!(a.is_some() && b.is_some());
        assert!(
            clients.enter(ip("2001:db8:1:2::3")).is_none(),
            "the same /64"
        );
        assert!(
            clients.enter(ip("2001:db8:1:3::1")).is_some(),
            "another /64"
        );
        let c = clients.enter(ip("192.0.2.1"));
        let d = clients.enter(ip("::ffff:192.0.2.1"));
        assert!(c.is_some() && d.is_some());
        assert!(
            clients.enter(ip("192.0.2.1")).is_none(),
            "mapped counts as IPv4"
        );
        assert!(clients.enter(ip("192.0.2.2")).is_some());
        drop(a);
        assert!(
            clients.enter(ip("2001:db8:1:2::3")).is_some(),
            "a slot came back"
        );
        drop((b, c, d));
        let open = clients.open.lock().unwrap();
        assert!(open.values().all(|&n| n <= 2));
    }
}
