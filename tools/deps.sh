#!/usr/bin/env bash
# Installs the Debian packages liver-vlm builds against, only those missing (sourced by
# tools/test.sh and tools/demo.sh). The CUDA toolkit is a user prerequisite, never installed.
lv_install_deps() {
    local pkgs=(build-essential cmake pkg-config libhdf5-dev libdnnl-dev libcjson-dev libutf8proc-dev libnifti2-dev libpng-dev
                libopenmpi-dev openmpi-bin)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing missing packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
