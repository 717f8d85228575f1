#!/usr/bin/env bash
# Builds the image from the repository's Dockerfile with podman and no container registry. The
# base images its FROM lines name are made here: debian:bookworm by `debootstrap --variant=minbase`
# from the Debian mirror apt already uses, debian:bookworm-slim as the same tree trimmed as
# Debian's slim images are (no documentation, manual pages or translations). The build then runs
# with --pull=never, so a missing base image is an error, never a download. Needs root, podman,
# runc and debootstrap (all in .ci/packages).
#
# Usage: tests/image/build.sh [TAG] [CONTEXT]   (default: clusterdns:0.1.0, this repository)
#   CLUSTERDNS_PODMAN_ROOT=DIR   keep every image in DIR instead of podman's own store
#   CLUSTERDNS_REBUILD_BASE=1    make the base images again even when the store has them
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-clusterdns:0.1.0}
context=$(cd "${2:-$here/../..}" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

store=${CLUSTERDNS_PODMAN_ROOT:-}
podman_() {
    if [ -n "$store" ]; then
        podman --root "$store/root" --runroot "$store/run" "$@"
    else
        podman "$@"
    fi
}

fail() { echo "image build: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, podman's rootful store)"
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (see .ci/packages)"
done

# The mirror and suites of this machine's own apt sources: the only Debian archive it can reach.
repo_of() {
    apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' \
        | awk -v release="$1" '$1 == "deb" && $2 == release {print $3; exit}'
}
mirror=$(repo_of bookworm)
[ -n "$mirror" ] || fail "apt has no Debian bookworm source to bootstrap from"
security=$(repo_of bookworm-security)
updates=$(repo_of bookworm-updates)

base_images=$(awk 'toupper($1) == "FROM" {print $2}' "$context/Dockerfile" | sort -u)
for image in $base_images; do
    case $image in
        debian:bookworm | debian:bookworm-slim) ;;
        *) fail "the Dockerfile's FROM $image: no recipe here for that base image" ;;
    esac
done

work=$(mktemp -d /var/tmp/clusterdns-base.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Imported under docker.io/library/, the name `FROM debian:...` resolves to.
import_tree() {  # DIR NAME
    tar -C "$1" --numeric-owner -c . | podman_ import --quiet - "docker.io/library/$2" >/dev/null
    echo "image build: $2 imported ($(du -sh "$1" | cut -f1))"
}

make_base() {
    local rootfs=$work/bookworm
    echo "image build: debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    # The suites Debian's own images list, from the same mirror.
    {
        echo "deb $mirror bookworm main"
        [ -z "$updates" ] || echo "deb $updates bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
    } >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    import_tree "$rootfs" debian:bookworm

    local slim=$work/bookworm-slim
    cp -a "$rootfs" "$slim"
    find "$slim/usr/share/doc" ! -type d ! -name copyright -delete
    find "$slim/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$slim/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$slim"/usr/share/man/* "$slim"/usr/share/info/* "$slim"/usr/share/groff/* \
        "$slim"/usr/share/lintian/*
    # Packages installed later are trimmed the same way (what dpkg keeps out of the slim image).
    cat >"$slim/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
    import_tree "$slim" debian:bookworm-slim
}

have_base=1
for image in $base_images; do
    podman_ image exists "docker.io/library/$image" || have_base=0
done
if [ "$have_base" = 0 ] || [ "${CLUSTERDNS_REBUILD_BASE:-0}" = 1 ]; then
    make_base
else
    echo "image build: base images already in the store ($base_images)"
fi

# The build's apt-get steps reach the mirror through the host's network, as debootstrap did.
echo "image build: podman build -t $tag $context"
podman_ build --pull=never --network=host -t "$tag" -f "$context/Dockerfile" "$context"
