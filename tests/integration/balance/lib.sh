# lib.sh: helpers of the live balancing tests (sourced): the e2e helpers plus a lab whose
# agents sample every second with a [balance] group, CPU burners in guests, the event log
# (`nube events --follow --json` into a file) and waits on it.
# Honours NUBE_LAB_ID, NUBE, NUBED (see ../e2e/lib.sh).
#
# Calibration: what a host or a burning guest costs depends on how busy the machine is (TCG
# guests under a CPU cap; other processes take CPU too): the same 10 % burner measured
# 0.22-0.28 of a host, a calm host with two idle guests 0.05-0.42 in different runs. So no
# test hard-codes its load threshold: with balancing still off ("enabled = false", nothing
# moves) and the burners settled, bal_measure records every host's published state for a
# while (host loads: mean, min, max; each guest's own load from the same states), the test
# derives from those numbers the loads its scenario will have (e.g. "calm host + one burning
# VM", "busy host"), and bal_pick_th puts the threshold in the middle of the gap between
# what must stay under it and what must stay over it. When the gap is narrower than
# BAL_MIN_GAP (0.08) the test fails and prints the measured values, never passes on luck.
# The thresholds go into each agent's nubed.conf [balance] group, which bal_start writes.
# The lab's cpu group weighs 8192 a host (lab/nube-lab), so a host gets its cap even while
# other sessions keep the machine busy; before that the measured loads shrank with the
# machine's load (a burning guest 0.21 instead of 0.31) and no threshold had room.
# What a test chooses from the measurements: test-penalty puts its threshold between
# "calm host2 + a burning VM" and the busy hosts (v1, v2, v3 vs v4, so the gap is a whole
# burning VM); test-overload also picks whether its guests burn at 10 % or idle, whichever
# leaves two guests on a host under and three over the threshold with more room;
# test-admission sizes its admission probes from host3's room; test-evacuate makes sure
# one host can take both of host1's VMs.
# Every later step waits on a condition (an event, a load crossing), never a fixed sleep
# for a pass.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
BAL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUAD="$BAL/quad.xml"
QUAD_R="$BAL/quad-r.xml"
EVENTS=$T/events.jsonl
EVPID=

bal_cleanup() {
	local rc=$?
	[ -n "$EVPID" ] && kill "$EVPID" 2>/dev/null
	if [ "$rc" != 0 ]; then
		for f in "$T"/measure-*.json; do
			[ -f "$f" ] || continue
			f=${f##*/measure-}
			echo "--- [$NAME] measured (${f%.json}): $(m_summary "${f%.json}")" >&2
		done
		[ -f "$T/th" ] && echo "--- [$NAME] calibrated load-threshold $(cat "$T/th")" >&2
	fi
	if [ "$rc" != 0 ] && [ -s "$EVENTS" ]; then
		echo "--- [$NAME] last events:" >&2
		tail -25 "$EVENTS" | jq -c '{host, type, vm, msg: (.msg | split("\n")[0])}' >&2 || true
	fi
	if [ "$rc" != 0 ] && [ "${BAL_KEEP:-0}" = 1 ]; then
		echo "--- [$NAME] BAL_KEEP=1: the lab stays up" >&2
		exit "$rc"
	fi
	set +e	# errexit would end this handler at the next line: no agent logs, lab left up
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

# bal_key KEY VALUE: set KEY in BAL_KEYS (written by bal_start or bal_reconf)
bal_key() {
	local i
	for i in "${!BAL_KEYS[@]}"; do
		[[ "${BAL_KEYS[$i]}" == "$1 = "* ]] && { BAL_KEYS[$i]="$1 = $2"; return 0; }
	done
	BAL_KEYS+=("$1 = $2")
}

# bal_reconf: BAL_KEYS into every host's conf, balancing still off, agents restarted and live
bal_reconf() {
	local k
	for k in $(lab_hosts); do
		bal_conf "$k" "${BAL_KEYS[@]}" "enabled = false"
		"$LAB" restart-agent "host$k" >/dev/null || fail "restart agent host$k"
	done
	retry 60 bal_all_live "$(cat "$LAB_STATE/hosts")" || fail "agents not live again after the restart"
	for k in $(lab_hosts); do
		samples "$k" 1 20 >/dev/null
	done
	info "agents restarted with [balance] ${BAL_KEYS[*]} (balancing off)"
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

# bal_measure SECONDS [TAG]: record every host's live state messages for SECONDS (one per
# sample) into $T/measure-TAG.jsonl and summarise them into $T/measure-TAG.json:
# {"hosts": {"host1": {"mean", "min", "max", "n"}}, "vms": {"v1": {"mean", "min", "max"}}}
# (a VM's load is its CPU use as a share of its host's capacity, as the agents count it in
# a plan). The summary is printed as a "measured:" line. Fails when a host sent no sample.
bal_measure() {
	local secs=$1 tag=${2:-m} broker opw k
	broker=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
	opw=$(cat "$LAB_STATE/operator.pw")
	mosquitto_sub -V mqttv5 -h "$broker" -u operator -P "$opw" -t 'nube/v1/host/+/state' -R \
		-W "$secs" >"$T/measure-$tag.jsonl" 2>/dev/null || true
	jq -s '
		def stat: { mean: (add / length), min: min, max: max, n: length };
		{ hosts: (group_by(.host) | map({ key: .[0].host, value: (map(.load) | stat) }) | from_entries),
		  vms: ([.[] | .vms[]? | select(.active) | { vm: (.vm // .domain), load }] | group_by(.vm) |
			map({ key: .[0].vm, value: (map(.load) | stat) }) | from_entries) }' \
		"$T/measure-$tag.jsonl" >"$T/measure-$tag.json" 2>/dev/null ||
		fail "cannot read the state messages recorded in $T/measure-$tag.jsonl"
	for k in $(lab_hosts); do
		jq -e '.hosts["host'"$k"'"].n >= 2' "$T/measure-$tag.json" >/dev/null ||
			fail "host$k published fewer than 2 states in $secs s"
	done
	info "measured ($tag, $secs s): $(m_summary "$tag")"
}

# m_summary TAG: one line of the measured loads
m_summary() {
	jq -r '[(.hosts | to_entries[] | "\(.key) \(.value.mean * 100 | round / 100) [\(.value.min * 100 | round / 100)-\(.value.max * 100 | round / 100)]"),
		(.vms | to_entries[] | "\(.key) \(.value.mean * 100 | round / 100)")] | join(", ")' "$T/measure-$1.json"
}

# m_host TAG K STAT: host K's load statistic (mean, min, max) of measurement TAG
m_host() { jq -r '.hosts["host'"$2"'"].'"$3"' // empty' "$T/measure-$1.json"; }

# m_vm TAG VM [STAT]: VM's load (mean by default) of measurement TAG; 0 when not sampled
m_vm() { jq -r '(.vms["'"$2"'"] // .vms["'"$S.$2"'"]).'"${3:-mean}"' // 0' "$T/measure-$1.json"; }

# calc EXPR: awk arithmetic, three decimals
calc() { awk "BEGIN { printf \"%.3f\", ($*) }"; }

# bal_pick_th WHAT LOW HIGH: the threshold halfway between LOW (what must stay under it)
# and HIGH (what must stay over it), printed; fails naming WHAT and the values when the gap
# is below BAL_MIN_GAP (0.08) or the threshold would leave (0.05, 0.98)
bal_pick_th() {
	local what=$1 lo=$2 hi=$3 gap=${BAL_MIN_GAP:-0.08} th
	th=$(calc "($lo + $hi) / 2")
	awk -v l="$lo" -v h="$hi" -v g="$gap" -v t="$th" 'BEGIN { exit !(h - l >= g && t > 0.05 && t < 0.98) }' ||
		fail "cannot calibrate ($what): what must stay under the threshold reaches $lo, what must stay over it $hi: gap $(calc "$hi - $lo") (need $gap), threshold $th (need 0.05-0.98)"
	echo "$th"
}

# wait_fresh_load K OP VALUE SECONDS: like wait_load, but only samples host K publishes from
# now on count (not its retained state, which may predate what the test just changed)
wait_fresh_load() {
	local k=$1 op=$2 val=$3 limit=$4 t0=$SECONDS l broker opw
	broker=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
	opw=$(cat "$LAB_STATE/operator.pw")
	while true; do
		l=$(mosquitto_sub -V mqttv5 -h "$broker" -u operator -P "$opw" -t "nube/v1/host/host$k/state" -R \
			-C 1 -W 10 2>/dev/null | jq -r .load)
		case $l in
		'' | null) ;;
		*) awk -v l="$l" -v v="$val" "BEGIN { exit !(l $op v) }" &&
			{ info "host$k load $l $op $val (fresh sample)"; return 0; } ;;
		esac
		[ $((SECONDS - t0)) -lt "$limit" ] || fail "host$k load ${l:-?} never $op $val within $limit s"
	done
}

# samples K N SECONDS: wait until host K published N more samples (live state messages);
# their loads printed as info
samples() {
	local k=$1 n=$2 limit=$3 broker opw l
	broker=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
	opw=$(cat "$LAB_STATE/operator.pw")
	l=$(mosquitto_sub -V mqttv5 -h "$broker" -u operator -P "$opw" -t "nube/v1/host/host$k/state" -R \
		-C "$n" -W "$limit" 2>/dev/null | jq -r .load) || true
	[ "$(echo "$l" | grep -c .)" -ge "$n" ] || fail "host$k published fewer than $n samples within $limit s"
	info "host$k: $n more samples, loads $(echo $l)"
}
