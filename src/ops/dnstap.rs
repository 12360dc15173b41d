//! dnstap messages (dnstap.proto) in Frame Streams (fstrm) framing, as BIND, Knot, NSD and
//! Unbound write them.
//!
//! The two formats are encoded here by hand: the schema is a dozen fixed fields, and writing
//! them straight into one reused buffer costs no allocation per message, which a generated
//! protobuf type would. The wire format is checked by real readers (`dnstap-read`,
//! `fstrm_capture`) in `tests/operations.rs`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use crate::wire::Transport;

/// The content type both ends of a stream agree on.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// fstrm control frame types.
const ACCEPT: u32 = 1;
const START: u32 = 2;
const STOP: u32 = 3;
const READY: u32 = 4;
const FINISH: u32 = 5;
const FIELD_CONTENT_TYPE: u32 = 1;

/// dnstap Message.Type.
pub const AUTH_QUERY: u64 = 1;
pub const AUTH_RESPONSE: u64 = 2;

/// A control frame: the escape (a zero length), its length, its type and the content type.
fn control(out: &mut Vec<u8>, kind: u32, content_type: bool) {
    out.extend_from_slice(&0u32.to_be_bytes());
    let fields = if content_type {
        8 + CONTENT_TYPE.len()
    } else {
        0
    };
    out.extend_from_slice(&u32::try_from(4 + fields).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    if content_type {
        out.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        out.extend_from_slice(&u32::try_from(CONTENT_TYPE.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(CONTENT_TYPE);
    }
}

/// The START frame that opens a stream.
pub fn start_frame() -> Vec<u8> {
    let mut out = Vec::new();
    control(&mut out, START, true);
    out
}

/// The STOP frame that closes one.
pub fn stop_frame() -> Vec<u8> {
    let mut out = Vec::new();
    control(&mut out, STOP, false);
    out
}

/// Reads one control frame and returns its type.
fn read_control(r: &mut impl Read) -> io::Result<u32> {
    let mut word = [0u8; 4];
    r.read_exact(&mut word)?;
    if word != [0; 4] {
        return Err(io::Error::other("expected a control frame"));
    }
    r.read_exact(&mut word)?;
    let len = u32::from_be_bytes(word) as usize;
    if !(4..=512).contains(&len) {
        return Err(io::Error::other("control frame of a bad length"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
}

/// The writer's side of fstrm's bidirectional handshake: READY, the reader's ACCEPT, START.
pub fn handshake(stream: &mut (impl Read + Write)) -> io::Result<()> {
    let mut out = Vec::new();
    control(&mut out, READY, true);
    stream.write_all(&out)?;
    let kind = read_control(stream)?;
    if kind != ACCEPT {
        return Err(io::Error::other(format!(
            "the reader answered control frame {kind}, not ACCEPT"
        )));
    }
    stream.write_all(&start_frame())
}

/// Ends a bidirectional stream: STOP, then the reader's FINISH (not waited for long).
pub fn finish(stream: &mut (impl Read + Write)) -> io::Result<()> {
    stream.write_all(&stop_frame())?;
    match read_control(stream)? {
        FINISH => Ok(()),
        kind => Err(io::Error::other(format!(
            "the reader answered control frame {kind}, not FINISH"
        ))),
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

fn key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    varint(out, (field << 3) | wire_type);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn address_field(out: &mut Vec<u8>, field: u64, a: &SocketAddr) {
    match a.ip() {
        std::net::IpAddr::V4(v4) => bytes_field(out, field, &v4.octets()),
        std::net::IpAddr::V6(v6) => bytes_field(out, field, &v6.octets()),
    }
}

fn varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    key(out, field, 0);
    varint(out, v);
}

fn fixed32_field(out: &mut Vec<u8>, field: u64, v: u32) {
    key(out, field, 5);
    out.extend_from_slice(&v.to_le_bytes());
}

/// One exchange to encode, as a message of `kind` ([`AUTH_QUERY`] or [`AUTH_RESPONSE`]).
pub struct Exchange<'a> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
    /// Seconds and nanoseconds since the Unix epoch.
    pub query_time: (u64, u32),
    pub response_time: (u64, u32),
    pub query: &'a [u8],
    pub response: &'a [u8],
}

/// Appends one data frame (its length, then a `Dnstap` message) to `out`; `scratch` holds the
/// inner `Message` on the way.
pub fn frame(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    identity: &[u8],
    version: &[u8],
    kind: u64,
    x: &Exchange<'_>,
) {
    let m = scratch;
    m.clear();
    varint_field(m, 1, kind);
    varint_field(m, 2, if x.client.is_ipv4() { 1 } else { 2 });
    let protocol = match x.transport {
        Transport::Udp => 1,
        Transport::Tcp => 2,
    };
    varint_field(m, 3, protocol);
    address_field(m, 4, &x.client);
    address_field(m, 5, &x.server);
    varint_field(m, 6, u64::from(x.client.port()));
    varint_field(m, 7, u64::from(x.server.port()));
    varint_field(m, 8, x.query_time.0);
    fixed32_field(m, 9, x.query_time.1);
    if kind == AUTH_QUERY {
        bytes_field(m, 10, x.query);
    } else {
        varint_field(m, 12, x.response_time.0);
        fixed32_field(m, 13, x.response_time.1);
        bytes_field(m, 14, x.response);
    }
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    bytes_field(out, 1, identity);
    bytes_field(out, 2, version);
    bytes_field(out, 14, m);
    varint_field(out, 15, 1); // Dnstap.Type MESSAGE
    let len = u32::try_from(out.len() - start - 4).unwrap_or(0);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint(&mut out, 1);
        assert_eq!(out, [1]);
    }

    #[test]
    fn a_frame_is_its_length_then_the_message() {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let x = Exchange {
            client: "127.0.0.1:5300".parse().unwrap(),
            server: "127.0.0.1:53".parse().unwrap(),
            transport: Transport::Udp,
            query_time: (1, 2),
            response_time: (1, 3),
            query: b"q",
            response: b"r",
        };
        frame(&mut out, &mut scratch, b"id", b"v", AUTH_QUERY, &x);
        let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len, out.len() - 4);
        // identity (field 1), then version (field 2)
        assert_eq!(&out[4..8], &[0x0a, 2, b'i', b'd']);
        assert_eq!(&out[8..11], &[0x12, 1, b'v']);
        // and the type MESSAGE last
        assert_eq!(&out[out.len() - 2..], &[0x78, 1]);
    }
}
