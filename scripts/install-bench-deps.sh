#!/bin/sh
# Installs the peers and load generator that bench/proxy compares mizzen-proxy with, from
# Debian's packages: nginx (nginx-light where it exists) with its stream module, haproxy and
# h2load (nghttp2-client).
# Safe to re-run: does nothing when all three are present. Needs root (apt-get).
set -eu

missing=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v h2load >/dev/null 2>&1 || missing="$missing h2load"
command -v taskset >/dev/null 2>&1 || missing="$missing taskset"
# nginx's TCP proxy (stream) is a dynamic module package in Debian.
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing="$missing nginx-stream"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "install-bench-deps: missing:$missing; run as root (or install nginx, haproxy, nghttp2-client and util-linux yourself)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-deps: missing:$missing and no apt-get here; install nginx, haproxy and h2load (nghttp2) with your package manager" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
pkgs="haproxy nghttp2-client util-linux libnginx-mod-stream"
# nginx-light is the smallest build with proxy_pass (Debian 11/12); later releases only ship nginx.
if apt-cache show nginx-light >/dev/null 2>&1; then pkgs="$pkgs nginx-light"; else pkgs="$pkgs nginx"; fi
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# The packages start system services on install; the benchmark runs its own instances.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  elif command -v service >/dev/null 2>&1; then
    service "$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "install-bench-deps: installed $pkgs"
