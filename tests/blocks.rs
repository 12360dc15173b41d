//! Reloads read block by block (`zone::fingerprint`): whatever the edit, the version a reload
//! by difference makes serves exactly what a whole load of the new file serves, and edits of
//! a few records are read by their blocks, not whole.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use enumd::zone::Zone;
use enumd::zone::change::difference;
use enumd::zone::diff::{self, Outcome};

const APEX: &[u8] = b"\x014\x014\x04e164\x04arpa\x00";

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enumd-blocks-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("zone")
}

/// One line of a generated zone file, in the shapes zone files take.
fn line(k: u32, form: u8) -> String {
    let digits: String = format!("{k:06}")
        .chars()
        .rev()
        .flat_map(|c| [c, '.'])
        .collect();
    let naptr = format!("NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:{k}@example.net!\" .");
    match form % 8 {
        0 => format!("{digits}4.4.e164.arpa. IN {naptr}"),
        1 => format!("{}\t{naptr}", digits.trim_end_matches('.')),
        2 => format!(
            "{digits}4.4.e164.arpa. 600 IN {naptr}\n\tIN TXT \"second record, blank owner\""
        ),
        3 => format!(
            "{} IN NAPTR ( 20 10 \"u\"\n    \"E2U+sip\" \"!^.*$!sip:{k}@multi.example.net!\" . )",
            digits.trim_end_matches('.')
        ),
        4 => format!("; a comment about {k}\n{digits}4.4.e164.arpa. IN {naptr}"),
        5 => format!("{} IN TXT \"number {k}\"", digits.trim_end_matches('.')),
        6 => format!("\n{digits}4.4.e164.arpa. IN {naptr} ; trailing comment"),
        _ => format!("{digits}4.4.e164.arpa. IN NS ns1.tier3.example.org."),
    }
}

fn header(serial: u32) -> String {
    format!(
        "$ORIGIN 4.4.e164.arpa.\n$TTL 3600\n@ IN SOA ns1.example.net. hostmaster.example.net. {serial} 7200 3600 1209600 300\n@ IN NS ns1.example.net.\n"
    )
}

fn text(serial: u32, lines: &[String]) -> String {
    let mut t = header(serial);
    for l in lines {
        t.push_str(l);
        t.push('\n');
    }
    t
}

/// Writes `text` beside `path` and renames it into place, as deploy tools replace a file.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn load(path: &Path) -> Zone {
    Zone::load(APEX, path, false, usize::MAX).unwrap()
}

/// The reload's version of `path`, and whether it was read by blocks (only that way does the
/// new version keep a fingerprint).
fn reload(current: &Zone, path: &Path) -> (Zone, bool) {
    match diff::from_file(current, path, false, usize::MAX).unwrap() {
        Outcome::Changed(found) => {
            let by_blocks = found.next.source.is_some();
            (found.next, by_blocks)
        }
        Outcome::Whole => (load(path), false),
    }
}

fn same(a: &Zone, b: &Zone) -> Result<(), String> {
    let d = difference(a, b);
    if d.removed.is_empty() && d.added.is_empty() {
        Ok(())
    } else {
        Err(format!("removed {:?}\nadded {:?}", d.removed, d.added))
    }
}

#[test]
fn a_few_changed_numbers_are_read_by_their_blocks() {
    let path = scratch("few");
    let mut lines: Vec<String> = (0..5000u32)
        .map(|k| line(k, u8::try_from(k % 7).unwrap()))
        .collect();
    replace(&path, &text(1, &lines));
    let zone = load(&path);
    assert!(zone.source.is_some(), "a plain file keeps a fingerprint");
    for k in [3u32, 1700, 1701, 4999] {
        lines[k as usize] = line(k + 10_000, 0);
    }
    lines.insert(2500, line(20_000, 2));
    lines.remove(100);
    replace(&path, &text(2, &lines));
    let (next, by_blocks) = reload(&zone, &path);
    assert!(by_blocks, "read by blocks");
    same(&next, &load(&path)).unwrap();
    assert_eq!(next.serial, 2);

    // Again from that version, as a second reload starts from the first's fingerprint.
    lines[4000] = line(30_000, 5);
    replace(&path, &text(3, &lines));
    let (again, by_blocks) = reload(&next, &path);
    assert!(by_blocks);
    same(&again, &load(&path)).unwrap();
}

#[test]
fn a_file_rewritten_in_place_is_read_whole_and_right() {
    let path = scratch("inplace");
    let mut lines: Vec<String> = (0..3000).map(|k| line(k, 0)).collect();
    replace(&path, &text(1, &lines));
    let zone = load(&path);
    lines[10] = line(50_000, 0);
    // Truncated and written again: the old text is gone.
    std::fs::write(&path, text(2, &lines)).unwrap();
    let (next, by_blocks) = reload(&zone, &path);
    assert!(!by_blocks);
    same(&next, &load(&path)).unwrap();
}

/// An edit of the file: a line replaced, inserted or removed, or a directive put in.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u32, u8),
    Insert(usize, u32, u8),
    Remove(usize),
    Directive(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), 0u32..2000, any::<u8>()).prop_map(|(i, k, f)| Edit::Replace(i, k, f)),
        3 => (any::<usize>(), 0u32..2000, any::<u8>()).prop_map(|(i, k, f)| Edit::Insert(i, k, f)),
        3 => any::<usize>().prop_map(Edit::Remove),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, d)| Edit::Directive(i, d)),
    ]
}

fn directive(d: u8) -> String {
    match d % 3 {
        0 => "$TTL 900".to_string(),
        1 => "$ORIGIN 4.4.e164.arpa.".to_string(),
        _ => "$ORIGIN 9.4.4.e164.arpa.".to_string(),
    }
}

/// Whatever the edits, the reload serves what a whole load of the new file serves; a version
/// read by blocks is the start of the next reload too.
#[test]
fn any_edit_reloads_to_what_a_whole_load_makes() {
    let path = scratch("prop");
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec((0u32..1, any::<u8>()), 200..900),
        prop::collection::vec(prop::collection::vec(edit(), 1..12), 1..4),
    );
    let by_blocks_seen = std::cell::Cell::new(0usize);
    runner
        .run(&strategy, |(start, rounds)| {
            // Distinct numbers to start with, so that the zone keeps a fingerprint; edits may
            // then repeat one (and must be reloaded right either way).
            let mut lines: Vec<String> = start
                .iter()
                .enumerate()
                .map(|(i, &(_, f))| line(u32::try_from(i).unwrap(), f))
                .collect();
            replace(&path, &text(1, &lines));
            let Ok(mut zone) = Zone::load(APEX, &path, false, usize::MAX) else {
                return Ok(());
            };
            for (round, edits) in rounds.iter().enumerate() {
                for e in edits {
                    let n = lines.len().max(1);
                    match *e {
                        Edit::Replace(i, k, f) if !lines.is_empty() => lines[i % n] = line(k, f),
                        Edit::Insert(i, k, f) => lines.insert(i % (n + 1), line(k, f)),
                        Edit::Remove(i) if !lines.is_empty() => {
                            lines.remove(i % n);
                        }
                        Edit::Directive(i, d) => lines.insert(i % (n + 1), directive(d)),
                        _ => {}
                    }
                }
                let serial = 2 + u32::try_from(round).unwrap();
                replace(&path, &text(serial, &lines));
                let whole = Zone::load(APEX, &path, false, usize::MAX);
                let found = diff::from_file(&zone, &path, false, usize::MAX);
                match (whole, found) {
                    (Ok(whole), Ok(Outcome::Changed(found))) => {
                        by_blocks_seen
                            .set(by_blocks_seen.get() + usize::from(found.next.source.is_some()));
                        same(&found.next, &whole).map_err(TestCaseError::fail)?;
                        zone = found.next;
                    }
                    (Ok(whole), Ok(Outcome::Whole)) => zone = whole,
                    (Err(_), Err(_) | Ok(Outcome::Whole)) => return Ok(()),
                    (whole, found) => {
                        return Err(TestCaseError::fail(format!(
                            "whole load {:?}, reload {}",
                            whole.map(|z| z.serial).map_err(|f| f.problems),
                            match found {
                                Ok(Outcome::Changed(_)) => "changed".to_string(),
                                Ok(Outcome::Whole) => "whole".to_string(),
                                Err(f) => format!("{:?}", f.problems),
                            }
                        )));
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(by_blocks_seen.get() > 0, "no reload was read by blocks");
}
