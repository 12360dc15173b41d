//! What an operator handles the running server by: the control socket `enumd ctl` talks to,
//! and readiness reports to systemd.

pub mod control;
pub mod systemd;
