//! /proc as a user sees it, through Debian's busybox in the guest: a program's own entries
//! (`status`, `fd/`, `exe`), the memory the machine was given (`meminfo`), and the stack's
//! counters and sockets (`net/snmp`, `net/tcp`) after the guest fetched a page from the host
//! with `wget`. One boot per machine runs every command (`xargs` starts each with `vfork`:
//! rinet has no `fork`, so no pipelines).

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
/bin/busybox cat /proc/net/snmp
/bin/busybox cat /proc/net/tcp
/bin/busybox cat /proc/uptime
"
    )
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
    }
}
