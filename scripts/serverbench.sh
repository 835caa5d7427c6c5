#!/usr/bin/env bash
# serverbench.sh — unmodified Debian servers (iperf3, redis-server, nginx-light) in rinet and in
# a stock Linux guest (the linux-peer tool's Debian kernel, ../shared/tools/linux-peer) in the
# same QEMU (TCG), launched by the same ./qemu-run.sh flags (machine, memory, NIC, netdev), and
# measured by the same host clients. A benchmark, not a test: it asserts nothing and prints a
# markdown table (median over --reps fresh boots per server and guest) with the ratio
# rinet/Linux per row:
#   iperf3     `iperf3 -c GUEST -t 5 -J` into the guest and with -R out of it (Gbit/s, receiver)
#   redis      `redis-benchmark -h GUEST -t set,get -n 100000 -q` SET and GET requests/s
#   nginx      `wrk -t2 -c20 -d10s` on a small page (requests/s) and a 10 MiB file fetched
#              by curl (`-w '%{speed_download}'`, --curl-reps times per boot, median, MB/s)
#   boot       QEMU launch until the server first answers: iperf3 its control connection's
#              first state byte (PARAM_EXCHANGE) after the cookie,
#              redis a PING answered +PONG, nginx a GET / answered by an HTTP status line
#              (a new attempt every 50 ms)
#
# Usage: scripts/serverbench.sh [--reps N] [--machine microvm|q35|pc] [--memory SIZE]
#                               [--net tap|user] [--servers iperf3,redis,nginx] [--curl-reps N]
#                               [--boot-timeout S] [--sendfile on|off] [--no-linux] [--keep]
#   --net tap (default; root): both guests on tap0 inside a network namespace the script
#       creates and deletes (rinetsrv<pid>; host 192.168.77.1/24, guest 192.168.77.2, the
#       guest's ARP entry pre-seeded), virtio-net with vnet headers (checksum/TSO offloads);
#       the clients run inside the namespace (ip netns exec).
#   --net user: QEMU user networking with hostfwd 127.0.0.1:15201/16379/18080. libslirp's
#       hostfwd listens with a backlog of 1, so redis-benchmark's 50 parallel connections
#       stall: the redis throughput rows are skipped (n/a) in this mode.
#   --memory: guest memory for both (default 256M: the Debian kernel plus an unpacked
#       initramfs holding nginx and a 10 MiB file needs more room than rinet's 128M default).
#   --boot-timeout: seconds to wait for a server's first answer (default 60); a boot that
#       does not answer in time is reported on stderr and its rows stay empty (n/a).
#   --sendfile: nginx's sendfile directive for both guests (default on, as Debian ships it).
#   --keep: keep the work directory (images, serial logs, raw client output).
# Env: LINUX_PEER (default ../shared/tools/linux-peer), LINUX_PEER_CACHE (default
# /tmp/linux-peer-cache; its scripts/build.sh is run when the kernel is not there yet),
# RINET_APPEND: extra kernel command-line words for rinet.
#
# The Linux guest boots the peer's uncompressed vmlinux (PVH entry, like rinet's ELF) with an
# uncompressed cpio of its own: busybox-static, the virtio modules (virtio_mmio for microvm,
# virtio_pci for q35/pc, virtio_net), the same server binary with its ldd closure, the same
# config files, and an /init that mounts /proc, /sys, /dev, /tmp, sets eth0's address with
# busybox ip and execs the server as PID 1 — as rinet runs it as init.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peer=${LINUX_PEER:-$here/../shared/tools/linux-peer}
cache=${LINUX_PEER_CACHE:-/tmp/linux-peer-cache}
reps=1
machine=microvm
memory=256M
net=tap
servers=iperf3,redis,nginx
curl_reps=5
boot_timeout=60
sendfile=on
linux=1
keep=0
die() { echo "serverbench.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=${2:?}; shift 2 ;;
    --machine) machine=${2:?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --net) net=${2:?}; shift 2 ;;
    --servers) servers=${2:?}; shift 2 ;;
    --curl-reps) curl_reps=${2:?}; shift 2 ;;
    --boot-timeout) boot_timeout=${2:?}; shift 2 ;;
    --sendfile) sendfile=${2:?}; shift 2 ;;
    --no-linux) linux=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$sendfile" in on|off) ;; *) die "--sendfile must be on or off, not '$sendfile'" ;; esac
case "$net" in user|tap) ;; *) die "--net must be tap or user, not '$net'" ;; esac
case "$machine" in microvm|q35|pc) ;; *) die "--machine must be microvm, q35 or pc, not '$machine'" ;; esac
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive number"
[[ "$curl_reps" =~ ^[1-9][0-9]*$ ]] || die "--curl-reps must be a positive number"
IFS=, read -ra server_list <<<"$servers"
for s in "${server_list[@]}"; do
  case "$s" in iperf3|redis|nginx) ;; *) die "--servers: unknown server '$s' (iperf3, redis, nginx)" ;; esac
done
[ "$net" = user ] || [ "$(id -u)" = 0 ] ||
  die "--net tap creates a network namespace and a tap device: run it as root"
for t in iperf3 redis-server redis-benchmark nginx wrk curl python3 qemu-system-x86_64; do
  command -v "$t" >/dev/null || die "'$t' not found (Debian packages iperf3 redis-server redis-tools nginx-light wrk curl qemu-system-x86)"
done
[ -f /usr/sbin/nginx ] || die "/usr/sbin/nginx not found (nginx-light)"

out=$(mktemp -d /tmp/rinet-serverbench.XXXXXX)
ns=
qpid=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  [ -z "$ns" ] || ip netns del "$ns" 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "(work directory kept: $out)" >&2; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 143' INT TERM
log() { echo "serverbench: $*" >&2; }

(cd "$here" && cargo build --release --quiet --package rinet)
kernel=$here/target/rinet-kernel

# --- the files both guests get -----------------------------------------------------------
printf 'bind 0.0.0.0\nport 6379\nprotected-mode no\nsave ""\nappendonly no\n' >"$out/redis.conf"
cat >"$out/nginx.conf" <<'EOF'
daemon off; master_process off; worker_processes 1; error_log stderr notice; pid /tmp/nginx.pid;
events { worker_connections 512; }
http { access_log off; sendfile SENDFILE; server { listen 80; root /www; } }
EOF
sed -i "s/SENDFILE/$sendfile/" "$out/nginx.conf"
printf '<!doctype html>\n<html><head><title>rinet</title></head><body><p>Hello from the guest.</p></body></html>\n' >"$out/index.html"
head -c 10485760 /dev/urandom >"$out/large.bin"
: >"$out/keep"
# The same account files for both guests (Debian's nginx looks up the group nogroup at start).
printf 'root:x:0:0:root:/:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$out/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\nnobody:x:65534:\n' >"$out/group"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$out/nsswitch.conf"
etc_adds="$out/passwd:/etc/passwd $out/group:/etc/group $out/nsswitch.conf:/etc/nsswitch.conf"

# Per server: the command (first word a path on the host, packed at the same path), the files
# added (HOSTFILE:/guest/path), the guest port, the boot probe and the host forward port.
declare -A cmd adds rinet_adds port probe fwd
cmd[iperf3]="/usr/bin/iperf3 -s --forceflush"; adds[iperf3]="$etc_adds"
rinet_adds[iperf3]=""; rinet_adds[redis]=""; rinet_adds[nginx]=""
port[iperf3]=5201; probe[iperf3]=iperf3; fwd[iperf3]=15201
cmd[redis]="/usr/bin/redis-server /etc/redis.conf"; adds[redis]="$etc_adds $out/redis.conf:/etc/redis.conf"
port[redis]=6379; probe[redis]=redis; fwd[redis]=16379
cmd[nginx]="/usr/sbin/nginx -e stderr -c /etc/nginx/nginx.conf"
adds[nginx]="$etc_adds $out/nginx.conf:/etc/nginx/nginx.conf $out/index.html:/www/index.html $out/large.bin:/www/large.bin $out/keep:/var/lib/nginx/.keep"
port[nginx]=80; probe[nginx]=http; fwd[nginx]=18080

# --- rinet images: qemu-run.sh --run packs the program, its libraries and the files ---------
for s in "${server_list[@]}"; do
  a=()
  for f in ${adds[$s]} ${rinet_adds[$s]}; do a+=(--add "$f"); done
  "$here/qemu-run.sh" --kernel "$kernel" --run "${cmd[$s]}" "${a[@]}" \
    --keep-initramfs "$out/rinet-$s.cpio" --print >/dev/null 2>"$out/pack-rinet-$s.log" ||
    { cat "$out/pack-rinet-$s.log" >&2; die "packing $s for rinet failed"; }
done

# --- Linux images ------------------------------------------------------------------------
linux_reason=
if [ "$linux" = 1 ]; then
  if [ ! -f "$cache/out/vmlinux" ] || [ ! -d "$cache/extract/k/lib/modules" ]; then
    if [ -x "$peer/scripts/build.sh" ]; then
      log "building the Linux peer ($peer/scripts/build.sh; downloads the Debian kernel) ..."
      LINUX_PEER_CACHE=$cache "$peer/scripts/build.sh" >"$out/linux-peer-build.log" 2>&1 ||
        linux_reason="linux-peer build.sh failed (see $out/linux-peer-build.log)"
    else
      linux_reason="linux-peer not found at $peer (set LINUX_PEER)"
    fi
  fi
  if [ -z "$linux_reason" ]; then
    kver=$(ls -1 "$cache/extract/k/lib/modules" | head -n1)
    moddir=$cache/extract/k/lib/modules/$kver/kernel
    [ -x /bin/busybox ] && grep -qx ip < <(/bin/busybox --list) || linux_reason="/bin/busybox (busybox-static) with an ip applet is needed"
  fi
fi
# linux_image SERVER: a cpio newc tree with busybox, the modules, the server and its files.
linux_image() {
  local s=$1 r=$out/linux-root-$s lib f bin m mods src
  rm -rf "$r"; mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,lib/modules,run,var/tmp}
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"; ln -s busybox "$r/bin/sh"
  mknod -m 600 "$r/dev/console" c 5 1; mknod -m 666 "$r/dev/null" c 1 3
  # virtio core, the transport of the machine type, then the NIC (each module after its deps)
  mods="virtio_ring virtio"
  if [ "$machine" = microvm ]; then mods="$mods virtio_mmio"
  else mods="$mods virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci"; fi
  mods="$mods failover net_failover virtio_net"
  for m in $mods; do
    src=$(find "$moddir" -name "$m.ko*" | head -n1)
    [ -n "$src" ] || { echo "module $m not found under $moddir" >&2; return 1; }
    case "$src" in
      *.xz) xz -dc "$src" >"$r/lib/modules/$m.ko" ;; *.zst) zstd -qdc "$src" >"$r/lib/modules/$m.ko" ;;
      *.gz) gzip -dc "$src" >"$r/lib/modules/$m.ko" ;; *) cp "$src" "$r/lib/modules/$m.ko" ;;
    esac
  done
  bin=${cmd[$s]%% *}
  mkdir -p "$r$(dirname "$bin")"; cp -L "$bin" "$r$bin"
  ldd "$bin" | sed -nE 's/^[[:space:]]*([^[:space:]]+ => )?(\/[^[:space:]]+) \(0x[0-9a-f]+\)$/\2/p' |
    while IFS= read -r lib; do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
  for f in ${adds[$s]}; do
    mkdir -p "$r$(dirname "${f#*:}")"; cp -L "${f%%:*}" "$r${f#*:}"
  done
  printf '127.0.0.1 localhost\n' >"$r/etc/hosts"
  cat >"$r/init" <<EOF
#!/bin/sh
# serverbench Linux init: kernel command line bench.ip=ADDR/PREFIX bench.gw=GW|none
b=/bin/busybox
\$b mount -t proc proc /proc
\$b mount -t sysfs sysfs /sys
\$b mount -t devtmpfs devtmpfs /dev
\$b mount -t tmpfs -o mode=1777 tmpfs /tmp
ip=192.168.77.2/24; gw=none
for a in \$(\$b cat /proc/cmdline); do
  case "\$a" in bench.ip=*) ip=\${a#bench.ip=} ;; bench.gw=*) gw=\${a#bench.gw=} ;; esac
done
for m in $mods; do \$b insmod /lib/modules/\$m.ko || echo "init: insmod \$m failed"; done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 200 ]; do \$b usleep 10000; i=\$((i+1)); done
\$b ip link set lo up
\$b ip addr add "\$ip" dev eth0
\$b ip link set eth0 up
[ "\$gw" = none ] || \$b ip route add default via "\$gw"
echo "init: eth0 \$ip up at \$(\$b cut -d' ' -f1 /proc/uptime) s; exec ${cmd[$s]}"
exec ${cmd[$s]} </dev/null
EOF
  chmod 755 "$r/init"
  (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out/linux-$s.cpio"
  [ "$keep" = 1 ] || rm -rf "$r"
}
if [ "$linux" = 1 ] && [ -z "$linux_reason" ]; then
  for s in "${server_list[@]}"; do
    linux_image "$s" 2>"$out/pack-linux-$s.log" ||
      { linux_reason="building the Linux initramfs for $s failed: $(tail -n1 "$out/pack-linux-$s.log")"; break; }
  done
fi
[ "$linux" = 0 ] && linux_reason="--no-linux"

tsc_khz=$(awk '/^cpu MHz/ {printf "%d", $4 * 1000; exit}' /proc/cpuinfo)
# --- network ---------------------------------------------------------------------------
nsx=()
if [ "$net" = tap ]; then
  ns=rinetsrv$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" tuntap add dev tap0 mode tap
  ip -n "$ns" addr add 192.168.77.1/24 dev tap0
  ip -n "$ns" link set tap0 up
  # Both guests use the same MAC: pre-seed ARP so boot probes are not quantized by ARP retries.
  ip -n "$ns" neigh replace 192.168.77.2 lladdr 52:54:00:12:34:56 dev tap0 nud permanent
  nsx=(ip netns exec "$ns")
  rinet_ip="ip=192.168.77.2::192.168.77.1:255.255.255.0::eth0:off"
  linux_ip="bench.ip=192.168.77.2/24 bench.gw=none"
else
  rinet_ip="ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
  linux_ip="bench.ip=10.0.2.15/24 bench.gw=10.0.2.2"
fi
# host and port the clients use for SERVER
target_host() { if [ "$net" = tap ]; then echo 192.168.77.2; else echo 127.0.0.1; fi; }
target_port() { if [ "$net" = tap ]; then echo "${port[$1]}"; else echo "${fwd[$1]}"; fi; }
hostfwd_args() { [ "$net" = user ] && echo "--hostfwd tcp:${fwd[$1]}:${port[$1]}" || true; }

# The boot probe: time from $1 (epoch) until the server answers; exits 1 when QEMU ($4) ends
# or after --boot-timeout seconds.
cat >"$out/probe.py" <<'PY'
import os, socket, sys, time
t0, host, port, pid, kind = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def answered():
    with socket.create_connection((host, port), timeout=1.0) as s:
        if kind == "iperf3":
            # iperf3's control protocol: a 37-byte cookie, answered by one state byte
            # (PARAM_EXCHANGE, 9). A bare connect is not enough: libslirp's hostfwd accepts
            # it before the guest listens. Closing here ends that test; the server goes on.
            s.sendall(b"serverbenchbootprobe0000000000000000\0")
            return s.recv(1) == b"\x09"
        s.sendall(b"PING\r\n" if kind == "redis" else b"GET / HTTP/1.0\r\nHost: g\r\n\r\n")
        data = b""
        while b"\n" not in data:
            d = s.recv(64)
            if not d:
                break
            data += d
        return data.startswith(b"+PONG") if kind == "redis" else data.startswith(b"HTTP/1.")
while time.time() - t0 < float(sys.argv[6]):
    try:
        if answered():
            print("%.3f" % (time.time() - t0)); sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    time.sleep(0.05)
sys.exit(1)
PY

results=$out/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; } # guest metric value

# boot GUEST SERVER REP: launch QEMU (its PID in $qpid) and wait for the first answer.
boot() {
  local g=$1 s=$2 rep=$3 t0 initrd kern app t
  if [ "$g" = rinet ]; then
    kern=$kernel; initrd=$out/rinet-$s.cpio
    app="${RINET_APPEND:-} $rinet_ip quiet init=${cmd[$s]%% *} -- ${cmd[$s]#* }"
  else
    kern=$cache/out/vmlinux; initrd=$out/linux-$s.cpio
    # Under TCG the kernel's PIT calibration of the TSC fails now and then ("Fast TSC
    # calibration failed ... No reference (HPET/PMTIMER) available"; microvm has neither) and
    # the boot then hangs before /init: tsc_early_khz gives it the host's TSC rate (TCG's
    # rdtsc counts host ticks) and no_timer_check skips the IO-APIC timer check.
    app="console=ttyS0 quiet tsc_early_khz=$tsc_khz no_timer_check panic=-1 $linux_ip"
  fi
  # shellcheck disable=SC2046
  t0=$(date +%s.%N)
  "${nsx[@]}" "$here/qemu-run.sh" --machine "$machine" --accel tcg --memory "$memory" --net "$net" \
    --tap tap0 $(hostfwd_args "$s") --kernel "$kern" --initrd "$initrd" \
    --serial "$out/console-$g-$s-$rep.log" --append "$app" </dev/null >>"$out/qemu-$g.log" 2>&1 &
  qpid=$!
  if t=$("${nsx[@]}" python3 "$out/probe.py" "$t0" "$(target_host)" "$(target_port "$s")" "$qpid" "${probe[$s]}" "$boot_timeout"); then
    record "$g" "boot:$s" "$t"
    log "$g $s: answered ${t} s after launch"
    return 0
  fi
  log "$g $s: no answer (console: $out/console-$g-$s-$rep.log)"
  tail -n 5 "$out/console-$g-$s-$rep.log" >&2 || true
  return 1
}
halt() {
  if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; qpid=; fi
}
client() { "${nsx[@]}" timeout "$1" "${@:2}"; }

measure_iperf3() {
  local g=$1 h p dir j v
  h=$(target_host); p=$(target_port iperf3)
  for dir in in out; do
    j=$out/iperf3-$g-$dir-$rep.json
    if [ "$dir" = in ]; then client 60 iperf3 -c "$h" -p "$p" -t 5 -J >"$j" 2>&1 || true
    else client 60 iperf3 -c "$h" -p "$p" -t 5 -J -R >"$j" 2>&1 || true; fi
    v=$(python3 -c 'import json,sys; print("%.4f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$j" 2>/dev/null) || v=
    [ -n "$v" ] && record "$g" "iperf3:$dir" "$v" || log "$g iperf3 $dir: no result (see $j)"
    sleep 1
  done
}
measure_redis() {
  local g=$1 f=$out/redis-$g-$rep.txt v op
  if [ "$net" = user ]; then return 0; fi
  client 600 redis-benchmark -h "$(target_host)" -p "$(target_port redis)" -t set,get -n 100000 -q >"$f" 2>&1 || true
  for op in SET GET; do
    v=$(tr '\r' '\n' <"$f" | sed -nE "s/^$op: ([0-9.]+) requests per second.*/\1/p" | tail -n1)
    [ -n "$v" ] && record "$g" "redis:$op" "$v" || log "$g redis $op: no result (see $f)"
  done
}
measure_nginx() {
  local g=$1 h p f=$out/wrk-$g-$rep.txt v i
  h=$(target_host); p=$(target_port nginx)
  client 60 wrk -t2 -c20 -d10s "http://$h:$p/" >"$f" 2>&1 || true
  v=$(sed -nE 's/^Requests\/sec:[[:space:]]+([0-9.]+).*/\1/p' "$f")
  [ -n "$v" ] && record "$g" "nginx:rps" "$v" || log "$g nginx wrk: no result (see $f)"
  for i in $(seq "$curl_reps"); do
    v=$(client 120 curl -s -o /dev/null -w '%{size_download} %{speed_download}' "http://$h:$p/large.bin" 2>/dev/null) || v=
    if [ "${v%% *}" = 10485760 ]; then record "$g" "nginx:file" "$(awk -v b="${v#* }" 'BEGIN{printf "%.3f", b/1e6}')"
    else log "$g nginx curl large.bin: '$v'"; fi
  done
}

guests=(rinet)
[ -z "$linux_reason" ] && guests+=(linux)
[ -z "$linux_reason" ] || log "Linux guest: n/a ($linux_reason)"
log "$machine, TCG, -m $memory, --net $net$([ "$net" = tap ] && echo " (netns $ns, tap0, guest 192.168.77.2)"), $reps boot(s) per server and guest; work dir $out"
for rep in $(seq "$reps"); do
  for s in "${server_list[@]}"; do
    for g in "${guests[@]}"; do
      if boot "$g" "$s" "$rep"; then
        sleep 1
        "measure_$s" "$g"
      fi
      halt
    done
  done
done

# --- the table ------------------------------------------------------------------------
python3 - "$results" "$net" "$servers" "$linux_reason" "$reps" <<'PY'
import statistics, sys
path, net, servers, linux_reason, reps = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], sys.argv[5]
vals = {}
for line in open(path):
    g, m, v = line.rstrip("\n").split("\t")
    vals.setdefault((g, m), []).append(float(v))
rows = []
if "iperf3" in servers:
    rows += [("iperf3:in", "iperf3 TCP into the guest (Gbit/s)", "higher", "%.3f"),
             ("iperf3:out", "iperf3 TCP out of the guest, -R (Gbit/s)", "higher", "%.3f")]
if "redis" in servers:
    rows += [("redis:SET", "redis-benchmark SET (requests/s)", "higher", "%.0f"),
             ("redis:GET", "redis-benchmark GET (requests/s)", "higher", "%.0f")]
if "nginx" in servers:
    rows += [("nginx:rps", "nginx small page, wrk -t2 -c20 (requests/s)", "higher", "%.0f"),
             ("nginx:file", "nginx 10 MiB file, curl (MB/s)", "higher", "%.1f")]
for s in servers:
    rows.append(("boot:" + s, "boot to first answer, %s (s)" % s, "lower", "%.2f"))
def cell(g, m, fmt):
    v = vals.get((g, m))
    if not v:
        return None, "n/a"
    med = statistics.median(v)
    return med, fmt % med
print("| measurement | rinet | Linux | rinet/Linux | better |")
print("|---|---:|---:|---:|---|")
for m, label, better, fmt in rows:
    r, rs = cell("rinet", m, fmt)
    l, ls = cell("linux", m, fmt)
    ratio = "%.2f" % (r / l) if r is not None and l else "n/a"
    print("| %s | %s | %s | %s | %s |" % (label, rs, ls, ratio, better))
notes = ["median of %s boot(s) per server and guest; the curl row is the median of every download" % reps]
if net == "user" and "redis" in servers:
    notes.append("redis rows n/a: --net user's hostfwd (libslirp) listens with a backlog of 1, redis-benchmark's 50 connections stall")
if linux_reason:
    notes.append("Linux n/a: " + linux_reason)
for n in notes:
    print("\n* " + n, end="")
print()
PY
