//! /proc as a user sees it, through Debian's busybox in the guest: a program's own entries
//! (`status`, `stat`, `fd/`, `exe`), the memory the machine was given (`meminfo`), the CPU's
//! time and load (`stat`, `uptime`, `loadavg`), and the stack's counters and sockets
//! (`net/snmp`, `net/tcp`) after the guest fetched a page from the host with `wget` and while
//! `nc` holds a connection to it. One boot per machine runs every command (`xargs` starts each
//! with `vfork`: rinet has no `fork`, so no pipelines).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use rinet::initramfs::Image;
use rinet::{on_every_machine, Guest, Net, EXIT_SUCCESS};

const TIMEOUT: Duration = Duration::from_secs(240);
/// The guest's memory (`-m`), which /proc/meminfo's MemTotal must roughly show.
const GUEST_MIB: u64 = 256;

fn busybox() -> Option<PathBuf> {
    rinet::host_tool("busybox", "busybox-static")
}

/// A web server on the host's 127.0.0.1 (the guest's 10.0.2.2) answering every request with
/// a two-byte page.
fn web_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the web server");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    port
}

fn commands(port: u16) -> String {
    format!(
        "\
/bin/busybox cat /proc/self/status
/bin/busybox ls /proc/self/fd
/bin/busybox readlink /proc/self/exe
/bin/busybox cat /proc/meminfo
/bin/busybox ls /proc
/bin/busybox wget -q -O /tmp/page http://10.0.2.2:{port}/
/bin/busybox nc 10.0.2.2 {port} -e /bin/busybox xargs -a /proc.sock.cmds -I CMD /bin/busybox sh -c CMD
/bin/busybox sh -c 'i=0; while [ $i -lt {LOOP_ROUNDS} ]; do i=$((i+1)); done; exec /bin/busybox cat /proc/self/stat'
/bin/busybox cat /proc/net/snmp
/bin/busybox cat /proc/net/tcp
/bin/busybox cat /proc/stat
/bin/busybox cat /proc/loadavg
/bin/busybox cat /proc/uptime
"
    )
}

/// Rounds of a shell loop (no system calls) whose ring-3 time /proc/<pid>/stat must show: tens
/// of milliseconds natively, more under TCG; a clock tick is 10 ms.
const LOOP_ROUNDS: u32 = 20000;

/// What runs while `nc -e` holds its connection to the host (fd 1 and, after `xargs -a` took
/// fd 0, only fd 1): the link that names the socket, and /proc/net/tcp, both on the console.
const SOCKET_COMMANDS: &str = "\
/bin/busybox readlink /proc/self/fd/3 3>&1 1>&2
/bin/busybox cat /proc/net/tcp 1>&2
";

/// The numbers of the first console line starting with `prefix`, after it.
fn numbers_after(console: &str, prefix: &str) -> Vec<u64> {
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{console}"));
    line.split_whitespace()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{v:?} in {line:?}")))
        .collect()
}

/// /proc/self/stat of the program that ran the shell loop: (utime, stime) in clock ticks.
fn loop_cpu_ticks(console: &str) -> (u64, u64) {
    let fields: Vec<&str> = console
        .lines()
        .find_map(|l| l.split_once(" (busybox) R ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no /proc/self/stat line:\n{console}"))
        .split(' ')
        .collect();
    // After the state (field 3): ppid .. cmajflt are fields 4..13, utime 14, stime 15.
    let field = |n: usize| -> u64 { fields[n - 4].parse().expect("a number") };
    (field(14), field(15))
}

/// The /proc/net/tcp line (split in fields) whose inode column is `inode`.
fn tcp_line_of_inode<'a>(console: &'a str, inode: &str) -> Vec<&'a str> {
    console
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 10 && f[0].ends_with(':') && f[9] == inode)
        .unwrap_or_else(|| panic!("no /proc/net/tcp line with inode {inode}:\n{console}"))
}

/// The value under `column` in the `tag:` section (header line, then value line) of
/// /proc/net/snmp text in `console`, after checking both lines have as many fields.
fn snmp_value(console: &str, tag: &str, column: &str) -> i64 {
    let prefix = format!("{tag}: ");
    let lines: Vec<&str> = console.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert!(lines.len() >= 2, "no {tag}: section:\n{console}");
    let (names, values) = (lines[0], lines[1]);
    let names: Vec<&str> = names.split(' ').collect();
    let values: Vec<&str> = values.split(' ').collect();
    assert_eq!(names.len(), values.len(), "{tag}: header and values differ");
    let at = names
        .iter()
        .position(|&n| n == column)
        .unwrap_or_else(|| panic!("no {column} in {tag}:"));
    values[at].parse().expect("a number")
}

on_every_machine! {
    /// busybox reads its own /proc entries, the machine's memory, and the stack's counters
    /// after a TCP connection.
    fn busybox_reads_proc(machine) {
        let Some(busybox) = busybox() else { return };
        let port = web_server();
        let mut image = Image::new();
        image.program(&busybox, "/bin/busybox").expect("pack busybox");
        image.file("/proc.cmds", 0o644, commands(port));
        image.file("/proc.sock.cmds", 0o644, SOCKET_COMMANDS.to_string());
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("procfs-{}.cpio", machine.name()));
        image.write_to(&path).expect("write the initramfs");
        let out = Guest::new(machine)
            .net(Net::User { port_base: rinet::free_port_base() })
            .memory(&format!("{GUEST_MIB}M"))
            .initrd(&path)
            .append("init=/bin/busybox -- xargs -a /proc.cmds -I CMD /bin/busybox sh -c CMD")
            .run(TIMEOUT);
        let _ = std::fs::remove_file(&path);
        out.assert_exit(EXIT_SUCCESS);
        let console = &out.console;
        assert!(console.lines().any(|l| l.starts_with("Name:\tbusybox")), "status:\n{console}");
        assert!(console.lines().any(|l| l.starts_with("Pid:\t")), "status:\n{console}");
        for fd in ["0", "1", "2"] {
            assert!(console.lines().any(|l| l.trim() == fd), "ls /proc/self/fd lacks {fd}:\n{console}");
        }
        assert!(console.lines().any(|l| l.trim() == "/bin/busybox"), "readlink exe:\n{console}");
        let total: u64 = console
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no MemTotal in kB:\n{console}"));
        let given = GUEST_MIB * 1024;
        assert!(total <= given && total >= given / 2, "MemTotal {total} kB for {given} kB");
        assert!(console.lines().any(|l| l.trim() == "self"), "ls /proc lacks self:\n{console}");
        assert!(snmp_value(console, "Tcp", "ActiveOpens") >= 1, "no active open counted:\n{console}");
        assert_eq!(snmp_value(console, "Tcp", "MaxConn"), -1);
        snmp_value(console, "Udp", "InDatagrams");
        snmp_value(console, "Ip", "InReceives");
        out.assert_console_contains("  sl  local_address rem_address   st tx_queue rx_queue");

        // The socket `nc` holds is listed under the inode its descriptor links to, connected
        // (01) to the host's web server (10.0.2.2 as Linux prints it).
        let inode = console
            .lines()
            .find_map(|l| l.trim().strip_prefix("socket:[")?.strip_suffix(']'))
            .unwrap_or_else(|| panic!("no socket:[INODE] link:\n{console}"));
        assert!(inode.parse::<u64>().is_ok_and(|i| i > 0), "socket inode {inode:?}");
        let line = tcp_line_of_inode(console, inode);
        assert_eq!(line[2], format!("0202000A:{port:04X}"), "remote of {line:?}");
        assert_eq!(line[3], "01", "state of {line:?}");

        // CPU time: the loop's program shows ring-3 time; the CPU's user and system time add
        // up to no more than the uptime read after them.
        let (utime, stime) = loop_cpu_ticks(console);
        assert!(utime >= 1, "no user time after {LOOP_ROUNDS} rounds: utime {utime} stime {stime}");
        let cpu = numbers_after(console, "cpu  ");
        assert_eq!(cpu.len(), 10, "/proc/stat cpu line {cpu:?}");
        let (user, system, idle) = (cpu[0], cpu[2], cpu[3]);
        assert!(user >= utime, "cpu user {user} < the loop's utime {utime}");
        assert!(system >= 1, "no system time: {cpu:?}");
        assert!(numbers_after(console, "ctxt ")[0] >= 1, "no context switches");
        let lines = commands(port).lines().count() as u64;
        assert!(numbers_after(console, "processes ")[0] > lines, "each command is a program");
        let uptime: Vec<f64> = console
            .lines()
            .rev()
            .find_map(|l| {
                let f: Vec<f64> = l.split(' ').filter_map(|v| v.parse().ok()).collect();
                (f.len() == 2 && l.contains('.') && !l.contains(':')).then_some(f)
            })
            .unwrap_or_else(|| panic!("no /proc/uptime line:\n{console}"));
        let up_ticks = (uptime[0] * 100.0).round() as u64;
        assert!(user + system + idle <= up_ticks, "cpu {cpu:?} past uptime {uptime:?}");
        assert!(uptime[1] <= uptime[0], "idle past uptime: {uptime:?}");

        // /proc/loadavg: three averages, then runnable/threads (the reader itself runs).
        let load = console
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() == 5 && f[3].contains('/') && f[..3].iter().all(|a| a.contains('.')))
            .unwrap_or_else(|| panic!("no /proc/loadavg line:\n{console}"));
        assert!(load[..3].iter().all(|a| a.parse::<f64>().is_ok()), "{load:?}");
        let (running, threads) = load[3].split_once('/').unwrap();
        let (running, threads): (u64, u64) = (running.parse().unwrap(), threads.parse().unwrap());
        assert!(running >= 1 && threads >= running, "loadavg {load:?}");
    }
}
