//! `enumd provision`: an input file of operations applied to a zone on any RFC 2136 server.
//! Read the input and check every record (nothing is sent if anything is wrong); read the
//! zone's current data; send only the difference, in batches guarded by prerequisites; report.
//! A run that is interrupted, or whose batches were refused, is finished by running it again.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::conn::{self, Conn, rcode_text};
use crate::client::input::{self, Defaults, Format};
use crate::client::plan::{self, Change, Holdings, Plan, Problem, ZoneNumbers};
use crate::client::update;
use crate::config::Key;
use crate::name;
use crate::rdata::{self, rtype};
use crate::validate::Severity;
use crate::xfr::message::random_id;

/// Exit codes, as `--help` documents them.
pub mod exit {
    /// Applied, or nothing to do (or a dry run).
    pub const DONE: u8 = 0;
    /// Some batch was refused or not answered: run again once the cause is fixed.
    pub const REFUSED: u8 = 1;
    /// Usage or input error: nothing was sent.
    pub const INPUT: u8 = 2;
    /// The server could not be reached or the zone read: nothing was sent.
    pub const UNREACHABLE: u8 = 3;
}

/// How the current data is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadMode {
    /// AXFR, and one query per name if the server refuses the transfer.
    Auto,
    /// The whole zone by AXFR: exact.
    Axfr,
    /// One NAPTR query per name: for servers that do not transfer the zone to us. A
    /// wildcard's synthesized records look like the name's own; a batch that assumed them is
    /// refused (nothing is overwritten) and says so.
    Query,
}

pub struct Args {
    /// The input; None with `plan`.
    pub file: Option<PathBuf>,
    /// A dry run writes the difference here, for a later run to send exactly that.
    pub save_plan: Option<PathBuf>,
    /// Send this saved difference instead of reading an input.
    pub plan: Option<PathBuf>,
    pub apex: Vec<u8>,
    pub server: SocketAddr,
    pub key: Option<Key>,
    pub dry_run: bool,
    pub force: bool,
    pub batch: usize,
    /// UPDATE messages in flight at once (at least 1).
    pub in_flight: usize,
    pub format: Format,
    pub read: ReadMode,
    pub defaults: Defaults,
    /// Changes to print in a dry run.
    pub show: usize,
}

/// Problems printed before the rest are counted.
const MAX_PRINTED: usize = 50;

pub fn run(args: &Args) -> u8 {
    if let Some(saved) = &args.plan {
        return apply_saved(args, saved);
    }
    let Some(path) = &args.file else {
        eprintln!("enumd provision: no input file");
        return exit::INPUT;
    };
    let started = Instant::now();
    let file = path.display().to_string();
    let zone_text = name::to_text(&args.apex);
    let (ops, bad_lines) = match input::read(path, args.format, args.defaults) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("enumd provision: {file}: {e}");
            return exit::INPUT;
        }
    };
    let zone = ZoneNumbers::new(&args.apex);
    let (wanted, mut problems) = plan::expand(&ops, &zone);
    problems.extend(bad_lines.into_iter().map(|e| Problem {
        line: e.line,
        severity: Severity::Error,
        reason: e.reason,
    }));
    problems.sort_by_key(|p| p.line);
    let numbers = wanted.len();
    if !report(&file, &problems, args.force) {
        return exit::INPUT;
    }
    println!("{file}: {} operation(s) for {numbers} number(s)", ops.len());
    let mut conn = match Conn::open(args.server, args.key.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enumd provision: {e}: nothing sent");
            return exit::UNREACHABLE;
        }
    };
    let read_started = Instant::now();
    let owners: Vec<&[u8]> = wanted.iter().map(|w| w.owner.as_slice()).collect();
    let (current, serial, how) = match read_current(&mut conn, args, &owners) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("enumd provision: {e}: nothing sent");
            return exit::UNREACHABLE;
        }
    };
    println!(
        "zone {zone_text} at {}: serial {serial}, read {how} in {:.1} s",
        args.server,
        read_started.elapsed().as_secs_f64()
    );
    let plan = plan::diff(&wanted, &current, args.defaults.ttl);
    if !report(&file, &plan.problems, args.force) {
        return exit::INPUT;
    }
    print_difference(&plan, numbers);
    if args.dry_run {
        for c in plan.changes.iter().take(args.show) {
            print_change(c);
        }
        if plan.changes.len() > args.show {
            println!("... and {} more numbers", plan.changes.len() - args.show);
        }
        if let Some(to) = &args.save_plan {
            let saved = SavedPlan::new(&zone_text, serial, &file, &plan.changes);
            let written = serde_json::to_vec(&saved)
                .map_err(|e| e.to_string())
                .and_then(|j| std::fs::write(to, j).map_err(|e| e.to_string()));
            if let Err(e) = written {
                eprintln!("enumd provision: {}: {e}", to.display());
                return exit::INPUT;
            }
            println!(
                "plan written to {}: `enumd provision --plan {}` sends exactly this, and nothing of a number that has changed since",
                to.display(),
                to.display()
            );
        }
        println!("dry run: nothing sent");
        return exit::DONE;
    }
    if plan.changes.is_empty() {
        println!("nothing to do: no UPDATE sent");
        return exit::DONE;
    }
    let sent = send(&mut conn, args, &plan.changes);
    summary(&sent, plan.changes.len(), started)
}

fn summary(sent: &Sent, numbers: usize, started: Instant) -> u8 {
    println!(
        "applied {} of {} UPDATE message(s): {} of {} number(s) changed in {:.1} s{}",
        sent.applied,
        sent.batches,
        sent.numbers,
        numbers,
        started.elapsed().as_secs_f64(),
        if sent.applied == sent.batches {
            ""
        } else if sent.stopped {
            "; stopped: once what stopped it is mended, run again to finish"
        } else {
            "; run again to finish (only what is still different is sent)"
        }
    );
    if sent.applied == sent.batches {
        exit::DONE
    } else {
        exit::REFUSED
    }
}

/// Sends a difference a dry run saved. Its prerequisites are what the zone held then: a
/// number changed since makes its batch refused, so nothing newer is overwritten.
fn apply_saved(args: &Args, path: &std::path::Path) -> u8 {
    let started = Instant::now();
    let saved: Result<SavedPlan, String> = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
    let changes = match saved.and_then(|p| p.changes(&args.apex).map(|c| (p, c))) {
        Ok((p, changes)) => {
            println!(
                "{}: the difference of {} for zone {} at serial {}: {} number(s)",
                path.display(),
                p.input,
                p.zone,
                p.serial,
                changes.len()
            );
            changes
        }
        Err(e) => {
            eprintln!("enumd provision: {}: {e}", path.display());
            return exit::INPUT;
        }
    };
    let mut conn = match Conn::open(args.server, args.key.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enumd provision: {e}: nothing sent");
            return exit::UNREACHABLE;
        }
    };
    let sent = send(&mut conn, args, &changes);
    summary(&sent, changes.len(), started)
}

/// A dry run's difference as JSON: names and RDATA in base64 wire form.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedPlan {
    zone: String,
    serial: u32,
    input: String,
    changes: Vec<SavedChange>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedChange {
    owner: String,
    number: String,
    line: u64,
    before: Vec<(u32, String)>,
    remove: Vec<String>,
    add: Vec<(u32, String)>,
}

impl SavedPlan {
    fn new(zone: &str, serial: u32, input: &str, changes: &[Change]) -> Self {
        use base64::Engine;
        let b = |r: &[u8]| base64::engine::general_purpose::STANDARD.encode(r);
        Self {
            zone: zone.into(),
            serial,
            input: input.into(),
            changes: changes
                .iter()
                .map(|c| SavedChange {
                    owner: b(&c.owner),
                    number: c.number.clone(),
                    line: c.line,
                    before: c.before.iter().map(|(t, r)| (*t, b(r))).collect(),
                    remove: c.remove.iter().map(|r| b(r)).collect(),
                    add: c.add.iter().map(|(t, r)| (*t, b(r))).collect(),
                })
                .collect(),
        }
    }

    fn changes(&self, apex: &[u8]) -> Result<Vec<Change>, String> {
        use base64::Engine;
        if name::to_lowercase(&name::parse(self.zone.as_bytes(), name::ROOT)?) != apex {
            return Err(format!(
                "the plan is for zone {}, not {}",
                self.zone,
                name::to_text(apex)
            ));
        }
        let d = |s: &String| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("not base64: {e}"))
        };
        let mut out = Vec::with_capacity(self.changes.len());
        for c in &self.changes {
            let owner = d(&c.owner)?;
            if !name::is_at_or_below(&owner, apex) || name::wire_len(&owner) != owner.len() {
                return Err(format!("{}: not a name in the zone", c.number));
            }
            out.push(Change {
                owner,
                number: c.number.clone(),
                line: c.line,
                before: c
                    .before
                    .iter()
                    .map(|(t, r)| d(r).map(|r| (*t, r)))
                    .collect::<Result<_, _>>()?,
                remove: c.remove.iter().map(d).collect::<Result<_, _>>()?,
                add: c
                    .add
                    .iter()
                    .map(|(t, r)| d(r).map(|r| (*t, r)))
                    .collect::<Result<_, _>>()?,
            });
        }
        Ok(out)
    }
}

fn too_many(n: usize) {
    if n > MAX_PRINTED {
        eprintln!("... and {} more", n - MAX_PRINTED);
    }
}

/// Prints problems; false when they stop the run (an error, or a warning without --force).
fn report(file: &str, problems: &[Problem], force: bool) -> bool {
    for p in problems.iter().take(MAX_PRINTED) {
        eprintln!("{file}:{p}");
    }
    too_many(problems.len());
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    if errors > 0 {
        eprintln!(
            "enumd provision: {errors} error(s), {warnings} warning(s) in {file}: nothing sent"
        );
        return false;
    }
    if warnings > 0 && !force {
        eprintln!(
            "enumd provision: {warnings} warning(s) in {file}: nothing sent (--force sends anyway)"
        );
        return false;
    }
    true
}

/// What the zone holds at `owners`, its serial and how it was read.
fn read_current(
    conn: &mut Conn,
    args: &Args,
    owners: &[&[u8]],
) -> Result<(Holdings, u32, String), String> {
    if args.read != ReadMode::Query {
        match read_by_axfr(conn, &args.apex, owners) {
            Ok((current, serial, records)) => {
                return Ok((current, serial, format!("by AXFR ({records} records)")));
            }
            Err(e) if e.refused && args.read == ReadMode::Auto => {
                println!("{}; reading each name by query instead", e.reason);
                *conn = Conn::open(args.server, args.key.as_ref())?;
            }
            Err(e) => return Err(e.reason),
        }
    }
    let serial = conn::serial(conn, &args.apex)?;
    let mut progress = Progress::new("read", owners.len() as u64);
    let current = conn.query_each(owners, &mut |n| progress.add(n as u64))?;
    progress.finish();
    Ok((
        current,
        serial,
        format!("by {} NAPTR queries", owners.len()),
    ))
}

fn read_by_axfr(
    conn: &mut Conn,
    apex: &[u8],
    owners: &[&[u8]],
) -> Result<(Holdings, u32, u64), conn::ReadError> {
    let wanted: HashSet<&[u8]> = owners.iter().copied().collect();
    let mut current = Holdings::new();
    let mut cuts: HashSet<Vec<u8>> = HashSet::new();
    let mut records = 0u64;
    let serial = conn.axfr(apex, &mut |rr| {
        records += 1;
        if rr.rtype == rtype::NS && rr.owner != apex {
            cuts.insert(rr.owner.clone());
        }
        if !wanted.contains(rr.owner.as_slice()) {
            return;
        }
        let cur = current.entry(rr.owner).or_default();
        match rr.rtype {
            rtype::NAPTR => cur.naptrs.push((rr.ttl, rr.rdata)),
            rtype::CNAME => cur.cname = true,
            _ => {}
        }
    })?;
    if !cuts.is_empty() {
        for owner in owners {
            let mut at: &[u8] = owner;
            while at.len() > apex.len() {
                if cuts.contains(at) {
                    current.entry(owner.to_vec()).or_default().delegated = true;
                    break;
                }
                at = &at[1 + usize::from(at[0])..];
            }
        }
    }
    Ok((current, serial, records))
}

fn print_difference(plan: &Plan, numbers: usize) {
    println!(
        "difference: {} NAPTR(s) to add, {} to remove, {} to get a new TTL, {} unchanged; {} of {numbers} number(s) to change",
        plan.added,
        plan.removed,
        plan.retimed,
        plan.unchanged,
        plan.changes.len()
    );
}

fn print_change(c: &Change) {
    let owner = name::to_text(&c.owner);
    for r in &c.remove {
        if !c.add.iter().any(|(_, a)| a == r) {
            println!("- {owner} NAPTR {}", rdata::to_text(rtype::NAPTR, r));
        }
    }
    for (ttl, r) in &c.add {
        println!("+ {owner} {ttl} NAPTR {}", rdata::to_text(rtype::NAPTR, r));
    }
}

/// What sending came to.
struct Sent {
    batches: usize,
    applied: usize,
    numbers: usize,
    /// The run stopped before the last batch (the zone refused, the connection broke).
    stopped: bool,
}

/// Sends the changes in batches of at most `args.batch` records and [`update::MAX_MESSAGE`]
/// octets (a number's changes never split), `args.in_flight` at a time on one connection:
/// a server that applies queued updates together (Knot DNS bundles them into one commit,
/// enumd shares one journal sync) then does so, and batches hold disjoint numbers, so the
/// order in which they are applied does not matter. A
/// batch whose prerequisites fail is reported and the rest go on; a refusal of the whole zone
/// (REFUSED, NOTAUTH, a TSIG error) or a lost connection stops the run.
fn send(conn: &mut Conn, args: &Args, changes: &[Change]) -> Sent {
    let batches = batches(changes, args.batch);
    let mut sent = Sent {
        batches: batches.len(),
        applied: 0,
        numbers: 0,
        stopped: false,
    };
    let mut progress = Progress::new("sent", changes.len() as u64);
    let lines = |k: usize| {
        let b = &batches[k];
        let first = b.first().map_or(0, |c| c.line);
        (first, b.iter().map(|c| c.line).max().unwrap_or(0))
    };
    let stop = |progress: &mut Progress, k: usize, why: String, waiting: usize| {
        progress.finish();
        let (first, last) = lines(k);
        eprintln!(
            "UPDATE {} of {} (input lines {first}-{last}): {why}; stopped{}",
            k + 1,
            batches.len(),
            if waiting > 0 {
                format!(" ({waiting} more sent and not answered)")
            } else {
                String::new()
            }
        );
    };
    let (mut pending, mut which): (Vec<conn::Pending>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut next = 0;
    loop {
        while pending.len() < args.in_flight.max(1) && next < batches.len() {
            let mut id = random_id();
            while pending.iter().any(|p| p.id() == id) {
                id = random_id();
            }
            let msg = update::message(id, &args.apex, &batches[next]);
            if msg.len() > update::MAX_WIRE {
                // Only a single number's change can be this large: batches() keeps the rest
                // within MAX_MESSAGE. Its records must be changed some other way.
                let (first, last) = lines(next);
                progress.suspend(|| {
                    eprintln!(
                        "UPDATE {} of {} (input lines {first}-{last}, {}): {} octets, more than one message can carry: not sent",
                        next + 1,
                        batches.len(),
                        batches[next][0].number,
                        msg.len()
                    );
                });
                next += 1;
                continue;
            }
            match conn.send(msg) {
                Ok(p) => {
                    pending.push(p);
                    which.push(next);
                }
                Err(e) => {
                    stop(&mut progress, next, e, pending.len());
                    sent.stopped = true;
                    return sent;
                }
            }
            next += 1;
        }
        if pending.is_empty() {
            break;
        }
        let (at, answer) = match conn.answer(&pending) {
            Ok(r) => r,
            Err(e) => {
                stop(&mut progress, which[0], e, pending.len() - 1);
                sent.stopped = true;
                return sent;
            }
        };
        pending.swap_remove(at);
        let k = which.swap_remove(at);
        let batch = &batches[k];
        let rcode = answer.flags & 0xf;
        match rcode {
            0 => {
                sent.applied += 1;
                sent.numbers += batch.len();
            }
            // RFC 2136 §3.2: a prerequisite did not hold.
            3 | 6..=8 => {
                let (first, last) = lines(k);
                progress.suspend(|| {
                    eprintln!(
                        "UPDATE {} of {} (input lines {first}-{last}, {} to {}) refused with {}: a number changed since the zone was read, so nothing of it was applied",
                        k + 1,
                        batches.len(),
                        batch[0].number,
                        batch[batch.len() - 1].number,
                        rcode_text(rcode)
                    );
                });
            }
            _ => {
                let why = format!("refused with {}", rcode_text(rcode));
                stop(&mut progress, k, why, pending.len());
                sent.stopped = true;
                return sent;
            }
        }
        progress.add(batch.len() as u64);
    }
    progress.finish();
    sent
}

/// The changes cut into messages.
fn batches(changes: &[Change], limit: usize) -> Vec<Vec<&Change>> {
    let mut out = Vec::new();
    let mut current: Vec<&Change> = Vec::new();
    let (mut records, mut octets) = (0, 0);
    for c in changes {
        let (r, o) = (c.size(), update::size_of(c));
        if !current.is_empty() && (records + r > limit || octets + o > update::MAX_MESSAGE) {
            out.push(std::mem::take(&mut current));
            (records, octets) = (0, 0);
        }
        current.push(c);
        records += r;
        octets += o;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Progress on a terminal as a bar, elsewhere as a line every few seconds.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    total: u64,
    done: u64,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} numbers, {per_sec}, {eta} left",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(what);
            b
        });
        Self {
            bar,
            what,
            total,
            done: 0,
            last: Instant::now(),
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
        } else if self.last.elapsed() >= Duration::from_secs(5) {
            self.last = Instant::now();
            eprintln!("{}: {} of {} numbers", self.what, self.done, self.total);
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
