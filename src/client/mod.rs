//! Clients of ENUM servers, over the network like any other: `enumd lookup` resolves a number
//! as RFC 6116 prescribes.

pub mod lookup;
