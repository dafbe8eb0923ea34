#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine with Node 20:
# Debian packages (as root, or through sudo) and the npm packages of package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use:
#   iproute2   `ip netns` + veth: real kernel resets in namespaces the tests create
#   util-linux nsenter, setpriv, mount: reading/entering a namespace, running as nobody, tmpfs faults
#   procps     sysctl: the doctor/syncookies tests set values inside their own namespaces
#   netdata-core  Netdata's stock health configurations, read in place by the compatibility test; also run
#              live on a loopback port to compare the API's shapes (test/e2e/api-netdata.test.ts)
#   tshark, tcpdump  oracles for the capture readers (editcap comes with wireshark-common)
#   python3, make, g++: building better-sqlite3 from source (no prebuilt download here)
#   prometheus-alertmanager, python3-aiosmtpd: real receivers for the notification tests
#   prometheus  promtool and a real Prometheus for the fleet rules (contrib/prometheus); promtool also
#              parses the agent's /metrics (test/unit/server-metrics.test.ts)
#   patch      applies doctor/syncookies --dry-run diffs in a property test (the diff must be a real patch)
#   chromium   opens the analyze HTML report offline and drives the dashboard (test/e2e/report-html.test.ts,
#              test/e2e/dashboard.test.ts, bench part 6; via playwright-core)
PKGS=(iproute2 util-linux mount procps patch netdata-core tshark tcpdump python3 make g++ prometheus-alertmanager python3-aiosmtpd prometheus chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tracefs at its usual place: the agent mounts it itself when absent (src/attribute/tracefs.ts), but tests
# decide what to expect from /sys/kernel/tracing when they load, so it is there before they start (a fresh
# machine had it unmounted until the first agent of the run mounted it). Best effort: without root or
# tracefs, the tests that need it say so (requireCapability).
if [ -d /sys/kernel/tracing ] && ! grep -qs ' /sys/kernel/tracing tracefs ' /proc/mounts; then
  if [ "$(id -u)" -eq 0 ]; then mount -t tracefs nodev /sys/kernel/tracing || true
  elif command -v sudo >/dev/null; then sudo mount -t tracefs nodev /sys/kernel/tracing || true
  fi
fi

# `npm install`, not `npm ci`: npm 11.19 writes lock files without the other platforms' optional packages
# (biome, rollup, esbuild binaries) and then its own `npm ci` refuses them as "not in sync" (npm/cli #4828,
# #8805). With the committed lock file, `npm install` installs exactly the locked versions.
npm install --no-audit --no-fund
