# lib.sh: helpers of the live balancing tests (sourced): the e2e helpers plus a lab whose
# agents sample every second with a [balance] group, CPU burners in guests, the event log
# (`nube events --follow --json` into a file) and waits on it.
# Honours NUBE_LAB_ID, NUBE, NUBED (see ../e2e/lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
BAL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUAD="$BAL/quad.xml"
QUAD_R="$BAL/quad-r.xml"
EVENTS=$T/events.jsonl
EVPID=

bal_cleanup() {
	local rc=$?
	[ -n "$EVPID" ] && kill "$EVPID" 2>/dev/null
	if [ "$rc" != 0 ] && [ -s "$EVENTS" ]; then
		echo "--- [$NAME] last events:" >&2
		tail -25 "$EVENTS" | jq -c '{host, type, vm, msg: (.msg | split("\n")[0])}' >&2 || true
	fi
	if [ "$rc" != 0 ] && [ "${BAL_KEEP:-0}" = 1 ]; then
		echo "--- [$NAME] BAL_KEEP=1: the lab stays up" >&2
		exit "$rc"
	fi
	(exit "$rc")
	e2e_cleanup
}

# boost PCT: set every lab host's CPU cap to PCT % (guests boot in time), then back with
# boost off
boost() {
	local k q=$1 f
	[ "$q" = off ] && q=$(cat "$LAB_STATE/cpu-quota")
	for k in $(lab_hosts); do
		f=/sys/fs/cgroup/cpu/nube-lab$LAB_ID/host$k/cpu.cfs_quota_us
		echo $((q * 1000)) > "$f" || fail "cannot set $f"
	done
}

# bal_lab_up N QUOTA BALANCE_KEYS...: lab of N hosts capped at QUOTA % CPU each, agents
# sampling every BAL_INTERVAL (2) seconds with a [balance] group of the given "key = value"
# lines (kept in BAL_KEYS) but "enabled = false" until bal_start: boot load while the
# guests start must not trigger moves
bal_lab_up() {
	local n=$1 quota=$2 k
	shift 2
	BAL_KEYS=("$@")
	lab_up "$n" --cpu-quota "$quota"
	trap bal_cleanup EXIT
	for k in $(lab_hosts); do
		bal_conf "$k" "${BAL_KEYS[@]}" "enabled = false"
	done
	for k in $(lab_hosts); do
		"$LAB" restart-agent "host$k" >/dev/null || fail "restart agent host$k"
	done
	retry 60 bal_all_live "$n" || fail "agents not live again after the restart"
	for k in $(lab_hosts); do
		grep -q "balancer: policy" "$LAB_STATE/host$k/nubed.log" || fail "host$k: no balancer in nubed"
	done
	ok "lab of $n hosts at $quota % CPU each, agents every ${BAL_INTERVAL:-2} s with [balance] $*"
}

# bal_start [K...]: balancing on: every host's conf without "enabled = false", the agents of
# hosts K (default all) restarted and live again
bal_start() {
	local k
	for k in $(lab_hosts); do
		bal_conf "$k" "${BAL_KEYS[@]}"
	done
	for k in ${@:-$(lab_hosts)}; do
		"$LAB" restart-agent "host$k" >/dev/null || fail "restart agent host$k"
	done
	for k in ${@:-$(lab_hosts)}; do
		retry 60 host_live "$k" || fail "host$k not live after enabling the balancer"
	done
	ok "balancing on (host(s) $(echo ${@:-$(lab_hosts)}))"
}

host_live() {
	"$NUBE" hosts --json 2>/dev/null | jq -e '.hosts[] | select(.host=="host'"$1"'" and .online)' >/dev/null
}

bal_all_live() { [ "$(hosts_live)" = "$1" ]; }

# bal_conf K LINES...: interval BAL_INTERVAL (2 s) and a fresh [balance] group in host K's nubed.conf
bal_conf() {
	local k=$1 f="$LAB_STATE/host$1/nubed.conf" l
	shift
	sed -i "s/^interval = .*/interval = ${BAL_INTERVAL:-2}/; /^\[balance\]/,\$d" "$f"
	{
		echo "[balance]"
		for l in "$@"; do echo "$l"; done
	} >> "$f"
}

# events_start: record every event from now on into $EVENTS
events_start() {
	: > "$EVENTS"
	"$NUBE" events --follow --json >"$EVENTS" 2>"$T/events.err" &
	EVPID=$!
	sleep 1
	kill -0 "$EVPID" 2>/dev/null || { cat "$T/events.err" >&2; fail "nube events --follow"; }
}

# ev_count JQ_FILTER: how many recorded events match the select() filter
ev_count() { jq -c "select($1)" "$EVENTS" 2>/dev/null | wc -l; }

# ev_wait SECONDS WHAT JQ_FILTER [N]: wait until at least N (1) events match
ev_wait() {
	local limit=$1 what=$2 filt=$3 want=${4:-1} t0=$SECONDS
	while [ "$(ev_count "$filt")" -lt "$want" ]; do
		[ $((SECONDS - t0)) -lt "$limit" ] || fail "no $what within $limit s"
		sleep 1
	done
	ok "$what (after $((SECONDS - t0)) s)"
}

# vm_host VM: the host running VM of scenario $S now (from the hosts themselves)
vm_host() { "$NUBE" status "$S" --json 2>/dev/null | jq -r '.vms[] | select(.vm=="'"$1"'" and .state=="running") | .host'; }

# host_load K: host K's load in its last retained state
host_load() {
	"$NUBE" hosts --json 2>/dev/null | jq -r '.hosts[] | select(.host=="host'"$1"'") | .load'
}

# caps_back: every host's state shows the lab's CPU cap again (after boost off)
caps_back() {
	"$NUBE" hosts --json | jq -e --argjson c "$(cat "$LAB_STATE/cpu-quota")" \
		'[.hosts[] | select(.online and (.cpus * 100 | round) != $c)] | length == 0' >/dev/null
}

# deploy_quad [RESTRICTIONS]: the four-VM scenario (default: every VM on host1), guests
# answering; the hosts get a full CPU while the guests boot
deploy_quad() {
	S=bq
	boost 100
	"$NUBE" deploy "$QUAD" --restrictions "${1:-$QUAD_R}" >"$T/deploy.out" 2>"$T/deploy.err" ||
		{ cat "$T/deploy.err" >&2; boost off; fail "deploy quad"; }
	for v in v1 v2 v3 v4; do
		retry 120 "$NUBE" exec bq --vm "$v" --cmd true || { cat "$T/retry.out" >&2; boost off; fail "guest $v does not answer"; }
	done
	boost off
	retry 30 caps_back || fail "hosts do not report their CPU cap again"
	ok "quad deployed ($(basename "${1:-$QUAD_R}")), guests answer"
}

# burn VM DUTY: a CPU burner in the guest using about DUTY percent of one CPU: busy by the
# guest clock (/proc/uptime, 10 ms steps) for DUTY ms, then sleep 100-DUTY ms; 100 = always
burn() {
	local vm=$1 duty=$2 cmd
	if [ "$duty" -ge 100 ]; then
		cmd='while :; do read u x </proc/uptime; done'
	else
		cmd="while :; do read u x </proc/uptime; e=\$((\${u%.*}\${u#*.} + $((duty / 10)))); while :; do read u x </proc/uptime; [ \${u%.*}\${u#*.} -lt \$e ] || break; done; usleep $(( (100 - duty) * 1000 )); done"
	fi
	# a saturated host answers slowly: try a few times; the token file makes a retry of a
	# call that did start the burner (but whose answer was lost) start nothing more
	local tok="/tmp/burn-$RANDOM$RANDOM"
	for try in 1 2 3 4 5; do
		"$NUBE" exec "$S" --vm "$vm" --cmd "[ -f $tok ] || { touch $tok; sh -c '$cmd' >/dev/null 2>&1 </dev/null & }; echo started" >"$T/burn.out" 2>&1 &&
			grep -q started "$T/burn.out" && return 0
		sleep 2
	done
	cat "$T/burn.out" >&2
	fail "burner in $vm did not start"
}

# unburn VM: stop the burners of VM (every process reading /proc/uptime; the pattern does
# not match the killing shell's own command line)
unburn() {
	local try
	for try in 1 2 3 4 5; do
		"$NUBE" exec "$S" --vm "$1" --cmd 'for p in $(ps -o pid,args | grep "uptim[e]" | cut -c1-6); do kill $p; done; true' >/dev/null 2>&1 &&
			return 0
		sleep 2
	done
	fail "stop burner in $1"
}

# wait_load K OP VALUE SECONDS: wait until host K's load OP VALUE (awk comparison)
wait_load() {
	local k=$1 op=$2 val=$3 limit=$4 t0=$SECONDS l
	while true; do
		l=$(host_load "$k")
		awk -v l="${l:-0}" -v v="$val" "BEGIN { exit !(l $op v) }" && { info "host$k load $l $op $val"; return 0; }
		[ $((SECONDS - t0)) -lt "$limit" ] || fail "host$k load ${l:-?} never $op $val within $limit s"
		sleep 1
	done
}
