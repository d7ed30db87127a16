#!/usr/bin/env bash
# Provisions what the test suite needs on a fresh Debian machine, and is quick when it is all there:
# a Docker engine that answers, the Debian base image highway builds on, and the clients the
# end-to-end tests check with (dig, curl, busybox for tiny application images, wrk for benchmarks,
# zsh for the completion test, Debian's docker-compose for the compose test).
set -euo pipefail

BASE_IMAGE="${HIGHWAY_BASE_IMAGE:-debian:trixie-slim}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/highway-test-dockerd.log}"

log() { printf '[provision] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v dig >/dev/null 2>&1 || need_pkgs+=(dnsutils)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v zsh >/dev/null 2>&1 || need_pkgs+=(zsh)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# The docker on PATH may be only a client; start Debian's engine when none answers.
if ! docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start a local engine"
    exit 1
  fi
  log "starting dockerd (log: $DOCKERD_LOG)"
  setsid dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer within 60 s; see $DOCKERD_LOG"; tail -20 "$DOCKERD_LOG" >&2; exit 1; }
fi

# No registry is reachable here: build the base image from the machine's own Debian mirror.
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if ! docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -oE '^(URIs:|deb) +https?://[^ ]+' | grep -v security | awk 'NR==1 {print $2}' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    suite="${BASE_IMAGE#*:}"; suite="${suite%-slim}"
    dir="$(mktemp -d)"
    log "building $BASE_IMAGE with debootstrap ($suite from $mirror)"
    debootstrap --variant=minbase "$suite" "$dir" "$mirror" >/dev/null
    # Slim, as Debian's own -slim images are (debuerreotype's slimify): no documentation but the
    # copyrights, no man pages or translations, now or in what is installed later, and no apt cache
    # or package lists. debootstrap leaves all of that: 135 of its 214 MB, which every image built
    # on this base (highway's included) would carry.
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' \
      'path-exclude=/usr/share/groff/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/lintian/*' \
      'path-exclude=/usr/share/linda/*' 'path-exclude=/usr/share/locale/*' > "$dir/etc/dpkg/dpkg.cfg.d/docker-slim"
    find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$dir"/usr/share/{man,groff,info,lintian,linda,locale}/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$dir"
  fi
fi
log "ready: $(docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'), base image $BASE_IMAGE"
