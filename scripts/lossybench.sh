#!/usr/bin/env bash
# lossybench.sh — rinet and a stock Linux guest behind the same impaired link, one table with
# the ratio. This host's kernel has no netem, so the impairment is a userspace relay
# (src/bin/lossyrelay.rs) between two QEMU socket netdevs: the guest's NIC talks UDP to the
# relay, and the relay's far side is a socket netdev joined by a QEMU hub to a tap device in a
# network namespace, where the host's own Linux TCP runs the clients. Both guests see the
# same relay, the same tap, the same host TCP; only the guest's stack differs.
# A benchmark, not a test: it asserts nothing.
#
# Rows (MB/s, higher is better; the ratio is rinet / Linux):
#   echo 8 MiB: 5% loss both ways; 20% loss host→guest; 20% loss guest→host; 10 ms each way
#   with 25% reordered; 5% duplicated; 1% corrupted; all of those at once;
#   discard 16 MiB over 50 ms each way.
#
# Usage: scripts/lossybench.sh [--reps N] [--timeout S] [--only rinet|linux]   (root)
# Env: LINUX_PEER (default ../shared/tools/linux-peer), LINUX_PEER_CACHE (default
#      /tmp/linux-peer-cache; run $LINUX_PEER/scripts/build.sh first), RELAY_PORT (10200).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peer=${LINUX_PEER:-$here/../shared/tools/linux-peer}
cache=${LINUX_PEER_CACHE:-/tmp/linux-peer-cache}
port=${RELAY_PORT:-10200}
reps=1
timeout=300
only=
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --only) only=${2:?}; shift 2 ;;
    *) echo "lossybench.sh: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "lossybench.sh: creates a network namespace and a tap device: run it as root" >&2; exit 2; }
if [ "$only" != rinet ] && { [ ! -f "$cache/out/vmlinux" ] || [ ! -f "$cache/out/initramfs.cpio.gz" ]; }; then
  echo "lossybench.sh: no Linux guest in $cache/out: run $peer/scripts/build.sh (or --only rinet)" >&2; exit 2
fi

# name | impairment towards the guest | impairment towards the host | service | bytes
rows=(
  "5% loss both ways|loss=5|loss=5|echo|8388608"
  "20% loss host→guest|loss=20||echo|8388608"
  "20% loss guest→host||loss=20|echo|8388608"
  "10 ms each way, 25% reordered|delay=10,reorder=25|delay=10,reorder=25|echo|8388608"
  "5% duplicated|dup=5|dup=5|echo|8388608"
  "1% corrupted|corrupt=1|corrupt=1|echo|8388608"
  "all at once|loss=5,delay=10,reorder=25,dup=5,corrupt=1|loss=5,delay=10,reorder=25,dup=5,corrupt=1|echo|8388608"
  "50 ms each way|delay=50|delay=50|discard|16777216"
)

out=$(mktemp -d /tmp/rinet-lossybench.XXXXXX)
(cd "$here" && cargo build --release --quiet --package rinet)
relay_bin=$here/target/release/lossyrelay

ns=lossy$$
tap=ltap0
guest=192.168.100.2
mac=52:54:00:12:34:56
qemu_pid=
relay_pid=
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev "$tap" mode tap
ip -n "$ns" addr add 192.168.100.1/24 dev "$tap"
ip -n "$ns" link set "$tap" up
# Pre-seeded ARP: lost ARP exchanges would only add noise to the lossy rows.
ip -n "$ns" neigh replace "$guest" lladdr "$mac" dev "$tap" nud permanent

# The clients: echo (write and read back concurrently, check the bytes) or discard (write,
# shut down, wait for the server's close); prints MB/s.
cat > "$out/client.py" <<'CLIENT'
import socket, sys, threading, time
mode, host, port, total, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
pattern = bytes((i * 7 + i // 251) & 0xff for i in range(1 << 16))
s = socket.create_connection((host, port), timeout=30)
s.settimeout(timeout)
t0 = time.monotonic()
def write_all():
    left = total
    while left:
        n = min(left, len(pattern))
        s.sendall(pattern[:n])
        left -= n
if mode == "echo":
    threading.Thread(target=write_all, daemon=True).start()
    got, bad = 0, False
    while got < total:
        b = s.recv(1 << 20)
        if not b:
            sys.exit("early end of stream at %d" % got)
        off, i = got % len(pattern), 0
        while i < len(b):
            k = min(len(b) - i, len(pattern) - off)
            bad |= b[i:i + k] != pattern[off:off + k]
            i, off = i + k, 0
        got += len(b)
    if bad:
        sys.exit("echoed bytes differ")
else:
    write_all()
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
print("%.3f" % (total / (time.monotonic() - t0) / 1e6))
CLIENT

start_relay() { # to-guest spec, to-host spec
  [ -n "$relay_pid" ] && { kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; }
  ip netns exec "$ns" "$relay_bin" --guest "$port:$((port + 1))" --outer "$((port + 2)):$((port + 3))" \
    --to-guest "$1" --to-outer "$2" 2>>"$out/relay.log" &
  relay_pid=$!
  sleep 0.3
}

wait_ready() {
  for _ in $(seq 1 600); do
    if ip netns exec "$ns" python3 -c "
import socket; s = socket.create_connection(('$guest', 7), timeout=1); s.sendall(b'x'); assert s.recv(1) == b'x'" 2>/dev/null; then
      return 0
    fi
    kill -0 "$qemu_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

boot() { # rinet|linux
  case "$1" in
    rinet)
      ip netns exec "$ns" "$here/qemu-run.sh" --machine microvm --accel tcg --net relay --relay "$port" \
        --tap "$tap" --mac "$mac" --kernel "$here/target/rinet-kernel" --serial "$out/rinet-console.log" \
        --append "ip=$guest::192.168.100.1:255.255.255.0::eth0:off init=services quiet" </dev/null \
        >"$out/qemu-rinet.log" 2>&1 & ;;
    linux)
      # The linux-peer guest as its run.sh boots it (TCG, 256M, PVH), with the relay's netdevs
      # (the same ones qemu-run.sh --net relay builds; run.sh has no such mode).
      ip netns exec "$ns" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 256M -smp 1 \
        -nodefaults -nographic -no-reboot -serial "file:$out/linux-console.log" \
        -kernel "$cache/out/vmlinux" -initrd "$cache/out/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet panic=-1 ip=$guest/24 gw=none svcmode=fork" \
        -netdev "socket,id=n0,udp=127.0.0.1:$port,localaddr=127.0.0.1:$((port + 1))" \
        -netdev "socket,id=r0,udp=127.0.0.1:$((port + 2)),localaddr=127.0.0.1:$((port + 3))" \
        -netdev "hubport,id=rh0,hubid=1,netdev=r0" \
        -netdev "tap,id=rt0,ifname=$tap,script=no,downscript=no,vhost=off" \
        -netdev "hubport,id=rh1,hubid=1,netdev=rt0" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=" </dev/null >"$out/qemu-linux.log" 2>&1 & ;;
  esac
  qemu_pid=$!
}

declare -A result
for g in rinet linux; do
  [ -n "$only" ] && [ "$only" != "$g" ] && continue
  start_relay "" ""
  boot "$g"
  if ! wait_ready; then
    echo "lossybench.sh: $g did not answer on echo (logs in $out)" >&2; exit 1
  fi
  echo "$g: up" >&2
  for i in "${!rows[@]}"; do
    IFS='|' read -r name to_guest to_host svc bytes <<<"${rows[$i]}"
    start_relay "$to_guest" "$to_host"
    svc_port=7; [ "$svc" = discard ] && svc_port=9
    vals=()
    for _ in $(seq 1 "$reps"); do
      if v=$(ip netns exec "$ns" timeout "$((timeout + 30))" python3 "$out/client.py" "$svc" "$guest" "$svc_port" "$bytes" "$timeout" 2>>"$out/client.log"); then
        vals+=("$v")
      else
        vals+=("fail")
      fi
    done
    # The median of the repetitions (a failure counts as the slowest).
    result[$g,$i]=$(printf '%s\n' "${vals[@]}" | sed 's/^fail$/-1/' | sort -g | awk '{a[NR]=$1} END{v=a[int((NR+1)/2)]; print (v<0?"fail":v)}')
    echo "$g: $name: ${result[$g,$i]} MB/s (${vals[*]})" >&2
  done
  kill "$qemu_pid" 2>/dev/null || true
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=
done

printf '%-48s %10s %10s %7s\n' "impairment (MB/s)" rinet linux ratio
for i in "${!rows[@]}"; do
  IFS='|' read -r name _ _ svc bytes <<<"${rows[$i]}"
  r=${result[rinet,$i]:--}; l=${result[linux,$i]:--}
  ratio=$(awk -v r="$r" -v l="$l" 'BEGIN{ if (r+0 > 0 && l+0 > 0) printf "%.2f", r/l; else print "-" }')
  # printf pads bytes, not characters: the arrows take 3 bytes for 1 column.
  label="$name ($svc $((bytes >> 20)) MiB)"
  pad=$((48 + $(printf "%s" "$label" | wc -c) - ${#label}))
  printf "%-${pad}s %10s %10s %7s\n" "$label" "$r" "$l" "$ratio"
done
echo "(logs in $out)" >&2
