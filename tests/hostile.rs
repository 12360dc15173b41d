//! Hostile input to the zone loader: a directory, `/dev/zero`, endless binary data, a file that
//! grows while it is read. The real binary, under a memory limit: every one is refused within
//! seconds with one `file:line: reason`, and the previous version keeps serving.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::child::{ChildServer, ask};
use common::temp_dir;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Address space for the server: the zones here need a few MiB, one unbounded buffer needs
/// more than this, and an allocation past it aborts the process.
const ADDRESS_SPACE_KIB: u64 = 1 << 20;
/// Each hostile file must be dealt with within this.
const LIMIT: Duration = Duration::from_secs(30);

fn zone(serial: u32) -> String {
    format!(
        "$TTL 60\n@ SOA ns hm {serial} 3600 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n\
         1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:v{serial}@example.com!\" .\n"
    )
}

fn config(dir: &Path, watch: bool) -> std::path::PathBuf {
    let path = dir.join("enumd.toml");
    std::fs::write(
        &path,
        format!("listen = [\"127.0.0.1:0\"]\nwatch = {watch}\n[[zone]]\napex = \"e164.arpa.\"\nfile = \"e.zone\"\n"),
    )
    .unwrap();
    path
}

/// Sends SIGHUP for a reload that must fail: waits for it, checks that the log names `reason`
/// and that serial 1 still answers, and prints how long the refusal took.
fn hangup_refused(server: &ChildServer, what: &str, reason: &str) {
    let failures = || server.logged("previous version keeps serving").len();
    let before = failures();
    let started = Instant::now();
    server.hangup();
    server.wait_for(&format!("the reload refusing {what}"), LIMIT, || {
        failures() > before
    });
    eprintln!("{what} refused in {:?}", started.elapsed());
    assert!(
        !server.logged(reason).is_empty(),
        "{reason} not logged: {:?}",
        server.log.lock().unwrap()
    );
    assert_eq!(
        server.serial("e164.arpa."),
        Some(1),
        "the old version serves"
    );
    let m = ask(server.addr, "1.e164.arpa.", RecordType::NAPTR).expect("an answer");
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn hostile_files_are_refused_in_bounded_time_and_memory_and_the_old_version_serves() {
    let dir = temp_dir("hostile");
    let file = dir.join("e.zone");
    std::fs::write(&file, zone(1)).unwrap();
    let mut server = ChildServer::start_limited(&config(&dir, false), ADDRESS_SPACE_KIB);
    server.wait_for("first load", LIMIT, || {
        server.serial("e164.arpa.") == Some(1)
    });

    // The zone file becomes a directory.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    hangup_refused(
        &server,
        "the directory",
        "e.zone: a directory, not a regular file",
    );
    std::fs::remove_dir(&file).unwrap();

    // $INCLUDE /dev/zero: endless input without a newline.
    std::fs::write(&file, format!("{}$INCLUDE /dev/zero\n", zone(2))).unwrap();
    hangup_refused(
        &server,
        "/dev/zero",
        "e.zone:6: $INCLUDE /dev/zero: a character device, not a regular file",
    );

    // Endless binary data through a FIFO whose writer never stops.
    let fifo = dir.join("endless.inc");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fifo, stop) = (fifo.clone(), stop.clone());
        std::thread::spawn(move || {
            // Blocks until a reader opens it: the loader, should a FIFO slip past its check
            // before opening, or the unblocking open below. Bounded by `stop` and by the reader
            // going away.
            let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
                return;
            };
            let junk = [0xa5u8; 65_536];
            while !stop.load(Ordering::Relaxed) && f.write_all(&junk).is_ok() {}
        })
    };
    std::fs::write(&file, format!("{}$INCLUDE endless.inc\n", zone(3))).unwrap();
    hangup_refused(
        &server,
        "the endless FIFO",
        "endless.inc: a FIFO, not a regular file",
    );
    stop.store(true, Ordering::Relaxed);
    // Unblock the writer's open, if it still waits, and let it see `stop`.
    let _ = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo);
    writer.join().unwrap();

    // 256 MiB of binary data in a regular file, without one newline.
    let blob = dir.join("blob.inc");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&blob).unwrap());
        let mut x: u32 = 0x1234_5678;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            for b in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x.to_le_bytes()[0] | 1; // never a newline (0x0a is even)
            }
            f.write_all(&chunk).unwrap();
        }
    }
    std::fs::write(&file, format!("{}$INCLUDE blob.inc\n", zone(4))).unwrap();
    hangup_refused(
        &server,
        "256 MiB without a newline",
        "blob.inc:1: line longer than 1048576 bytes: not a zone file? Reading stops here",
    );
    std::fs::remove_file(&blob).unwrap();

    // A file that grows while it is read: appended to all through the reload.
    let mut big = zone(5);
    for i in 0..200_000 {
        big.push_str(&format!(
            "{}.{}.{}.9 TXT \"filler {i}\"\n",
            i % 10,
            i / 10 % 10,
            i / 100
        ));
    }
    std::fs::write(&file, &big).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (file, stop) = (file.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            // Bounded: stops when told, or after 2 million lines (about 40 MB).
            for i in 0..2_000_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                writeln!(f, "grow{i} TXT \"more\"").unwrap();
            }
        })
    };
    hangup_refused(
        &server,
        "the growing file",
        "e.zone: changed while it was read: not loaded as it stands",
    );
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();

    // And the reload thread is alive and well: a good version loads.
    std::fs::write(&file, zone(6)).unwrap();
    server.hangup();
    server.wait_for("serial 6", LIMIT, || server.serial("e164.arpa.") == Some(6));
    let peak = server.peak_rss_kib().unwrap_or(0);
    eprintln!("peak RSS over all of it: {peak} KiB");
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
}

#[test]
fn a_directory_as_zone_file_neither_hangs_check_nor_serve_nor_the_watcher() {
    let dir = temp_dir("hostile-dir");
    let file = dir.join("e.zone");
    std::fs::create_dir(&file).unwrap();
    let config = config(&dir, true);

    // check returns at once, with the reason.
    let mut check = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = check.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = check.kill();
            panic!("enumd check did not return within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut check.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(
        out,
        format!(
            "{}: a directory, not a regular file\nzone e164.arpa.: 1 error(s), not loadable\n",
            file.display()
        )
    );

    // serve answers (SERVFAIL for the zone it could not load), and the watcher, rather than
    // spinning on the directory, loads the zone once a file takes its place.
    let server = ChildServer::start(&config);
    let m = ask(server.addr, "1.e164.arpa.", RecordType::NAPTR).expect("an answer");
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Long enough for the watcher to look at the directory twice (it looks every second).
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, zone(7)).unwrap();
    server.wait_for("the watcher to load the zone", LIMIT, || {
        server.serial("e164.arpa.") == Some(7)
    });
    assert_eq!(
        server.logged("a directory, not a regular file").len(),
        1,
        "reported once, not again every second"
    );
}

/// `OpenOptions::custom_flags(O_NONBLOCK)`, so opening a FIFO for reading never waits.
trait NonBlocking {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlocking for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}
