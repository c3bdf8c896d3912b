# Sourced by the tests/cli_*.sh scripts (this name keeps it out of their cli_* glob): one
# `check` for every CLI test, so a failure reads the same everywhere. The caller sets fails=0 first and exits non-zero when it grew.
# check <what> <expected exit code> <regex on stdout+stderr> <command...>
check() {
    local what="$1" want="$2" re="$3"
    shift 3
    local out rc
    out="$("$@" 2>&1)"
    rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -Eq -- "$re" <<<"$out"; then
        echo "FAIL: $what: rc=$rc (want $want, /$re/), output:"
        echo "$out" | tail -20
        fails=$((fails + 1))
    else
        echo "ok: $what"
    fi
}
