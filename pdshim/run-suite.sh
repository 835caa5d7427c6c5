#!/bin/sh
# Run every packetdrill script under the given directories (default: packetdrill's
# gtests/net/tcp) against rinet, one throw-away namespace each, and print one line per
# script: PASS/FAIL/HANG/CRASH<rc>, the script, and packetdrill's first error line.
# usage: run-suite.sh [dir...]   (env as for run-pkt.sh; TIMEOUT per script, default 30 s)
set -u
here=$(cd "$(dirname "$0")" && pwd)
pd=${PACKETDRILL:-/tmp/packetdrill/src/gtests/net/packetdrill/packetdrill}
[ $# -gt 0 ] || set -- "$(dirname "$(dirname "$pd")")/tcp"
find "$@" -name '*.pkt' | sort | while read -r f; do
  out=$(TIMEOUT=${TIMEOUT:-30} "$here/run-pkt.sh" "$f" 2>&1)
  rc=$?
  case $rc in 0) r=PASS ;; 1) r=FAIL ;; 124) r=HANG ;; *) r=CRASH$rc ;; esac
  err=$(printf '%s\n' "$out" | grep -v 'sysctl: setting key' |
        grep -m1 -E 'error|Error|assert|Segmentation')
  echo "$r $f | $err"
done
