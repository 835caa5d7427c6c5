#!/bin/sh
# Boot-level checks of the kernel on microvm, q35 and pc under TCG: each case boots QEMU with a
# command line and asserts the exit status (33 success / 35 failure via isa-debug-exit) and a
# line the console must show. Usage: kernel/check.sh [path-to-kernel-elf] (default: debug build).
set -u
cd "$(dirname "$0")" || exit 1
KERNEL=${1:-target/x86_64-unknown-none/debug/kernel}
[ -n "${1:-}" ] || cargo build --quiet --target x86_64-unknown-none || exit 1
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
pass=0
fail=0

# check MACHINE "APPEND" EXPECTED_STATUS "REQUIRED CONSOLE TEXT" ["FORBIDDEN CONSOLE TEXT"]
check() {
    timeout 60 qemu-system-x86_64 -M "$1" -m 64M -nographic -no-reboot -kernel "$KERNEL" \
        -append "$2" -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$OUT" 2>&1
    status=$?
    if [ "$status" -eq "$3" ] && tr -d '\r' <"$OUT" | grep -qF -- "$4" &&
        { [ -z "${5:-}" ] || ! grep -qF -- "$5" "$OUT"; }; then
        pass=$((pass + 1))
        echo "ok   $1 '$2' -> $status"
    else
        fail=$((fail + 1))
        echo "FAIL $1 '$2' -> $status (want $3 and '$4'${5:+, not '$5'}); console tail:"
        tr -d '\r' <"$OUT" | tail -15 | sed 's/^/     /'
    fi
}

for m in microvm q35 pc; do
    check $m "init=boot-test" 33 "rinet: boot-test ok"
    check $m "init=boot-test quiet" 33 "rinet: boot-test ok" "apic: LAPIC"
    check $m "init=boot-test loglevel=7" 33 "exit: stack high water"
    check $m "init=kernel-test" 33 "rinet: kernel-test ok"
    check $m "init=crash-test" 35 "CR2 0x00007fffdead0000"
    check $m "init=crash-test -- stack-overflow" 35 "kernel stack overflow"
    check $m "init=crash-test -- panic" 35 "rinet: PANIC at"
    check $m "ip=garbage" 35 "malformed ip= parameter"
    check $m "nameserver=1.2.3" 35 "malformed nameserver= parameter"
    check $m "init=no-such-program" 35 "valid programs: services, boot-test"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
