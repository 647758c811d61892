#!/usr/bin/env bash
# The mutation check of the orchestration layer (issue 13): each line of
# tests/mutations/mutations.tsv is a deliberate one-line breakage of src/
# and the tests that must catch it. For each, the breakage is applied, the
# program and the tests are rebuilt, the named tests run, and the source is
# restored from a copy (uncommitted work is kept). The named tests must
# first pass unbroken; a mutation is "caught" when at least one of them fails. Prints a markdown table; exits 1 if a
# mutation survives or does not apply.
#
#   tests/mutations/run.sh [BUILD_DIR] [ID...]      (default build/, every mutation)
#
# A mutation line: ID <tab> FILE <tab> OLD <tab> NEW <tab> TESTS <tab> WHAT
# OLD must occur exactly once in FILE ("\n" stands for a newline); TESTS is
# a gtest filter for qretrain_tests.
set -euo pipefail
build=$(realpath "${1:-build}")
shift || true
cd "$(dirname "$0")/../.."
only=" $* "
table=tests/mutations/mutations.tsv
results=()
status=0
# A backup left beside a source means an earlier run was killed before it
# could restore it: restore it by hand (mv FILE.mutation-backup FILE) first.
left=$(find src -name '*.mutation-backup')
[ -z "$left" ] || { echo "an earlier run left mutated sources; restore them first: $left" >&2; exit 1; }
for id in $only; do
  cut -f1 "$table" | grep -qxF -- "$id" || { echo "no mutation named $id in $table" >&2; exit 1; }
done
# Run the tests of gtest filter $1 against the current build (10 minutes at
# most: a mutation that hangs counts as caught); the log goes to $2.
run_tests() {
  OMP_NUM_THREADS=1 timeout 600 "$build/tests/qretrain_tests" --gtest_filter="$1" > "$2" 2>&1 < /dev/null
}
# First, unbroken: every named test must pass, or "caught" would mean nothing.
cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > /tmp/mutation-baseline.build.log 2>&1
run_tests "$(grep -v '^#' "$table" | cut -f5 | sort -u | paste -sd: -)" /tmp/mutation-baseline.test.log || {
  tail -30 /tmp/mutation-baseline.test.log; echo "the named tests fail without any mutation" >&2; exit 1; }
# Fields are separated by single tabs and none may be empty (read merges tabs).
while IFS=$'\t' read -r -u 3 id file old new tests what; do
  [ -z "$id" ] || [ "${id#\#}" != "$id" ] && continue
  [ "$only" = "  " ] || [[ "$only" == *" $id "* ]] || continue
  old=${old//\\n/$'\n'}
  new=${new//\\n/$'\n'}
  count=$(OLD="$old" perl -0ne '$n = () = /\Q$ENV{OLD}\E/g; print $n' "$file")
  if [ "$count" != 1 ]; then
    results+=("| $id | \`$file\` | $what | — | does not apply ($count matches) |")
    status=1
    continue
  fi
  cp -p "$file" "$file.mutation-backup"
  restore() { mv -f "$file.mutation-backup" "$file"; touch "$file"; }
  trap restore EXIT
  OLD="$old" NEW="$new" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$file"
  echo "== $id: $what" >&2
  if ! cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > "/tmp/mutation-$id.build.log" 2>&1 < /dev/null; then
    results+=("| $id | \`$file\` | $what | — | does not build (see /tmp/mutation-$id.build.log) |")
    status=1
  else
    log="/tmp/mutation-$id.test.log"
    run_tests "$tests" "$log" && rc=0 || rc=$?
    failed=$(grep -E "^\[  FAILED  \] [A-Za-z]" "$log" | grep -v "listed below" | sed -E 's/^\[  FAILED  \] ([^ ,]+).*/\1/' | sort -u | paste -sd' ' - || true)
    [ "$rc" -eq 124 ] && failed="timed out"
    if [ "$rc" -ne 0 ]; then
      results+=("| $id | \`$file\` | $what | ${failed:-exit $rc} | caught |")
    else
      results+=("| $id | \`$file\` | $what | — | **survived** ($tests passed) |")
      status=1
    fi
  fi
  restore
  trap - EXIT
done 3< "$table"
# Rebuild the unbroken program so the build folder is left as it was.
cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > /tmp/mutation-restore.build.log 2>&1
echo "| id | file | breakage | failing tests | result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
exit "$status"
