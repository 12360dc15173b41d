//! The fuzz targets' inputs, on stable Rust: every seed (`fuzz/seeds/<target>/`) and every
//! input that once made a target fail (`fuzz/regressions/<target>/`) goes through the same
//! code `cargo fuzz` runs (`fuzz/targets.rs`), so a fixed crash stays fixed without libFuzzer.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

/// Runs every file under `fuzz/<kind>/<target>/` through `body`; how many there were.
fn replay(kind: &str, target: &str, body: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{} fails", path.display());
    }
    paths.len()
}

fn seeds_and_regressions(target: &str, body: fn(&[u8])) {
    let seeds = replay("seeds", target, body);
    assert!(
        seeds > 0,
        "no seeds for {target} (fuzz/make_seeds.py writes them)"
    );
    replay("regressions", target, body);
}

#[test]
fn the_respond_fixture_answers_by_view_and_list() {
    // 3.2.1 has one public NAPTR and two private ones; 192.0.2.1 is on no list.
    let query = hickory_proto::op::Message::query()
        .add_query(hickory_proto::op::Query::query(
            "3.2.1.4.4.e164.arpa.".parse().unwrap(),
            hickory_proto::rr::RecordType::NAPTR,
        ))
        .to_vec()
        .unwrap();
    let ask = |pick: u8| {
        let mut data = vec![pick];
        data.extend_from_slice(&query);
        let out = targets::answer(&data).expect("answered");
        (out[3] & 0x0f, u16::from_be_bytes([out[6], out[7]]))
    };
    assert_eq!(ask(0), (0, 1), "127.0.0.1: outside the view");
    assert_eq!(ask(2), (0, 3), "10.1.2.3: inside it");
    assert_eq!(ask(3), (0, 3), "the same over TCP");
    assert_eq!(ask(6), (5, 0), "192.0.2.1: REFUSED");
}

#[test]
fn respond() {
    seeds_and_regressions("respond", targets::respond);
}

#[test]
fn zone_file() {
    seeds_and_regressions("zone_file", targets::zone_file);
}

#[test]
fn naptr_regexp() {
    seeds_and_regressions("naptr_regexp", targets::naptr_regexp);
}

#[test]
fn update() {
    seeds_and_regressions("update", targets::update);
}

#[test]
fn transfer_in() {
    seeds_and_regressions("transfer_in", targets::transfer_in);
}
