//! The kernel command line (`-append`) as a `BootConfig` the rest of the kernel reads.
//!
//! Words: `init=NAME` (`/bin/NAME` or a kernel self-test, default `services`; `init=/path`
//! runs that file), `strace`, `loglevel=N`, `quiet`, `nosmep`, `nosmap`,
//! `nicstats[=MS]` (the NIC's counters at exit, and periodically),
//! `ip=...` and `nameserver=a.b.c.d` (network configuration), everything after `--` is the
//! program's arguments. Words the NIC code reads from the raw line (`virtio_mmio.device=`) and
//! the Linux words QEMU or users add (`console=`, `reboot=`, `panic=`, `pci=`, `earlyprintk=`
//! ...) are accepted silently; any other word is logged once and ignored.
//! Owns parsing only; never allocates (it runs before the heap).

use core::fmt;
use core::net::Ipv4Addr;

use net::config::{parse_ip_param, IpConfig, IpParamError};
use spin::Once;

/// Program arguments kept after `--`.
pub const MAX_ARGS: usize = 32;
/// The program run when no `init=` is given.
pub const DEFAULT_INIT: &str = "services";

/// Linux words QEMU (or habit) puts on a command line; accepted without comment. Prefix
/// match for `key=` forms.
const ACCEPTED_SILENTLY: &[&str] = &[
    "virtio_mmio.device=",
    "console=",
    "reboot=",
    "panic=",
    "pci=",
    "earlyprintk=",
    "acpi=",
    "root=",
    "rootfstype=",
    "ro",
    "rw",
    "noapic",
    "nokaslr",
    "tsc=",
    "i8042.",
];

#[derive(Debug, Clone)]
pub struct BootConfig {
    /// The program to run (`init=`): an ELF file of the root file system or a kernel self-test.
    pub init: &'static str,
    args: [&'static str; MAX_ARGS],
    nargs: usize,
    /// Interface configuration (`ip=`, default DHCP).
    pub ip: IpConfig,
    /// DNS server (`nameserver=`).
    pub nameserver: Option<Ipv4Addr>,
    /// Linux console log level if `loglevel=`/`quiet` was given (last one wins).
    pub loglevel: Option<u8>,
    /// `nicstats`: print the NIC's counters when the kernel exits; `nicstats=MS`: also every
    /// MS milliseconds (a diagnostic for a NIC that stops answering).
    pub nicstats: NicStats,
    /// `strace`: print every system call of every program with its arguments and result.
    pub strace: bool,
    /// `nosmep` / `nosmap`: leave SMEP / SMAP off even where the CPU has them (as Linux's
    /// words of the same names; to measure what they cost).
    pub nosmep: bool,
    pub nosmap: bool,
    /// The whole command line, for the NIC (`virtio_mmio.device=`).
    pub raw: &'static str,
}

/// When the NIC's counters are printed (`nicstats`, `nicstats=MS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NicStats {
    #[default]
    Off,
    AtExit,
    /// At exit and every this many milliseconds.
    Every(u32),
}

impl BootConfig {
    /// Arguments after `--`.
    pub fn args(&self) -> &[&'static str] {
        &self.args[..self.nargs]
    }
}

/// Why the command line was rejected; `Display` is a one-line message naming the fix.
#[derive(Debug, Clone)]
pub enum CmdlineError {
    /// The value given and what is wrong with it.
    Ip(&'static str, IpParamError),
    Nameserver(&'static str),
    TooManyArgs,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::Ip(v, e) => write!(f, "ip={v}: {e}"),
            CmdlineError::Nameserver(v) => write!(
                f,
                "malformed nameserver= parameter '{v}': not a dotted-quad IPv4 address; \
                 use nameserver=<a.b.c.d> (e.g. nameserver=10.0.2.3)"
            ),
            CmdlineError::TooManyArgs => write!(
                f,
                "too many program arguments after '--' (at most {MAX_ARGS})"
            ),
        }
    }
}

/// Parse `raw`. Unknown words are logged (warn) and ignored.
pub fn parse(raw: &'static str) -> Result<BootConfig, CmdlineError> {
    let mut cfg = BootConfig {
        init: DEFAULT_INIT,
        args: [""; MAX_ARGS],
        nargs: 0,
        ip: IpConfig::default(),
        nameserver: None,
        loglevel: None,
        nicstats: NicStats::Off,
        strace: false,
        nosmep: false,
        nosmap: false,
        raw,
    };
    let mut words = raw.split_ascii_whitespace();
    for word in words.by_ref() {
        if word == "--" {
            break;
        }
        if let Some(v) = word.strip_prefix("init=") {
            cfg.init = v;
        } else if let Some(v) = word.strip_prefix("ip=") {
            cfg.ip = parse_ip_param(v).map_err(|e| CmdlineError::Ip(v, e))?;
        } else if let Some(v) = word.strip_prefix("nameserver=") {
            cfg.nameserver = Some(v.parse().map_err(|_| CmdlineError::Nameserver(v))?);
        } else if let Some(v) = word.strip_prefix("loglevel=") {
            match v.parse::<u8>() {
                Ok(n) => cfg.loglevel = Some(n),
                Err(_) => log::warn!("cmdline: ignoring loglevel={v} (expected 0-7)"),
            }
        } else if word == "quiet" {
            cfg.loglevel = Some(4);
        } else if word == "strace" {
            cfg.strace = true;
        } else if word == "nosmep" {
            cfg.nosmep = true;
        } else if word == "nosmap" {
            cfg.nosmap = true;
        } else if word == "nicstats" {
            cfg.nicstats = NicStats::AtExit;
        } else if let Some(v) = word.strip_prefix("nicstats=") {
            match v.parse::<u32>() {
                Ok(ms) if ms > 0 => cfg.nicstats = NicStats::Every(ms),
                _ => log::warn!("cmdline: ignoring nicstats={v} (expected milliseconds > 0)"),
            }
        } else if !ACCEPTED_SILENTLY
            .iter()
            .any(|k| word == *k || (k.ends_with(['=', '.']) && word.starts_with(k)))
        {
            log::warn!("cmdline: unknown parameter '{word}' ignored");
        }
    }
    for arg in words {
        if cfg.nargs == MAX_ARGS {
            return Err(CmdlineError::TooManyArgs);
        }
        cfg.args[cfg.nargs] = arg;
        cfg.nargs += 1;
    }
    Ok(cfg)
}

static CONFIG: Once<BootConfig> = Once::new();

/// Keep `cfg` as the boot configuration.
pub fn set(cfg: BootConfig) -> &'static BootConfig {
    CONFIG.call_once(|| cfg)
}

/// The boot configuration (after kmain parsed the command line).
pub fn boot_config() -> Option<&'static BootConfig> {
    CONFIG.get()
}
