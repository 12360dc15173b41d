//! Clients of ENUM servers, over the network like any other: `enumd lookup` resolves a number
//! as RFC 6116 prescribes; `enumd provision` turns number ranges and portability lists into
//! NAPTRs and applies the difference by UPDATE; `enumd export` writes a zone back as such input.
//!
//! Provisioning flows one way: [`input`] (file lines to operations) → [`plan`] (records, ENUM
//! checks, the difference against the data [`conn`] read) → [`update`] (messages) → [`conn`].

pub mod conn;
pub mod export;
pub mod input;
pub mod lookup;
pub mod plan;
pub mod provision;
pub mod update;
