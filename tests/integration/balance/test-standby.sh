#!/bin/bash
# test-standby.sh: consolidation with standby hosts (issue 12) on a 3-host lab at 50 % CPU each.
#  - four idle tiny guests: v1 and v4 on host1, v2 on host2, v3 on host3. With [balance]
#    consolidate on, the lightest host empties itself onto busier ones and goes on standby:
#    its standby-command ran (a marker file named after the host), `nube hosts` shows it
#    "standby", it runs no domain, and all four VMs still run.
#  - then every guest burns a whole CPU: every active host is overloaded and none can take
#    load, so an overloaded host wakes a standby host (events wake-request and woken, its
#    wake-command ran), which becomes "active" again and receives a VM by live migration.
#  - undeploy leaves nothing.
# consolidate-below is calibrated like the thresholds of the other balance tests (lib.sh):
# over every idle host's measured load, under the admission limit. Every step waits on an
# event or a state, never a fixed time. Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
PW=$LAB_STATE/power	# the agents' hooks write here (under /run: seen in every lab host)
KEYS=("load-threshold = 0.8" "margin = 0.05" "alarm-count = 2" "penalty = 6" "penalty-step = 2"
	"consolidate = true" "consolidate-count = 3" "power-cooldown = 900"
	"standby-command = touch $PW/\$NUBE_HOST.standby"
	"wake-command = touch $PW/\$NUBE_HOST.wake")
bal_lab_up 3 50 "${KEYS[@]}"
mkdir -p "$PW"
cat >"$T/r.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<deployment_restrictions>
  <vm_deploy_at vm="v1" host="host1"/>
  <vm_deploy_at vm="v4" host="host1"/>
  <vm_deploy_at vm="v2" host="host2"/>
  <vm_deploy_at vm="v3" host="host3"/>
</deployment_restrictions>
EOF
deploy_quad "$T/r.xml"

# calibration, balancing off: consolidate-below over every idle host's load, with room
# under the admission limit (0.8 - 0.05) for the light hosts' VMs to move
samples 1 2 20
bal_measure 16 idle
hi=$(printf '%s\n' "$(m_host idle 1 max)" "$(m_host idle 2 max)" "$(m_host idle 3 max)" | sort -g | tail -1)
CB=$(calc "$hi + 0.1")
awk -v c="$CB" 'BEGIN { exit !(c <= 0.6) }' ||
	fail "cannot calibrate: an idle host measured $hi, consolidate-below $CB leaves no room under the admission limit 0.75"
echo "consolidate-below $CB" >"$T/th"
info "consolidate-below $CB (idle hosts up to $hi)"
bal_key "consolidate-below" "$CB"
events_start
bal_start

# 1. consolidation: a light host empties itself and goes on standby
ev_wait 240 "a host on standby" '.type=="standby"'
SB=$(jq -r 'select(.type=="standby") | .host' "$EVENTS" | sed -n 1p)
[ -f "$PW/$SB.standby" ] || fail "$SB went on standby but its standby-command did not run"
k=${SB#host}
[ -z "$(host_domains "$k")" ] || fail "$SB is on standby but still has domains: $(host_domains "$k" | paste -sd' ')"
retry 30 sh -c "'$NUBE' hosts --json | jq -e '.hosts[] | select(.host==\"$SB\") | .mode==\"standby\"' >/dev/null" ||
	{ "$NUBE" hosts; fail "nube hosts does not show $SB on standby"; }
[ "$("$NUBE" status $S --json | jq '[.vms[] | select(.state=="running")] | length')" = 4 ] ||
	{ "$NUBE" status $S; fail "not all four VMs run after the consolidation"; }
"$NUBE" hosts
ok "$SB emptied itself ($(jq -r 'select(.type=="standby") | .msg' "$EVENTS" | sed -n 1p)); its command ran; 4 VMs run elsewhere"

# 2. load rises everywhere: a standby host is woken and takes a VM
for v in v1 v2 v3 v4; do burn "$v" 100; done
ok "every guest burns a CPU"
ev_wait 300 "a wake request" '.type=="wake-request"'
ev_wait 60 "a woken host" '.type=="woken"'
W=$(jq -r 'select(.type=="woken") | .host' "$EVENTS" | sed -n 1p)
[ -f "$PW/$W.wake" ] || fail "$W was woken but its wake-command did not run"
[ "$(ev_count '.type=="standby" and .host=="'"$W"'"')" -ge 1 ] || fail "$W was woken without having been on standby"
retry 30 sh -c "'$NUBE' hosts --json | jq -e '.hosts[] | select(.host==\"$W\") | .mode==\"active\"' >/dev/null" ||
	{ "$NUBE" hosts; fail "nube hosts does not show $W active again"; }
ev_wait 300 "a VM moved to the woken $W" '.type=="migrated" and .data.dst=="'"$W"'"'
ok "woken by $(jq -r 'select(.type=="woken") | .data.by' "$EVENTS" | sed -n 1p): $W runs $(host_domains "${W#host}" | paste -sd' ')"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out"; fail "undeploy"; }
assert_clean $S
