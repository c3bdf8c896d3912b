#!/usr/bin/env bash
# Runs HERE (the Debian 12 amd64 dev machine, with apt and a network) before a device session:
# downloads into .gpu-kit/ (git-ignored) the .debs of the libraries the GPU image lacks, which
# tools/gpu-check.sh unpacks there under /tmp/lv-kit (never into /). Debian 12's glibc (2.36)
# is older than the GPU image's, so these libraries load there. Idempotent; prints the size.
#   required: cJSON, utf8proc, OpenBLAS (pthread) + its Fortran runtime
#   optional: HDF5 serial C library (+ libsz/libaec), kept while the kit stays under the limit
# Usage: tools/gpu-kit.sh   (KIT=DIR to put it elsewhere; KIT_LIMIT_MIB, default 40)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${KIT:-$root/.gpu-kit}"
limit_mib="${KIT_LIMIT_MIB:-40}"

required=(libcjson1 libcjson-dev libutf8proc2 libutf8proc-dev
          libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0)
optional=(libhdf5-103-1 libhdf5-dev libsz2 libaec0)

die() { echo "gpu-kit: $*" >&2; exit 1; }

[[ "$(dpkg --print-architecture 2>/dev/null)" == amd64 ]] || die "needs an amd64 Debian/Ubuntu with apt (the GPU machine is x86-64)"
command -v apt-get >/dev/null || die "apt-get not found"

# The .deb file name apt would download for the candidate version of each package (one
# apt-cache call for all of them: it is slow).
declare -A debs=()
while read -r pkg file; do
    [[ -n "${debs[$pkg]:-}" ]] || debs[$pkg]="$file"
done < <(apt-cache show --no-all-versions "${required[@]}" "${optional[@]}" 2>/dev/null |
         awk '/^Package:/{p=$2} /^Filename:/{n=split($2, a, "/"); print p, a[n]}')
deb_name() { echo "${debs[$1]:-}"; }

# Downloads the packages named in "$@" that are not in the kit yet; their file names go to
# the array `fetched` (no subshell, so a failure stops the script).
fetch() {
    local p f missing=()
    fetched=()
    for p in "$@"; do
        f="$(deb_name "$p")"
        [[ -n "$f" ]] || die "apt knows no package '$p' (apt-get update?)"
        [[ -s "$kit/$f" ]] || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "gpu-kit: downloading ${missing[*]}" >&2
        # apt-get download writes into the current directory; as root it warns that the _apt
        # sandbox user cannot write there, which is harmless.
        (cd "$kit" || exit 1; apt-get -q download "${missing[@]}" 2>&1 | grep -v "unsandboxed as root" >&2) || true
    fi
    for p in "$@"; do
        f="$(deb_name "$p")"
        [[ -s "$kit/$f" ]] || die "download of $p ($f) failed"
        fetched+=("$f")
    done
}

mkdir -p "$kit"
fetch "${required[@]}"
want=("${fetched[@]}")
required_bytes=0
for f in "${want[@]}"; do required_bytes=$((required_bytes + $(stat -c %s "$kit/$f"))); done

fetch "${optional[@]}"
opt_files=("${fetched[@]}")
opt_bytes=0
for f in "${opt_files[@]}"; do opt_bytes=$((opt_bytes + $(stat -c %s "$kit/$f"))); done
if ((required_bytes + opt_bytes <= limit_mib * 1024 * 1024)); then
    want+=("${opt_files[@]}")
    echo "gpu-kit: HDF5 included ($((opt_bytes / 1024)) KiB; gpu-check.sh uses it only if its libraries load there)"
else
    echo "gpu-kit: HDF5 left out: the kit would exceed ${limit_mib} MiB (gpu-check.sh builds with LV_HDF5=OFF)"
fi

# Drop whatever is not wanted any more (older versions, packages no longer listed).
for f in "$kit"/*.deb; do
    [[ -e "$f" ]] || continue
    keep=0
    for w in "${want[@]}"; do [[ "$(basename "$f")" == "$w" ]] && keep=1; done
    ((keep)) || { echo "gpu-kit: removing stale $(basename "$f")"; rm -f "$f"; }
done

total=0
for f in "${want[@]}"; do total=$((total + $(stat -c %s "$kit/$f"))); done
printf '%s\n' "${want[@]}" | sed 's/^/  /'
echo "gpu-kit: ${#want[@]} packages in $kit, $((total / 1024)) KiB ($(awk -v b="$total" 'BEGIN{printf "%.1f", b/1048576}') MiB)"
echo "gpu-kit: carry it to the device with carry [\".gpu-kit\"]; tools/gpu-check.sh unpacks it (see docs/gpu-check.md)"
