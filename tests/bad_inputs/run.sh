#!/usr/bin/env bash
# The corpus of hostile inputs: every folder here is one case, and each must
# give exactly one line on stderr ("qretrain: error: ..."), naming the key or
# file that its `expect` file lists, with the expected exit code, and write
# nothing (the case's work folder is unchanged).
#
# A case folder holds:
#   cmd     the arguments to qretrain, one shell line, run in a fresh work
#           folder $W; $CASE is the case folder, $REPO the repository root,
#           $FMNIST the Fashion-MNIST folder
#   setup   (optional) bash run in $W first, to make the hostile files
#           ($QRETRAIN is the binary under test, for files only it makes,
#           such as a feature cache to damage)
#   expect  "exit N" and one or more "names TEXT" lines: TEXT must appear in
#           the message
# Usage: run.sh QRETRAIN_BINARY [CASE_NAME...]
set -uo pipefail
bin=$(realpath "$1"); shift
export QRETRAIN="$bin"
here=$(cd "$(dirname "$0")" && pwd)
export REPO=$(cd "$here/../.." && pwd)
export FMNIST=/usr/share/datasets/fashion-mnist
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for d in "$here"/*/; do cases+=("$(basename "$d")"); done
fi
pass=0 fail=0
listing() { (cd "$1" && find . -mindepth 1 ! -name '.qretrain-case-*' -printf '%P %s %T@\n' | sort); }
for name in "${cases[@]}"; do
  export CASE="$here/$name"
  export W=$(mktemp -d "${TMPDIR:-/tmp}/qretrain-bad-XXXXXX")
  problems=()
  if [ -f "$CASE/setup" ] && ! (cd "$W" && bash "$CASE/setup") >"$W/.qretrain-case-setup" 2>&1; then
    problems+=("setup failed: $(tail -n 3 "$W/.qretrain-case-setup")")
  fi
  before=$(listing "$W")
  (cd "$W" && eval "timeout 120 '$bin' $(cat "$CASE/cmd")") </dev/null >"$W/.qretrain-case-out" 2>"$W/.qretrain-case-err"
  code=$?
  after=$(listing "$W")
  err=$(cat "$W/.qretrain-case-err")
  want_exit=$(awk '$1 == "exit" {print $2}' "$CASE/expect")
  [ "$code" = "$want_exit" ] || problems+=("exit code $code, expected $want_exit")
  lines=$(printf '%s' "$err" | grep -c '')
  [ "$lines" = 1 ] || problems+=("stderr has $lines lines, expected 1")
  case "$err" in "qretrain: error: "*) ;; *) problems+=("stderr does not start with 'qretrain: error: '") ;; esac
  while IFS= read -r want; do
    [[ "$err" == *"$want"* ]] || problems+=("message does not name '$want'")
  done < <(sed -n 's/^names //p' "$CASE/expect")
  [ "$before" = "$after" ] || problems+=("the work folder changed: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -3 | tr '\n' ' ')")
  if [ ${#problems[@]} -eq 0 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: ${problems[*]}"
    echo "     stderr: $(printf '%s' "$err" | head -c 600)"
  fi
  rm -rf "$W"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
