#!/bin/bash
# test-evacuate.sh: seed case 6 (seed 001 §5.8) on a 3-host lab at 50 % CPU each, plus the
# service loss of a live migration (seed §5.11.1) and `nube drain`.
#  - host1 (v1 burning, v2) is loaded, host2 (v4) and host3 (v3) idle; host1's agent has
#    evacuate = true. The threshold is calibrated (lib.sh) so that the evacuation and the
#    drain below can place every VM under the admission limit (a fixed 0.65 left no room once
#    the pinger's cost was measured: v1 0.57, host3 0.54). While v3 on host3 pings v1 every 10 ms, host1's agent gets SIGTERM: it
#    moves every VM away under the admission rules, then exits. All VMs end on host2/host3.
#  - pings lost while v1 moved: reported, goal <= downtime/10 ms + 2; v1 is still reachable
#    over its scenario net afterwards (from v3, and v2 wherever it went).
#  - `nube drain host2` empties host2 the same way (exit 0), `--cancel` ends it.
#  - a migration that fails (the destination's libvirtd is gone) leaves the VM running on
#    its source, is reported ("migrate-failed") and counted in the source's state.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
KEYS=("load-threshold = 0.65" "margin = 0.05" "alarm-count = 2" "penalty = 6" "penalty-step = 2")
bal_lab_up 3 50 "${KEYS[@]}"
deploy_quad "$BAL/trio-r.xml"
burn v1 10
# v3 (host3) pings v1 (host1) every 10 ms through the whole evacuation
"$NUBE" exec bq --vm v3 --cmd 'ping -i 0.01 -w 900 10.98.0.1 >/tmp/ping.log 2>&1 & echo $! >/tmp/ping.pid; echo started' >"$T/ping.out" 2>&1 ||
	{ cat "$T/ping.out"; fail "start the pinger in v3"; }
# calibration (lib.sh), balancing off, v1 burning and v3 pinging: the threshold must let
# the agents place every VM when host1 evacuates and when host2 is drained (+ margin 0.05,
# the admission limit); both place the biggest VM first on the least loaded host, so that
# is what is simulated on the measured loads (the pinger makes v1 and v3 cost ~0.55 each);
# nothing has to stay over the threshold
samples 1 2 20
bal_measure 16 busy
awk -v a="$(m_vm busy v1)" -v b="$(m_vm busy v2)" 'BEGIN { exit !(a > b + 0.05) }' ||
	fail "v1 does not burn: v1 $(m_vm busy v1), v2 $(m_vm busy v2)"
# place A B V...: "load-of-A load-of-B onA..." after VMs V (loads, biggest first) went each to
# the less loaded of A and B; onA lists the VMs A got
place() {
	awk -v a="$1" -v b="$2" -v vs="${*:3}" 'BEGIN {
		n = split(vs, v, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (v[j] > v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		for (i = 1; i <= n; i++) if (a <= b) { a += v[i]; on = on " " v[i] } else b += v[i]
		printf "%.3f %.3f%s\n", a, b, on }'
}
read -r e2 e3 on2 <<<"$(place "$(m_host busy 2 mean)" "$(m_host busy 3 mean)" "$(m_vm busy v1)" "$(m_vm busy v2)")"
b1=$(calc "$(m_host busy 1 mean) - $(m_vm busy v1) - $(m_vm busy v2)")
read -r d1 d3 _ <<<"$(place "$b1" "$e3" "$(m_vm busy v4)" $on2)"
lo=$(printf '%s\n' "$e2" "$e3" "$d1" "$d3" | sort -g | tail -1)
info "evacuation: host2 $e2, host3 $e3; drain of host2: host1 $d1, host3 $d3"
lo=$(calc "$lo + 0.05")
TH=$(bal_pick_th "host1's VMs evacuated, then host2's drained, + margin" "$lo" 1)
echo "$TH" >"$T/th"
info "threshold $TH: over $lo (the fullest host after the evacuation or the drain + margin)"
KEYS[0]="load-threshold = $TH"
BAL_KEYS=("${KEYS[@]}")
bal_start 2 3
bal_conf 1 "${KEYS[@]}" "evacuate = true" "evacuate-timeout = 240"
"$LAB" restart-agent host1 >/dev/null
retry 60 host_live 1 || fail "host1 not live again"
grep -q "evacuate on exit yes" "$LAB_STATE/host1/nubed.log" || fail "host1's agent does not evacuate on exit"
events_start
ok "v1 burns on host1, v3 pings it; host1 evacuates on exit"
pid=$(cat "$LAB_STATE/host1/nubed.pid")
t0=$SECONDS
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do
	[ $((SECONDS - t0)) -lt 300 ] || fail "host1's agent still running 300 s after SIGTERM"
	sleep 1
done
ok "host1's agent exited $((SECONDS - t0)) s after SIGTERM"
grep -q "evacuating every VM" "$LAB_STATE/host1/nubed.log" || fail "host1 did not evacuate"
ev_wait 10 "drain-done from host1" '.type=="drain-done" and .host=="host1"'
d=$(host_domains 1 | wc -l)
[ "$d" = 0 ] || fail "host1 still has $d domain(s): $(host_domains 1 | tr '\n' ' ')"
# each VM runs where its last reported migration put it: host2 and host3 balance, and a
# destination may pass a VM on (an arrival costs more for a few samples than its source
# measured: seen once, v1 admitted at 0.65 then host2 at 0.97 moved it to host3)
moves() { jq -r 'select(.type=="migrated" and .scenario=="bq" and .vm=="'$1'") | "\(.data.src)->\(.data.dst)"' "$EVENTS" | tr '\n' ' '; }
as_reported() {
	local h
	h=$(jq -r 'select(.type=="migrated" and .scenario=="bq" and .vm=="'$1'") | .data.dst' "$EVENTS" | tail -1)
	[ -n "$h" ] && [ "$h" != host1 ] &&
		host_domains "${h#host}" | grep -qxF "bq.$1" &&
		in_host "${h#host}" virsh -q -c qemu:///system domstate "bq.$1" | grep -q running
}
for v in v1 v2; do
	[ "$(ev_count '.type=="migrated" and .scenario=="bq" and .vm=="'$v'" and .data.src=="host1"')" -ge 1 ] ||
		fail "no migration of $v from host1 reported"
	retry 60 as_reported "$v" || fail "$v is not running where its reported migrations put it: $(moves "$v")"
done
jq -r 'select(.type=="migrated") | "\(.vm) \(.data.src)->\(.data.dst) \(.data.duration_ms) ms, downtime \(.data.downtime_ms) ms"' "$EVENTS" |
	while read -r l; do info "migrated: $l"; done
ok "case 6: every VM left host1 before its agent exited"

# pings lost while v1 moved
"$NUBE" exec bq --vm v3 --cmd 'kill -INT $(cat /tmp/ping.pid); sleep 1; tail -3 /tmp/ping.log' >"$T/ping.out" 2>&1 ||
	{ cat "$T/ping.out"; fail "stop the pinger"; }
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.out")
rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' "$T/ping.out")
[ -n "$tx" ] && [ -n "$rx" ] || { cat "$T/ping.out"; fail "no ping summary"; }
[ "$rx" -gt 0 ] || fail "v3 never reached v1"
down=$(jq -r 'select(.type=="migrated" and .scenario=="bq" and .vm=="v1") | .data.downtime_ms' "$EVENTS" | sed -n 1p)
dur=$(jq -r 'select(.type=="migrated" and .scenario=="bq" and .vm=="v1") | .data.duration_ms' "$EVENTS" | sed -n 1p)
lost=$((tx - rx))
goal=$((down / 10 + 2))
echo "PING-RESULT: v1 migration ${dur} ms, downtime ${down} ms; pings every 10 ms: $tx sent, $rx received, $lost lost (goal <= $goal)"
info "pings lost $lost vs goal $goal (reported, not asserted: TCG guests under a CPU cap keep no 10 ms pace)"
# the scenario's links work after the move
retry 30 "$NUBE" exec bq --vm v3 --cmd 'ping -c 3 -W 2 10.98.0.1' || { cat "$T/retry.out"; fail "v3 cannot reach v1 after the move"; }
retry 30 "$NUBE" exec bq --vm v1 --cmd 'ping -c 3 -W 2 10.98.0.2' || { cat "$T/retry.out"; fail "v1 cannot reach v2 after the moves"; }
ok "v1 reachable over its scenario net after the move (from v3 and to v2)"

# nube drain: empty host2 (a live agent) under the same rules
"$LAB" restart-agent host1 >/dev/null
retry 60 bal_all_live 3 || fail "host1 not live again"
unburn v1
n2=$(host_domains 2 | wc -l)
[ "$n2" -ge 1 ] || fail "host2 has no VM to drain"
"$NUBE" drain host2 >"$T/drain.out" 2>"$T/drain.err" || { cat "$T/drain.err" "$T/drain.out"; fail "nube drain host2"; }
cat "$T/drain.out"
grep -q "host2 drained: $n2 VM(s) moved" "$T/drain.out" || fail "drain summary"
[ "$(host_domains 2 | wc -l)" = 0 ] || fail "host2 still has domains after the drain"
ok "nube drain host2 moved its $n2 VM(s)"
"$NUBE" drain host2 --cancel >/dev/null || fail "drain --cancel"
ok "drain --cancel"

# a failing migration: the destination's libvirtd is killed, the VM stays where it was (forced,
# so that admission — which may refuse on load here — cannot answer before libvirt fails)
src=""
for v in v1 v2 v3 v4; do
	h=$(vm_host $v)
	if [ "$h" = host1 ] || [ "$h" = host3 ]; then src=$h; fvm=$v; break; fi
done
[ -n "$src" ] || fail "no VM on host1 or host3"
if [ "$src" = host1 ]; then dst=host3; else dst=host1; fi
kill "$(cat "$LAB_STATE/$dst/run/libvirtd.pid")" || fail "cannot stop $dst's libvirtd"
source "$BAL/../agent/rpc.sh"
BROKER=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
OPW=$(cat "$LAB_STATE/operator.pw")
rpc "$src" '{"op":"migrate","vm":"'$fvm'","dst":"'$dst'","force":true}' 120 >"$T/fail.json" || fail "migrate rpc got no answer"
jq -e '.ok == false and .moves[0].status == "failed"' "$T/fail.json" >/dev/null ||
	{ cat "$T/fail.json"; fail "the migration to $dst without libvirtd did not fail"; }
ev_wait 10 "migrate-failed event" '.type=="migrate-failed" and .scenario=="bq" and .vm=="'$fvm'"'
info "$(jq -r 'select(.type=="migrate-failed") | .msg' "$EVENTS" | sed -n 1p)"
in_host "${src#host}" virsh -q -c qemu:///system domstate "bq.$fvm" | grep -q running ||
	fail "$fvm is not running on $src after the failed migration"
retry 20 sh -c "'$NUBE' hosts --json >/dev/null; mosquitto_sub -V mqttv5 -h $BROKER -u operator -P $OPW -t nube/v1/host/$src/state -C 1 -W 3 | jq -e '.balance.migrations_failed >= 1'" ||
	fail "$src's state does not count the failed migration"
ok "a failed migration ($fvm $src -> $dst, no libvirtd there) left the VM running on $src, reported and counted"
