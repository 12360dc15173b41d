//! Messages that change zones or carry them: TSIG (RFC 8945), UPDATE (RFC 2136), transfers
//! out and in (RFC 5936, RFC 1995), secondary zones' timers and NOTIFY in (RFC 1996), and the
//! message decoding they share. Sans-I/O but for `inbound`'s sockets and `secondary`'s thread.

pub mod inbound;
pub mod message;
pub mod secondary;
pub mod transfer;
pub mod tsig;
pub mod update;
