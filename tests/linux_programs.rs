//! Ordinary Linux programs on rinet, as a user would bring them: the seeds' client flow in C
//! (tests/c/client.c) built with `musl-gcc -static` and with gcc against glibc (dynamic, with
//! the host's ld-linux and libc packed beside it), resolving a name from /etc/hosts and one
//! through DNS, then echoing through a server on the host; Debian's busybox running `nc` as a
//! client and as a server and `wget` fetching a file; Debian's dynamically linked `nc`
//! (netcat-openbsd) as a client; busybox using the character devices under /dev (null, zero,
//! full, urandom, console); Debian's `iperf3` as a server measuring the host's client; and a C
//! program that writes and reads back files in /tmp, booted through `qemu-run.sh --run` itself.
//!
//! The programs come from the host's Debian packages (musl-tools, gcc, libc6-dev,
//! busybox-static, netcat-openbsd, iperf3; `.ci/run` installs them). A test whose tool is missing says
//! so and passes, unless `CI` is set: there a missing tool is a failure.
//!
//! DNS: the guest gets `nameserver=10.0.2.2`, which QEMU's user network delivers to the host's
//! 127.0.0.1:53, where the test answers (root only and with port 53 free; otherwise that part
//! says why and is left out, as in tests/inet.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use rinet::initramfs::Image;
use rinet::{
    host_tool, on_every_machine, Guest, Machine, Net, Outcome, EXIT_SUCCESS, MARK_NETWORK_READY,
};

const TIMEOUT: Duration = Duration::from_secs(240);

/// Taken by the tests that answer DNS on the host's port 53, one at a time.
static PORT_53: Mutex<()> = Mutex::new(());

/// The host path of `name`, or `None` after saying why the test is skipped ([`host_tool`]).
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    host_tool(name, package)
}

/// Where this test binary keeps what it builds and packs.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-programs");
    std::fs::create_dir_all(&dir).expect("make the scratch directory");
    dir.join(name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Libc {
    /// `musl-gcc -static`.
    MuslStatic,
    /// `gcc`, dynamically linked against the host's glibc.
    GlibcDynamic,
}

/// Compiles `tests/c/NAME.c`; `None` (skipped) when the compiler is missing.
fn compile(name: &str, libc: Libc, tag: &str) -> Option<PathBuf> {
    let (cc, package, flags): (&str, &str, &[&str]) = match libc {
        Libc::MuslStatic => ("musl-gcc", "musl-tools", &["-static"]),
        Libc::GlibcDynamic => ("gcc", "gcc and libc6-dev", &[]),
    };
    let cc = tool(cc, package)?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let out = scratch(&format!("{name}-{libc:?}-{tag}"));
    let result = Command::new(&cc)
        .args(flags)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("run the C compiler");
    assert!(
        result.status.success(),
        "{} {} failed:\n{}",
        cc.display(),
        src.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    Some(out)
}

/// Boots `image` as the initramfs on the user network with `append` on the command line.
fn boot(machine: Machine, image: &Image, tag: &str, append: &str) -> Outcome {
    let path = scratch(&format!("{tag}-{}.cpio", machine.name()));
    image.write_to(&path).expect("write the initramfs");
    let out = Guest::new(machine)
        .net(Net::User {
            port_base: rinet::free_port_base(),
        })
        .initrd(&path)
        .append(append)
        .run(TIMEOUT);
    let _ = std::fs::remove_file(&path);
    out
}

/// A TCP echo server on the host's 127.0.0.1 (the guest's 10.0.2.2); the handle returns the
/// bytes echoed once the first connection ends.
fn echo_server() -> (u16, thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return 0;
        };
        let mut buf = [0u8; 16384];
        let mut total = 0;
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => {
                    if conn.write_all(&buf[..n]).is_err() {
                        return total;
                    }
                    total += n;
                }
            }
        }
    });
    (port, handle)
}

/// The answer to DNS query `q`: one A record for `echo.rinet.test` (10.0.2.2, the host), no
/// records of other types for it, NXDOMAIN for any other name; `None` for what is not a
/// one-question query.
fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || q[4..6] != [0, 1] {
        return None;
    }
    let mut at = 12;
    let mut name = Vec::new();
    while *q.get(at)? != 0 {
        let len = usize::from(q[at]);
        name.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).to_lowercase());
        at += 1 + len;
    }
    let question = q.get(12..at + 5)?;
    let ours = name.join(".") == "echo.rinet.test";
    let is_a = question[question.len() - 4..] == [0, 1, 0, 1];
    let answers = u8::from(ours && is_a);
    let mut r = Vec::from(&q[0..2]);
    r.extend_from_slice(&(if ours { 0x8180u16 } else { 0x8183 }).to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, answers, 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if answers == 1 {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 2, 2]);
    }
    Some(r)
}

/// A name server on the host's 127.0.0.1:53 while it lives; counts the queries it answered.
struct NameServer {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NameServer {
    fn start() -> Result<NameServer, String> {
        let sock = UdpSocket::bind("127.0.0.1:53").map_err(|e| {
            format!("cannot serve DNS on 127.0.0.1:53 ({e}); needs root and a free port 53")
        })?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (s, a) = (stop.clone(), answered.clone());
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = dns_answer(&buf[..n]) {
                    let _ = sock.send_to(&reply, from);
                    a.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(NameServer {
            stop,
            answered,
            thread: Some(thread),
        })
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The seeds' client flow built against `libc`: a name from the initramfs's /etc/hosts, then
/// (when the host can serve DNS) one through the name server, with the host name and
/// localhost from the /etc/hosts the kernel generated.
fn client_flow(machine: Machine, libc: Libc) {
    let Some(client) = compile("client", libc, machine.name()) else {
        return;
    };
    let guest_path = "/usr/local/bin/client";

    let mut image = Image::new();
    image.program(&client, guest_path).expect("pack the client");
    image.file(
        "/etc/hosts",
        0o644,
        "127.0.0.1\tlocalhost\n10.0.2.2\techo.hosts.test\n",
    );
    let (port, echoed) = echo_server();
    let out = boot(
        machine,
        &image,
        "client-hosts",
        &format!("init={guest_path} -- echo.hosts.test {port} 5 1000"),
    );
    out.assert_exit(EXIT_SUCCESS);
    out.assert_console_contains("client: echo.hosts.test is 10.0.2.2");
    // TCP_INFO in the libc's full length (iperf3 reads fields past the first 64 bytes).
    out.assert_console_contains("state 1, cwnd set, total_retrans 0");
    out.assert_console_contains("client: 5 rounds of 1000 bytes echoed intact");
    assert_eq!(echoed.join().unwrap(), 5000, "bytes the host server echoed");

    let _turn = PORT_53.lock().unwrap_or_else(|p| p.into_inner());
    let dns = match NameServer::start() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipped the DNS half: {why}");
            return;
        }
    };
    let mut image = Image::new();
    image.program(&client, guest_path).expect("pack the client");
    let (port, echoed) = echo_server();
    let out = boot(
        machine,
        &image,
        "client-dns",
        &format!(
            "nameserver=10.0.2.2 init={guest_path} -- echo.rinet.test {port} 3 20000 rinet localhost"
        ),
    );
    out.assert_exit(EXIT_SUCCESS);
    out.assert_console_contains(&format!("{MARK_NETWORK_READY} addr=10.0.2.15/24"));
    out.assert_console_contains("client: echo.rinet.test is 10.0.2.2");
    out.assert_console_contains("client: 3 rounds of 20000 bytes echoed intact");
    // From the /etc/hosts the kernel wrote once DHCP gave the guest its address.
    out.assert_console_contains("client: rinet is 10.0.2.15");
    out.assert_console_contains("client: localhost is 127.0.0.1");
    assert_eq!(
        echoed.join().unwrap(),
        60000,
        "bytes the host server echoed"
    );
    assert!(
        dns.answered.load(Ordering::Relaxed) >= 1,
        "the name server was asked"
    );
}

on_every_machine! {
    fn c_client_static_musl_resolves_and_echoes(machine) {
        client_flow(machine, Libc::MuslStatic);
    }
}

on_every_machine! {
    fn c_client_dynamic_glibc_resolves_and_echoes(machine) {
        client_flow(machine, Libc::GlibcDynamic);
    }
}

const GREETING: &str = "hello from the host, over TCP to a program on rinet";

/// A host server that reads what the guest sends until it shuts its side, then answers
/// [`GREETING`] and closes; the handle returns the bytes it received.
fn greeting_server() -> (u16, thread::JoinHandle<Option<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the greeting server");
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        let mut got = Vec::new();
        conn.read_to_end(&mut got).ok()?;
        conn.write_all(format!("{GREETING}\n").as_bytes()).ok()?;
        Some(got)
    });
    (port, handle)
}

/// Debian's busybox (static in busybox-static; packed with its libraries otherwise).
fn busybox() -> Option<PathBuf> {
    tool("busybox", "busybox-static")
}

on_every_machine! {
    /// `busybox nc HOST PORT` with no input: it shuts its sending side at once and prints what
    /// the server answers until the server closes.
    fn busybox_nc_as_a_client(machine) {
        let Some(busybox) = busybox() else { return };
        let mut image = Image::new();
        image.program(&busybox, "/bin/busybox").expect("pack busybox");
        let (port, server) = greeting_server();
        let out = boot(machine, &image, "bbnc-client", &format!("init=/bin/busybox -- nc 10.0.2.2 {port}"));
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains(GREETING);
        assert_eq!(server.join().unwrap(), Some(Vec::new()), "the server saw nc's end of input");
    }
}

/// `program` (packed at `guest_path` with its libraries) booted as init with `args` on the
/// user network at a free port base: the guest, the port base, and the initramfs to remove.
fn serve_on_user_net(
    machine: Machine,
    program: &Path,
    guest_path: &str,
    tag: &str,
    args: &str,
) -> (rinet::Running, u16, PathBuf) {
    let mut image = Image::new();
    image
        .program(program, guest_path)
        .expect("pack the program and its libraries");
    let path = scratch(&format!("{tag}-{}.cpio", machine.name()));
    image.write_to(&path).expect("write the initramfs");
    let port_base = rinet::free_port_base();
    let guest = Guest::new(machine)
        .net(Net::User { port_base })
        .initrd(&path)
        .append(&format!("init={guest_path} -- {args}"))
        .spawn();
    (guest, port_base, path)
}

on_every_machine! {
    /// `busybox nc -l -p 7` in the guest; the host connects through the user network's
    /// forward of port_base+7 and its message is printed on the guest's console.
    fn busybox_nc_as_a_server(machine) {
        let Some(busybox) = busybox() else { return };
        let (mut guest, port_base, path) =
            serve_on_user_net(machine, &busybox, "/bin/busybox", "bbnc-server", "nc -l -p 7");
        assert!(
            guest.wait_for(MARK_NETWORK_READY, TIMEOUT).is_some(),
            "no network:\n{}",
            guest.console_text()
        );
        let message = "a message from the host to busybox nc -l";
        // Until nc listens, QEMU's forward connects and the guest refuses: try again, a
        // bounded number of times, each attempt waiting for the console to show the message.
        let mut delivered = false;
        for _ in 0..30 {
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port_base + 7)) {
                let _ = conn.write_all(format!("{message}\n").as_bytes());
                let _ = conn.shutdown(Shutdown::Write);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = conn.read_to_end(&mut Vec::new());
            }
            if guest.wait_for(message, Duration::from_secs(3)).is_some() {
                delivered = true;
                break;
            }
        }
        let out = guest.wait(TIMEOUT);
        let _ = std::fs::remove_file(&path);
        assert!(delivered, "nc never printed the message:\n{}", out.console);
        out.assert_exit(EXIT_SUCCESS);
    }
}

/// Shell lines for busybox in the guest, one `sh -c` each (run by `xargs`: rinet has no
/// `fork`, so no pipelines; the last command of `sh -c` is exec'd, `xargs` starts each with
/// `vfork`). They do what a user would with the devices under /dev.
const DEVICE_COMMANDS: &str = "\
/bin/busybox head -c 32 /dev/urandom > /tmp/random
/bin/busybox od -A d -t x1 /tmp/random
/bin/busybox dd if=/dev/zero bs=1k count=64 > /tmp/zeros
/bin/busybox wc -c /tmp/zeros
echo x > /dev/null && echo null: accepted
echo x > /dev/full || echo full: refused
/bin/busybox ls -l /dev/null
/bin/busybox stat -c %n:%F:%t:%T:%a /dev/urandom /dev/console
/bin/busybox dd if=/dev/zero of=/dev/null bs=1M count=3
echo written through /dev/console > /dev/console
";

/// The bytes `od -A d -t x1` printed for a 32-byte file (lines `0000000 xx ...` and
/// `0000016 xx ...`), or `None` when the console does not show them whole.
fn od_bytes(console: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    for offset in ["0000000 ", "0000016 "] {
        let line = console.lines().find(|l| l.starts_with(offset))?;
        for hex in line[offset.len()..].split_whitespace() {
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        }
    }
    Some(bytes)
}

on_every_machine! {
    /// Debian's busybox reads /dev/urandom and /dev/zero, writes to /dev/null, /dev/full and
    /// /dev/console, and lists and stats them as character devices with Linux's numbers.
    fn busybox_uses_the_devices_under_dev(machine) {
        let Some(busybox) = busybox() else { return };
        let mut image = Image::new();
        image.program(&busybox, "/bin/busybox").expect("pack busybox");
        image.file("/devices.cmds", 0o644, DEVICE_COMMANDS);
        let out = boot(
            machine,
            &image,
            "bbdevices",
            "init=/bin/busybox -- xargs -a /devices.cmds -I CMD /bin/busybox sh -c CMD",
        );
        out.assert_exit(EXIT_SUCCESS);
        let console = &out.console;
        let random = od_bytes(console)
            .unwrap_or_else(|| panic!("od did not show 32 bytes of /dev/urandom:\n{console}"));
        assert_eq!(random.len(), 32, "head -c 32 /dev/urandom:\n{console}");
        assert!(random.iter().any(|&b| b != 0), "/dev/urandom gave only zeros:\n{console}");
        out.assert_console_contains("65536 /tmp/zeros");
        out.assert_console_contains("null: accepted");
        out.assert_console_contains("No space left on device");
        out.assert_console_contains("full: refused");
        let ls = console
            .lines()
            .find(|l| l.ends_with("/dev/null") && l.starts_with('c'))
            .unwrap_or_else(|| panic!("ls -l /dev/null printed nothing:\n{console}"));
        assert!(ls.starts_with("crw-rw-rw-") && ls.contains("1,   3"), "ls -l: {ls}");
        out.assert_console_contains("/dev/urandom:character special file:1:9:666");
        out.assert_console_contains("/dev/console:character special file:5:1:600");
        out.assert_console_contains("3+0 records in");
        out.assert_console_contains("3+0 records out");
        out.assert_console_contains("written through /dev/console");
    }
}

on_every_machine! {
    /// Debian's `iperf3 -s -1` (glibc, dynamic; it reads its cookie from /dev/urandom) serves
    /// one test from the host's `iperf3 -c` through the user network's forward of
    /// port_base+9, and both ends report the transfer.
    fn iperf3_server_measures_a_host_client(machine) {
        let Some(iperf3) = tool("iperf3", "iperf3") else { return };
        let (mut guest, port_base, path) = serve_on_user_net(
            machine,
            &iperf3,
            "/usr/bin/iperf3",
            "iperf3",
            "-s -1 -p 9 --forceflush",
        );
        let listening = guest.wait_for("Server listening on 9", TIMEOUT).is_some();
        assert!(listening, "iperf3 never listened:\n{}", guest.console_text());
        let client = Command::new(&iperf3)
            .args(["-c", "127.0.0.1", "-p", &(port_base + 9).to_string(), "-t", "2"])
            .output()
            .expect("run the host's iperf3");
        let out = guest.wait(TIMEOUT);
        let _ = std::fs::remove_file(&path);
        let report = String::from_utf8_lossy(&client.stdout);
        assert!(
            client.status.success() && report.contains("iperf Done."),
            "the host's iperf3 failed:\n{report}{}\n--- guest ---\n{}",
            String::from_utf8_lossy(&client.stderr),
            out.console
        );
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("receiver");
    }
}

/// The file the HTTP server serves: text lines (the console carries them intact), 64 KiB and
/// more, each different.
fn http_body() -> String {
    let mut body = String::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..1200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.push_str(&format!(
            "rinet-wget {i:04} {x:016x} {:016x}\n",
            x.rotate_left(29)
        ));
    }
    body
}

/// An HTTP/1.0 server for one request: GET /file.txt gets [`http_body`], anything else 404.
/// The handle returns the request line.
fn http_server() -> (u16, thread::JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the HTTP server");
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (conn, _) = listener.accept().ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        let mut reader = BufReader::new(conn.try_clone().ok()?);
        let mut request = String::new();
        reader.read_line(&mut request).ok()?;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
                break;
            }
        }
        let mut conn = conn;
        if request.starts_with("GET /file.txt ") {
            let body = http_body();
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).ok()?;
            conn.write_all(body.as_bytes()).ok()?;
        } else {
            conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .ok()?;
        }
        Some(request.trim_end().to_string())
    });
    (port, handle)
}

on_every_machine! {
    /// `busybox wget -O - URL`: every line of the file reaches the console, in order, intact.
    fn busybox_wget_fetches_a_file_intact(machine) {
        let Some(busybox) = busybox() else { return };
        let mut image = Image::new();
        image.program(&busybox, "/bin/busybox").expect("pack busybox");
        let (port, server) = http_server();
        let out = boot(
            machine,
            &image,
            "bbwget",
            &format!("init=/bin/busybox -- wget -q -O - http://10.0.2.2:{port}/file.txt"),
        );
        out.assert_exit(EXIT_SUCCESS);
        let request = server.join().unwrap();
        assert_eq!(request.as_deref(), Some("GET /file.txt HTTP/1.1"), "wget's request line");
        let body = http_body();
        let want: Vec<&str> = body.lines().collect();
        let lines: Vec<&str> = out.console.lines().collect();
        let first = lines
            .iter()
            .position(|l| *l == want[0])
            .unwrap_or_else(|| panic!("the file's first line is not on the console:\n{}", out.console));
        assert!(
            lines.len() >= first + want.len() && lines[first..first + want.len()] == want[..],
            "the file did not come through intact:\n{}",
            out.console
        );
    }
}

on_every_machine! {
    /// Debian's `nc` (netcat-openbsd, dynamically linked against glibc and libbsd) as a
    /// client: `-N` shuts the socket's sending side at the end of its (empty) input.
    fn netcat_openbsd_as_a_client(machine) {
        let Some(nc) = tool("/bin/nc.openbsd", "netcat-openbsd") else { return };
        let mut image = Image::new();
        image.program(&nc, "/usr/bin/nc").expect("pack nc and its libraries");
        let (port, server) = greeting_server();
        let out = boot(machine, &image, "ncopenbsd", &format!("init=/usr/bin/nc -- -N 10.0.2.2 {port}"));
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains(GREETING);
        assert_eq!(server.join().unwrap(), Some(Vec::new()), "the server saw nc's end of input");
    }
}

/// Runs qemu-run.sh with `args` (the user's way in); its exit status and output, or `None`
/// when it had to be killed after [`TIMEOUT`].
fn qemu_run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(rinet::qemu_run_script())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-run.sh");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let out = rx.recv_timeout(TIMEOUT).ok();
    if out.is_none() {
        let _ = child.kill();
    }
    let status = child.wait().ok().and_then(|s| s.code());
    let text = format!(
        "{}\n--- stderr ---\n{}",
        out.unwrap_or_default(),
        err_reader.join().unwrap_or_default()
    );
    (status, text)
}

/// Compile `tests/c/NAME.c` for `libc` and boot it with `qemu-run.sh --run` (no network,
/// kernel words `append`); its exit status and console. `None` when the compiler is missing.
fn run_c_program(
    name: &str,
    libc: Libc,
    machine: Machine,
    append: &str,
) -> Option<(Option<i32>, String)> {
    let program = compile(name, libc, machine.name())?;
    let kernel = rinet::kernel_path();
    let mut args = vec![
        "--machine",
        machine.name(),
        "--accel",
        "tcg",
        "--net",
        "none",
        "--kernel",
        kernel.to_str().unwrap(),
    ];
    if !append.is_empty() {
        args.extend(["--append", append]);
    }
    args.extend(["--run", program.to_str().unwrap()]);
    Some(qemu_run(&args))
}

/// Runs tests/c/NAME.c built with static musl and with dynamic glibc in the guest on
/// `machine`: it exits 0, says "NAME: all checks passed" and names no failed check.
fn c_program_passes(name: &str, machine: Machine) {
    for libc in [Libc::MuslStatic, Libc::GlibcDynamic] {
        let Some((status, text)) = run_c_program(name, libc, machine, "") else {
            continue;
        };
        assert_eq!(status, Some(EXIT_SUCCESS), "{libc:?}:\n{text}");
        assert!(
            text.contains(&format!("{name}: all checks passed")),
            "{libc:?}:\n{text}"
        );
        assert!(!text.contains("FAILED"), "{libc:?}:\n{text}");
    }
}

on_every_machine! {
    /// A C program (static musl, and dynamic glibc packed with its libraries) that writes,
    /// reads back, lists, renames, truncates and removes files in /tmp, booted with
    /// `qemu-run.sh --run PROGRAM`.
    fn tmp_files_round_trip_through_qemu_run(machine) {
        c_program_passes("tmpfiles", machine);
    }
}

on_every_machine! {
    /// AF_UNIX socket pairs (static musl and dynamic glibc): bytes both ways, end of file and
    /// EPOLLRDHUP when the peer closes (the check nginx makes at start-up before it trusts
    /// EPOLLRDHUP), shutdown, EPIPE, datagram and seqpacket boundaries with MSG_TRUNC, a
    /// blocking read woken by another thread's write, and Linux's errors.
    fn socket_pairs_behave_as_on_linux(machine) {
        c_program_passes("socketpair", machine);
    }
}

on_every_machine! {
    /// POSIX threads (static musl, and dynamic glibc, whose pthread_create uses clone3): four
    /// threads share a mutex and a condition variable and are joined; the counter adds up.
    fn pthreads_share_a_mutex_and_join(machine) {
        for libc in [Libc::MuslStatic, Libc::GlibcDynamic] {
            let Some((status, text)) = run_c_program("threads", libc, machine, "strace") else {
                continue;
            };
            assert_eq!(status, Some(EXIT_SUCCESS), "{libc:?}:\n{text}");
            assert!(text.contains("threads: 4 joined, counter 40000"), "{libc:?}:\n{text}");
            let clone3: Vec<&str> = text.lines().filter(|l| l.contains(" clone3(")).collect();
            match libc {
                Libc::GlibcDynamic => assert!(
                    clone3.len() == 4 && clone3.iter().all(|l| !l.contains("= -1")),
                    "glibc's threads did not all come from clone3:\n{text}"
                ),
                Libc::MuslStatic => assert!(clone3.is_empty(), "musl used clone3:\n{text}"),
            }
        }
    }
}

on_every_machine! {
    /// Signals (static musl, and dynamic glibc): handlers on the user stack with Linux's frame
    /// and rt_sigreturn (raise, kill, masks, SA_ONSTACK, SA_RESETHAND), a SIGSEGV handler
    /// leaving by siglongjmp, SIGALRM from alarm and setitimer interrupting pause and a read
    /// (EINTR, and SA_RESTART), SIGPIPE with EPIPE (and none with MSG_NOSIGNAL), and an
    /// unhandled SIGTERM ending a child with status 143.
    fn signals_reach_handlers_and_default_actions(machine) {
        c_program_passes("signals", machine);
    }
}

on_every_machine! {
    /// What servers ask of their sockets (static musl, and dynamic glibc), over 127.0.0.1 with
    /// no NIC: sendmmsg and recvmmsg as raw system calls (counts, msg_len, MSG_WAITFORONE, a
    /// timeout, EFAULT before anything moved and the count after), IP_TOS (ECN bits dropped
    /// for TCP, inherited by an accepted socket), SO_REUSEPORT (two listeners and two UDP
    /// sockets on one port with arrivals spread among them, EADDRINUSE without it) and
    /// TCP_DEFER_ACCEPT (5 reads back as 7; nothing to accept before data).
    fn server_socket_options_and_batched_datagrams(machine) {
        c_program_passes("sockopts", machine);
    }
}

on_every_machine! {
    /// CPU time and memory a program reads about itself and its children (static musl, and
    /// dynamic glibc): getrusage for the program, the calling thread and reaped children,
    /// times(2) in clock ticks, wait4's struct rusage holding a spawned child's 150 ms of work
    /// and sleeps, context switches (each sleep a voluntary one; two busy threads pinned to
    /// one CPU switch involuntarily), and EINVAL/EFAULT/ECHILD.
    fn resource_usage_of_self_and_children(machine) {
        c_program_passes("rusage", machine);
    }
}

on_every_machine! {
    /// A thread computing without a pause beside threads that wait on each other, all on one
    /// CPU (static musl, and dynamic glibc): 2000 one-byte round trips through a pipe and over
    /// TCP on 127.0.0.1 finish within 10 s (not one per busy time slice), and the busy thread
    /// still gets at least a fifth of the CPU.
    fn a_busy_thread_leaves_the_cpu_to_threads_that_wait(machine) {
        c_program_passes("busythread", machine);
    }
}

/// A C test on the host's own Linux: the behaviour the guest is held to is Linux's.
fn agrees_with_host_linux(name: &str) {
    for libc in [Libc::MuslStatic, Libc::GlibcDynamic] {
        let Some(program) = compile(name, libc, "host") else {
            continue;
        };
        let out = Command::new(&program)
            .output()
            .unwrap_or_else(|e| panic!("run {name} on the host: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{libc:?} on the host:\n{text}");
        assert!(
            text.contains(&format!("{name}: all checks passed")),
            "{libc:?} on the host:\n{text}"
        );
    }
}

#[test]
fn server_socket_options_agree_with_host_linux() {
    agrees_with_host_linux("sockopts");
}

#[test]
fn socket_pairs_agree_with_host_linux() {
    agrees_with_host_linux("socketpair");
}

#[test]
fn busy_thread_sharing_agrees_with_host_linux() {
    agrees_with_host_linux("busythread");
}

#[test]
fn resource_usage_agrees_with_host_linux() {
    agrees_with_host_linux("rusage");
}
