#!/bin/bash
# test-drain.sh: `nube drain` starts at once, publishes the host's state when it changes,
# and stops at once when the drained host's agent dies. 2-host lab whose agents sample only
# every 60 s, so whatever waits for a sample is unambiguously late; each step starts right
# after a periodic sample of the host (the next one is then 60 s away).
#  1. drain host1 (one VM): the first state host1 publishes after the request shows it
#     leaving, the migration starts and the drain is done (the CLI says so) all before the
#     next periodic sample would be due (the agent's own event and state timestamps)
#  2. drain host1 --cancel: the next state message of host1 (within 20 s, a third of the
#     interval) shows it no longer drained
#  3. host1 drained again (empty: done at once); drain host2 (v1 there) cannot place v1
#     (host1 refuses: drained) and keeps trying; host2's agent is killed: `nube drain`
#     (timeout 300 s) fails within 30 s naming host2 and saying it went offline
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
IV=60
BAL_INTERVAL=$IV
bal_lab_up 2 100 "load-threshold = 0.9" "margin = 0.05"
BROKER=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
OPW=$(cat "$LAB_STATE/operator.pw")
S=bs
"$NUBE" deploy "$BAL/solo.xml" --restrictions "$BAL/solo-r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy solo"; }
[ "$(host_domains 1 | wc -l)" = 1 ] || fail "host1 does not run the one VM"
ok "v1 runs on host1"
events_start

# sub_states K SECONDS FILE: record host K's live (not retained) state messages for SECONDS
# into FILE, one JSON object a line, in the background (pid in SUBPID)
sub_states() {
	mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "nube/v1/host/host$1/state" -R \
		-W "$2" >"$3" 2>/dev/null &
	SUBPID=$!
	sleep 0.5
}
# after_tick K: wait for host K's next periodic state message (it is taken every IV s); its
# ts in TICK (ms)
after_tick() {
	local m
	m=$(mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "nube/v1/host/host$1/state" -R \
		-C 1 -W $((IV * 2))) || fail "no state message of host$1 within $((IV * 2)) s"
	TICK=$(jq -r .ts <<<"$m")
	info "host$1 published its periodic sample (ts $TICK)"
}
# ev_ts JQ_FILTER: ts of the first recorded event that matches
ev_ts() { jq -r "select($1) | .ts" "$EVENTS" | sed -n 1p; }

# 1. a drain starts at once and ends when the VM is gone
after_tick 1
sub_states 1 $((IV - 5)) "$T/states1"
"$NUBE" drain host1 --timeout 300 >"$T/drain.out" 2>"$T/drain.err" ||
	{ cat "$T/drain.err" "$T/drain.out" >&2; fail "nube drain host1"; }
cat "$T/drain.err"
grep -q "host1 drained: 1 VM(s) moved" "$T/drain.out" || { cat "$T/drain.out"; fail "drain summary"; }
[ "$(host_domains 1 | wc -l)" = 0 ] && [ "$(host_domains 2 | wc -l)" = 1 ] || fail "v1 did not move to host2"
ev_wait 10 "drain-done of host1" '.type=="drain-done" and .host=="host1"'
t_start=$(ev_ts '.type=="drain-start" and .host=="host1"')
t_mig=$(ev_ts '.type=="migrate-start" and .host=="host1"')
t_done=$(ev_ts '.type=="drain-done" and .host=="host1"')
[ -n "$t_start" ] && [ -n "$t_mig" ] && [ -n "$t_done" ] || fail "drain-start, migrate-start or drain-done missing"
info "tick $TICK, drain-start +$((t_start - TICK)) ms, migrate-start +$((t_mig - TICK)) ms, drain-done +$((t_done - TICK)) ms"
[ "$t_mig" -lt $((TICK + IV * 1000)) ] ||
	fail "the migration started $(( (t_mig - t_start) / 1000 )) s after the drain, after host1's next periodic sample"
[ "$t_done" -lt $((TICK + IV * 1000)) ] ||
	fail "the drain ended $(( (t_done - t_start) / 1000 )) s after it started, after host1's next periodic sample"
ok "drain of one VM: migration started $((t_mig - t_start)) ms and drain done $((t_done - t_start)) ms after drain-start (samples every $IV s)"
wait "$SUBPID" 2>/dev/null || true
t_leave=$(jq -r 'select(.balance.leaving == true) | .ts' "$T/states1" | sed -n 1p)
[ -n "$t_leave" ] || fail "host1 published no state showing it leaving within $((IV - 5)) s of the drain"
[ "$t_leave" -lt "$t_mig" ] || fail "host1's first state showing it leaving came after the migration started"
jq -e -s 'map(select(.balance.drained == true)) | length >= 1' "$T/states1" >/dev/null ||
	fail "host1 published no state showing it drained before its next periodic sample"
ok "host1's state showed it leaving $((t_leave - t_start)) ms after drain-start, and drained at the end, without waiting for a sample"

# 2. cancel: the peers see it in the next state message, not an interval later
after_tick 1
sub_states 1 20 "$T/states2"
"$NUBE" drain host1 --cancel >/dev/null || fail "drain host1 --cancel"
wait "$SUBPID" 2>/dev/null || true
[ -s "$T/states2" ] || fail "host1 published no state within 20 s of the cancel (interval $IV s)"
jq -e -s '.[0].balance.drained == false and .[0].balance.leaving == false' "$T/states2" >/dev/null ||
	{ head -c 600 "$T/states2"; fail "host1's next state after the cancel still shows it drained"; }
ok "drain --cancel: host1's next state (at once, not at the next sample) shows it takes VMs again"

# 3. the drained host's agent dies: nube drain says so at once
"$NUBE" drain host1 --timeout 300 >"$T/drain1.out" 2>&1 || { cat "$T/drain1.out"; fail "drain of the empty host1"; }
"$NUBE" drain host2 --timeout 300 >"$T/drain2.out" 2>"$T/drain2.err" &
dpid=$!
ev_wait 60 "host1 refusing v1 (drained)" '.type=="refuse" and .host=="host1"'
kill -0 "$dpid" 2>/dev/null || { cat "$T/drain2.err"; fail "nube drain host2 ended before host2's agent was killed"; }
"$LAB" kill-agent host2 >/dev/null
t0=$SECONDS
while kill -0 "$dpid" 2>/dev/null; do
	[ $((SECONDS - t0)) -lt 30 ] || { kill "$dpid"; fail "nube drain host2 still waits 30 s after host2's agent was killed (timeout 300 s)"; }
	sleep 0.5
done
rc=0
wait "$dpid" || rc=$?
cat "$T/drain2.err"
[ "$rc" = 1 ] || fail "nube drain host2 exited $rc, expected 1"
grep -q "host 'host2' went offline during the drain" "$T/drain2.err" ||
	fail "the error does not say host2 went offline"
ok "host2's agent killed mid-drain: nube drain failed after $((SECONDS - t0)) s naming host2"
"$LAB" restart-agent host2 >/dev/null
retry 60 host_live 2 || fail "host2 not live again"
"$NUBE" drain host1 --cancel >/dev/null || fail "drain host1 --cancel"
"$NUBE" undeploy "$S" >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
ok "done"
