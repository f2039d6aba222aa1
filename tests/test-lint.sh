#!/bin/sh
# Style gate: every tracked C file is formatted as .clang-format says, and
# cppcheck finds nothing in lib/, formats/ and cli/ (make lint, as TAP).
: "${VLDOC_SRCDIR:=.}"
cd "$VLDOC_SRCDIR" || exit 1
if ! command -v clang-format >/dev/null 2>&1 || ! command -v git >/dev/null 2>&1 ||
   ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "1..0 # SKIP needs clang-format and a git checkout (not a tarball)"
  exit 0
fi
echo "1..2"
files=$(git ls-files '*.c' '*.h')
bad=$(for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -z "$bad" ]; then
  echo "ok 1 - clang-format: $(echo "$files" | wc -l) files formatted"
else
  echo "not ok 1 - clang-format: not formatted: $(echo $bad)"
fi
if command -v cppcheck >/dev/null 2>&1; then
  if out=$(cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
      --suppress=missingIncludeSystem -I include lib formats cli 2>&1); then
    echo "ok 2 - cppcheck: no findings"
  else
    echo "not ok 2 - cppcheck:"
    echo "$out" | sed 's/^/# /'
  fi
else
  echo "ok 2 # SKIP cppcheck not installed"
fi
