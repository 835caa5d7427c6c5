//! Writing initramfs images for the guest (cpio "newc", the format Linux and rinet unpack):
//! the tests pack files into one and boot it with `-initrd`. [`Image`] gathers host files (a
//! program with the libraries `ldd` names for it) at absolute guest paths.

use std::path::{Path, PathBuf};

/// One archive member.
pub enum Member<'a> {
    Dir(&'a str),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, size: usize) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        size as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A directory's mode: `/tmp` is sticky and writable by all (1777), any other 0755.
fn dir_mode(name: &str) -> u32 {
    if name == "tmp" {
        0o041777
    } else {
        0o040755
    }
}

/// A newc archive of `members` (paths without a leading `/`), ended by the trailer.
pub fn newc(members: &[Member<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let ino = i as u32 + 1;
        match m {
            // /tmp as on every Linux system: writable by all, sticky.
            Member::Dir(name) => header(&mut out, ino, dir_mode(name), name, 0),
            Member::File(name, perm, data) => {
                header(&mut out, ino, 0o100000 | perm, name, data.len());
                out.extend_from_slice(data);
                pad4(&mut out);
            }
            Member::Symlink(name, target) => {
                header(&mut out, ino, 0o120777, name, target.len());
                out.extend_from_slice(target.as_bytes());
                pad4(&mut out);
            }
        }
    }
    header(&mut out, 0, 0, "TRAILER!!!", 0);
    out
}

/// An initramfs assembled from host files, for running ordinary Linux programs in the guest:
/// files at absolute guest paths, the directories leading to them made on the way (`/tmp`
/// sticky and writable by all, as the kernel makes it). A later file at the same path replaces
/// the earlier one.
#[derive(Debug, Default, Clone)]
pub struct Image {
    files: std::collections::BTreeMap<String, (u32, Vec<u8>)>,
}

impl Image {
    pub fn new() -> Image {
        Image::default()
    }

    /// `data` as the file `guest` (an absolute path) with permission bits `perm`.
    pub fn file(&mut self, guest: &str, perm: u32, data: impl Into<Vec<u8>>) -> &mut Image {
        let name = guest.trim_start_matches('/');
        assert!(
            guest.starts_with('/')
                && !name.is_empty()
                && !name
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == ".."),
            "guest path {guest:?} must be absolute and plain"
        );
        self.files
            .insert(name.to_string(), (perm & 0o7777, data.into()));
        self
    }

    /// The host file `host` (symlinks followed) as `guest`, keeping its permission bits.
    pub fn host_file(&mut self, host: &Path, guest: &str) -> Result<&mut Image, String> {
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(host).map_err(|e| format!("read {}: {e}", host.display()))?;
        let perm = std::fs::metadata(host)
            .map_err(|e| format!("stat {}: {e}", host.display()))?
            .permissions()
            .mode();
        Ok(self.file(guest, perm, data))
    }

    /// The program `host` as `guest`, with the interpreter and libraries `ldd` names for it
    /// (at the paths ldd names them by) when it is dynamically linked.
    pub fn program(&mut self, host: &Path, guest: &str) -> Result<&mut Image, String> {
        for lib in ldd_libraries(host)? {
            let at = lib
                .to_str()
                .ok_or_else(|| format!("{}: not UTF-8", lib.display()))?;
            self.host_file(&lib, at)?;
        }
        self.host_file(host, guest)
    }

    /// The newc archive: every directory before what it holds, then the trailer.
    pub fn to_newc(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        let mut ino = 0u32;
        for (name, (perm, data)) in &self.files {
            let mut at = 0;
            while let Some(slash) = name[at..].find('/') {
                let dir = &name[..at + slash];
                if dirs.insert(dir.to_string()) {
                    ino += 1;
                    header(&mut out, ino, dir_mode(dir), dir, 0);
                }
                at += slash + 1;
            }
            ino += 1;
            header(&mut out, ino, 0o100000 | perm, name, data.len());
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        header(&mut out, 0, 0, "TRAILER!!!", 0);
        out
    }

    /// Writes the archive to `path`.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_newc())
    }
}

/// The interpreter and libraries `ldd` names for `program` (empty for a static binary), in
/// ldd's order; an error when ldd cannot find one of them or cannot run.
pub fn ldd_libraries(program: &Path) -> Result<Vec<PathBuf>, String> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| format!("cannot run ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if text.contains("statically linked")
        || err.contains("not a dynamic executable")
        || text.contains("not a dynamic executable")
    {
        return Ok(Vec::new());
    }
    if !out.status.success() || text.contains("not found") {
        return Err(format!("ldd {}: {text}{err}", program.display()));
    }
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)";
    // the vDSO ("linux-vdso.so.1 (0x...)") has no path and is skipped.
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.rsplit_once(" => ").map_or(line, |(_, p)| p);
            let path = path.split(" (0x").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}
