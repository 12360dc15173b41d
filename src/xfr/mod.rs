//! Messages that change zones or carry them: TSIG (RFC 8945), UPDATE (RFC 2136), transfers
//! out (RFC 5936, RFC 1995), and the message decoding they share. Sans-I/O: bytes in, decisions and bytes out.

pub mod message;
pub mod transfer;
pub mod tsig;
pub mod update;
