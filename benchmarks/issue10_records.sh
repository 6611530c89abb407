#!/usr/bin/env bash
# The two record sets of issue #10, trained for real at --scale tiny (the README's "Going further" commands
# in the issue's order), then `remix report` over each. On a GPU they take minutes; on a 2-core CPU hours.
#
#   benchmarks/issue10_records.sh OUT 1   # remix run M --scale tiny; then --prefixes --scale tiny --steps 30
#   benchmarks/issue10_records.sh OUT 2   # ablate M --drop rope --scale tiny; then --each --seeds 3 --steps 30
#
# Extra arguments go to every remix command (e.g. --set train.compile=false to skip compiling each run).
set -uo pipefail
out=$1; which=$2; shift 2
remix=(python3 -m remix)
M=recipes/muon_baseline.toml
case $which in
  1) "${remix[@]}" run $M --scale tiny --out "$out/results1" "$@"
     "${remix[@]}" run $M --prefixes --scale tiny --steps 30 --out "$out/results1" "$@"
     "${remix[@]}" report --results "$out/results1" --out "$out/report1" --no-history ;;
  2) "${remix[@]}" ablate $M --drop rope --scale tiny --out "$out/results2" "$@"
     "${remix[@]}" ablate $M --each --seeds 3 --scale tiny --steps 30 --out "$out/results2" "$@"
     "${remix[@]}" report --results "$out/results2" --out "$out/report2" --no-history ;;
esac
