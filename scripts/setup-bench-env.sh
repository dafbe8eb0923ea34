#!/usr/bin/env bash
# Installs what `npm run bench` needs on a Debian 12 machine with Node 20, and nothing else. Idempotent:
# a second run finds everything in place and changes nothing.
#
#   netdata-core  the peer the agent is compared with (/usr/sbin/netdata, 1.37 on Debian 12). The bench
#                 runs its own instance with its own config and temp folders; the package's service is
#                 not started here (a running system Netdata would be measured against, not with).
#   iproute2      `ip netns`: the namespace the bench creates for its reset load
#   util-linux    nsenter, which rstwatch uses to read a namespace no process lives in
#   tcpdump       part 7: captures the 1 GB loopback pcap (bench/make-big-pcap.sh) and is the speed peer
#   tshark        part 7: the RST-count oracle and the slow peer (`tshark -Y tcp.flags.reset==1`)
#   wireshark-common  part 7: capinfos (packet count of the capture)
#   time          part 7: /usr/bin/time, wall time and peak RSS (wait4 rusage) of each timed command
#   gcc libc6-dev part 4: compiles bench/synflood.c, the SYN generator that reaches 100k RST/s (the bench
#                 falls back to a python3 generator, ~38k/s at most, without it; libc6-dev: the headers,
#                 only a Recommends of gcc, which --no-install-recommends skips)
#   npm packages  only when node_modules is missing (typescript to build, better-sqlite3 for the agent)
#
# The bench itself must run as root (network namespaces, Netdata reading as root): sudo npm run bench.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS=(netdata-core iproute2 util-linux tcpdump tshark wireshark-common time gcc libc6-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package's maintainer scripts from starting netdata as a service (containers without
  # systemd fall back to /etc/init.d): policy-rc.d exit 101 = "not allowed". Only if none is there.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  cleanup() { if [ "$made_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup EXIT
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# `npm install`, not `npm ci`, as scripts/setup-test-env.sh: npm 11.19's `npm ci` refuses the lock file it
# writes itself; with the committed lock file `npm install` installs exactly the locked versions.
if [ ! -d node_modules/better-sqlite3 ] || [ ! -d node_modules/typescript ]; then
  npm install --no-audit --no-fund
fi

# A system Netdata already running would share the CPU with the measured pair: say so (not stopped here).
if pgrep -x netdata >/dev/null 2>&1; then
  echo "note: a netdata process is already running (pgrep -x netdata); stop it for a quiet benchmark" >&2
fi

/usr/sbin/netdata -V
ip -V
echo "bench environment ready: sudo npm run bench   (BENCH_SECONDS=60 or --quick for a shorter window)"
