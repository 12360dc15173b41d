//! The TOML configuration: schema, defaults, and checks. Unknown keys are errors that name the
//! key, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::name;

/// The whole configuration, with zone file paths already resolved against the config's directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Addresses to serve on, UDP and TCP on each.
    #[serde(default = "default_listen", deserialize_with = "listen_addresses")]
    pub listen: Vec<SocketAddr>,
    /// Cap on the EDNS UDP payload we answer with and advertise (RFC 6891 §6.2.5).
    #[serde(default = "default_udp_payload")]
    pub edns_udp_payload: u16,
    /// Seconds a TCP connection may stay idle before it is closed (RFC 7766 §6.2.3).
    #[serde(default = "default_tcp_idle_timeout")]
    pub tcp_idle_timeout: u64,
    /// Concurrent TCP connections; further ones wait in the listen backlog.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
    /// Concurrent TCP connections from one address; one more is closed at once, so that one
    /// client cannot hold every slot of `tcp_max_connections`.
    #[serde(default = "default_tcp_max_connections_per_client")]
    pub tcp_max_connections_per_client: usize,
    /// Reload a zone when one of its files changes.
    #[serde(default)]
    pub watch: bool,
    #[serde(default)]
    pub log: LogConfig,
    /// Where journals live; relative paths are taken from the config file's directory.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The unix socket `enumd ctl` talks to (none: no control channel); relative paths are
    /// taken from the config file's directory.
    #[serde(default)]
    pub control: Option<PathBuf>,
    /// The control socket's permission bits, in octal; clients of another user than enumd's
    /// (root aside) are refused whatever they allow.
    #[serde(default = "default_control_mode")]
    pub control_mode: String,
    /// Where `/metrics` is served over HTTP, in Prometheus text format (none: not served).
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    /// One line per query to this file, or to standard output for `"-"` (none: no query log);
    /// relative paths are taken from the config file's directory.
    #[serde(default)]
    pub query_log: Option<PathBuf>,
    /// dnstap: AUTH_QUERY and AUTH_RESPONSE messages in fstrm frames (none: off).
    #[serde(default)]
    pub dnstap: Option<DnstapConfig>,
    /// NSID (RFC 5001): what this server calls itself to clients that ask, as text or hex.
    #[serde(default)]
    pub nsid: Option<String>,
    #[serde(default)]
    pub nsid_hex: Option<String>,
    /// DNS Cookies (RFC 7873, RFC 9018), on by default as in BIND.
    #[serde(default = "default_cookies")]
    pub cookies: bool,
    /// Cookie secrets, 32 hex digits each: the first makes cookies, every one verifies them.
    /// None: a random secret, replaced every 26 hours.
    #[serde(default)]
    pub cookie_secret: Option<OneOrMore>,
    /// `nsid` or `nsid_hex` as bytes (filled by `Config::parse`).
    #[serde(skip)]
    pub nsid_bytes: Option<Vec<u8>>,
    /// `cookie_secret` decoded (filled by `Config::parse`).
    #[serde(skip)]
    pub cookie_secrets: Vec<crate::cookie::Secret>,
    /// Response rate limiting over UDP ([`crate::rrl`]): responses a second to one client
    /// prefix of one kind; 0: off.
    #[serde(default)]
    pub rrl_responses_per_second: u32,
    /// Every this many limited responses, one goes out truncated (TC) instead of being
    /// dropped, so that real clients retry over TCP; 0: all are dropped.
    #[serde(default = "default_rrl_slip")]
    pub rrl_slip: u32,
    /// The prefix lengths that make one client for rate limiting.
    #[serde(default = "default_rrl_ipv4_prefix")]
    pub rrl_ipv4_prefix: u8,
    #[serde(default = "default_rrl_ipv6_prefix")]
    pub rrl_ipv6_prefix: u8,
    /// Address prefixes never rate limited (SIP proxies, SBCs).
    #[serde(default)]
    pub rrl_exempt: Vec<String>,
    /// `rrl_exempt` parsed (filled by `Config::parse`).
    #[serde(skip)]
    pub rrl_exempt_list: AccessList,
    /// Who may query zones that do not say (`[[zone]] allow_query`): address prefixes and
    /// `key:NAME` entries. None: everyone.
    #[serde(default)]
    pub allow_query: Option<Vec<String>>,
    /// TSIG keys (RFC 8945), by name.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyConfig>,
    /// Client classes that `[[zone]] hide_services` rules name.
    #[serde(default, rename = "view")]
    pub views: Vec<ViewConfig>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
}

/// A class of clients (`[[view]]`): those whose address or TSIG key `match` lists.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    pub name: String,
    /// Address prefixes and `key:NAME` entries, as `allow_query` takes them.
    #[serde(rename = "match")]
    pub members: Vec<String>,
}

/// A `hide_services` rule: NAPTRs whose Enumservices all match `services` are left out of
/// what clients outside the view `outside` get.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HideRule {
    pub outside: String,
    pub services: Vec<String>,
}

/// One rule as a table, or several as an array of tables.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(HideRule),
    Many(Vec<HideRule>),
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<HideRule>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(r) => vec![r],
        OneOrMany::Many(v) => v,
    })
}

/// A value that may be written alone or as a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMore {
    One(String),
    More(Vec<String>),
}

impl OneOrMore {
    fn items(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::More(v) => v,
        }
    }
}

/// The longest NSID accepted: room is left in a 512-byte response for the question.
const NSID_MAX: usize = 128;

/// A TSIG key: its name, algorithm and secret (inline base64, or a file as BIND's
/// `tsig-keygen` writes it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    pub algorithm: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// Relative to the config file's directory.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// A key as the server uses it: name in lower-cased wire form, algorithm, secret bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: Vec<u8>,
    pub algorithm: crate::xfr::tsig::Algorithm,
    pub secret: Vec<u8>,
}

/// Who may do something to a zone (query it, UPDATE it, transfer it): keys by name, and
/// address prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessList {
    /// Key names, lower-cased wire form.
    pub keys: Vec<Vec<u8>>,
    pub prefixes: Vec<(std::net::IpAddr, u8)>,
    /// The prefixes as sorted ranges that neither overlap nor touch, IPv4 and IPv6 apart: a
    /// check is a binary search, whatever the list's length, because a query ACL is checked
    /// for every answer.
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

impl AccessList {
    /// The list of `keys` and `prefixes` (address, length; the address's host bits ignored).
    pub fn new(keys: Vec<Vec<u8>>, prefixes: Vec<(std::net::IpAddr, u8)>) -> Self {
        use std::net::IpAddr;
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for &(net, len) in &prefixes {
            match net {
                IpAddr::V4(a) => {
                    let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    v4s_push(&mut v4, u32::from(a) & !host, host);
                }
                // An IPv4-mapped prefix (::ffff:192.0.2.0/120) is the IPv4 prefix it maps, as
                // the clients it means are matched as IPv4.
                IpAddr::V6(a) if len >= 96 && a.to_ipv4_mapped().is_some() => {
                    let addr = a.to_ipv4_mapped().map_or(0, u32::from);
                    let host = u32::MAX.checked_shr(u32::from(len - 96)).unwrap_or(0);
                    v4s_push(&mut v4, addr & !host, host);
                }
                IpAddr::V6(a) => {
                    let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    let start = u128::from(a) & !host;
                    v6.push((start, start | host));
                }
            }
        }
        Self {
            keys,
            prefixes,
            v4: merged(v4),
            v6: merged(v6),
        }
    }

    /// Whether a message from `peer`, signed with `key` (verified) or not, is allowed. An
    /// IPv4-mapped IPv6 address is taken as the IPv4 address it maps.
    pub fn allows(&self, peer: std::net::IpAddr, key: Option<&[u8]>) -> bool {
        use std::net::IpAddr;
        if key.is_some_and(|k| self.keys.iter().any(|n| n == k)) {
            return true;
        }
        let peer = match peer {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            IpAddr::V4(_) => peer,
        };
        match peer {
            IpAddr::V4(a) => within(&self.v4, u128::from(u32::from(a))),
            IpAddr::V6(a) => within(&self.v6, u128::from(a)),
        }
    }
}

/// The IPv4 range from `start` with `host` bits free, as [`within`] compares ranges.
fn v4s_push(ranges: &mut Vec<(u128, u128)>, start: u32, host: u32) {
    ranges.push((u128::from(start), u128::from(start | host)));
}

/// `ranges` sorted, with those that overlap or touch made one.
fn merged(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Whether `x` lies in one of `ranges` (as [`merged`] leaves them).
fn within(ranges: &[(u128, u128)], x: u128) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= x);
    after > 0 && x <= ranges[after - 1].1
}

/// Where dnstap frames go: a reader's unix socket (fstrm's bidirectional handshake, as
/// `fstrm_capture` and `dnstap-read`'s pipelines expect) or a file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnstapConfig {
    #[serde(default)]
    pub socket: Option<PathBuf>,
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// One query in this many is logged (1: every query).
    #[serde(default = "default_sample")]
    pub sample: u32,
    /// The `identity` field of each message (default: the host's name).
    #[serde(default)]
    pub identity: Option<String>,
}

fn default_sample() -> u32 {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            format: LogFormat::Plain,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex as written (`e164.arpa.`).
    pub apex: String,
    /// The master file; relative paths are taken from the config file's directory. A
    /// secondary zone (`primaries`) may leave it out: its copy is kept in `state_dir`.
    #[serde(default)]
    pub file: PathBuf,
    /// Treat validation warnings as errors: the zone does not load while any remain.
    #[serde(default)]
    pub strict: bool,
    /// Most records a load may read, repeats through `$INCLUDE` counted (BIND's
    /// `max-records`): what bounds a load's memory, whatever its files.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Who may query the zone: address prefixes (`10.0.0.0/8`) and `key:NAME` entries (a
    /// query signed with that key). None: as the top-level `allow_query`; empty: nobody.
    #[serde(default)]
    pub allow_query: Option<Vec<String>>,
    /// NAPTRs that clients outside a view do not see: `{ outside = "peers", services =
    /// ["pstn:*", "P-*"] }`, or an array of such rules.
    #[serde(default, deserialize_with = "one_or_many")]
    pub hide_services: Vec<HideRule>,
    /// Who may UPDATE the zone: `key:NAME` entries and address prefixes (`127.0.0.1/32`).
    /// Empty: UPDATE is refused.
    #[serde(default)]
    pub allow_update: Vec<String>,
    /// Who may transfer the zone (AXFR, IXFR): `key:NAME` entries and address prefixes.
    /// Empty: transfers are refused.
    #[serde(default)]
    pub allow_transfer: Vec<String>,
    /// Where to send NOTIFY after each new version: `IP[:port]` (port 53 when left out).
    #[serde(default)]
    pub notify: Vec<String>,
    /// The key NOTIFY messages are signed with (a `[[key]]` name); unsigned when absent.
    #[serde(default)]
    pub notify_key: Option<String>,
    /// Whether the zone's NS hosts (but the SOA MNAME) are told too, at port 53, as BIND's
    /// `notify yes`: off, so that only the listed `notify` targets hear from enumd.
    #[serde(default)]
    pub notify_ns: bool,
    /// Where a secondary zone is transferred from, `IP[:port]`, tried in order: the zone is
    /// then a copy of theirs (no UPDATE, no reload from a file of its own).
    #[serde(default)]
    pub primaries: Vec<String>,
    /// A catalog zone (RFC 9432) listing every other zone served, built at start: no file.
    #[serde(default)]
    pub catalog: bool,
    /// The key transfers and SOA queries to the primaries are signed with, and NOTIFY from
    /// them may be signed with (a `[[key]]` name).
    #[serde(default)]
    pub primary_key: Option<String>,
    /// The journal's size bound; the oldest flushed history goes first.
    #[serde(default = "default_journal_max_bytes")]
    pub journal_max_bytes: u64,
    /// Seconds after a change before the zone file is rewritten from the journal (0: only on
    /// SIGUSR1).
    #[serde(default = "default_flush_interval")]
    pub flush_interval: u64,
    /// `allow_query` (the zone's, else the top level's) parsed; None: everyone (filled by
    /// `Config::parse`).
    #[serde(skip)]
    pub query_policy: Option<std::sync::Arc<AccessList>>,
    /// `hide_services` with its views resolved; None when there are no rules (filled by
    /// `Config::parse`).
    #[serde(skip)]
    pub concealment: Option<std::sync::Arc<crate::view::Concealment>>,
    /// `allow_update` parsed (filled by `Config::parse`).
    #[serde(skip)]
    pub update_policy: AccessList,
    /// `allow_transfer` parsed (filled by `Config::parse`).
    #[serde(skip)]
    pub transfer_policy: AccessList,
    /// `notify` parsed (filled by `Config::parse`).
    #[serde(skip)]
    pub notify_addrs: Vec<SocketAddr>,
    /// `primaries` parsed (filled by `Config::parse`).
    #[serde(skip)]
    pub primary_addrs: Vec<SocketAddr>,
    /// For a catalog zone, the apexes (wire form) of the zones it lists (filled by
    /// `Config::parse`).
    #[serde(skip)]
    pub catalog_members: Vec<Vec<u8>>,
}

impl ZoneConfig {
    /// Whether the zone's changes are journaled: it takes updates, or it is transferred (the
    /// journal is IXFR's history, so a reload's difference is journaled too).
    pub fn keeps_journal(&self) -> bool {
        !self.catalog
            && (self.update_policy != AccessList::default()
                || self.transfer_policy != AccessList::default()
                || self.is_secondary())
    }

    /// Whether the zone is a copy of its primaries' (secondary mode).
    pub fn is_secondary(&self) -> bool {
        !self.primary_addrs.is_empty()
    }

    /// The apex in lower-cased wire form.
    pub fn apex_wire(&self) -> Vec<u8> {
        // Checked in `Config::load`.
        name::to_lowercase(&name::parse(self.apex.as_bytes(), name::ROOT).unwrap_or_default())
    }
}

/// `listen` entries, each explained when it is not `IP:port`.
fn listen_addresses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| parse_listen(t).map_err(serde::de::Error::custom))
        .collect()
}

/// One listen address: `IPv4:port` or `[IPv6]:port`, with a reason that says what to write
/// instead when it is anything else.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::IpAddr;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let forms = "write IP:port, such as 127.0.0.1:5300 or [::1]:5300";
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        let example = SocketAddr::new(ip, 53);
        return Err(format!(
            "listen: \"{text}\" has no port: {forms} (here {example})"
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "listen: \"{text}\" is not an address and port: {forms}"
        ));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(format!(
            "listen: \"{text}\": an IPv6 address goes in brackets before its port, as in [::1]:5300"
        ));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "listen: \"{text}\": port \"{port}\" is not a number from 0 to 65535"
        ));
    }
    let bare = host.trim_matches(['[', ']']);
    if bare.parse::<IpAddr>().is_err() && bare.split('.').all(|p| p.parse::<u32>().is_ok()) {
        return Err(format!(
            "listen: \"{text}\": {bare} is not an IPv4 address (four numbers from 0 to 255)"
        ));
    }
    if !bare.is_empty() && bare.parse::<IpAddr>().is_err() {
        return Err(format!(
            "listen: \"{text}\": {bare} is a host name, and enumd binds addresses, not names: {forms} (localhost is 127.0.0.1 and [::1])"
        ));
    }
    Err(format!(
        "listen: \"{text}\" is not an address and port: {forms}"
    ))
}

fn default_cookies() -> bool {
    true
}
fn default_control_mode() -> String {
    "0600".into()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}
fn default_journal_max_bytes() -> u64 {
    100 << 20
}
fn default_flush_interval() -> u64 {
    60
}

fn default_listen() -> Vec<SocketAddr> {
    vec!["127.0.0.1:5300".parse().expect("literal address")]
}
/// Default `max_records`: room for about 1.6 × 10⁸ numbers of 1.25 records each; a load at
/// the cap peaks near 10 GiB (6.1 GiB measured at 1.25 × 10⁸ records).
pub const DEFAULT_MAX_RECORDS: usize = 200_000_000;

fn default_max_records() -> usize {
    DEFAULT_MAX_RECORDS
}
fn default_udp_payload() -> u16 {
    1232
}
fn default_tcp_idle_timeout() -> u64 {
    10
}
fn default_tcp_max_connections() -> usize {
    256
}
fn default_tcp_max_connections_per_client() -> usize {
    32
}
fn default_rrl_slip() -> u32 {
    2
}
fn default_rrl_ipv4_prefix() -> u8 {
    24
}
fn default_rrl_ipv6_prefix() -> u8 {
    56
}
fn default_log_level() -> String {
    "info".to_string()
}

impl Config {
    /// `control_mode` as bits (checked at parse).
    pub fn control_mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(self.control_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|&m| m <= 0o777)
    }
    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses config text; relative zone files are resolved against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.listen.is_empty() {
            return Err("listen: give at least one address".to_string());
        }
        if config.edns_udp_payload < 512 {
            return Err(format!(
                "edns_udp_payload = {}: must be at least 512 (RFC 6891 §6.2.5)",
                config.edns_udp_payload
            ));
        }
        config.nsid_bytes = match (&config.nsid, &config.nsid_hex) {
            (None, None) => None,
            (Some(text), None) => Some(text.as_bytes().to_vec()),
            (None, Some(hex)) => Some(parse_hex(hex).ok_or_else(|| {
                format!("nsid_hex = {hex:?}: expected an even number of hex digits")
            })?),
            (Some(_), Some(_)) => return Err("give nsid or nsid_hex, not both".to_string()),
        };
        if let Some(n) = &config.nsid_bytes
            && !(1..=NSID_MAX).contains(&n.len())
        {
            return Err(format!("nsid: {} bytes; give 1 to {NSID_MAX}", n.len()));
        }
        if let Some(secrets) = &config.cookie_secret {
            if secrets.items().is_empty() {
                return Err("cookie_secret: give at least one secret, or leave it out".to_string());
            }
            config.cookie_secrets = secrets
                .items()
                .iter()
                .map(|s| parse_secret(s))
                .collect::<Result<_, _>>()?;
        }
        // Zone and key names as operators write them: with or without the final dot, in any
        // case, as BIND, Knot and NSD take them. Kept in canonical form (lower case, absolute)
        // for every message that shows them.
        for zone in &mut config.zones {
            zone.apex = canonical_name(&zone.apex).map_err(|e| format!("zone apex {e}"))?;
        }
        for key in &mut config.keys {
            key.name = canonical_name(&key.name).map_err(|e| format!("key {e}"))?;
        }
        if let Some(z) = config.zones.iter().find(|z| z.max_records == 0) {
            return Err(format!("zone {}: max_records must be at least 1", z.apex));
        }
        if config.tcp_max_connections == 0 {
            return Err("tcp_max_connections must be at least 1".to_string());
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&config.log.level.as_str()) {
            return Err(format!(
                "log.level = {:?}: expected error, warn, info, debug or trace",
                config.log.level
            ));
        }
        let mut seen = Vec::new();
        for zone in &mut config.zones {
            let apex = zone.apex_wire();
            if seen.contains(&apex) {
                return Err(format!("zone {} is configured twice", zone.apex));
            }
            seen.push(apex);
        }
        if config.state_dir.is_relative() {
            config.state_dir = normalize(&dir.join(&config.state_dir));
        }
        if let Some(c) = config.control.as_mut()
            && c.is_relative()
        {
            *c = normalize(&dir.join(&*c));
        }
        if let Some(q) = config.query_log.as_mut()
            && q.is_relative()
            && q.as_os_str() != "-"
        {
            *q = normalize(&dir.join(&*q));
        }
        if let Some(d) = config.dnstap.as_mut() {
            match (&mut d.socket, &mut d.file) {
                (Some(p), None) | (None, Some(p)) => {
                    if p.is_relative() {
                        *p = normalize(&dir.join(&*p));
                    }
                }
                _ => return Err("dnstap: give socket or file, one of them".to_string()),
            }
            if d.sample == 0 {
                return Err("dnstap.sample must be at least 1 (one query in N)".to_string());
            }
        }
        if config.control_mode_bits().is_none() {
            return Err(format!(
                "control_mode: \"{}\" is not permission bits in octal, such as \"0600\" or \"0660\"",
                config.control_mode
            ));
        }
        for zone in &mut config.zones {
            zone.primary_addrs = zone
                .primaries
                .iter()
                .map(|t| parse_target(t))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("zone {}: primaries: {e}", zone.apex))?;
            if zone.catalog {
                if !zone.file.as_os_str().is_empty()
                    || zone.is_secondary()
                    || !zone.allow_update.is_empty()
                {
                    return Err(format!(
                        "zone {}: a catalog zone is built from the configuration: give it no file, primaries or allow_update",
                        zone.apex
                    ));
                }
                continue;
            }
            if zone.file.as_os_str().is_empty() {
                if !zone.is_secondary() {
                    return Err(format!(
                        "zone {}: give the zone's file, or primaries to copy it from",
                        zone.apex
                    ));
                }
                // The received copy: beside the journal, named as it is.
                zone.file = crate::zone::journal::Journal::path_for(&config.state_dir, &zone.apex)
                    .with_extension("zone");
            } else if zone.file.is_relative() {
                zone.file = normalize(&dir.join(&zone.file));
            }
            if zone.is_secondary() && !zone.allow_update.is_empty() {
                return Err(format!(
                    "zone {}: a secondary zone takes its changes from its primaries; allow_update is not supported for it (send the UPDATE to the primary)",
                    zone.apex
                ));
            }
            if zone.primary_key.is_some() && !zone.is_secondary() {
                return Err(format!("zone {}: primary_key without primaries", zone.apex));
            }
        }
        for key in &mut config.keys {
            if let Some(f) = key.secret_file.as_mut().filter(|f| f.is_relative()) {
                *f = normalize(&dir.join(&*f));
            }
        }
        let members: Vec<Vec<u8>> = config
            .zones
            .iter()
            .filter(|z| !z.catalog)
            .map(ZoneConfig::apex_wire)
            .collect();
        for zone in config.zones.iter_mut().filter(|z| z.catalog) {
            zone.catalog_members = members.clone();
        }
        let keys = config.keys()?;
        if config.tcp_max_connections_per_client == 0 {
            return Err(
                "tcp_max_connections_per_client must be at least 1 (it would close every TCP connection)"
                    .into(),
            );
        }
        if config.rrl_ipv4_prefix > 32 || config.rrl_ipv6_prefix > 128 {
            return Err(format!(
                "rrl_ipv4_prefix must be 0 to 32 and rrl_ipv6_prefix 0 to 128 (got {} and {})",
                config.rrl_ipv4_prefix, config.rrl_ipv6_prefix
            ));
        }
        if let Some(k) = config.rrl_exempt.iter().find(|e| e.starts_with("key:")) {
            return Err(format!(
                "rrl_exempt: {k:?}: only address prefixes (a UDP query's key is not checked before it is limited)"
            ));
        }
        config.rrl_exempt_list =
            parse_policy(&config.rrl_exempt, &keys).map_err(|e| format!("rrl_exempt: {e}"))?;
        let default_query = match &config.allow_query {
            Some(list) => Some(std::sync::Arc::new(
                parse_policy(list, &keys).map_err(|e| format!("allow_query: {e}"))?,
            )),
            None => None,
        };
        let mut views: Vec<(String, std::sync::Arc<AccessList>)> = Vec::new();
        for v in &config.views {
            if v.name.is_empty() || views.iter().any(|(n, _)| *n == v.name) {
                return Err(format!(
                    "[[view]] {:?}: a view needs a name of its own",
                    v.name
                ));
            }
            let members = parse_policy(&v.members, &keys)
                .map_err(|e| format!("view {}: match: {e}", v.name))?;
            views.push((v.name.clone(), std::sync::Arc::new(members)));
        }
        for zone in &mut config.zones {
            zone.concealment = conceal(&zone.hide_services, &views)
                .map_err(|e| format!("zone {}: hide_services: {e}", zone.apex))?;
            zone.query_policy = match &zone.allow_query {
                Some(list) => Some(std::sync::Arc::new(
                    parse_policy(list, &keys)
                        .map_err(|e| format!("zone {}: allow_query: {e}", zone.apex))?,
                )),
                None => default_query.clone(),
            };
            zone.update_policy = parse_policy(&zone.allow_update, &keys)
                .map_err(|e| format!("zone {}: allow_update: {e}", zone.apex))?;
            zone.transfer_policy = parse_policy(&zone.allow_transfer, &keys)
                .map_err(|e| format!("zone {}: allow_transfer: {e}", zone.apex))?;
            zone.notify_addrs = zone
                .notify
                .iter()
                .map(|t| parse_target(t))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("zone {}: notify: {e}", zone.apex))?;
            if let Some(k) = &zone.notify_key {
                parse_policy(&[format!("key:{k}")], &keys)
                    .map_err(|e| format!("zone {}: notify_key: {e}", zone.apex))?;
            }
            if let Some(k) = &zone.primary_key {
                parse_policy(&[format!("key:{k}")], &keys)
                    .map_err(|e| format!("zone {}: primary_key: {e}", zone.apex))?;
            }
        }
        Ok(config)
    }

    /// The configured keys, secrets read and decoded; names must be unique.
    pub fn keys(&self) -> Result<Vec<Key>, String> {
        use base64::Engine;
        let mut out: Vec<Key> = Vec::new();
        for k in &self.keys {
            let wire = name::parse(k.name.as_bytes(), name::ROOT)
                .map_err(|e| format!("key {:?}: {e}", k.name))?;
            let wire = name::to_lowercase(&wire);
            let algorithm = crate::xfr::tsig::Algorithm::from_config(&k.algorithm).ok_or_else(|| {
                format!(
                    "key {}: algorithm {:?}: expected hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1",
                    k.name, k.algorithm
                )
            })?;
            let text = match (&k.secret, &k.secret_file) {
                (Some(s), None) => s.clone(),
                (None, Some(f)) => {
                    let text = std::fs::read_to_string(f).map_err(|e| {
                        format!("key {}: {}: cannot read: {e}", k.name, f.display())
                    })?;
                    secret_from_keygen(&text).ok_or_else(|| {
                        format!(
                            "key {}: {}: no `secret \"…\";` in it (tsig-keygen's format)",
                            k.name,
                            f.display()
                        )
                    })?
                }
                _ => {
                    return Err(format!(
                        "key {}: give exactly one of secret and secret_file",
                        k.name
                    ));
                }
            };
            let secret = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("key {}: secret is not base64: {e}", k.name))?;
            if out.iter().any(|o| o.name == wire) {
                return Err(format!("key {} is configured twice", k.name));
            }
            out.push(Key {
                name: wire,
                algorithm,
                secret,
            });
        }
        Ok(out)
    }
}

/// A cookie secret: 32 hex digits.
fn parse_secret(text: &str) -> Result<crate::cookie::Secret, String> {
    parse_hex(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("cookie secret {text:?}: expected 32 hex digits (128 bits)"))
}

/// Bytes written as hex digits, two per byte.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// A domain name of the config in canonical text form: lower case, absolute (`E164.arpa` →
/// `e164.arpa.`). The error quotes the name as written.
fn canonical_name(text: &str) -> Result<String, String> {
    let wire = name::parse(text.as_bytes(), name::ROOT).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(name::to_text(&name::to_lowercase(&wire)))
}

/// The secret of a key file as BIND's `tsig-keygen` (or `rndc-confgen -a`) writes it:
/// `key "name" { algorithm hmac-sha256; secret "…"; };`.
fn secret_from_keygen(text: &str) -> Option<String> {
    let at = text.find("secret")? + "secret".len();
    let rest = text[at..].trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// A zone's `hide_services` rules, each view resolved and each pattern parsed.
fn conceal(
    rules: &[HideRule],
    views: &[(String, std::sync::Arc<AccessList>)],
) -> Result<Option<std::sync::Arc<crate::view::Concealment>>, String> {
    use crate::view::{Concealment, MAX_RULES, Pattern};
    if rules.is_empty() {
        return Ok(None);
    }
    if rules.len() > MAX_RULES {
        return Err(format!("at most {MAX_RULES} rules"));
    }
    let mut out = Vec::new();
    for rule in rules {
        let Some((_, members)) = views.iter().find(|(n, _)| *n == rule.outside) else {
            let known: Vec<&str> = views.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "outside = {:?}: no [[view]] of that name (views: {})",
                rule.outside,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        if rule.services.is_empty() {
            return Err(format!("outside = {:?}: services is empty", rule.outside));
        }
        let patterns = rule
            .services
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        out.push((rule.outside.clone(), members.clone(), patterns));
    }
    Ok(Some(std::sync::Arc::new(Concealment::new(out))))
}

/// `allow_query`, `allow_update` and `allow_transfer` entries: `key:NAME` (a configured key)
/// or `ADDRESS[/LEN]`.
fn parse_policy(entries: &[String], keys: &[Key]) -> Result<AccessList, String> {
    let (mut names, mut prefixes) = (Vec::new(), Vec::new());
    for e in entries {
        if let Some(k) = e.strip_prefix("key:") {
            let wire = name::parse(k.as_bytes(), name::ROOT)
                .map(|n| name::to_lowercase(&n))
                .map_err(|err| format!("{e:?}: {err}"))?;
            if !keys.iter().any(|key| key.name == wire) {
                return Err(format!("{e:?}: no [[key]] of that name"));
            }
            names.push(wire);
            continue;
        }
        let (ip, len) = e.split_once('/').unwrap_or((e, ""));
        let ip: std::net::IpAddr = ip.parse().map_err(|_| {
            format!("{e:?}: expected key:NAME or an address prefix such as 127.0.0.1/32 or ::1/128")
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = if len.is_empty() {
            max
        } else {
            len.parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("{e:?}: prefix length must be 0 to {max}"))?
        };
        prefixes.push((ip, len));
    }
    Ok(AccessList::new(names, prefixes))
}

/// A NOTIFY target: `IP:port`, `[IPv6]:port`, or an address alone for port 53.
fn parse_target(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse().map_err(|_| {
        format!("{text:?}: expected an address with or without a port, such as 127.0.0.20:53 or [::1]:53")
    })
}

/// `config/../zones/x` → `zones/x`, lexically, so messages show the path a person would type.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse(
            "listen = [\"127.0.0.1:53\"]\nlisten_udp = 1\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("listen_udp"), "{err}");
        let err = Config::parse(
            "[[zone]]\napex = \"e164.arpa.\"\nfile = \"x\"\nstrickt = true\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("strickt"), "{err}");
    }

    #[test]
    fn defaults_and_relative_files() {
        let c = Config::parse(
            "[[zone]]\napex = \"E164.arpa.\"\nfile = \"z/e.zone\"\n",
            Path::new("/etc/enumd"),
        )
        .unwrap();
        assert_eq!(c.edns_udp_payload, 1232);
        assert_eq!(c.zones[0].file, PathBuf::from("/etc/enumd/z/e.zone"));
        assert_eq!(c.zones[0].apex_wire(), b"\x04e164\x04arpa\x00".to_vec());
        assert!(!c.watch);
    }

    #[test]
    fn cookie_secrets_are_32_hex_digits() {
        assert_eq!(
            parse_secret("e5e973e5a6b2a43f48e7dc849e37bfcf").unwrap()[0],
            0xe5
        );
        for bad in [
            "e5e9",
            "g5e973e5a6b2a43f48e7dc849e37bfcf",
            "é5e973e5a6b2a43f48e7dc849e37bfc",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
        let e = Config::parse("cookie_secret = [\"00\"]", Path::new(".")).unwrap_err();
        assert!(e.contains("expected 32 hex digits"), "{e}");
    }

    #[test]
    fn a_key_file_is_found_beside_the_config_file() {
        let dir = std::env::temp_dir().join(format!("enumd-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::write(
            dir.join("keys/xfr.key"),
            "key \"xfr\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n",
        )
        .unwrap();
        let text = "[[key]]\nname = \"xfr\"\nalgorithm = \"hmac-sha256\"\nsecret_file = \"keys/xfr.key\"\n\
                    [[zone]]\napex = \"e164.arpa.\"\nfile = \"x\"\nallow_transfer = [\"key:xfr\"]\n";
        let c = Config::parse(text, &dir).unwrap();
        let keys = c.keys();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(keys.unwrap()[0].secret, b"secret");
        assert_eq!(
            c.zones[0].transfer_policy.keys,
            vec![b"\x03xfr\x00".to_vec()]
        );
    }

    #[test]
    fn zone_and_key_names_mean_the_same_with_or_without_the_final_dot_in_any_case() {
        let text = |apex: &str, key: &str, allowed: &str| {
            format!(
                "[[key]]\nname = \"{key}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n\
                 [[zone]]\napex = \"{apex}\"\nfile = \"x\"\nallow_update = [\"key:{allowed}\"]\n"
            )
        };
        for (apex, key, allowed) in [
            ("3.4.e164.arpa", "Provisioning", "provisioning."),
            ("3.4.E164.ARPA.", "provisioning.", "PROVISIONING"),
        ] {
            let c = Config::parse(&text(apex, key, allowed), Path::new(".")).unwrap();
            assert_eq!(c.zones[0].apex, "3.4.e164.arpa.");
            assert_eq!(
                c.zones[0].apex_wire(),
                b"\x013\x014\x04e164\x04arpa\x00".to_vec()
            );
            assert_eq!(c.keys[0].name, "provisioning.");
            assert_eq!(
                c.zones[0].update_policy.keys,
                vec![b"\x0cprovisioning\x00".to_vec()]
            );
        }
        // Written twice, differently: still the same zone.
        let e = Config::parse(
            "[[zone]]\napex = \"e164.arpa\"\nfile = \"x\"\n[[zone]]\napex = \"E164.Arpa.\"\nfile = \"y\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e, "zone e164.arpa. is configured twice");
    }

    #[test]
    fn listen_addresses_say_what_to_write() {
        let err = |text: &str| parse_listen(text).unwrap_err();
        assert_eq!(
            err("localhost:5440"),
            "listen: \"localhost:5440\": localhost is a host name, and enumd binds addresses, not names: write IP:port, such as 127.0.0.1:5300 or [::1]:5300 (localhost is 127.0.0.1 and [::1])"
        );
        assert_eq!(
            err("127.0.0.1"),
            "listen: \"127.0.0.1\" has no port: write IP:port, such as 127.0.0.1:5300 or [::1]:5300 (here 127.0.0.1:53)"
        );
        assert_eq!(
            err("::1"),
            "listen: \"::1\" has no port: write IP:port, such as 127.0.0.1:5300 or [::1]:5300 (here [::1]:53)"
        );
        assert_eq!(
            err("999.1.1.1:53"),
            "listen: \"999.1.1.1:53\": 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255)"
        );
        // Without brackets, a port cannot be told from the address's last group.
        assert_eq!(
            err("::1:53"),
            "listen: \"::1:53\" has no port: write IP:port, such as 127.0.0.1:5300 or [::1]:5300 (here [::1:53]:53)"
        );
        assert_eq!(
            err("2001:db8::g:53"),
            "listen: \"2001:db8::g:53\": an IPv6 address goes in brackets before its port, as in [::1]:5300"
        );
        assert_eq!(
            err("127.0.0.1:99999"),
            "listen: \"127.0.0.1:99999\": port \"99999\" is not a number from 0 to 65535"
        );
        assert!(err("").contains("not an address and port"));
        assert_eq!(parse_listen("[::1]:5300").unwrap().port(), 5300);
        // The config error carries the message.
        let e = Config::parse("listen = [\"localhost:5440\"]", Path::new(".")).unwrap_err();
        assert!(e.contains("enumd binds addresses, not names"), "{e}");
    }

    #[test]
    fn access_lists_match_prefixes_by_merged_ranges() {
        use std::net::IpAddr;
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let list = AccessList::new(
            vec![b"\x04peer\x00".to_vec()],
            vec![
                (ip("10.1.2.3"), 8),
                (ip("10.200.0.0"), 16),
                (ip("192.0.2.1"), 32),
                (ip("192.0.2.2"), 31),
                (ip("2001:db8::"), 32),
                (ip("::1"), 128),
            ],
        );
        // 10.0.0.0/8 swallows 10.200/16; 192.0.2.1/32 and 192.0.2.2/31 touch and merge.
        assert_eq!(list.v4.len(), 2);
        for yes in [
            "10.0.0.0",
            "10.255.255.255",
            "192.0.2.1",
            "192.0.2.3",
            "::ffff:10.9.9.9",
        ] {
            assert!(list.allows(ip(yes), None), "{yes}");
        }
        for no in [
            "9.255.255.255",
            "11.0.0.0",
            "192.0.2.0",
            "192.0.2.4",
            "::2",
            "2001:db9::",
        ] {
            assert!(!list.allows(ip(no), None), "{no}");
        }
        assert!(list.allows(ip("2001:db8:ffff::1"), None));
        let mapped = AccessList::new(vec![], vec![(ip("::ffff:198.51.100.0"), 120)]);
        assert!(
            mapped.allows(ip("198.51.100.9"), None)
                && mapped.allows(ip("::ffff:198.51.100.9"), None)
        );
        assert!(!mapped.allows(ip("198.51.101.9"), None));
        assert!(list.allows(ip("::1"), None));
        assert!(list.allows(ip("203.0.113.1"), Some(b"\x04peer\x00")));
        assert!(!list.allows(ip("203.0.113.1"), Some(b"\x05other\x00")));
        // /0 is every address of its family, and IPv4 only is not IPv6.
        let v4 = AccessList::new(vec![], vec![(ip("0.0.0.0"), 0)]);
        assert!(v4.allows(ip("255.255.255.255"), None) && v4.allows(ip("0.0.0.0"), None));
        assert!(!v4.allows(ip("2001:db8::1"), None));
        let none = AccessList::new(vec![], vec![]);
        assert!(!none.allows(ip("127.0.0.1"), None));
    }

    #[test]
    fn allow_query_is_the_zones_own_or_else_the_top_levels() {
        let text = "allow_query = [\"10.0.0.0/8\"]\n\
                    [[key]]\nname = \"peer\"\nalgorithm = \"hmac-sha256\"\nsecret = \"3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==\"\n\
                    [[zone]]\napex = \"a.\"\nfile = \"x\"\n\
                    [[zone]]\napex = \"b.\"\nfile = \"x\"\nallow_query = [\"key:PEER.\", \"::1\"]\n\
                    [[zone]]\napex = \"c.\"\nfile = \"x\"\nallow_query = []\n";
        let c = Config::parse(text, Path::new(".")).unwrap();
        let ip = |t: &str| t.parse::<std::net::IpAddr>().unwrap();
        let policy = |i: usize| c.zones[i].query_policy.clone().unwrap();
        assert!(policy(0).allows(ip("10.1.1.1"), None));
        assert!(!policy(0).allows(ip("::1"), None));
        assert!(policy(1).allows(ip("::1"), None) && !policy(1).allows(ip("10.1.1.1"), None));
        assert!(policy(1).allows(ip("192.0.2.1"), Some(b"\x04peer\x00")));
        assert!(!policy(2).allows(ip("10.1.1.1"), None));
        let open =
            Config::parse("[[zone]]\napex = \"a.\"\nfile = \"x\"\n", Path::new(".")).unwrap();
        assert!(
            open.zones[0].query_policy.is_none(),
            "no list: everyone, unchecked"
        );
        let err = Config::parse("allow_query = [\"10.0.0.0/33\"]\n", Path::new(".")).unwrap_err();
        assert!(
            err.contains("allow_query") && err.contains("prefix length"),
            "{err}"
        );
        let err = Config::parse(
            "[[zone]]\napex = \"a.\"\nfile = \"x\"\nallow_query = [\"key:nope\"]\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(
            err.contains("zone a.: allow_query") && err.contains("no [[key]]"),
            "{err}"
        );
    }

    #[test]
    fn rate_limiting_is_off_unless_asked_and_its_exempt_list_takes_addresses_only() {
        let c = Config::parse("", Path::new(".")).unwrap();
        assert_eq!(c.rrl_responses_per_second, 0);
        assert_eq!(
            (c.rrl_slip, c.rrl_ipv4_prefix, c.rrl_ipv6_prefix),
            (2, 24, 56)
        );
        let c = Config::parse(
            "rrl_responses_per_second = 20\nrrl_exempt = [\"192.0.2.0/24\", \"2001:db8::1\"]\n",
            Path::new("."),
        )
        .unwrap();
        let ip = |t: &str| t.parse::<std::net::IpAddr>().unwrap();
        assert!(c.rrl_exempt_list.allows(ip("192.0.2.7"), None));
        assert!(!c.rrl_exempt_list.allows(ip("192.0.3.7"), None));
        for (text, want) in [
            ("rrl_ipv4_prefix = 33\n", "rrl_ipv4_prefix must be 0 to 32"),
            ("rrl_exempt = [\"key:x\"]\n", "only address prefixes"),
            ("rrl_exempt = [\"nonsense\"]\n", "rrl_exempt"),
        ] {
            let err = Config::parse(text, Path::new(".")).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(
            Config::parse("edns_udp_payload = 100", Path::new("."))
                .unwrap_err()
                .contains("512")
        );
        let e = Config::parse(
            "[[zone]]\napex = \"e164..arpa\"\nfile = \"x\"",
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "zone apex \"e164..arpa\": empty label in name 'e164..arpa'"
        );
        assert!(Config::parse("[log]\nformat = \"xml\"", Path::new(".")).is_err());
        let e = Config::parse(
            "[[zone]]\napex = \"e164.arpa.\"\nfile = \"x\"\nmax_records = 0",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("max_records must be at least 1"), "{e}");
    }
}
