#!/usr/bin/env bash
# The gateway benchmark compares against nginx and loads with wrk (Debian packages).
set -u
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} for the benchmarks"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { echo "could not install ${missing[*]}" >&2; exit 1; }
