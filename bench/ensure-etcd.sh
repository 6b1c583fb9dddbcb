#!/usr/bin/env bash
# ensure-etcd.sh: make sure the `etcd` binary is installed, for `npm run bench -- --vs etcd`.
# When it is missing, installs Debian's etcd-server with apt-get (needs root). The package may
# start a system-wide etcd service on the default ports; the benchmark runs its own members on
# free ports, so a service that the installation started is stopped and disabled again, to keep
# the machine quiet while it measures. Prints the version of the etcd it found or installed.
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  echo "etcd: $(etcd --version | head -n 1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "etcd is not installed and this is not root: run 'apt-get install -y etcd-server'" >&2
  exit 1
fi
echo "etcd is missing: installing etcd-server with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q etcd-server >&2
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  echo "stopping and disabling the etcd service the package started" >&2
  systemctl disable --now etcd >&2 || true
fi
command -v etcd >/dev/null 2>&1 || { echo "etcd-server installed no etcd binary" >&2; exit 1; }
echo "etcd: $(etcd --version | head -n 1)"
