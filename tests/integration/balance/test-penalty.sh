#!/bin/bash
# test-penalty.sh: seed case 7 (seed 001 §5.9) on a 2-host lab at 50 % CPU each: both hosts
# overloaded, neither can take the other's VMs: both plan, fail and are penalised, and every
# new penalty is longer by the step (6 s, 8 s, 10 s ...). Then host2's load is lowered:
# its penalty is cancelled (seed §4.4.7) and host1, once its own penalty is over, moves a VM
# to host2 and both end under the threshold.
# Placement: v1, v2 (burning 10 %) and v3 (idle) on host1, v4 (burning 50 %) on host2.
# The threshold is calibrated (see lib.sh): with balancing off, the idle guests and then the
# burners are measured; it must lie over host2 calm (v4 idle) + the heaviest burning VM and
# over host1 once a burning VM left it, and under both busy hosts: the gap is about one
# burning VM (0.3-0.4). The earlier split (two burning VMs a host, calm host2 with two idle
# guests) left only V - 2 idle between "busy" and "calm + one": 0.0-0.1 in full runs (busy
# 0.56-0.67 vs ~0.50-0.54; a fixed 0.35 never fitted, a fixed 0.55 had ~0.05 either side).
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
P=6
STEP=2
bal_lab_up 2 50 "load-threshold = 0.5" "margin = 0" "alarm-count = 2" "penalty = $P" \
	"penalty-step = $STEP" "cooldown = 60"
deploy_quad "$BAL/quad-31-r.xml"
[ "$(vm_host v1)" = host1 ] && [ "$(vm_host v3)" = host1 ] && [ "$(vm_host v4)" = host2 ] ||
	fail "placement is not v1,v2,v3 on host1 and v4 on host2"

# calibration, balancing off: idle guests, then the burners
bal_measure 12 idle
burn v1 10
burn v2 10
burn v4 50
wait_load 1 '>' "$(calc "$(m_host idle 1 mean) + 0.1")" 30
wait_load 2 '>' "$(calc "$(m_host idle 2 mean) + 0.1")" 30
bal_measure 20 busy
vmax=$(printf '%s\n' $(m_vm busy v1) $(m_vm busy v2) | sort -g | tail -1)
vmin=$(printf '%s\n' $(m_vm busy v1) $(m_vm busy v2) | sort -g | head -1)
calm_fit=$(calc "$(m_host idle 2 mean) + $vmax")		# host2 calm + the VM host1 moves
h1_after=$(calc "$(m_host busy 1 mean) - $vmin")		# host1 once that VM left
busy=$(calc "$(m_host busy 1 mean) < $(m_host busy 2 mean) ? $(m_host busy 1 mean) : $(m_host busy 2 mean)")
lo=$(calc "$calm_fit > $h1_after ? $calm_fit : $h1_after")
TH=$(bal_pick_th "calm host2 + VM $calm_fit, host1 after a move $h1_after; busy hosts $busy" "$lo" "$busy")
echo "$TH" >"$T/th"
info "threshold $TH: over calm host2 + a burning VM ($calm_fit) and host1 after a move ($h1_after), under the busy hosts ($busy)"
bal_key load-threshold "$TH"
bal_start
events_start
ok "v1, v2 and v4 burn: both hosts over $TH"

# Each host's penalty streak, from the events recorded so far (a line being written is
# skipped). A load sample under the threshold cancels a penalty and restarts the streak at
# failure 1 (seed §4.4.7): on a busy machine that happens now and then, so the events are
# collected until each host shows what is to be proven, not for a fixed count of penalties.
# pens H: "failures seconds" of each of H's penalties
pens() {
	jq -rR 'fromjson? | select(.type=="penalty" and .host=="'$1'") | "\(.data.failures) \(.data.seconds)"' "$EVENTS"
}
# waits H: "failures/announced/waited" for each of H's penalties followed by a plan with no
# cancellation in between (the plan that ends a penalty and the next penalty come together)
waits() {
	jq -rR 'fromjson? | select(.host=="'$1'" and (.type=="plan" or .type=="penalty" or .type=="penalty-cancelled")) | "\(.type) \(.ts) \(.data.seconds) \(.data.failures)"' "$EVENTS" |
		awk '$1 == "penalty" { s = $3; f = $4; t = $2 } $1 == "penalty-cancelled" { t = 0 }
		     $1 == "plan" && t { printf "%d/%.1f/%.1f\n", f, s, ($2 - t) / 1000; t = 0 }'
}
# pens_bad H: a penalty whose length is not P + STEP * (failures - 1), or a failure k+1 right
# after failure k not longer by STEP; prints how many times the length grew by the step
pens_bad() {
	pens "$1" | awk -v p=$P -v s=$STEP '
		{ f = $1; want = p + s * (f - 1); if ($2 < want - 0.5 || $2 > want + 0.5) bad = 1 }
		$1 >= 2 && prev >= 1 && $1 == prev + 1 && ($2 - last < s - 0.5 || $2 - last > s + 0.5) { bad = 1 }
		$1 >= 2 && $1 == prev + 1 { grew++ }
		{ prev = $1; last = $2 }
		END { print grew + 0; exit bad }'
}
# waits_bad H: a plan earlier than the penalty's end, or more than 2 intervals + 1.5 s after it
# (samples every 2 s: the first sample after the end plans); prints "measured grown": how many
# waits were measured and how many of them followed a grown penalty (failure >= 2)
waits_bad() {
	waits "$1" | awk -F/ '$3 < $2 - 0.5 || $3 > $2 + 5.5 { bad = 1 } { n++ } $1 >= 2 { g++ }
		END { print n + 0, g + 0; exit bad }'
}
# each host: the step visible (a failure k+1 longer by STEP than failure k), at least two
# penalties waited out, one of them a grown one; every length and every wait right
t0=$SECONDS
while true; do
	done_all=1
	for h in host1 host2; do
		grew=$(pens_bad $h) || fail "$h: penalties do not follow $P s + $STEP s per failure: $(echo $(pens $h))"
		w=$(waits_bad $h) || fail "$h did not wait its penalties out (failures/penalty/waited): $(echo $(waits $h))"
		read -r n g <<<"$w"
		[ "$grew" -ge 1 ] && [ "$n" -ge 2 ] && [ "$g" -ge 1 ] || done_all=0
	done
	[ "$done_all" = 1 ] && break
	[ $((SECONDS - t0)) -lt 240 ] || {
		for h in host1 host2; do info "$h penalties: $(echo $(pens $h)); waits: $(echo $(waits $h))"; done
		fail "within 240 s not every host showed a grown penalty and two penalties waited out"
	}
	sleep 1
done
ok "step and waits seen on both hosts (after $((SECONDS - t0)) s)"
[ "$(ev_count '.type=="migrate-start"')" = 0 ] || fail "a VM moved although no host had room"
for h in host1 host2; do
	info "$h penalties (failures seconds): $(echo $(pens $h))"
	info "$h waits (failures/penalty/waited): $(echo $(waits $h))"
	info "$h cancellations by a load dip: $(ev_count '.type=="penalty-cancelled" and .host=="'$h'"')"
done
ok "both hosts penalised; each new penalty longer by $STEP s, and the agents waited them out"

# host2 calms down: its penalty is cancelled, host1 moves one VM there
nc0=$(ev_count '.type=="penalty-cancelled" and .host=="host2"')
unburn v4
ok "host2's burner stopped"
# host2's penalty streak is over when its latest penalty event is a cancellation and its load
# is under the threshold (a load dip may have cancelled it just before the burners stopped,
# see above: then no new cancellation comes)
host2_unpenalised() {
	local last
	last=$(jq -rR 'fromjson? | select(.host=="host2" and (.type=="penalty" or .type=="penalty-cancelled")) | .type' "$EVENTS" | tail -1)
	[ "$last" = penalty-cancelled ] || return 1
	awk -v l="$(host_load 2)" -v v="$TH" 'BEGIN { exit !(l != "" && l < v) }'
}
# a sample taken after the burners stopped shows host2 under the threshold
wait_fresh_load 2 '<' "$TH" 60
retry 60 host2_unpenalised || fail "host2's penalty not cancelled within 60 s after its burners stopped"
ok "host2's penalty cancelled ($(( $(ev_count '.type=="penalty-cancelled" and .host=="host2"') - nc0 )) cancellation(s) after the burners stopped)"
ev_wait 120 "host1 moves a VM to host2" '.type=="migrated" and .host=="host1" and .data.dst=="host2"'
jq -r 'select(.type=="migrated") | "\(.vm) \(.data.src)->\(.data.dst) \(.data.duration_ms) ms, downtime \(.data.downtime_ms) ms"' "$EVENTS" |
	while read -r l; do info "migrated: $l"; done
wait_load 1 '<' "$TH" 90
wait_load 2 '<' "$TH" 60
ok "case 7: after host2 calmed down host1 moved a VM; both hosts under $TH"
