#!/usr/bin/env bash
# Browser tests drive Debian's chromium with Playwright; never a downloaded browser.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq chromium >/dev/null 2>&1 || { echo "could not install chromium" >&2; exit 1; }
