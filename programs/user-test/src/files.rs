//! Files and pipes behind the same descriptors as sockets: a file under /tmp created,
//! written, read back, listed, renamed and removed through std (openat, write, lseek, read,
//! getdents64, renameat, unlinkat, chdir/getcwd), and a pipe round trip with dup2.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use progkit::CheckResult;

fn err(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

pub fn tmp_file() -> CheckResult {
    let dir = std::env::temp_dir().join(format!("user-test-{}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| err("mkdir", e))?;
    let a = dir.join("a.txt");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    {
        let mut f = fs::File::create(&a).map_err(|e| err("create", e))?;
        f.write_all(&data).map_err(|e| err("write", e))?;
        f.seek(SeekFrom::Start(0)).map_err(|e| err("lseek", e))?;
    }
    let back = fs::read(&a).map_err(|e| err("read back", e))?;
    if back != data {
        return Err(format!(
            "read back {} bytes, not the {} written",
            back.len(),
            data.len()
        ));
    }
    let names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| err("read_dir", e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if names != ["a.txt"] {
        return Err(format!("directory lists {names:?}, want [\"a.txt\"]"));
    }
    let b = dir.join("b.txt");
    fs::rename(&a, &b).map_err(|e| err("rename", e))?;
    if a.exists() || fs::metadata(&b).map(|m| m.len()).ok() != Some(data.len() as u64) {
        return Err("after rename the old name exists or the new one has the wrong size".into());
    }
    let before = std::env::current_dir().map_err(|e| err("getcwd", e))?;
    std::env::set_current_dir(&dir).map_err(|e| err("chdir", e))?;
    let rel = fs::read("b.txt").map_err(|e| err("relative open", e))?;
    std::env::set_current_dir(&before).map_err(|e| err("chdir back", e))?;
    if rel != data {
        return Err("a relative open from the working directory read other bytes".into());
    }
    fs::remove_file(&b).map_err(|e| err("unlink", e))?;
    match fs::metadata(&b) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return Err(format!("after unlink, stat gives {other:?}")),
    }
    fs::remove_dir(&dir).map_err(|e| err("rmdir", e))?;
    Ok(())
}

pub fn pipe_and_dup2() -> CheckResult {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two descriptors; they are ours alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: dup2 of a descriptor we own onto a free high number.
    let high = unsafe { libc::dup2(w.as_raw_fd(), 100) };
    if high != 100 {
        return Err(format!("dup2 returned {high}"));
    }
    // SAFETY: dup2 made fd 100; it is ours now.
    let mut w2 = fs::File::from(unsafe { OwnedFd::from_raw_fd(100) });
    drop(w);
    w2.write_all(b"through the pipe")
        .map_err(|e| err("write", e))?;
    drop(w2);
    let mut got = Vec::new();
    fs::File::from(r)
        .read_to_end(&mut got)
        .map_err(|e| err("read", e))?;
    if got != b"through the pipe" {
        return Err(format!("pipe gave {got:?}"));
    }
    Ok(())
}
