#!/bin/bash
# test-admission.sh: two overloaded hosts never pile onto one destination beyond its
# threshold. 3-host lab at 50 % CPU each: host1 (v1, v2) and host2 (v3, v4) are both pushed
# over the threshold at once; host3 is empty and has room for exactly one burning guest
# (~0.28 of 0.43 allowed). Both plan towards host3; host3 admits one request (a reservation
# counted until the VM's load shows in its own samples) and refuses the other, or the other
# host already sees the reservation in host3's state and does not ask. Asserted: exactly one
# VM ends on host3, every admission host3 granted stayed under its limit, host3's load stays
# under the threshold, and both sources did plan.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
TH=0.45
bal_lab_up 3 50 "load-threshold = $TH" "margin = 0.02" "alarm-count = 2" "penalty = 8" \
	"penalty-step = 2" "cooldown = 60"
deploy_quad "$BAL/quad-split-r.xml"
[ "$(host_domains 3 | wc -l)" = 0 ] || fail "host3 is not empty"
events_start
for v in v1 v3 v2 v4; do burn "$v" 10; done
ok "host1 and host2 both over $TH, host3 idle"
ev_wait 120 "a VM moved to host3" '.type=="migrated" and .data.dst=="host3"'
ev_wait 60 "both sources planned" '.type=="plan" and (.host=="host1" or .host=="host2")' 2
# watch a while: nothing else may land on host3
t0=$SECONDS
max_load=0
while [ $((SECONDS - t0)) -lt 40 ]; do
	l=$(host_load 3)
	max_load=$(awk -v a="$max_load" -v b="${l:-0}" 'BEGIN { print (b > a) ? b : a }')
	sleep 2
done
n3=$(host_domains 3 | wc -l)
[ "$n3" = 1 ] || fail "host3 runs $n3 VMs; room was for one"
into3=$(ev_count '.type=="migrated" and .data.dst=="host3"')
[ "$into3" = 1 ] || fail "$into3 migrations into host3"
bad=$(ev_count '.type=="admit" and .host=="host3" and .data.force==false and (.data.load_after >= .data.limit)')
[ "$bad" = 0 ] || fail "host3 admitted $bad request(s) beyond its limit"
jq -r 'select((.type=="admit" or .type=="refuse") and .host=="host3") | "\(.type) \(.vm) from \(.data.src): \(.data.reason)"' "$EVENTS" |
	while read -r l; do info "host3: $l"; done
nref=$(ev_count '.type=="refuse" and .host=="host3"')
nplan0=$(ev_count '.type=="plan" and (.data.moves | length) == 0')
info "refusals by host3: $nref; plans without a move (destination already full): $nplan0"
[ $((nref + nplan0)) -ge 1 ] || fail "the second source neither was refused nor saw host3 full"
echo "ADMISSION-RESULT: 1 VM on host3, $nref refusal(s) by host3, $nplan0 empty plan(s), host3 max load $max_load (threshold $TH)"
ok "two overloaded hosts, one destination with room for one: exactly one VM moved there"
