# lib.sh: shared helpers of the end-to-end tests (sourced): lab up/down, the nube binary,
# and checks of what is left on the hosts (domains, links) and in the store.
# Honours NUBE_LAB_ID (lab instance), NUBE (nube binary) and NUBED (agent binary).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
LAB="$REPO/lab/nube-lab"
NUBE=${NUBE:-$REPO/build/src/cli/nube}
LAB_ID=${NUBE_LAB_ID:-}
LAB_STATE=/run/nube-lab$LAB_ID
export NUBE_CONFIG=$LAB_STATE/nube.conf
TUTORIAL="$REPO/examples/vnx/tutorial_lxc_ubuntu.xml"
T=$(mktemp -d /tmp/nube-e2e.XXXXXX)
NAME=${0##*/}

fail() { echo "FAIL [$NAME]: $*" >&2; exit 1; }
ok() { echo "ok [$NAME]: $*"; }
info() { echo "-- [$NAME]: $*"; }

e2e_cleanup() {
	local rc=$?
	if [ "$rc" != 0 ]; then
		echo "--- [$NAME] failed (rc $rc); last agent log lines:" >&2
		for f in "$LAB_STATE"/host*/nubed.log; do
			[ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
		done
	fi
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$T"
	exit "$rc"
}

# need: the test's prerequisites; a missing one is a failure, never a skip
need() {
	[ "$(id -u)" = 0 ] || fail "run as root"
	[ -x "$NUBE" ] || fail "no nube binary at $NUBE (build first or set NUBE)"
	[ -x "$LAB" ] || fail "no lab tool at $LAB"
	command -v jq >/dev/null || fail "jq is missing (scripts/install-deps)"
	command -v sqlite3 >/dev/null || fail "sqlite3 is missing (scripts/install-deps)"
}

# lab_up N [ARGS]: a fresh lab of N hosts, then wait until all N are live in `nube hosts`.
# Balancing is off unless ARGS say "--balance on": a TCG guest booting on a busy machine
# loads its host enough to move VMs under a test that is not about balancing.
lab_up() {
	local n=$1 i live
	shift
	trap e2e_cleanup EXIT
	"$LAB" down >/dev/null 2>&1 || true
	"$LAB" up "$n" --balance off "$@" >"$T/lab-up.log" 2>&1 || { cat "$T/lab-up.log" >&2; fail "lab up $n"; }
	for i in $(seq 1 60); do
		live=$(hosts_live)
		[ "$live" = "$n" ] && { ok "lab up: $n live hosts"; return 0; }
		sleep 1
	done
	"$NUBE" hosts >&2 || true
	fail "only ${live:-0} of $n hosts became live within 60 s"
}

# hosts_live: how many hosts `nube hosts --json` shows online
hosts_live() {
	"$NUBE" hosts --json 2>/dev/null | jq '[.hosts[] | select(.online)] | length' 2>/dev/null || echo 0
}

lab_hosts() { seq 1 "$(cat "$LAB_STATE/hosts")"; }

# in_host K CMD...: run a command on lab host K
in_host() { local k=$1; shift; "$LAB" exec "host$k" -- "$@"; }

host_domains() { in_host "$1" virsh -q -c qemu:///system list --all --name | sed '/^$/d' | sort; }
host_links() { in_host "$1" ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(nbr|nvx)' | sort || true; }

store_rows() { sqlite3 "$LAB_STATE/nube.db" "SELECT count(*) FROM scenario WHERE name = '$1'"; }
store_allocs() {
	sqlite3 "$LAB_STATE/nube.db" "SELECT (SELECT count(*) FROM placement WHERE scenario='$1') + (SELECT count(*) FROM alloc_vni WHERE scenario='$1') + (SELECT count(*) FROM alloc_mac WHERE scenario='$1') + (SELECT count(*) FROM alloc_addr WHERE scenario='$1')"
}

# assert_clean SCENARIO [HOSTS...]: no domain, no nbr*/nvx* link on the hosts (default all),
# no scenario row or allocation in the store
assert_clean() {
	local s=$1 k d l
	shift
	for k in ${@:-$(lab_hosts)}; do
		d=$(host_domains "$k")
		[ -z "$d" ] || fail "host$k still has domains: $(echo $d)"
		l=$(host_links "$k")
		[ -z "$l" ] || fail "host$k still has links: $(echo $l)"
	done
	[ "$(store_rows "$s")" = 0 ] || fail "store still has scenario '$s'"
	[ "$(store_allocs "$s")" = 0 ] || fail "store still has allocations of '$s'"
	ok "nothing of '$s' left on host(s) $(echo ${@:-$(lab_hosts)}) nor in the store"
}

# retry SECONDS CMD...: run CMD until it succeeds or SECONDS pass; its last output in $T/retry.out
retry() {
	local limit=$1 t0=$SECONDS
	shift
	while true; do
		if "$@" >"$T/retry.out" 2>&1; then return 0; fi
		[ $((SECONDS - t0)) -lt "$limit" ] || return 1
		sleep 2
	done
}
