#!/usr/bin/env bash
# Build the MAP image offline on this machine: a Debian base made with debootstrap (no Docker Hub here), a
# wheelhouse from pip, then `docker build` with --network host. Used by tests/test_container.py
# (make test-container). Idempotent: reuses the base image and wheelhouse when present.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=ct-harmonizer-base:bookworm
IMAGE=${IMAGE:-ct-harmonizer:test}

if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }
  (dockerd --storage-driver=vfs --iptables=false --bridge=none >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  root=$(mktemp -d)
  chmod 755 "$root"            # mktemp makes it 0700, which would become the image's / and lock out non-root users
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$root" \
    >/tmp/debootstrap.log 2>&1
  tar -C "$root" -c . | docker import - "$BASE"
  rm -rf "$root"
fi

# The wheelhouse is complete for one requirements.txt: .complete holds its sha256, so a changed pin (py-spy,
# added later, once went missing from an older wheelhouse and broke the offline install) fetches again.
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat wheelhouse/.complete 2>/dev/null)" != "$want" ]; then
  mkdir -p wheelhouse
  .venv/bin/pip download --quiet -r requirements.txt -d wheelhouse
  echo "$want" > wheelhouse/.complete
fi

# Each rebuild leaves the image the tag named before and the build stage's image untagged (about 5.5 GB with
# the vfs storage driver): removed after a build, or repeated runs fill the disk (they did: "no space left").
old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker build --network host --build-arg BASE_IMAGE="$BASE" --build-arg OFFLINE=1 -t "$IMAGE" .
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker rmi "$old" >/dev/null 2>&1 || true      # still used by a container: kept
fi
docker image prune -f --filter label=org.ct-harmonizer.stage=build >/dev/null
