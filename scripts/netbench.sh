#!/usr/bin/env bash
# netbench.sh — the services benchmark through QEMU: QEMU launch → first echo reply, TCP 1-byte
# and 1 KiB request/response rounds per second, bulk into discard and out of chargen (MB/s),
# connections per second and UDP rounds per second, measured by the linux-peer tool's
# measure.py (../shared/tools/linux-peer) for rinet and, in the same run, for a stock Linux
# guest serving the same services. A benchmark, not a test: it asserts nothing.
#
# Usage: scripts/netbench.sh [--reps N] [--duration S] [--machine microvm|q35|pc] [--no-linux]
# Env: LINUX_PEER_CACHE (default /tmp/linux-peer-cache) for the Linux guest's build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peer=${LINUX_PEER:-$here/../shared/tools/linux-peer}
reps=3
duration=5
machine=microvm
linux=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --machine) machine=${2:?}; shift 2 ;;
    --no-linux) linux=0; shift ;;
    *) echo "netbench.sh: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ -f "$peer/scripts/measure.py" ] || { echo "netbench.sh: $peer/scripts/measure.py not found: set LINUX_PEER to the linux-peer tool" >&2; exit 2; }

out=$(mktemp -d /tmp/rinet-netbench.XXXXXX)
(cd "$here" && cargo build --release --quiet --package rinet)
base=17000
# measure.py times boot from the launcher's "LAUNCH <epoch>" line.
cat > "$out/launch-rinet.sh" <<LAUNCH
#!/usr/bin/env bash
echo "LAUNCH \$(date +%s.%N)"
exec "$here/qemu-run.sh" --machine $machine --accel tcg --port-base $base --kernel "$here/target/rinet-kernel" --serial "$out/rinet-console.log" --append "init=services quiet" </dev/null
LAUNCH
chmod +x "$out/launch-rinet.sh"
echo "rinet: $machine, TCG, -m 128M, user networking (hostfwd 127.0.0.1:$base+7/9/19), $reps boots" >&2
python3 "$peer/scripts/measure.py" --launch-cmd "$out/launch-rinet.sh" --launch-log "$out/launcher-rinet.log" \
  --host 127.0.0.1 --echo-port $((base + 7)) --discard-port $((base + 9)) --chargen-port $((base + 19)) \
  --udp-echo-port $((base + 7)) --reps "$reps" --duration "$duration" --out "$out/rinet.json" >/dev/null
files=("$out/rinet.json")
if [ "$linux" = 1 ]; then
  echo "linux-peer: pc, TCG, user networking, $reps boots" >&2
  python3 "$peer/scripts/measure.py" --preset user --reps "$reps" --duration "$duration" \
    --launch-log "$out/launcher-linux.log" --out "$out/linux.json" >/dev/null
  files+=("$out/linux.json")
fi
python3 "$peer/scripts/measure.py" --table "${files[@]}"
echo "(raw results in $out)" >&2
