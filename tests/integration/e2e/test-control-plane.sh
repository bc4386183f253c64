#!/bin/bash
# test-control-plane.sh: what an agent keeps of a migration across its restart, asked over its
# own rpc ops. On a 2-host lab, mig (v1, v2 on Net0, both on host1) is deployed and v2 moved
# to host2 with `nube migrate --force` (forced admission: the lab hosts' load on a busy machine
# must not refuse it) while a follower records nube/v1/events; then
#  - host1's "events" op returns the migrated event of v2 once: VM name v2, scenario mig,
#    data src/dst/domain/duration_ms > 0/downtime_ms >= 0, the same seq the follower saw;
#    pages: limit 1 from 0 says more, since = last returns nothing
#  - Net0 carries the same VNI on both hosts (status op), from the agents' stretch range
#  - host2's state lists v2 in its cooldown, arrived from host1
#  - both agents killed (SIGKILL) and restarted: host1's events op returns the very same
#    events (same seqs, same last); host2 logs the restore and its next state still lists v2
#    in its cooldown, not younger than before the restart
#  - v2 moved back: host2's new migrated event has a seq above every one it had, host1's
#    journal is unchanged; v2 is in host1's cooldown now (from host2) and no longer in host2's;
#    Net0, on host1 only again, has no VXLAN (VNI 0) and host2 no links
# `nube events`, `nube status` and the store are test-migrate.sh's. Run as root; honours
# NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../agent/rpc.sh"
need
S=mig
E2E=$(cd "$(dirname "$0")" && pwd)
STRETCH_MIN=15728640
STRETCH_MAX=16777215
lab_up 2
BROKER=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
OPW=$(cat "$LAB_STATE/operator.pw")
[ -n "$BROKER" ] || fail "no broker address from nube-lab env"

# events K SINCE [LIMIT]: host K's "events" reply into $T/ev.K
events() {
	local lim=""
	[ -n "${3:-}" ] && lim=",\"limit\":$3"
	rpc "host$1" "{\"op\":\"events\",\"since\":$2$lim}" 30 >"$T/ev.$1" || fail "host$1: no events reply"
	jq -e '.ok == true' "$T/ev.$1" >/dev/null || { cat "$T/ev.$1"; fail "host$1: events op failed"; }
}
# next_state K: host K's next live (not retained) state message into $T/state.K
next_state() {
	mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "nube/v1/host/host$1/state" -R \
		-C 1 -W 60 >"$T/state.$1" 2>/dev/null || fail "no state message of host$1 within 60 s"
}
# cooldown K DOMAIN: host K's last state's cooldown entry of DOMAIN (JSON, or null)
cooldown() { jq -c --arg d "$2" '[.balance.cooldown[]? | select(.vm == $d)][0]' "$T/state.$1"; }

"$NUBE" deploy "$E2E/migrate.xml" --restrictions "$E2E/migrate-r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy"; }
[ "$(host_domains 1 | tr '\n' ' ')" = "$S.v1 $S.v2 " ] || fail "v1 and v2 do not both run on host1"
events 1 0
[ "$(jq '[.events[] | select(.type == "migrated")] | length' "$T/ev.1")" = 0 ] ||
	{ cat "$T/ev.1"; fail "host1's journal has a migrated event before any migration"; }
jq -e '.last >= 1 and ([.events[] | select(.type == "deploy" and .scenario == "mig")] | length) == 1
	and ([.events[].seq] == ([.events[].seq] | sort)) and .more == false' "$T/ev.1" >/dev/null ||
	{ cat "$T/ev.1"; fail "host1's journal: no deploy event, seqs out of order or more"; }
ok "deployed on host1; its journal holds the deploy event (last seq $(jq .last "$T/ev.1"))"

# 1. v2 moves to host2 while a follower records the bus
mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t nube/v1/events >"$T/bus" 2>/dev/null &
SUB=$!
sleep 0.5
"$NUBE" migrate $S v2 --to host2 --force >"$T/mig.out" 2>&1 || { cat "$T/mig.out" >&2; fail "nube migrate $S v2 --to host2"; }
[ "$(host_domains 2)" = "$S.v2" ] || fail "v2 is not on host2 after nube migrate"
events 1 0
jq -e '[.events[] | select(.type == "migrated")] | length == 1 and (.[0] | .vm == "v2" and
	.scenario == "mig" and .host == "host1" and .data.src == "host1" and .data.dst == "host2" and
	.data.domain == "mig.v2" and .data.duration_ms > 0 and .data.downtime_ms >= 0 and .seq >= 2)' \
	"$T/ev.1" >/dev/null || { cat "$T/ev.1"; fail "host1's events op: not one migrated event of v2 with its figures"; }
SEQ=$(jq '[.events[] | select(.type == "migrated")][0].seq' "$T/ev.1")
retry 10 jq -e -s --argjson s "$SEQ" '[.[] | select(.type == "migrated" and .host == "host1")] |
	length == 1 and .[0].seq == $s' "$T/bus" || { cat "$T/bus"; fail "the follower did not see the migrated event with seq $SEQ"; }
kill "$SUB" 2>/dev/null || true
jq -e -s 'all(.[]; (.seq | type) == "number")' "$T/bus" >/dev/null || fail "an event on the bus has no seq"
cp "$T/ev.1" "$T/ev.1.before"
LAST1=$(jq .last "$T/ev.1")
ok "host1's events op: migrated v2 once (seq $SEQ, $(jq '[.events[] | select(.type == "migrated")][0].data | "\(.duration_ms) ms, downtime \(.downtime_ms) ms"' "$T/ev.1")), as published"

events 1 0 1
jq -e '(.events | length) == 1 and .more == true' "$T/ev.1" >/dev/null || { cat "$T/ev.1"; fail "limit 1: not one event with more"; }
events 1 "$LAST1"
jq -e '(.events | length) == 0 and .more == false and .last == '"$LAST1" "$T/ev.1" >/dev/null ||
	{ cat "$T/ev.1"; fail "since = last: not empty"; }
ok "pages: limit 1 says more, since = last ($LAST1) returns nothing"

# 2. Net0 on both hosts with one VNI from the agents' range
for k in 1 2; do
	rpc "host$k" '{"op":"status"}' 60 >"$T/st.$k" || fail "host$k: no status reply"
	jq -r '.nets[] | select(.scenario == "mig" and .net == "Net0") | .vni' "$T/st.$k" >"$T/vni.$k"
done
VNI=$(cat "$T/vni.1")
[ -n "$VNI" ] && [ "$VNI" -ge $STRETCH_MIN ] && [ "$VNI" -le $STRETCH_MAX ] ||
	{ cat "$T/st.1"; fail "host1: Net0's VNI '$VNI' is not in the stretch range $STRETCH_MIN..$STRETCH_MAX"; }
[ "$(cat "$T/vni.2")" = "$VNI" ] || { cat "$T/st.2"; fail "host2: Net0's VNI '$(cat "$T/vni.2")' is not host1's $VNI"; }
ok "status: Net0 on host1 and host2 with VNI $VNI (stretch range)"

# 3. host2 keeps v2 in its cooldown
next_state 2
C=$(cooldown 2 "$S.v2")
jq -e '.from == "host1" and .ago >= 0 and .remaining > 0' <<<"$C" >/dev/null ||
	{ jq -c .balance "$T/state.2"; fail "host2's state does not list v2 in its cooldown from host1"; }
AGO=$(jq .ago <<<"$C")
ok "host2's state: v2 in its cooldown ($C)"

# 4. both agents die and come back
for k in 1 2; do
	"$LAB" kill-agent "host$k" >/dev/null
done
sleep 1
for k in 1 2; do
	"$LAB" restart-agent "host$k" >/dev/null
done
for i in $(seq 1 60); do [ "$(hosts_live)" = 2 ] && break; sleep 1; done
[ "$(hosts_live)" = 2 ] || fail "the agents did not come back"
events 1 0
jq -e --slurpfile b "$T/ev.1.before" '.events == $b[0].events and .last == $b[0].last' "$T/ev.1" >/dev/null ||
	{ diff <(jq -S . "$T/ev.1.before") <(jq -S . "$T/ev.1") || true; fail "host1's journal changed across the restart"; }
ok "after SIGKILL + restart: host1's events op returns the same $(jq '.events | length' "$T/ev.1") events, last $LAST1"
grep -q "restored from .*1 VM(s) in their cooldown" "$LAB_STATE/host2/nubed.log" ||
	{ tail -20 "$LAB_STATE/host2/nubed.log"; fail "host2 did not restore its cooldown"; }
next_state 2
C2=$(cooldown 2 "$S.v2")
jq -e --argjson ago "$AGO" '.from == "host1" and .ago >= $ago and .remaining > 0' <<<"$C2" >/dev/null ||
	{ jq -c .balance "$T/state.2"; fail "after the restart host2's cooldown of v2 is gone or reset (before: $C)"; }
ok "after the restart host2 still keeps v2 in its cooldown ($C2)"

# 5. v2 moves back: host2's seq goes on, host1's journal only gains what host1 did
events 2 0
LAST2=$(jq .last "$T/ev.2")
"$NUBE" migrate $S v2 --to host1 --force >"$T/mig2.out" 2>&1 || { cat "$T/mig2.out" >&2; fail "nube migrate $S v2 --to host1"; }
events 2 "$LAST2"
jq -e --argjson l "$LAST2" '[.events[] | select(.type == "migrated")] | length == 1 and
	(.[0] | .vm == "v2" and .host == "host2" and .data.dst == "host1" and .seq > $l)' "$T/ev.2" >/dev/null ||
	{ cat "$T/ev.2"; fail "host2: no migrated event of v2 after seq $LAST2"; }
events 1 0
jq -e '[.events[] | select(.type == "migrated")] | length == 1' "$T/ev.1" >/dev/null ||
	{ cat "$T/ev.1"; fail "host1's journal now has another migrated event"; }
next_state 1
jq -e '.from == "host2"' <<<"$(cooldown 1 "$S.v2")" >/dev/null ||
	{ jq -c .balance "$T/state.1"; fail "host1 does not keep v2 (back from host2) in its cooldown"; }
next_state 2
[ "$(cooldown 2 "$S.v2")" = null ] || { jq -c .balance "$T/state.2"; fail "host2 still lists v2, which left, in its cooldown"; }
ok "v2 back on host1: host2's migrated event after seq $LAST2, host1's cooldown has v2 from host2, host2's not"
rpc host1 '{"op":"status"}' 60 >"$T/st.1" || fail "host1: no status reply"
jq -e '[.nets[] | select(.scenario == "mig" and .net == "Net0")] | length == 1 and .[0].vni == 0' \
	"$T/st.1" >/dev/null || { cat "$T/st.1"; fail "host1: Net0, on host1 only again, still has a VNI"; }
[ -z "$(host_links 2)" ] || fail "host2 still has links: $(host_links 2 | tr '\n' ' ')"
ok "Net0 on host1 only again: no VXLAN, VNI 0 (the agents' VNI is given back), nothing left on host2"

"$NUBE" undeploy $S >/dev/null || fail "undeploy"
assert_clean $S
ok "done"
