//! enumd: an authoritative DNS server for ENUM (RFC 6116) zones.
//!
//! Data flows one way: zone files are parsed ([`zonefile`], [`rdata`]) into
//! [`record::Record`]s, built into an immutable [`zone::Zone`] (a digit trie in chunks); zones
//! form a [`lookup::Snapshot`]; [`lookup`] answers a question over a snapshot; [`wire`] turns
//! requests and answers into bytes; [`server`] moves bytes over UDP and TCP.
//!
//! Every change takes one path, on the [`owner`] thread: an UPDATE ([`xfr`]) or a changed zone
//! file becomes a [`zone::change::ChangeSet`], written to the [`zone::journal`], applied as a
//! new version that shares what it does not touch, and published with one atomic swap.

pub mod client;
pub mod config;
pub mod cookie;
pub mod e164;
pub mod enumservice;
pub mod lookup;
pub mod name;
pub mod naptr;
pub mod notify;
pub mod ops;
pub mod os;
pub mod owner;
pub mod rdata;
pub mod record;
pub mod reload;
pub mod request;
pub mod rrl;
pub mod server;
pub mod template;
pub mod validate;
pub mod view;
pub mod wire;
pub mod xfr;
pub mod zone;
pub mod zonefile;
