//! Debian's servers, unmodified, in the guest (issue 14): `redis-server` answering the host's
//! `redis-cli` byte-exact and `redis-benchmark -t set,get -n 100000` without errors, and
//! `nginx` (nginx-light, `daemon off; master_process off;`) serving a page and a 10 MiB file
//! byte-exact to `curl`, then `wrk` for 10 s without a socket error or a non-2xx answer.
//!
//! Each server boots from an initramfs holding the Debian binary, its libraries (as `ldd`
//! names them) and its configuration, on a tap inside a network namespace the test creates
//! (root; otherwise the test says why and passes). Not QEMU's user network: libslirp listens
//! on a forwarded port with a backlog of 1, so clients that open 50 connections at once (as
//! redis-benchmark does) overflow the host's accept queue and wait for slirp's resets.
//! The host tools come from Debian's redis-server, redis-tools, nginx-light, curl and wrk
//! (`.ci/run` installs them; under `CI` a missing one fails the test).

use std::path::PathBuf;
use std::time::Duration;

use rinet::initramfs::Image;
use rinet::netns::{tap_support, Netns, GUEST_IP, GUEST_IP_APPEND, TAP};
use rinet::{host_tool, on_every_machine, Guest, Machine, Net, Running};

/// Boot to the server's readiness line.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where this test binary keeps the initramfs images and downloads it makes.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rinet-servers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir.join(name)
}

/// `len` bytes from a fixed-seed generator (xorshift): the same on every run, incompressible.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A namespace with a tap, and the guest booted on it from `image` with `init`.
fn boot_on_tap(machine: Machine, tag: &str, image: &Image, init: &str) -> (Netns, Running) {
    let mac = format!(
        "52:54:00:79:{:02x}:{:02x}",
        machine as u8,
        tag.as_bytes()[0]
    );
    let ns = Netns::with_tap(&format!("s{tag}{}", machine.name())).expect("make the namespace");
    ns.pin_guest_mac(&mac).expect("pin the guest's MAC");
    let path = scratch(&format!("{tag}-{}.cpio", machine.name()));
    image.write_to(&path).expect("write the initramfs");
    let guest = Guest::new(machine)
        .net(Net::Tap(TAP.into()))
        .in_netns(&ns.name)
        .mac(&mac)
        .initrd(&path)
        .append(GUEST_IP_APPEND)
        .append(init)
        .spawn();
    (ns, guest)
}

/// The tap tests' precondition (root, /dev/net/tun, ip), or `None` after saying why not.
fn tap_or_skip() -> Option<()> {
    match tap_support() {
        Ok(()) => Some(()),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

const REDIS_CONF: &str = "bind 0.0.0.0\nport 6379\nprotected-mode no\nsave \"\"\nappendonly no\n";

on_every_machine! {
    /// redis-server: SET/GET of a 3000-byte value comes back byte-exact through redis-cli, and
    /// redis-benchmark's 100000 SETs and GETs all finish, each test reporting its rate.
    fn redis_serves_cli_and_benchmark(machine) {
        if tap_or_skip().is_some() {
            redis(machine);
        }
    }
}

fn redis(machine: Machine) {
    let Some(server) = host_tool("redis-server", "redis-server") else {
        return;
    };
    let Some(cli) = host_tool("redis-cli", "redis-tools") else {
        return;
    };
    let Some(bench) = host_tool("redis-benchmark", "redis-tools") else {
        return;
    };
    let mut image = Image::new();
    image
        .program(&server, "/usr/bin/redis-server")
        .expect("pack redis-server");
    image.file("/etc/redis.conf", 0o644, REDIS_CONF);
    let init = "init=/usr/bin/redis-server -- /etc/redis.conf";
    let (ns, mut guest) = boot_on_tap(machine, "redis", &image, init);
    let ready = guest.wait_for("Ready to accept connections", READY_TIMEOUT);
    assert!(
        ready.is_some(),
        "redis never got ready:\n{}",
        guest.console_text()
    );
    let cli = cli.to_str().unwrap();
    // Printable bytes, so the value crosses redis-cli's argv and stdout unchanged.
    let value: String = pseudo_random(3000, 0x5eed)
        .iter()
        .map(|b| char::from(b'!' + b % 94))
        .collect();
    let set = ns.exec(&[cli, "-h", GUEST_IP, "SET", "issue14", &value]);
    assert_eq!(
        set.as_deref().map(str::trim),
        Ok("OK"),
        "SET:\n{}",
        guest.console_text()
    );
    let got = ns.exec(&[cli, "-h", GUEST_IP, "GET", "issue14"]);
    assert_eq!(
        got.as_deref().map(|s| s.trim_end_matches('\n')),
        Ok(value.as_str()),
        "GET did not give the value back:\n{}",
        guest.console_text()
    );
    let bench = bench.to_str().unwrap();
    let args = [bench, "-h", GUEST_IP, "-t", "set,get", "-n", "100000", "-q"];
    let report = ns
        .exec(&args)
        .unwrap_or_else(|e| panic!("redis-benchmark failed: {e}\n{}", guest.console_text()));
    let finals: Vec<&str> = report
        .split(['\r', '\n'])
        .filter(|l| l.contains("requests per second"))
        .collect();
    println!("{}: {}", machine.name(), finals.join(" | "));
    for test in ["SET:", "GET:"] {
        assert!(
            finals.iter().any(|l| l.starts_with(test)),
            "redis-benchmark gave no {test} result:\n{report}\n{}",
            guest.console_text()
        );
    }
    assert!(
        !report.contains("Error"),
        "redis-benchmark saw errors:\n{report}"
    );
}

const NGINX_CONF: &str =
    "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log stderr notice;\n\
pid /tmp/nginx.pid;\nevents { worker_connections 512; }\n\
http {\n  access_log off;\n  sendfile on;\n  server {\n    listen 80;\n    root /www;\n  }\n}\n";
const PAGE: &str = "<!doctype html><title>rinet</title><p>served by nginx on rinet</p>\n";
const LARGE: usize = 10 << 20;

on_every_machine! {
    /// nginx: the page and a 10 MiB file arrive byte-exact through curl; wrk for 10 s over 20
    /// connections gets answers, none of them an error.
    fn nginx_serves_curl_and_wrk(machine) {
        if tap_or_skip().is_some() {
            nginx(machine);
        }
    }
}

fn nginx(machine: Machine) {
    let Some(server) = host_tool("/usr/sbin/nginx", "nginx-light") else {
        return;
    };
    let Some(curl) = host_tool("curl", "curl") else {
        return;
    };
    let Some(wrk) = host_tool("wrk", "wrk") else {
        return;
    };
    let large = pseudo_random(LARGE, 0x10_0000 + machine as u64);
    let mut image = Image::new();
    image
        .program(&server, "/usr/sbin/nginx")
        .expect("pack nginx");
    image.file("/etc/nginx/nginx.conf", 0o644, NGINX_CONF);
    image.file("/www/index.html", 0o644, PAGE);
    image.file("/www/large.bin", 0o644, large.clone());
    // The package's directory for nginx's temporary files (it makes the ones inside).
    image.file("/var/lib/nginx/.keep", 0o644, "");
    let init = "init=/usr/sbin/nginx -- -e stderr -c /etc/nginx/nginx.conf";
    let (ns, mut guest) = boot_on_tap(machine, "nginx", &image, init);
    let ready = guest.wait_for("using the \"epoll\" event method", READY_TIMEOUT);
    assert!(
        ready.is_some(),
        "nginx never started:\n{}",
        guest.console_text()
    );
    let curl = curl.to_str().unwrap();
    let url = |file: &str| format!("http://{GUEST_IP}/{file}");
    // nginx reports its event method before it listens: try a few times.
    let mut page = Err(String::new());
    for _ in 0..20 {
        page = ns.exec(&[curl, "-sf", "-m", "20", &url("index.html")]);
        if page.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        page.as_deref(),
        Ok(PAGE),
        "the page:\n{}",
        guest.console_text()
    );
    let saved = scratch(&format!("large-{}.bin", machine.name()));
    let saved_str = saved.to_str().unwrap();
    ns.exec(&[curl, "-sf", "-m", "120", "-o", saved_str, &url("large.bin")])
        .unwrap_or_else(|e| panic!("curl of the large file: {e}\n{}", guest.console_text()));
    let got = std::fs::read(&saved).expect("read the downloaded file");
    let _ = std::fs::remove_file(&saved);
    assert!(
        got == large,
        "the 10 MiB file came back different ({} bytes)",
        got.len()
    );
    let wrk = wrk.to_str().unwrap();
    let report = ns
        .exec(&[wrk, "-t2", "-c20", "-d10s", &url("index.html")])
        .unwrap_or_else(|e| panic!("wrk failed: {e}\n{}", guest.console_text()));
    println!("{}: {}", machine.name(), report.trim());
    let rate: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{report}"));
    assert!(rate > 0.0, "wrk got no answers:\n{report}");
    assert!(
        !report.contains("Socket errors") && !report.contains("Non-2xx"),
        "wrk saw errors:\n{report}\n{}",
        guest.console_text()
    );
}

/// The number after `"key":` in the first object that follows the last `"section":` of an
/// iperf3 JSON report (the end-of-test summary comes last).
fn json_number(report: &str, section: &str, key: &str) -> Option<f64> {
    let at = report.rfind(&format!("\"{section}\":"))?;
    let rest = &report[at..];
    let k = rest.find(&format!("\"{key}\":"))?;
    let value = rest[k + key.len() + 3..].trim_start();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

on_every_machine! {
    /// iperf3 -s: the host's iperf3 -c measures TCP into the guest, out of it (-R) and UDP at
    /// 100 Mbit/s (-u -b 100M), 3 s each; every JSON report shows bytes moved and received.
    fn iperf3_serves_tcp_both_ways_and_udp(machine) {
        if tap_or_skip().is_some() {
            iperf3(machine);
        }
    }
}

fn iperf3(machine: Machine) {
    let Some(iperf3) = host_tool("iperf3", "iperf3") else {
        return;
    };
    let mut image = Image::new();
    image
        .program(&iperf3, "/usr/bin/iperf3")
        .expect("pack iperf3");
    let init = "init=/usr/bin/iperf3 -- -s --forceflush";
    let (ns, mut guest) = boot_on_tap(machine, "iperf", &image, init);
    let client = iperf3.to_str().unwrap();
    let tests: [(&str, &[&str]); 3] = [
        ("tcp in", &[]),
        ("tcp out", &["-R"]),
        ("udp", &["-u", "-b", "100M"]),
    ];
    for (n, (name, extra)) in tests.into_iter().enumerate() {
        // The server listens afresh after each test and says so: start the next one then,
        // as a user watching it would (a client that comes earlier meets the old listener).
        let listening = format!("Server listening on 5201 (test #{})", n + 1);
        let ready = guest.wait_for(&listening, READY_TIMEOUT);
        assert!(
            ready.is_some(),
            "iperf3 never listened for {name}:\n{}",
            guest.console_text()
        );
        let mut args = vec![client, "-c", GUEST_IP, "-t", "3", "-J"];
        args.extend_from_slice(extra);
        let report = ns.exec(&args).unwrap_or_else(|e| {
            panic!("iperf3 -c {extra:?} failed: {e}\n{}", guest.console_text())
        });
        let context = || {
            format!(
                "{name}: no sane transfer:\n{report}\n{}",
                guest.console_text()
            )
        };
        if name == "udp" {
            let packets = json_number(&report, "sum", "packets").unwrap_or(0.0);
            let lost = json_number(&report, "sum", "lost_packets").unwrap_or(f64::MAX);
            let bps = json_number(&report, "sum", "bits_per_second").unwrap_or(0.0);
            println!(
                "{} udp: {:.0} Mbit/s, {lost} of {packets} datagrams lost",
                machine.name(),
                bps / 1e6
            );
            assert!(
                packets > 0.0 && lost < packets && bps > 0.0,
                "{}",
                context()
            );
        } else {
            let received = json_number(&report, "sum_received", "bytes").unwrap_or(0.0);
            let sent = json_number(&report, "sum_sent", "bytes").unwrap_or(0.0);
            let bps = json_number(&report, "sum_received", "bits_per_second").unwrap_or(0.0);
            println!("{} {name}: {:.0} Mbit/s", machine.name(), bps / 1e6);
            assert!(
                received > 0.0 && bps > 0.0 && sent >= received,
                "{}",
                context()
            );
        }
    }
}
