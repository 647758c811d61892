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
# OLD must occur exactly once in FILE. TESTS: a gtest filter for
# qretrain_tests, or "ctest:REGEX" for tests that ctest runs (shell tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
only=" $* "
table=tests/mutations/mutations.tsv
results=()
status=0
# Run TESTS (a gtest filter, or ctest:REGEX) against the current build; the log goes to $2.
run_tests() {
  if [[ "$1" == ctest:* ]]; then
    (cd "$build" && ctest -R "${1#ctest:}" --output-on-failure) > "$2" 2>&1
  else
    OMP_NUM_THREADS=1 "$build/tests/qretrain_tests" --gtest_filter="$1" > "$2" 2>&1
  fi
}
# First, unbroken: every named test must pass, or "caught" would mean nothing.
cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > /tmp/mutation-baseline.build.log 2>&1
gtest_filters=$(grep -v '^#' "$table" | cut -f5 | grep -v '^ctest:' | sort -u | paste -sd: -)
run_tests "$gtest_filters" /tmp/mutation-baseline.test.log || {
  tail -30 /tmp/mutation-baseline.test.log; echo "the named tests fail without any mutation" >&2; exit 1; }
for t in $(grep -v '^#' "$table" | cut -f5 | grep '^ctest:' | sort -u); do
  run_tests "$t" /tmp/mutation-baseline.test.log || {
    tail -30 /tmp/mutation-baseline.test.log; echo "$t fails without any mutation" >&2; exit 1; }
done
while IFS=$'\t' read -r id file old new tests what; do
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
  if ! cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > "/tmp/mutation-$id.build.log" 2>&1; then
    results+=("| $id | \`$file\` | $what | — | does not build (see /tmp/mutation-$id.build.log) |")
    status=1
  else
    log="/tmp/mutation-$id.test.log"
    run_tests "$tests" "$log" && rc=0 || rc=$?
    failed=$(grep -E "^\[  FAILED  \] [A-Za-z]" "$log" | grep -v "listed below" | sed -E 's/^\[  FAILED  \] ([^ ,]+).*/\1/' | sort -u | paste -sd' ' - || true)
    [[ "$tests" == ctest:* ]] && failed=$(grep -E "\*\*\*Failed|Failed  " "$log" | sed -E 's/.*: ([A-Za-z0-9_.]+) .*/\1/' | sort -u | paste -sd' ' - || true)
    if [ "$rc" -ne 0 ]; then
      results+=("| $id | \`$file\` | $what | ${failed:-exit $rc} | caught |")
    else
      results+=("| $id | \`$file\` | $what | — | **survived** ($tests passed) |")
      status=1
    fi
  fi
  restore
  trap - EXIT
done < "$table"
# Rebuild the unbroken program so the build folder is left as it was.
cmake --build "$build" -j "$(nproc)" --target qretrain qretrain_tests > /tmp/mutation-restore.build.log 2>&1
echo "| id | file | breakage | failing tests | result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
exit "$status"
