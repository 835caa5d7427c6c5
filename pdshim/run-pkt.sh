#!/bin/sh
# Run one packetdrill script against rinet's stack in a throw-away network namespace.
# usage: run-pkt.sh path/to/script.pkt [extra packetdrill options...]
# env:   PACKETDRILL (default /tmp/packetdrill/src/gtests/net/packetdrill/packetdrill)
#        SHIM        (default target/release/libpdshim.so of this workspace)
#        SO_EXTRA    (appended to --so_flags, e.g. ",sack=0")
# Exit status is packetdrill's: 0 pass, 1 first mismatch (printed), 124 wall-clock timeout.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
pd=${PACKETDRILL:-/tmp/packetdrill/src/gtests/net/packetdrill/packetdrill}
shim=${SHIM:-$here/target/release/libpdshim.so}
script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
ns=pd$$
ip netns add "$ns" || exit 3
# The scripts' defaults.sh ends with `tc qdisc add dev tun0 ...`; give it a tun0.
ip netns exec "$ns" ip tuntap add dev tun0 mode tun
cd "$(dirname "$script")"
timeout "${TIMEOUT:-60}" ip netns exec "$ns" "$pd" --so_filename="$shim" \
  --so_flags="local_ip=192.168.0.1,netmask=255.255.0.0,gateway_ip=192.168.0.1,remote_ip=192.0.2.1,mtu=1500${SO_EXTRA:-}" \
  --ip_version=ipv4 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 \
  --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 "$@" "$(basename "$script")"
rc=$?
ip netns del "$ns"
exit $rc
