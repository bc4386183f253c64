#!/bin/bash
# test-vnx-examples: run `nube validate` on every VNX example file and compare each outcome
# (accepted, or rejected with its errors) with the list kept in tests/data/vnx-examples.expect.
# Usage: test-vnx-examples.sh NUBE EXAMPLES_DIR EXPECT_FILE [--write]
#   EXAMPLES_DIR is ../shared/vnx/examples beside the source tree (meson passes it; the
#   environment variable NUBE_VNX_EXAMPLES overrides it, e.g. in a worktree elsewhere).
#   --write prints the list as it is now (to update EXPECT_FILE after a deliberate change).
# The folder is looked for beside the checkout, in its nearest ancestor, then in
# /work/shared; a NUBE_VNX_EXAMPLES that names no folder fails; no folder anywhere is a loud
# skip (meson's exit 77, shown as SKIP), never a pass.
set -uo pipefail

nube=${1:?usage: test-vnx-examples.sh NUBE EXAMPLES_DIR EXPECT_FILE [--write]}
dir=${NUBE_VNX_EXAMPLES:-${2:?usage: test-vnx-examples.sh NUBE EXAMPLES_DIR EXPECT_FILE}}
expect=${3:?usage: test-vnx-examples.sh NUBE EXAMPLES_DIR EXPECT_FILE}
write=${4:-}

# a checkout deeper down (a worktree, a CI clone in a subfolder): the nearest ancestor's
# shared/vnx/examples
if [ ! -d "$dir" ] && [ -z "${NUBE_VNX_EXAMPLES:-}" ]; then
	a=$(cd "$(dirname "$0")/../.." && pwd)
	while [ "$a" != / ]; do
		a=$(dirname "$a")
		if [ -d "$a/shared/vnx/examples" ]; then
			dir=$a/shared/vnx/examples
			break
		fi
	done
fi
# this machine's shared folder (the project's checkouts live beside it)
if [ ! -d "$dir" ] && [ -z "${NUBE_VNX_EXAMPLES:-}" ] && [ -d /work/shared/vnx/examples ]; then
	dir=/work/shared/vnx/examples
fi
# nowhere at all (a checkout without the project's shared folder): reported as skipped by
# meson (exit 77), loudly, as test_shared_vnx does — never counted as passed
if [ ! -d "$dir" ] && [ -z "${NUBE_VNX_EXAMPLES:-}" ]; then
	echo "SKIPPED: no shared/vnx/examples beside or above this checkout (nor /work/shared):" \
		"set NUBE_VNX_EXAMPLES to VNX's examples to run this test" >&2
	exit 77
fi
if [ ! -d "$dir" ]; then
	echo "FAIL: VNX examples folder '$dir' is missing (expected ../shared/vnx/examples beside" \
		"the source tree; set NUBE_VNX_EXAMPLES to its path)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# actual: one line per file ("FILE<TAB>accepted"), or one per error ("FILE<TAB>rejected<TAB>
# LINE: MESSAGE"), paths relative to the examples folder, sorted
(cd "$dir" && find . -name '*.xml' -type f | sed 's|^\./||' | LC_ALL=C sort) >"$tmp/files"
nfiles=$(wc -l <"$tmp/files")
if [ "$nfiles" -eq 0 ]; then
	echo "FAIL: no .xml file under '$dir'" >&2
	exit 1
fi
while IFS= read -r f; do
	"$nube" validate "$dir/$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		printf '%s\taccepted\n' "$f"
	elif [ "$rc" -eq 1 ] && grep -q ': error: ' "$tmp/err"; then
		# "PATH:LINE: error: MSG" -> "LINE: MSG" (PATH may hold ':' only before the line)
		sed -n "s|^.*\.xml:\([0-9]*\): error: \(.*\)$|\1: \2|p" "$tmp/err" |
			while IFS= read -r e; do printf '%s\trejected\t%s\n' "$f" "$e"; done
	else
		printf '%s\tfailed with exit %s\n' "$f" "$rc"
	fi
done <"$tmp/files" >"$tmp/actual"

if [ "$write" = "--write" ]; then
	echo "# nube validate outcome for each file of ../shared/vnx/examples (VNX's own examples)."
	echo "# FILE<TAB>accepted, or one FILE<TAB>rejected<TAB>LINE: ERROR line per error."
	echo "# Checked by tests/cli/test-vnx-examples.sh; regenerate with its --write after a"
	echo "# deliberate change and say in the commit why each changed outcome is right."
	cat "$tmp/actual"
	exit 0
fi
if [ ! -f "$expect" ]; then
	echo "FAIL: expected outcomes '$expect' are missing" >&2
	exit 1
fi
grep -v '^#' "$expect" | grep -v '^$' >"$tmp/want"
if diff -u "$tmp/want" "$tmp/actual" >"$tmp/diff"; then
	acc=$(grep -c $'\taccepted$' "$tmp/actual")
	echo "test-vnx-examples: $nfiles files as expected ($acc accepted, $((nfiles - acc)) rejected)"
	exit 0
fi
echo "FAIL: nube validate outcomes on $dir differ from $(basename "$expect") (- expected, + now):" >&2
sed 's/^/  /' "$tmp/diff" >&2
exit 1
