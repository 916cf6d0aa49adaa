#!/usr/bin/env bash
# Installs the system programs the test suite starts for real (PostgreSQL, Redis, Chromium: a supervisor's
# browser playing the review files) or the benchmarks compare against (ffmpeg), and systemd-analyze (the unit
# file test), from Debian, only when they are missing. Needs root or passwordless sudo;
# otherwise it says what to install and the tests that need them report it.
set -uo pipefail
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(postgresql redis)
pkgs=()
for w in "${wanted[@]}"; do
  case "$w" in
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql) ;;
    redis) command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server) ;;
    ffmpeg) command -v ffmpeg >/dev/null 2>&1 || pkgs+=(ffmpeg) ;;
    chromium) command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || pkgs+=(chromium) ;;
    systemd) command -v systemd-analyze >/dev/null 2>&1 || pkgs+=(systemd) ;;  # `systemd-analyze verify` of the unit
  esac
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "system-deps: missing ${pkgs[*]}; install them (apt-get install ${pkgs[*]}) or set RUSHES_TEST_PG=off / RUSHES_TEST_KITSU=off / RUSHES_TEST_BROWSER=off" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${pkgs[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
# one package at a time: one the distribution names otherwise (chromium on Ubuntu) leaves the others installed
for p in "${pkgs[@]}"; do
  $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null || echo "system-deps: apt-get install $p failed" >&2
done
# Debian starts services on install; the tests start their own instances on loopback ports.
for s in redis-server postgresql; do $sudo service "$s" stop >/dev/null 2>&1 || true; done
exit 0
