#!/usr/bin/env bash
# netbench.sh — the services benchmark through QEMU: QEMU launch → first echo reply, TCP 1-byte
# and 1 KiB request/response rounds per second, bulk into discard and out of chargen (MB/s),
# connections per second and UDP rounds per second, measured by the linux-peer tool's
# measure.py (../shared/tools/linux-peer) for rinet and, in the same run, for a stock Linux
# guest serving the same services. A benchmark, not a test: it asserts nothing.
#
# Usage: scripts/netbench.sh [--reps N] [--duration S] [--machine microvm|q35|pc] [--no-linux]
#                            [--net user|tap]
# --net tap (root): both guests on a tap device inside a network namespace the script creates
# and deletes (rinet: netns rinetbench<pid>, tap rtap0; Linux: linux-peer's own `lpeer`), so
# virtio-net offers its offloads (checksums, TSO) and both guests use them; the clients run
# inside the namespace. --net user (default): QEMU's user networking, no offloads.
# Env: LINUX_PEER_CACHE (default /tmp/linux-peer-cache) for the Linux guest's build.
# RINET_APPEND: extra kernel command-line words for rinet (e.g. "nosmap" to measure SMAP).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peer=${LINUX_PEER:-$here/../shared/tools/linux-peer}
reps=3
duration=5
machine=microvm
linux=1
net=user
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --machine) machine=${2:?}; shift 2 ;;
    --no-linux) linux=0; shift ;;
    --net) net=${2:?}; shift 2 ;;
    *) echo "netbench.sh: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
case "$net" in user|tap) ;; *) echo "netbench.sh: --net must be user or tap, not '$net'" >&2; exit 2 ;; esac
if [ "$net" = tap ] && [ "$(id -u)" != 0 ]; then
  echo "netbench.sh: --net tap creates a network namespace and a tap device: run it as root" >&2; exit 2
fi
[ -f "$peer/scripts/measure.py" ] || { echo "netbench.sh: $peer/scripts/measure.py not found: set LINUX_PEER to the linux-peer tool" >&2; exit 2; }

out=$(mktemp -d /tmp/rinet-netbench.XXXXXX)
(cd "$here" && cargo build --release --quiet --package rinet)
base=17000
# measure.py times boot from the launcher's "LAUNCH <epoch>" line.
if [ "$net" = tap ]; then
  ns=rinetbench$$
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip -n "$ns" tuntap add dev rtap0 mode tap
  ip -n "$ns" addr add 192.168.100.1/24 dev rtap0
  ip -n "$ns" link set rtap0 up
  ip -n "$ns" link set lo up
  cat > "$out/launch-rinet.sh" <<LAUNCH
#!/usr/bin/env bash
echo "LAUNCH \$(date +%s.%N)"
exec ip netns exec $ns "$here/qemu-run.sh" --machine $machine --accel tcg --net tap --tap rtap0 --kernel "$here/target/rinet-kernel" --serial "$out/rinet-console.log" --append "${RINET_APPEND:-} ip=192.168.100.2::192.168.100.1:255.255.255.0::eth0:off init=services quiet" </dev/null
LAUNCH
  chmod +x "$out/launch-rinet.sh"
  echo "rinet: $machine, TCG, -m 128M, tap in netns $ns (guest 192.168.100.2), $reps boots" >&2
  python3 "$peer/scripts/measure.py" --launch-cmd "$out/launch-rinet.sh" --launch-log "$out/launcher-rinet.log" \
    --host 192.168.100.2 --echo-port 7 --discard-port 9 --chargen-port 19 --udp-echo-port 7 \
    --netns "$ns" --reps "$reps" --duration "$duration" --out "$out/rinet.json" >/dev/null
  grep -m1 -o "offloads=[a-z0-9+]*" "$out/rinet-console.log" >&2 || true
else
  cat > "$out/launch-rinet.sh" <<LAUNCH
#!/usr/bin/env bash
echo "LAUNCH \$(date +%s.%N)"
exec "$here/qemu-run.sh" --machine $machine --accel tcg --port-base $base --kernel "$here/target/rinet-kernel" --serial "$out/rinet-console.log" --append "${RINET_APPEND:-} init=services quiet" </dev/null
LAUNCH
  chmod +x "$out/launch-rinet.sh"
  echo "rinet: $machine, TCG, -m 128M, user networking (hostfwd 127.0.0.1:$base+7/9/19), $reps boots" >&2
  python3 "$peer/scripts/measure.py" --launch-cmd "$out/launch-rinet.sh" --launch-log "$out/launcher-rinet.log" \
    --host 127.0.0.1 --echo-port $((base + 7)) --discard-port $((base + 9)) --chargen-port $((base + 19)) \
    --udp-echo-port $((base + 7)) --reps "$reps" --duration "$duration" --out "$out/rinet.json" >/dev/null
fi
files=("$out/rinet.json")
if [ "$linux" = 1 ]; then
  echo "linux-peer: pc, TCG, $net networking, $reps boots" >&2
  python3 "$peer/scripts/measure.py" --preset "$net" --reps "$reps" --duration "$duration" \
    --launch-log "$out/launcher-linux.log" --out "$out/linux.json" >/dev/null
  files+=("$out/linux.json")
fi
python3 "$peer/scripts/measure.py" --table "${files[@]}"
echo "(raw results in $out)" >&2
