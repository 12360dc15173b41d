//! What an operator handles the running server by: counters and `/metrics`, query logs
//! (dnstap and plain lines), the control socket `enumd ctl` talks to, and readiness reports
//! to systemd; log lines a client can cause, throttled.

pub mod control;
pub mod dnstap;
pub mod metrics;
pub mod systemd;
pub mod tap;
pub mod throttle;
