#!/usr/bin/env bash
# System tools the test suite drives: Debian's Chromium (browser tests, via Playwright),
# tshark (packet captures that check our byte counts), redis-server and nginx (the cluster:
# servers/cluster.py, notebooks 08 and 09), tinyproxy (the set-up check through a real HTTP proxy),
# libnss3-tools (certutil: the TLS browser tests trust the project's CA in Chromium's own certificate store).
# Installed with apt-get when missing and we may (as root,
# or with password-less sudo); otherwise we say what to install.
set -u
PATH="$PATH:/usr/sbin:/sbin"  # nginx lives in /usr/sbin, outside an ordinary user's PATH
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
as_root=
if [ "$(id -u)" -eq 0 ]; then as_root=env; elif sudo -n true 2>/dev/null; then as_root="sudo -n"; fi
if [ -n "$as_root" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} with apt-get..."
  $as_root DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $as_root DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" && exit 0
fi
echo "Not installed: ${missing[*]}. The tests that need them are skipped here"
echo "(when CI is set they fail instead). On Debian or Ubuntu: sudo apt-get install ${missing[*]}"
