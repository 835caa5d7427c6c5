//! Boot integration tests under TCG: the verdict is QEMU's exit status (33 success, 35 failure).

use std::time::Duration;

use rinet::{
    on_every_machine, Guest, Machine, Net, EXIT_FAILURE, EXIT_SUCCESS, MARK_KERNEL_ENTRY,
    MARK_NIC_UP,
};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

fn boot_test(machine: Machine) {
    let out = Guest::new(machine)
        .append("init=boot-test")
        .run(BOOT_TIMEOUT);
    out.assert_exit(EXIT_SUCCESS);
    out.assert_console_contains(MARK_KERNEL_ENTRY);
    out.assert_console_contains("rinet: boot-test ok");
}

on_every_machine! {
    fn boots(machine) {
        boot_test(machine);
    }
}

on_every_machine! {
    fn deliberate_fault_is_reported_and_fails(machine) {
        let out = Guest::new(machine)
            .append("init=crash-test")
            .run(BOOT_TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("page fault");
        out.assert_console_contains("CR2");
        out.assert_console_contains("RIP");
    }
}

on_every_machine! {
    fn malformed_ip_parameter_is_rejected(machine) {
        let out = Guest::new(machine)
            .append("ip=10.0.2.300::10.0.2.2:255.255.255.0::eth0:off")
            .run(BOOT_TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("malformed ip= parameter");
    }
}

on_every_machine! {
    fn unknown_program_is_rejected(machine) {
        let out = Guest::new(machine)
            .append("init=no-such-program")
            .run(BOOT_TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("no-such-program");
    }
}

on_every_machine! {
    fn user_test_passes_in_ring_3(machine) {
        let out = Guest::new(machine)
            .net(Net::None)
            .append("init=user-test")
            .run(BOOT_TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("user-test: hello from ring 3");
        out.assert_console_contains("user-test: sched_yield interleaves threads ok");
        out.assert_console_contains("user-test: a ring-3 busy loop is preempted ok");
        out.assert_console_contains("user-test: CPU-time clocks ok");
        out.assert_console_contains("user-test: bad pointers are EFAULT ok");
        out.assert_console_contains(
            "user-test: a file under /tmp: create, write, read back, list, rename, cwd, unlink ok",
        );
        out.assert_console_contains("user-test: pipe round trip and dup2 ok");
        out.assert_console_contains("unknown syscall 999: ENOSYS");
        out.assert_console_contains("program crash-user killed: page fault at RIP");
        out.assert_console_contains("CR2 0x7fffdead0000");
        out.assert_console_contains("program crash-user-gp killed: general protection fault");
        out.assert_console_contains("program crash-user-stack killed: page fault");
        out.assert_console_contains("exit-group-user ended with status 7");
        out.assert_console_contains("checks passed");
        out.assert_console_contains("rinet: program user-test succeeded");
        assert!(
            !out.console.contains("FAIL"),
            "a user-test check failed:\n{}",
            out.console
        );
    }
}

/// Boot user-test with the extra command-line `words` and QEMU `qemu_args`, and check that it
/// passed with its user copies working (bad pointers EFAULT, a pipe round trip, preemption)
/// and that the kernel reported SMEP and SMAP as `paging_line` says.
fn user_test_with_smep_smap(machine: Machine, words: &str, qemu_args: &[&str], paging_line: &str) {
    let out = Guest::new(machine)
        .net(Net::None)
        .append(&format!("init=user-test {words}"))
        .qemu_args(qemu_args)
        .run(BOOT_TIMEOUT);
    out.assert_exit(EXIT_SUCCESS);
    out.assert_console_contains(paging_line);
    out.assert_console_contains("user-test: bad pointers are EFAULT ok");
    out.assert_console_contains("user-test: pipe round trip and dup2 ok");
    out.assert_console_contains("user-test: a ring-3 busy loop is preempted ok");
    out.assert_console_contains("rinet: program user-test succeeded");
}

on_every_machine! {
    // SMEP and SMAP are on from the kernel's first instruction; `nosmep nosmap` turns them off
    // again, and the user copies (which then skip stac/clac) still reach the program's memory.
    fn smep_and_smap_can_be_refused_on_the_command_line(machine) {
        user_test_with_smep_smap(
            machine,
            "nosmep nosmap",
            &[],
            "paging: SMEP off (command line), SMAP off (command line)",
        );
    }
}

on_every_machine! {
    // A CPU without SMEP, SMAP and UMIP (QEMU's `qemu64` model, like an older KVM host's):
    // the copy routine and the interrupt entry skip stac/clac (which would be #UD there), and
    // bad user pointers are still EFAULT.
    fn a_cpu_without_smep_or_smap_runs_programs(machine) {
        user_test_with_smep_smap(
            machine,
            "",
            &["-cpu", "qemu64"],
            "paging: SMEP off (CPU lacks it), SMAP off (CPU lacks it)",
        );
    }
}

on_every_machine! {
    fn ring_3_fault_kills_the_program_not_the_kernel(machine) {
        let out = Guest::new(machine)
            .net(Net::None)
            .append("init=crash-test -- user")
            .run(BOOT_TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("program crash-user killed: page fault at RIP");
        out.assert_console_contains("program crash-user exited with status 139");
        assert!(
            !out.console.contains("rinet: EXCEPTION"),
            "a ring-3 fault was reported as a kernel exception:\n{}",
            out.console
        );
    }
}

fn selftest_link(machine: Machine, mac: &str, expected: &str) -> rinet::Outcome {
    Guest::new(machine)
        .net(Net::User {
            port_base: rinet::free_port_base(),
        })
        .mac(mac)
        .append(&format!("init=selftest-link -- {expected}"))
        .run(BOOT_TIMEOUT)
}

on_every_machine! {
    fn link_selftest(machine) {
        let out = selftest_link(machine, "52:54:00:ab:cd:01", "52:54:00:ab:cd:01");
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains(MARK_NIC_UP);
        out.assert_console_contains("10.0.2.2 is at");
    }
}

on_every_machine! {
    fn link_selftest_fails_on_a_wrong_mac(machine) {
        let out = selftest_link(machine, "52:54:00:ab:cd:04", "52:54:00:00:00:99");
        out.assert_exit(EXIT_FAILURE);
    }
}

/// Unpacks `image` as the guest's initramfs; returns the console.
fn boot_with_initrd(machine: Machine, tag: &str, image: &[u8]) -> rinet::Outcome {
    let path = std::env::temp_dir().join(format!(
        "rinet-initrd-{tag}-{}-{}.cpio",
        machine.name(),
        std::process::id()
    ));
    std::fs::write(&path, image).unwrap();
    let out = Guest::new(machine)
        .initrd(&path)
        .append("init=boot-test")
        .run(BOOT_TIMEOUT);
    let _ = std::fs::remove_file(&path);
    out
}

on_every_machine! {
    /// QEMU's `-initrd` becomes the root tree: a plain and a gzip-compressed newc archive
    /// unpack with their files, directories and symlinks counted; a corrupt one is reported
    /// and does not stop the boot.
    fn initramfs_is_unpacked_at_boot(machine) {
        use rinet::initramfs::{newc, Member};
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let image = newc(&[
            Member::Dir("bin"),
            Member::Dir("etc"),
            Member::File("bin/hello", 0o755, &big),
            Member::File("etc/motd", 0o644, b"hello from the initramfs\n"),
            Member::Symlink("lib", "usr/lib"),
        ]);
        let out = boot_with_initrd(machine, "plain", &image);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("rinet: initramfs 2 files, 2 directories, 1 symlinks, 0 skipped");

        let gz = std::process::Command::new("gzip")
            .args(["-n", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&image)?;
                c.wait_with_output()
            })
            .expect("gzip");
        assert!(gz.stdout.len() < image.len() / 2, "compressed");
        let out = boot_with_initrd(machine, "gzip", &gz.stdout);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("rinet: initramfs 2 files, 2 directories, 1 symlinks, 0 skipped");

        let mut corrupt = image.clone();
        corrupt[200..260].fill(b'z');
        let out = boot_with_initrd(machine, "corrupt", &corrupt);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("initramfs: ");
        out.assert_console_contains("rinet: boot-test ok");
    }
}

/// A legacy-only virtio-net is a PCI device (`disable-modern=on`): q35 and pc only; microvm's
/// virtio-mmio transport has no such variant.
fn legacy_only_virtio_pci_gets_a_clear_error(machine: Machine) {
    let out = Guest::new(machine)
        .net(Net::User {
            port_base: rinet::free_port_base(),
        })
        .nic_legacy()
        .append("init=selftest-link -- 52:54:00:12:34:56")
        .run(BOOT_TIMEOUT);
    out.assert_exit(EXIT_FAILURE);
    out.assert_console_contains("disable-modern");
}

#[test]
fn legacy_only_virtio_pci_gets_a_clear_error_on_q35() {
    legacy_only_virtio_pci_gets_a_clear_error(Machine::Q35);
}

#[test]
fn legacy_only_virtio_pci_gets_a_clear_error_on_pc() {
    legacy_only_virtio_pci_gets_a_clear_error(Machine::Pc);
}

/// Boot-level cases on every machine type: command line, exit status, a console line that must
/// appear and one that must not.
#[test]
fn kernel_cases_on_every_machine() {
    let cases: &[(&str, i32, &str, Option<&str>)] = &[
        (
            "init=boot-test quiet",
            EXIT_SUCCESS,
            "rinet: boot-test ok",
            Some("apic: LAPIC"),
        ),
        (
            "init=boot-test loglevel=7",
            EXIT_SUCCESS,
            "exit: stack high water",
            None,
        ),
        (
            "init=kernel-test",
            EXIT_SUCCESS,
            "rinet: kernel-test ok",
            None,
        ),
        (
            "init=crash-test",
            EXIT_FAILURE,
            "CR2 0x00007fffdead0000",
            None,
        ),
        (
            "init=crash-test -- thread-stack-overflow",
            EXIT_FAILURE,
            "kernel stack overflow (thread stack guard page)",
            None,
        ),
        (
            "init=user-test",
            EXIT_SUCCESS,
            "rinet: program user-test succeeded",
            Some("FAIL"),
        ),
        (
            "init=crash-test -- user",
            EXIT_FAILURE,
            "program crash-user killed: page fault",
            Some("rinet: EXCEPTION"),
        ),
        (
            "init=crash-test -- stack-overflow",
            EXIT_FAILURE,
            "kernel stack overflow",
            None,
        ),
        (
            "init=crash-test -- panic",
            EXIT_FAILURE,
            "rinet: PANIC at",
            None,
        ),
        ("ip=garbage", EXIT_FAILURE, "malformed ip= parameter", None),
        (
            "nameserver=1.2.3",
            EXIT_FAILURE,
            "malformed nameserver= parameter",
            None,
        ),
    ];
    for machine in Machine::ALL {
        for (append, status, must, must_not) in cases {
            let out = Guest::new(machine)
                .memory("64M")
                .append(append)
                .run(BOOT_TIMEOUT);
            out.assert_exit(*status);
            out.assert_console_contains(must);
            if let Some(forbidden) = must_not {
                assert!(
                    !out.console.contains(forbidden),
                    "{} {append}: console shows {forbidden:?}",
                    machine.name()
                );
            }
        }
    }
}

/// The guest time stamped on a console line (`[    1.234567] ...`), in seconds.
fn guest_stamp(line: &str) -> Option<f64> {
    let inner = line.trim_start().strip_prefix('[')?.split(']').next()?;
    inner.trim().parse().ok()
}

on_every_machine! {
    /// The kernel's clock keeps the host's pace (the TSC and the LAPIC timer are calibrated
    /// right): `services 2` sleeps 2 s by the guest's clock and exits; between the kernel's
    /// first line and the kernel's report of the exit, the guest's own time stamps and the
    /// host's arrival times agree within a fifth. A calibration off by a PIT wrap (a factor of
    /// 2 or more) fails this.
    fn guest_clock_keeps_the_hosts_pace(machine) {
        let mut running = Guest::new(machine)
            .net(Net::None)
            .append("init=services quiet -- 2")
            .spawn();
        let end = "rinet: program services succeeded";
        let seen = running.wait_for(end, BOOT_TIMEOUT);
        let entry = running.lines_with(MARK_KERNEL_ENTRY);
        let exit = running.lines_with(end);
        let out = running.wait(BOOT_TIMEOUT);
        assert!(seen.is_some(), "no '{end}':\n{}", out.console);
        out.assert_exit(EXIT_SUCCESS);
        let (host_entry, entry_line) = &entry[0];
        let (host_exit, exit_line) = &exit[0];
        let guest = guest_stamp(exit_line).unwrap() - guest_stamp(entry_line).unwrap();
        let host = (*host_exit - *host_entry).as_secs_f64();
        assert!(guest >= 2.0, "the program slept 2 s, yet the guest's clock says {guest:.3} s");
        let ratio = host / guest;
        assert!(
            (0.8..1.25).contains(&ratio),
            "guest clock {guest:.3} s, host clock {host:.3} s (ratio {ratio:.3}):\n{}",
            out.console
        );
    }
}
