//! `cargo run`: boots the rinet kernel in QEMU through qemu-run.sh.
fn main() {
    let status = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/qemu-run.sh"))
        .args(std::env::args_os().skip(1))
        .status()
        .expect("run qemu-run.sh");
    std::process::exit(status.code().unwrap_or(1));
}
