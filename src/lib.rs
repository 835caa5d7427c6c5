//! Host-side harness: boots the rinet kernel in QEMU through qemu-run.sh and reports what it
//! printed and how it ended.
//!
//! The kernel ends QEMU through isa-debug-exit, so the QEMU exit status is the verdict:
//! [`EXIT_SUCCESS`] (33) or [`EXIT_FAILURE`] (35). Integration tests under `tests/` and the
//! benchmarks use this module; it never talks to anything but loopback and the QEMU it started.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
pub mod initramfs;
pub mod netns;
pub mod services;

/// QEMU's exit status when the kernel reports success (isa-debug-exit value 0x10).
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's exit status when the kernel reports failure (isa-debug-exit value 0x11).
pub const EXIT_FAILURE: i32 = 35;

/// Serial-console markers the kernel prints at each boot milestone.
pub const MARK_KERNEL_ENTRY: &str = "rinet: kernel entry";
pub const MARK_NIC_UP: &str = "rinet: nic up";
pub const MARK_NETWORK_READY: &str = "rinet: network ready";

/// Path of the kernel ELF that build.rs built.
pub fn kernel_path() -> PathBuf {
    PathBuf::from(env!("RINET_KERNEL"))
}

/// The default initramfs build.rs packs: every program of `programs/` as `/bin/NAME`.
pub fn default_initramfs() -> PathBuf {
    PathBuf::from(env!("RINET_INITRAMFS"))
}

/// Path of qemu-run.sh.
pub fn qemu_run_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("qemu-run.sh")
}

/// A machine type QEMU can boot the kernel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Microvm,
    Q35,
    Pc,
}

impl Machine {
    pub const ALL: [Machine; 3] = [Machine::Microvm, Machine::Q35, Machine::Pc];

    pub fn name(self) -> &'static str {
        match self {
            Machine::Microvm => "microvm",
            Machine::Q35 => "q35",
            Machine::Pc => "pc",
        }
    }
}

/// Defines a test once per machine type: `on_every_machine! { fn name(machine) { ... } }`
/// becomes the tests `name::microvm`, `name::q35` and `name::pc`, each calling the body with
/// its [`Machine`]. Every QEMU integration test runs on all three: a bug that shows on one
/// machine type only is still a bug.
#[macro_export]
macro_rules! on_every_machine {
    ($(#[$meta:meta])* fn $name:ident($machine:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($machine: $crate::Machine) $body
            #[test]
            fn microvm() {
                body($crate::Machine::Microvm)
            }
            #[test]
            fn q35() {
                body($crate::Machine::Q35)
            }
            #[test]
            fn pc() {
                body($crate::Machine::Pc)
            }
        }
    };
}

/// Network backend for the guest's NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    /// QEMU user networking with hostfwd of 7/9/19 to 127.0.0.1:port_base+7/9/19.
    User {
        port_base: u16,
    },
    /// A stream socket netdev, listening (server) or connecting, for guest-to-guest links.
    StreamListen(String),
    StreamConnect(String),
    /// A tap device (QEMU's tap backend with vnet headers); usually inside a namespace
    /// ([`Guest::in_netns`], [`netns::Netns`]).
    Tap(String),
    None,
}

/// How to boot one guest.
#[derive(Debug, Clone)]
pub struct Guest {
    pub machine: Machine,
    pub net: Net,
    pub mac: String,
    pub append: Vec<String>,
    pub memory: String,
    pub extra_qemu_args: Vec<String>,
    pub nic_legacy: bool,
    pub pcap: Option<PathBuf>,
    /// Network namespace QEMU runs in (`ip netns exec`).
    pub netns: Option<String>,
    /// An initramfs image for `-initrd`.
    pub initrd: Option<PathBuf>,
}

impl Guest {
    pub fn new(machine: Machine) -> Self {
        Guest {
            machine,
            net: Net::None,
            mac: "52:54:00:12:34:56".into(),
            append: Vec::new(),
            memory: "128M".into(),
            extra_qemu_args: Vec::new(),
            nic_legacy: false,
            pcap: None,
            netns: None,
            initrd: None,
        }
    }

    pub fn net(mut self, net: Net) -> Self {
        self.net = net;
        self
    }

    pub fn mac(mut self, mac: &str) -> Self {
        self.mac = mac.into();
        self
    }

    /// Add kernel command-line words.
    pub fn append(mut self, words: &str) -> Self {
        self.append
            .extend(words.split_whitespace().map(String::from));
        self
    }

    pub fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }

    /// Boot with `path` as the initramfs (`-initrd`).
    pub fn initrd(mut self, path: &Path) -> Self {
        self.initrd = Some(path.to_path_buf());
        self
    }

    /// Run QEMU inside the network namespace `name`.
    pub fn in_netns(mut self, name: &str) -> Self {
        self.netns = Some(name.into());
        self
    }

    /// Extra QEMU arguments (after qemu-run.sh's own).
    pub fn qemu_args(mut self, args: &[&str]) -> Self {
        self.extra_qemu_args
            .extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn nic_legacy(mut self) -> Self {
        self.nic_legacy = true;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(qemu_run_script());
                c
            }
            None => Command::new(qemu_run_script()),
        };
        cmd.arg("--machine").arg(self.machine.name());
        cmd.arg("--kernel").arg(kernel_path());
        cmd.arg("--accel").arg("tcg");
        cmd.arg("--memory").arg(&self.memory);
        cmd.arg("--mac").arg(&self.mac);
        match &self.net {
            Net::User { port_base } => {
                cmd.args(["--net", "user", "--port-base"])
                    .arg(port_base.to_string());
            }
            Net::StreamListen(addr) => {
                cmd.args(["--net", "stream-listen", "--stream", addr]);
            }
            Net::StreamConnect(addr) => {
                cmd.args(["--net", "stream-connect", "--stream", addr]);
            }
            Net::Tap(ifname) => {
                cmd.args(["--net", "tap", "--tap", ifname]);
            }
            Net::None => {
                cmd.args(["--net", "none"]);
            }
        }
        if self.nic_legacy {
            cmd.arg("--nic-legacy");
        }
        if let Some(p) = &self.pcap {
            cmd.arg("--pcap").arg(p);
        }
        // The default initramfs (the programs of programs/ as /bin/NAME) unless the test
        // brings its own.
        let default_initrd = default_initramfs();
        if let Some(p) = self.initrd.as_ref().or(Some(&default_initrd)) {
            cmd.arg("--initrd").arg(p);
        }
        if !self.append.is_empty() {
            cmd.arg("--append").arg(self.append.join(" "));
        }
        if !self.extra_qemu_args.is_empty() {
            cmd.arg("--").args(&self.extra_qemu_args);
        }
        cmd
    }

    /// Start QEMU; the console streams into the returned [`Running`] guest.
    pub fn spawn(&self) -> Running {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start qemu-run.sh");
        let console = Arc::new(Mutex::new(Console::default()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let c = Arc::clone(&console);
        let reader = thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        let at = started.elapsed();
                        c.lock().unwrap().lines.push((at, text.clone()));
                        let _ = tx.send(());
                    }
                }
            }
        });
        let c = Arc::clone(&console);
        let err_reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            c.lock().unwrap().stderr = s;
        });
        Running {
            child,
            console,
            started,
            new_line: rx,
            readers: vec![reader, err_reader],
        }
    }

    /// Boot, wait for QEMU to exit (at most `timeout`), and return how it ended.
    pub fn run(&self, timeout: Duration) -> Outcome {
        self.spawn().wait(timeout)
    }
}

#[derive(Debug, Default)]
struct Console {
    lines: Vec<(Duration, String)>,
    stderr: String,
}

/// A guest that is running.
pub struct Running {
    child: Child,
    console: Arc<Mutex<Console>>,
    started: Instant,
    new_line: mpsc::Receiver<()>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Running {
    /// Wait until a console line contains `needle`; returns the time since QEMU was started, or
    /// `None` if QEMU exited or `timeout` passed first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self
                .console
                .lock()
                .unwrap()
                .lines
                .iter()
                .find(|(_, l)| l.contains(needle))
                .map(|(at, _)| *at)
            {
                return Some(at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match self
                .new_line
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(_)) = self.child.try_wait() {
                        // Give the reader a moment to drain what QEMU printed last.
                        thread::sleep(Duration::from_millis(50));
                        let c = self.console.lock().unwrap();
                        return c
                            .lines
                            .iter()
                            .find(|(_, l)| l.contains(needle))
                            .map(|(at, _)| *at);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let c = self.console.lock().unwrap();
                    return c
                        .lines
                        .iter()
                        .find(|(_, l)| l.contains(needle))
                        .map(|(at, _)| *at);
                }
            }
        }
    }

    /// Console lines containing `needle` so far, with when they were printed (since launch).
    pub fn lines_with(&self, needle: &str) -> Vec<(Duration, String)> {
        let c = self.console.lock().unwrap();
        c.lines
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .cloned()
            .collect()
    }

    /// When QEMU was launched.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The console so far.
    pub fn console_text(&self) -> String {
        let c = self.console.lock().unwrap();
        c.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait for QEMU to exit, killing it after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        };
        let elapsed = self.started.elapsed();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let c = self.console.lock().unwrap();
        Outcome {
            exit_code: status,
            timed_out: status.is_none(),
            elapsed,
            console: c
                .lines
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            stderr: c.stderr.clone(),
        }
    }

    /// Kill QEMU now and return what it printed.
    pub fn kill(mut self) -> Outcome {
        let _ = self.child.kill();
        self.wait(Duration::from_secs(5))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a guest run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// QEMU's exit status (`None` when it was killed).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub console: String,
    pub stderr: String,
}

impl Outcome {
    /// Panic with the console attached unless QEMU exited with `code`.
    pub fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.exit_code,
            Some(code),
            "QEMU exit status {:?} (timed out: {}), expected {code}\n--- console ---\n{}\n--- stderr ---\n{}",
            self.exit_code,
            self.timed_out,
            self.console,
            self.stderr
        );
    }

    pub fn assert_console_contains(&self, needle: &str) {
        assert!(
            self.console.contains(needle),
            "console lacks {needle:?}\n--- console ---\n{}\n--- stderr ---\n{}",
            self.console,
            self.stderr
        );
    }
}

/// A base port such that base+7, base+9 and base+19 are free for TCP and UDP on 127.0.0.1.
pub fn free_port_base() -> u16 {
    for _ in 0..200 {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = probe.local_addr().expect("local addr").port();
        drop(probe);
        let Some(base) = port.checked_sub(7) else {
            continue;
        };
        if base.checked_add(19).is_none() {
            continue;
        }
        let all_free = [7u16, 9, 19].iter().all(|off| {
            let p = base + off;
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no free port base for hostfwd on 127.0.0.1");
}

/// The host path of `name` (a path, or a program on PATH), or `None` after saying why the
/// calling test is skipped: Debian's `package` is missing. Under `CI` (where `.ci/run`
/// installs every package the tests use) a missing tool panics instead.
pub fn host_tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        let why = format!("{name} not found: install Debian's {package} package");
        if std::env::var_os("CI").is_some() {
            panic!("CI: {why} (.ci/run installs it)");
        }
        eprintln!("skipped: {why}");
    }
    found
}
