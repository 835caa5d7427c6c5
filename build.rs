//! Builds the kernel ELF (kernel/, its own cargo workspace) for `x86_64-unknown-none` and hands
//! its path to the host-side harness as `RINET_KERNEL`; also copies it to `target/rinet-kernel`,
//! the path qemu-run.sh boots by default. Builds the programs (programs/, its own workspace of
//! std programs) for `x86_64-unknown-linux-musl` and hands their directory over as
//! `RINET_PROGRAMS`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "src/initramfs.rs"]
mod initramfs;

const KERNEL_TARGET: &str = "x86_64-unknown-none";
const PROGRAMS_TARGET: &str = "x86_64-unknown-linux-musl";

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for watched in [
        "kernel/src",
        "kernel/Cargo.toml",
        "kernel/build.rs",
        "kernel/linker.ld",
        "drivers",
        "net/src",
        "net/Cargo.toml",
        "vfs/src",
        "uapi/src",
        "uapi/Cargo.toml",
        "vfs/Cargo.toml",
        ".cargo/config.toml",
        "programs/Cargo.toml",
        "programs/services",
        "programs/echo-client",
        "programs/progkit",
        "programs/selftest",
        "programs/socket-test",
        "programs/syscall-bench",
        "programs/user-test",
        "programs/epoll-test",
        "programs/tokio-echo",
        "programs/hostile-test",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=RINET_KERNEL_PROFILE");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target_installed(KERNEL_TARGET);
    ensure_target_installed(PROGRAMS_TARGET);

    let target_dir = root.join("target").join("kernel");
    let profile = env::var("RINET_KERNEL_PROFILE").unwrap_or_else(|_| "release".into());
    let mut cmd = inner_cargo(&cargo, &root);
    cmd.args([
        "build",
        "--manifest-path",
        "kernel/Cargo.toml",
        "--target",
        KERNEL_TARGET,
    ])
    .arg("--profile")
    .arg(&profile)
    .arg("--target-dir")
    .arg(&target_dir);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run {cargo}: {e}"));
    if !status.success() {
        panic!("building the kernel for {KERNEL_TARGET} failed (see the errors above)");
    }
    let dir = if profile == "dev" {
        "debug"
    } else {
        profile.as_str()
    };
    let elf = target_dir.join(KERNEL_TARGET).join(dir).join("kernel");
    let stable = root.join("target").join("rinet-kernel");
    std::fs::copy(&elf, &stable)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", elf.display(), stable.display()));
    println!("cargo:rustc-env=RINET_KERNEL={}", stable.display());

    let programs_dir = root.join("target").join("programs");
    let status = inner_cargo(&cargo, &root)
        .args([
            "build",
            "--release",
            "--manifest-path",
            "programs/Cargo.toml",
            "--target",
            PROGRAMS_TARGET,
        ])
        .arg("--target-dir")
        .arg(&programs_dir)
        .status()
        .unwrap_or_else(|e| panic!("could not run {cargo}: {e}"));
    if !status.success() {
        panic!("building the programs for {PROGRAMS_TARGET} failed (see the errors above)");
    }
    let built = programs_dir.join(PROGRAMS_TARGET).join("release");
    println!("cargo:rustc-env=RINET_PROGRAMS={}", built.display());
    let image = root.join("target").join("rinet-initramfs.cpio");
    write_default_initramfs(&built, &image);
    println!("cargo:rustc-env=RINET_INITRAMFS={}", image.display());
}

/// The default initramfs: every program of `programs/` as `/bin/NAME`, and the directories a
/// Linux program expects (`/tmp`, `/etc`, `/dev`). qemu-run.sh and the tests boot it unless
/// given another; `init=NAME` runs `/bin/NAME` from it.
fn write_default_initramfs(built: &Path, image: &Path) {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(built).expect("list the built programs") {
        let path = entry.expect("list the built programs").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let is_program = path.is_file()
            && !name.contains('.')
            && std::fs::metadata(&path)
                .map(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
                .unwrap_or(false);
        if is_program {
            names.push(name);
        }
    }
    names.sort();
    let bytes: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let data = std::fs::read(built.join(n)).expect("read a built program");
            (format!("bin/{n}"), data)
        })
        .collect();
    let mut members = vec![
        initramfs::Member::Dir("bin"),
        initramfs::Member::Dir("etc"),
        initramfs::Member::Dir("dev"),
        initramfs::Member::Dir("tmp"),
    ];
    for (name, data) in &bytes {
        members.push(initramfs::Member::File(name, 0o755, data));
    }
    std::fs::write(image, initramfs::newc(&members))
        .unwrap_or_else(|e| panic!("write {}: {e}", image.display()));
}

/// A cargo for an inner build, without the outer build's flags and wrappers (they are for the
/// host; the kernel takes its own from .cargo/config.toml; clippy sets
/// RUSTC_WORKSPACE_WRAPPER, which must not lint the inner builds here).
fn inner_cargo(cargo: &str, root: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// rustup installs the targets listed in rust-toolchain.toml with a new toolchain, but not
/// always for one that was already there: add `target` if its library is missing.
fn ensure_target_installed(target: &str) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok());
    let Some(sysroot) = sysroot else { return };
    let lib = Path::new(sysroot.trim()).join("lib/rustlib").join(target);
    if lib.exists() {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", target]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        _ => panic!("the {target} target is not installed: run `rustup target add {target}`"),
    }
}
