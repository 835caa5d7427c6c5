#!/usr/bin/env bash
# qemu-run.sh — boots the rinet unikernel in QEMU. The one place that knows QEMU's flags.
#
# Usage: ./qemu-run.sh [options] [-- extra QEMU arguments]
#   --machine microvm|q35|pc   machine type (default: microvm)
#   --net user|tap|stream-listen|stream-connect|relay|none
#                              network backend (default: user)
#   --port-base N              user net: host 127.0.0.1:N+7/N+9/N+19 (TCP and UDP) forward to the
#                              guest's echo/discard/chargen (default: 10000 → 10007, 10009, 10019)
#   --tap IFNAME               tap device for --net tap (default: tap0; must exist)
#   --stream ADDR:PORT         address for --net stream-listen / stream-connect (guest to guest)
#   --relay PORT               --net relay: the NIC's frames cross a userspace relay over UDP
#                              (src/bin/lossyrelay.rs, run with --guest PORT:PORT+1 --outer
#                              PORT+2:PORT+3): the NIC sends to 127.0.0.1:PORT and receives on
#                              PORT+1; the relay's far side is a socket netdev that sends to
#                              PORT+2 and receives on PORT+3, joined by a hub to the tap device
#                              --tap (which must exist). Default PORT: 10200.
#   --mac MAC                  NIC MAC address (default: 52:54:00:12:34:56)
#   --accel auto|kvm|tcg       accelerator (default: auto = KVM only if the CPU has vmx/svm
#                              and /dev/kvm is usable, else TCG)
#   --memory SIZE              guest memory (default: 128M)
#   --serial FILE              write the console to FILE instead of the terminal
#   --pcap FILE                capture the NIC's traffic to a pcap file
#   --initrd FILE|none         initramfs (cpio newc, plain or gzip) for the kernel to unpack as its
#                              root tree (default: target/rinet-initramfs.cpio, the programs of
#                              programs/ as /bin/NAME, which build.rs packs)
#   --append "WORDS"           kernel command line words (e.g. "init=selftest ip=dhcp")
#   --kernel PATH              kernel ELF (default: build it with cargo and use target/rinet-kernel)
#   --nic-legacy               virtio-net-pci with disable-modern=on (unsupported; shows the error)
#   --print                    print the QEMU command instead of running it
#
# Exit status: QEMU's. The kernel ends QEMU through isa-debug-exit: 33 = success, 35 = failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

machine=microvm
net=user
port_base=10000
tap=tap0
stream=127.0.0.1:10100
relay=10200
mac=52:54:00:12:34:56
accel=auto
memory=128M
serial=
pcap=
append=
kernel=
initrd=
nic_legacy=0
print=0
extra=()

die() { echo "qemu-run.sh: $*" >&2; exit 2; }
# An option that takes a value must have one (and not the next option instead).
need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --machine) need_value "$@"; machine=$2; shift 2 ;;
    --net) need_value "$@"; net=$2; shift 2 ;;
    --port-base) need_value "$@"; port_base=$2; shift 2 ;;
    --tap) need_value "$@"; tap=$2; shift 2 ;;
    --stream) need_value "$@"; stream=$2; shift 2 ;;
    --relay) need_value "$@"; relay=$2; shift 2 ;;
    --mac) need_value "$@"; mac=$2; shift 2 ;;
    --accel) need_value "$@"; accel=$2; shift 2 ;;
    --memory) need_value "$@"; memory=$2; shift 2 ;;
    --serial) need_value "$@"; serial=$2; shift 2 ;;
    --pcap) need_value "$@"; pcap=$2; shift 2 ;;
    --append) [ $# -ge 2 ] || die "--append needs a value"; append="$append $2"; shift 2 ;;
    --kernel) need_value "$@"; kernel=$2; shift 2 ;;
    --initrd) need_value "$@"; initrd=$2; shift 2 ;;
    --nic-legacy) nic_legacy=1; shift ;;
    --print) print=1; shift ;;
    --help|-h) sed -n '2,30p' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$machine" in microvm|q35|pc) ;; *) die "--machine must be microvm, q35 or pc, not '$machine'" ;; esac
case "$net" in user|tap|stream-listen|stream-connect|relay|none) ;;
  *) die "--net must be user, tap, stream-listen, stream-connect, relay or none, not '$net'" ;; esac
[[ "$port_base" =~ ^[0-9]+$ ]] && [ "$port_base" -ge 1 ] && [ "$port_base" -le 65516 ] ||
  die "--port-base must be a number from 1 to 65516, not '$port_base'"

# QEMU itself: install Debian's package when we can, else say which package is missing.
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "qemu-run.sh: installing qemu-system-x86 (Debian package) ..." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86; } >&2 ||
      die "qemu-system-x86_64 not found and apt-get install qemu-system-x86 failed: install it by hand"
  else
    die "qemu-system-x86_64 not found: install Debian's qemu-system-x86 package (sudo apt-get install qemu-system-x86)"
  fi
fi

# The kernel: build it (the root package's build.rs builds kernel/ for x86_64-unknown-none).
if [ -z "$kernel" ]; then
  [ -f "$here/target/rinet-kernel" ] ||
    echo "qemu-run.sh: building the kernel (the first build takes a minute or two) ..." >&2
  (cd "$here" && cargo build --quiet --package rinet) || die "building the kernel failed (cargo build --package rinet)"
  kernel="$here/target/rinet-kernel"
fi
[ -f "$kernel" ] || die "kernel ELF '$kernel' not found (run cargo build, or pass --kernel PATH)"

# Accelerator: a /dev/kvm without vmx/svm behind it is far slower than TCG, so look at the CPU.
has_kvm() { grep -qE '\b(vmx|svm)\b' /proc/cpuinfo 2>/dev/null && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
case "$accel" in
  auto) if has_kvm; then accel=kvm; else accel=tcg; fi ;;
  kvm) has_kvm || die "--accel kvm: this CPU or /dev/kvm offers no hardware virtualisation; use --accel tcg" ;;
  tcg) ;;
  *) die "--accel must be auto, kvm or tcg, not '$accel'" ;;
esac

args=(qemu-system-x86_64)
if [ "$machine" = microvm ]; then
  args+=(-M microvm)
  nicdev=virtio-net-device
else
  args+=(-M "$machine")
  nicdev=virtio-net-pci,romfile=
  [ "$nic_legacy" = 1 ] && nicdev="$nicdev,disable-modern=on"
fi
if [ "$accel" = kvm ]; then args+=(-accel kvm -cpu host); else args+=(-accel tcg -cpu max); fi
args+=(-m "$memory" -smp 1 -nodefaults -no-reboot -display none
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
  -kernel "$kernel")
append="${append# }"
[ -n "$append" ] && args+=(-append "$append")
# The default initramfs (build.rs: the programs of programs/ as /bin/NAME); --initrd none: none.
if [ -z "$initrd" ] && [ -f "$here/target/rinet-initramfs.cpio" ]; then
  initrd="$here/target/rinet-initramfs.cpio"
fi
[ "$initrd" = none ] && initrd=
if [ -n "$initrd" ]; then
  [ -f "$initrd" ] || die "--initrd: '$initrd' not found"
  args+=(-initrd "$initrd")
fi

if [ -n "$serial" ]; then
  args+=(-serial "file:$serial" -monitor none)
else
  args+=(-serial mon:stdio)
fi

case "$net" in
  user)
    fwd=""
    for svc in 7 9 19; do
      fwd="$fwd,hostfwd=tcp:127.0.0.1:$((port_base + svc))-:$svc,hostfwd=udp:127.0.0.1:$((port_base + svc))-:$svc"
    done
    args+=(-netdev "user,id=n0,ipv6=off,restrict=off$fwd") ;;
  # vnet_hdr=on: frames carry virtio-net headers through the tap, so the NIC offers checksum
  # and segmentation offloads (CSUM, HOST_TSO4) and the host kernel finishes the work.
  tap) args+=(-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off,vnet_hdr=on") ;;
  stream-listen|stream-connect)
    host=${stream%:*}; port=${stream##*:}
    server=off; [ "$net" = stream-listen ] && server=on
    args+=(-netdev "stream,id=n0,server=$server,addr.type=inet,addr.host=$host,addr.port=$port") ;;
  # No vnet_hdr: frames cross the relay as plain Ethernet, so the NIC offers no offloads.
  relay)
    args+=(-netdev "socket,id=n0,udp=127.0.0.1:$relay,localaddr=127.0.0.1:$((relay + 1))"
      -netdev "socket,id=r0,udp=127.0.0.1:$((relay + 2)),localaddr=127.0.0.1:$((relay + 3))"
      -netdev "hubport,id=rh0,hubid=1,netdev=r0"
      -netdev "tap,id=rt0,ifname=$tap,script=no,downscript=no,vhost=off"
      -netdev "hubport,id=rh1,hubid=1,netdev=rt0") ;;
  none) ;;
esac
if [ "$net" != none ]; then
  args+=(-device "$nicdev,netdev=n0,mac=$mac")
  [ -n "$pcap" ] && args+=(-object "filter-dump,id=dump0,netdev=n0,file=$pcap")
fi
args+=("${extra[@]}")

if [ "$print" = 1 ]; then printf '%q ' "${args[@]}"; echo; exit 0; fi
exec "${args[@]}"
