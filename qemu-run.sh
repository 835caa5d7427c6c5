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
# Running your own program (see README "Run your own program"):
#   --run 'PROGRAM [ARGS...]'  pack PROGRAM (a host path, or a name found on PATH) into an
#                              initramfs at its absolute path, with the interpreter and
#                              libraries `ldd` names when it is dynamically linked, and boot it
#                              as init: init=/abs/path -- ARGS. The initramfs (the default
#                              one, or --initrd's) comes first; the packed files replace its.
#                              ARGS are split as the shell would (quotes work); the kernel
#                              command line cannot carry an argument with spaces in it.
#   --add SRC:DEST             with --run: also pack the host file SRC as DEST (absolute path
#                              in the guest; repeatable), e.g. --add ./page.html:/srv/index.html
#   --hostfwd PROTO:HOSTPORT:GUESTPORT
#                              user net: forward 127.0.0.1:HOSTPORT on the host to GUESTPORT in
#                              the guest; PROTO is tcp or udp (repeatable), e.g. tcp:8080:80
#   --keep-initramfs FILE      with --run: write the packed initramfs to FILE and keep it
#
# Exit status: QEMU's. The kernel ends QEMU through isa-debug-exit: 33 = success, 35 = failure.
# With --run, the program's exit status 0 gives 33, any other status 35 (the kernel prints it).
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
run=
adds=()
hostfwds=()
keep_initramfs=
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
    --run) need_value "$@"; run=$2; shift 2 ;;
    --add) need_value "$@"; adds+=("$2"); shift 2 ;;
    --hostfwd) need_value "$@"; hostfwds+=("$2"); shift 2 ;;
    --keep-initramfs) need_value "$@"; keep_initramfs=$2; shift 2 ;;
    --help|-h) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$machine" in microvm|q35|pc) ;; *) die "--machine must be microvm, q35 or pc, not '$machine'" ;; esac
case "$net" in user|tap|stream-listen|stream-connect|relay|none) ;;
  *) die "--net must be user, tap, stream-listen, stream-connect, relay or none, not '$net'" ;; esac
[[ "$port_base" =~ ^[0-9]+$ ]] && [ "$port_base" -ge 1 ] && [ "$port_base" -le 65516 ] ||
  die "--port-base must be a number from 1 to 65516, not '$port_base'"
valid_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
for f in "${hostfwds[@]}"; do
  IFS=: read -r proto hport gport rest <<<"$f"
  { [[ "$proto" = tcp || "$proto" = udp ]] && valid_port "$hport" && valid_port "$gport" && [ -z "$rest" ]; } ||
    die "--hostfwd must be tcp:HOSTPORT:GUESTPORT or udp:HOSTPORT:GUESTPORT (ports 1-65535), not '$f'"
  [ "$net" = user ] || die "--hostfwd works with --net user only (this is --net $net)"
done
[ -n "$run" ] || [ ${#adds[@]} -eq 0 ] || die "--add needs --run (it adds files beside the program)"
[ -n "$run" ] || [ -z "$keep_initramfs" ] || die "--keep-initramfs needs --run"

# --- --run: pack a program into a cpio newc initramfs (the format Linux and rinet unpack) ---
pk_ino=0
pk_dests=()
pk_srcs=()
pk_modes=()
declare -A pk_seen=()

# pk_header NAME MODE SIZE: one newc header (ASCII hex fields) and the NUL-ended name, padded
# to 4 bytes. NAME has no leading '/'.
pk_header() {
  local LC_ALL=C
  local namesize=$((${#1} + 1))
  pk_ino=$((pk_ino + 1))
  printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
    "$pk_ino" "$2" 0 0 1 0 "$3" 0 0 0 0 "$namesize" 0
  printf '%s\0' "$1"
  pk_pad $((110 + namesize))
}
pk_pad() { local n=$(((4 - $1 % 4) % 4)); [ "$n" = 0 ] || head -c "$n" /dev/zero; }

# pk_file SRC DEST [MODE]: queue the host file SRC (symlinks followed) as the guest path DEST.
# A later entry for the same DEST replaces the earlier one.
pk_file() {
  local src=$1 dest=$2 mode=${3:-}
  [[ "$dest" = /* ]] || die "guest path '$dest' must be absolute"
  [[ "$dest" != */ && "$dest" != *//* && "/$dest/" != */../* && "/$dest/" != */./* ]] ||
    die "guest path '$dest' must name a file plainly (no '..', '.', '//' or trailing '/')"
  [ -f "$src" ] && [ -r "$src" ] || die "'$src' is not a readable file"
  [ -n "$mode" ] || mode=$(stat -L -c '%a' "$src")
  local i
  for i in "${!pk_dests[@]}"; do
    if [ "${pk_dests[$i]}" = "$dest" ]; then
      pk_srcs[i]=$src
      pk_modes[i]=$mode
      return 0
    fi
  done
  pk_dests+=("$dest")
  pk_srcs+=("$src")
  pk_modes+=("$mode")
}

# pk_write OUT: the queued files, each after the directories leading to it, and the trailer.
pk_write() {
  local i dest dir part size parts
  {
    for i in "${!pk_dests[@]}"; do
      dest=${pk_dests[$i]#/}
      dir=
      IFS=/ read -ra parts <<<"${dest%/*}"
      if [[ "$dest" == */* ]]; then
        for part in "${parts[@]}"; do
          dir=${dir:+$dir/}$part
          [ -n "${pk_seen[$dir]:-}" ] && continue
          pk_seen[$dir]=1
          # /tmp as the kernel would make it: writable by all, sticky.
          if [ "$dir" = tmp ]; then pk_header "$dir" $((8#41777)) 0; else pk_header "$dir" $((8#40755)) 0; fi
        done
      fi
      size=$(stat -L -c '%s' "${pk_srcs[$i]}")
      pk_header "$dest" $((8#100000 | 8#${pk_modes[$i]})) "$size"
      cat "${pk_srcs[$i]}"
      pk_pad "$size"
    done
    pk_header 'TRAILER!!!' 0 0
  } >>"$1"
}

# The program's libraries and interpreter, from ldd's "name => /path (addr)" and
# "/path (addr)" lines; nothing for a static binary ("not a dynamic executable").
pk_libraries() {
  local out
  out=$(ldd "$1" 2>/dev/null) || return 0
  grep -q 'statically linked' <<<"$out" && return 0
  if grep -q 'not found' <<<"$out"; then
    die "--run: ldd cannot find every library of '$1':"$'\n'"$(grep 'not found' <<<"$out")"
  fi
  sed -nE 's/^[[:space:]]*([^[:space:]]+ => )?(\/[^[:space:]]+) \(0x[0-9a-f]+\)$/\2/p' <<<"$out"
}

# Checks --run's words early (before any build): sets run_words, run_path (the host file) and
# run_guest (its absolute path in the guest, as named: busybox picks its applet from argv[0]).
resolve_run() {
  local f
  # Split as a shell would (xargs understands quotes and backslashes) without running anything.
  mapfile -d '' run_words < <(printf '%s' "$run" | xargs printf '%s\0') ||
    die "--run: cannot split '$run' into words (unbalanced quotes?)"
  [ ${#run_words[@]} -ge 1 ] || die "--run needs a program"
  if [[ "${run_words[0]}" == */* ]]; then
    run_path=${run_words[0]}
  else
    run_path=$(type -P "${run_words[0]}") || die "--run: '${run_words[0]}' is neither a file nor a program on PATH"
  fi
  [ -f "$run_path" ] || die "--run: '$run_path' not found"
  run_guest=$(cd "$(dirname "$run_path")" && pwd)/$(basename "$run_path")
  [ "$(head -c 4 "$run_path" | od -An -c | tr -d ' ')" = '177ELF' ] ||
    die "--run: '$run_path' is not an ELF executable (scripts need their interpreter, which --run cannot start)"
  for f in "${run_words[@]:1}"; do
    [ -n "$f" ] || die "--run: an empty argument cannot cross the kernel command line"
    [[ "$f" =~ [[:space:]] ]] && die "--run: argument '$f' holds whitespace, which the kernel command line cannot carry"
  done
  return 0
}

# Packs --run's program, its libraries and --add files after $initrd (the default initramfs
# unless --initrd says otherwise); sets $initrd to the image and appends init=/abs/path -- ARGS
# to $append.
pack_run() {
  local lib image f
  while IFS= read -r lib; do
    [ -n "$lib" ] && pk_file "$lib" "$lib" 755
  done < <(pk_libraries "$run_path")
  for f in "${adds[@]}"; do
    [[ "$f" == *:/* ]] || die "--add must be SRC:DEST with DEST an absolute guest path, not '$f'"
    pk_file "${f%%:/*}" "/${f#*:/}"
  done
  pk_file "$run_path" "$run_guest" 755

  if [ -n "$keep_initramfs" ]; then
    image=$keep_initramfs
  else
    image=$(mktemp "${TMPDIR:-/tmp}/rinet-run.XXXXXX.cpio") || die "cannot make a temporary file"
  fi
  # The initramfs (the default one or --initrd's) first, then the packed files: archives
  # concatenate, and a later member replaces an earlier one of the same name.
  if [ -n "$initrd" ]; then cat "$initrd" >"$image"; else : >"$image"; fi
  pk_write "$image"
  initrd=$image
  append="$append init=$run_guest --"
  for f in "${run_words[@]:1}"; do append="$append $f"; done
  echo "qemu-run.sh: packed $run_guest$([ ${#pk_dests[@]} -gt 1 ] && echo " and $((${#pk_dests[@]} - 1)) more files") into $image" >&2
}

[ -z "$run" ] || resolve_run

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
  # cargo --quiet prints nothing while build.rs compiles the kernel and the programs: say so
  # at once on the first build, and after a few seconds on a rebuild.
  if [ -f "$here/target/rinet-kernel" ]; then
    { sleep 3; echo "qemu-run.sh: building the kernel and programs where they changed (cargo build --package rinet) ..." >&2; } &
  else
    echo "qemu-run.sh: building the kernel and programs (cargo build --package rinet; the first build takes a few minutes) ..." >&2
    true &
  fi
  notice=$!
  built=0
  (cd "$here" && cargo build --quiet --package rinet) && built=1
  kill "$notice" 2>/dev/null || true
  wait "$notice" 2>/dev/null || true
  [ "$built" = 1 ] || die "building the kernel failed (cargo build --package rinet)"
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
  # No ACPI: the kernel reads none (fixed IO-APIC addresses; it finds the NIC by scanning
  # microvm's virtio-mmio slots), and building the tables costs QEMU milliseconds of every
  # boot. Without ACPI QEMU would append virtio_mmio.device= words to the command line, after
  # any `--`, where they would reach the program as arguments: auto-kernel-cmdline=off.
  args+=(-M microvm,acpi=off,auto-kernel-cmdline=off)
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
# The default initramfs (build.rs: the programs of programs/ as /bin/NAME); --initrd none: none.
if [ -z "$initrd" ] && [ -f "$here/target/rinet-initramfs.cpio" ]; then
  initrd="$here/target/rinet-initramfs.cpio"
fi
[ "$initrd" = none ] && initrd=
[ -z "$initrd" ] || [ -f "$initrd" ] || die "--initrd: '$initrd' not found"
if [ -n "$run" ]; then
  pack_run # sets initrd (the initramfs plus the packed files) and appends init=/abs/path -- ARGS
fi
append="${append# }"
[ -n "$append" ] && args+=(-append "$append")
[ -n "$initrd" ] && args+=(-initrd "$initrd")

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
    for f in "${hostfwds[@]}"; do
      IFS=: read -r proto hport gport <<<"$f"
      fwd="$fwd,hostfwd=$proto:127.0.0.1:$hport-:$gport"
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
if [ -n "$run" ] && [ -z "$keep_initramfs" ]; then
  # The packed image is ours to delete once QEMU is done with it, so QEMU runs as our child:
  # ending this script (a benchmark ending its launcher with SIGTERM) ends QEMU too, which
  # would otherwise go on running, holding its ports.
  status=0
  "${args[@]}" <&0 &
  qemu=$!
  trap 'kill "$qemu" 2>/dev/null' TERM INT HUP
  wait "$qemu" || status=$?
  # A trapped signal ends `wait` early: wait again until QEMU is gone, for its status.
  while kill -0 "$qemu" 2>/dev/null; do
    status=0
    wait "$qemu" || status=$?
  done
  rm -f "$initrd"
  exit "$status"
fi
exec "${args[@]}"
