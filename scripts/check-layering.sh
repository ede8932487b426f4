#!/usr/bin/env bash
# Checks the layering rule (docs/architecture.md) over every module's whole archive, not only what
# a unit test happens to link:
#   1. includes: a file of src/M/ includes headers only from M and the modules M may use;
#   2. symbols: every symbol a module's archive needs from another parkwatch module is defined in a
#      module it may use (symbols no parkwatch module defines come from system libraries).
# Usage: check-layering.sh BUILD_DIR "MODULES" then one "M:DEP DEP ..." argument per module.
# Prints each violation with the file or symbol and exits 1 when there is one.
set -euo pipefail
B=$1; shift
modules=$1; shift
declare -A deps
for spec in "$@"; do deps[${spec%%:*}]=" ${spec#*:} "; done

fail=0
# 1. includes
for m in $modules; do
    allowed=" $m ${deps[$m]} "
    for f in src/$m/*.[ch]; do
        [ -e "$f" ] || continue
        while IFS= read -r inc; do
            d=${inc%%/*}
            if [[ "$allowed" != *" $d "* ]]; then
                echo "layering: $f includes \"$inc\" ($m may use:${deps[$m]})" >&2
                fail=1
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
    done
done

# 2. symbols: which module defines each global symbol
declare -A owner
for m in $modules; do
    lib=$B/lib/libpw_$m.a
    [ -f "$lib" ] || { echo "layering: $lib missing (build first)" >&2; exit 1; }
    while read -r sym; do owner[$sym]=$m; done < <(nm -g --defined-only "$lib" 2>/dev/null |
        awk 'NF >= 3 && $2 ~ /^[TDBRVWCG]$/ {print $3}')
done
for m in $modules; do
    allowed=" $m ${deps[$m]} "
    while read -r sym; do
        o=${owner[$sym]:-}
        [ -n "$o" ] || continue
        if [[ "$allowed" != *" $o "* ]]; then
            echo "layering: module $m uses $sym from $o ($m may use:${deps[$m]})" >&2
            fail=1
        fi
    done < <(nm -g --undefined-only "$B/lib/libpw_$m.a" 2>/dev/null | awk 'NF >= 2 && $1 == "U" {print $2}' | sort -u)
done
exit $fail
