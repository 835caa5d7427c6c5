//! Network namespaces with a tap device, for tests that put a guest on a real (virtual) link:
//! the namespace, its `tap0` (192.168.77.1/24, the guest is 192.168.77.2) and the commands run
//! inside it. Everything is created by the test and deleted when the [`Netns`] is dropped
//! (also when the test fails); nothing outside the namespace is touched.

use std::path::Path;
use std::process::Command;

/// The host's address on the tap.
pub const HOST_IP: &str = "192.168.77.1";
/// The guest's address on the tap.
pub const GUEST_IP: &str = "192.168.77.2";
/// Kernel command-line words giving the guest [`GUEST_IP`] statically.
pub const GUEST_IP_APPEND: &str = "ip=192.168.77.2::192.168.77.1:255.255.255.0::eth0:off";
/// The tap device's name inside the namespace.
pub const TAP: &str = "tap0";

/// A network namespace holding [`TAP`]; deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `rinet-<tag><pid>` with [`TAP`] up at [`HOST_IP`]/24 and loopback up.
    pub fn with_tap(tag: &str) -> Result<Netns, String> {
        let name = format!("rinet-{tag}{}", std::process::id());
        // A namespace left by a killed earlier run of the same pid would make `add` fail.
        let _ = run("ip", &["netns", "del", &name]);
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec(&["ip", "tuntap", "add", "dev", TAP, "mode", "tap"])?;
        ns.exec(&["ip", "addr", "add", &format!("{HOST_IP}/24"), "dev", TAP])?;
        ns.exec(&["ip", "link", "set", TAP, "up"])?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `cmd` inside the namespace; Err carries its output when it fails.
    pub fn exec(&self, cmd: &[&str]) -> Result<String, String> {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        run("ip", &args)
    }

    /// Runs the Python program `script` with `args` inside the namespace.
    pub fn python(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let mut cmd = vec!["python3", "-c", script];
        cmd.extend_from_slice(args);
        self.exec(&cmd)
    }

    /// Pins the guest's MAC in the host's neighbour table, so the host sends to the guest from
    /// the first moment (as a host with a static ARP entry, or one that saw the guest before,
    /// does) instead of waiting for the guest to answer ARP.
    pub fn pin_guest_mac(&self, mac: &str) -> Result<(), String> {
        self.exec(&[
            "ip",
            "neigh",
            "replace",
            GUEST_IP,
            "lladdr",
            mac,
            "dev",
            TAP,
            "nud",
            "permanent",
        ])
        .map(|_| ())
    }

    /// One of the tap's statistics counters (`rx_packets`, `tx_bytes`, ...).
    pub fn tap_stat(&self, what: &str) -> u64 {
        self.exec(&["cat", &format!("/sys/class/net/{TAP}/statistics/{what}")])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// Why this machine cannot host tap tests (they need root, iproute2, python3 and
/// /dev/net/tun), or Ok.
pub fn tap_support() -> Result<(), String> {
    if !is_root() {
        return Err("creating a network namespace and a tap device needs root".into());
    }
    for prog in ["ip", "python3"] {
        if !have(prog) {
            return Err(format!("'{prog}' not found (install iproute2 and python3)"));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing".into());
    }
    Ok(())
}

/// Whether we run as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs a command; Err carries its output when it fails.
pub fn run(prog: &str, args: &[&str]) -> Result<String, String> {
    let o = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(format!("{prog} {args:?} failed ({}): {text}", o.status))
    }
}
