#!/bin/bash
# test-lxc-move.sh: a container's cold move. tests/data/lxc/lxc-move.xml (containers c1 on host1,
# c2 on host2, one net) on 3 lab hosts:
#  - a move whose destination cannot take the layer (a file where host3 makes it) fails and
#    leaves c1 running on host1 again with its files, `migrate-failed` says restarted;
#  - `nube migrate lxc_move c1 --to host3` moves it cold: c1 runs on host3 only (its layer
#    there, none left on host1, no tar on either), a file written inside before is there
#    after, c1 pings c2 across hosts (IPv4, IPv6) at its addresses; `nube events` shows one
#    `moved-cold` event with its interruption; `nube status` and the store say host3;
#  - `nube drain host3` moves it cold again (the default move-containers = operator);
#  - with [balance] move-containers = never on its host, `nube migrate` refuses it;
#  - undeploy leaves no container, layer, tar volume, link or store row on any host;
#  - deployed with --move-containers never, c1 carries it and nube migrate refuses it.
# Needs the rootfs: guest/build-guest --image lxc. Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
ROOTFS=/var/lib/nube/images/debian12-lxc
[ -x "$ROOTFS/sbin/init" ] || fail "no container rootfs at $ROOTFS (guest/build-guest --image lxc)"
S=lxc_move
D="$REPO/tests/data/lxc"
lab_up 3

host_ct() { in_host "$1" virsh -q -c lxc:///system list --all --name | sed '/^$/d' | sort; }
running_ct() { in_host "$1" virsh -q -c lxc:///system list --state-running --name | sed '/^$/d' | sort; }
layers() { ls "$LAB_STATE/host$1/containers" 2>/dev/null || true; }
tars() { ls "$LAB_STATE/host$1/disks" 2>/dev/null | grep '\.layer\.tar$' || true; }
db() { sqlite3 "$LAB_STATE/nube.db" "$1"; }
placed() { db "SELECT host FROM placement WHERE scenario = '$S' AND vm = '$1'"; }
host_of() { "$NUBE" status $S --json | jq -r --arg v "$1" '.vms[] | select(.vm == $v) | .host'; }
events() { "$NUBE" events --json >"$T/events" 2>"$T/events.err" || { cat "$T/events.err" >&2; fail "nube events"; }; }
count() { jq -s --arg t "$1" '[.[] | select(.type == $t and .scenario == "'$S'" and .vm == "c1")] | length' "$T/events"; }
no_tars() { for k in $(lab_hosts); do [ -z "$(tars "$k")" ] || fail "host$k keeps a layer tar: $(tars "$k")"; done; }

"$NUBE" deploy "$D/lxc-move.xml" --restrictions "$D/lxc-move-restrictions.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" "$T/deploy.out" >&2; fail "deploy"; }
[ "$(running_ct 1)" = "$S.c1" ] && [ "$(running_ct 2)" = "$S.c2" ] ||
	fail "c1/c2 not running on host1/host2: '$(running_ct 1)' '$(running_ct 2)'"
retry 60 "$NUBE" exec $S --vm c1 --cmd 'ping -c 2 -W 2 10.8.0.2' || { cat "$T/retry.out" >&2; fail "c1 cannot ping c2"; }
mark="cold-move-$RANDOM-$$"
"$NUBE" exec $S --vm c1 --cmd "echo $mark > /root/keep.txt && mkdir -p /srv/k && echo x > /srv/k/y && rm /etc/motd && sync" \
	>"$T/write.out" 2>&1 || { cat "$T/write.out"; fail "writing files in c1"; }
ok "deployed: c1 on host1, c2 on host2, c1 pings c2; a file written in c1, /etc/motd (of the rootfs) deleted"

# 1. a destination that cannot make the layer: the move fails, c1 runs on host1 again
mkdir -p "$LAB_STATE/host3/containers"
touch "$LAB_STATE/host3/containers/$S.c1"
rc=0
"$NUBE" migrate $S c1 --to host3 --json >"$T/fail.json" 2>"$T/fail.err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/fail.err" "$T/fail.json"; fail "a move to a host that cannot take the layer exited $rc, not 1"; }
rm -f "$LAB_STATE/host3/containers/$S.c1"
jq -e '.status == "failed" and (.why | test("cold move failed"))' "$T/fail.json" >/dev/null ||
	{ cat "$T/fail.json"; fail "the failed move's JSON does not say the cold move failed"; }
[ "$(running_ct 1)" = "$S.c1" ] && [ -z "$(host_ct 3)" ] ||
	fail "after the failed move: host1 runs '$(running_ct 1)', host3 has '$(host_ct 3)'"
no_tars
"$NUBE" exec $S --vm c1 --cmd 'cat /root/keep.txt' >"$T/keep0.out" 2>&1 && grep -qx "$mark" "$T/keep0.out" ||
	{ cat "$T/keep0.out"; fail "c1 lost its file after a failed move"; }
events
jq -e -s '[.[] | select(.type == "migrate-failed" and .vm == "c1" and .data.cold == true and
	.data.restarted == true)] | length == 1' "$T/events" >/dev/null ||
	{ cat "$T/events"; fail "no migrate-failed event of c1 saying it was restarted"; }
ok "a failed cold move ($(jq -r .why "$T/fail.json" | cut -c1-120)...) leaves c1 running on host1 with its file"

# 2. the cold move
rc=0
"$NUBE" migrate $S c1 --to host3 --json >"$T/mig.json" 2>"$T/mig.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T/mig.err" "$T/mig.json" >&2; fail "nube migrate $S c1 --to host3 exited $rc"; }
jq -e '.status == "moved" and .cold == true and .src == "host1" and .dst == "host3" and
	.downtime_ms > 0' "$T/mig.json" >/dev/null || { cat "$T/mig.json"; fail "migrate --json: not a cold move of c1 to host3"; }
intr=$(jq .downtime_ms "$T/mig.json")
[ "$(running_ct 3)" = "$S.c1" ] || fail "c1 does not run on host3: '$(running_ct 3)'"
[ -z "$(host_ct 1)" ] || fail "host1 still has a container: $(host_ct 1)"
[ -z "$(layers 1)" ] || fail "host1 keeps a layer: $(layers 1)"
[ -d "$LAB_STATE/host3/containers/$S.c1/upper" ] || fail "no layer of c1 on host3"
no_tars
! pgrep -f "qemu-system.*$S" >/dev/null || fail "a QEMU process runs for $S"
ok "c1 moved cold to host3 (interrupted $intr ms): its container and layer there, nothing left on host1"
"$NUBE" exec $S --vm c1 --cmd 'cat /root/keep.txt /srv/k/y; test ! -e /etc/motd && echo motd-gone; hostname' \
	>"$T/keep.out" 2>&1 || { cat "$T/keep.out"; fail "exec in c1 on host3"; }
grep -qx "$mark" "$T/keep.out" && grep -qx x "$T/keep.out" && grep -qx motd-gone "$T/keep.out" &&
	grep -qx c1 "$T/keep.out" || { cat "$T/keep.out"; fail "c1's files did not travel (or a deleted file came back)"; }
ok "c1 keeps its files on host3 (a new file, a new folder, a deletion of a rootfs file)"
retry 60 "$NUBE" exec $S --vm c1 --cmd 'ping -c 2 -W 2 10.8.0.2' || { cat "$T/retry.out" >&2; fail "c1 on host3 cannot ping c2"; }
retry 30 "$NUBE" exec $S --vm c2 --cmd 'ping -c 2 -W 2 10.8.0.1' || { cat "$T/retry.out" >&2; fail "c2 cannot ping c1 on host3"; }
retry 30 "$NUBE" exec $S --vm c2 --cmd 'ping -6 -c 2 -W 2 2001:db8:8::1' || { cat "$T/retry.out" >&2; fail "c2 cannot ping c1 on host3 over IPv6"; }
ok "c1 on host3 and c2 on host2 ping each other at their addresses (IPv4, IPv6)"
events
[ "$(count moved-cold)" = 1 ] || { cat "$T/events"; fail "nube events shows $(count moved-cold) moved-cold events of c1, not 1"; }
jq -e -s '[.[] | select(.type == "moved-cold" and .vm == "c1")][0] | .host == "host1" and
	.data.dst == "host3" and .data.interruption_ms > 0 and .data.layer_bytes > 0 and
	(.data.copy_ms | type) == "number"' "$T/events" >/dev/null ||
	{ cat "$T/events"; fail "the moved-cold event lacks host, dst, interruption_ms, layer_bytes or copy_ms"; }
jq -r -s '[.[] | select(.type == "moved-cold")][0].msg' "$T/events"
[ "$(host_of c1)" = host3 ] && [ "$(placed c1)" = host3 ] || fail "status says '$(host_of c1)', store '$(placed c1)', not host3"
ok "nube events: one moved-cold event with its interruption; nube status and the store say host3"
# host3 had no copy of the rootfs (c1 and c2 were deployed on host1 and host2): host1 sent its
# copy, by content, once (the failed move above already did; it is kept)
[ -n "$(ls "$LAB_STATE/host1/containers/.rootfs")" ] &&
	[ "$(ls "$LAB_STATE/host3/containers/.rootfs" 2>/dev/null)" = "$(ls "$LAB_STATE/host1/containers/.rootfs")" ] ||
	fail "host3's rootfs cache ('$(ls "$LAB_STATE/host3/containers/.rootfs" 2>/dev/null)') is not host1's"
jq -e -s '[.[] | select(.type == "image-sent" and .data.format == "rootfs" and .data.dst == "host3")] |
	length == 1' "$T/events" >/dev/null || { cat "$T/events"; fail "not one image-sent event of the rootfs to host3"; }
ok "host1 sent the rootfs to host3 once, by content, before it stopped c1"

# 3. drain moves containers (move-containers = operator, the default)
"$NUBE" drain host3 --timeout 120 >"$T/drain.out" 2>"$T/drain.err" || { cat "$T/drain.err" "$T/drain.out" >&2; fail "nube drain host3"; }
h=$(host_of c1)
[ "$h" = host1 ] || [ "$h" = host2 ] || fail "after the drain c1 is on '$h'"
[ "$(placed c1)" = "$h" ] || fail "store: c1 on '$(placed c1)' after the drain, status says $h"
[ -z "$(host_ct 3)" ] && [ -z "$(layers 3)" ] || fail "host3 keeps c1 or its layer after the drain"
events
[ "$(count moved-cold)" = 2 ] || { cat "$T/events"; fail "after the drain: $(count moved-cold) moved-cold events, not 2"; }
"$NUBE" exec $S --vm c1 --cmd 'cat /root/keep.txt' >"$T/keep2.out" 2>&1 && grep -qx "$mark" "$T/keep2.out" ||
	{ cat "$T/keep2.out"; fail "c1 lost its file in the drain"; }
"$NUBE" drain host3 --cancel >/dev/null || fail "drain host3 --cancel"
ok "drain host3 moved c1 cold to $h, its file kept"

# 4. move-containers = never on c1's host: nube migrate refuses
k=${h#host}
sed -i '/^\[balance\]/,$d' "$LAB_STATE/host$k/nubed.conf"
printf '[balance]\nenabled = false\nmove-containers = never\n' >> "$LAB_STATE/host$k/nubed.conf"
"$LAB" restart-agent "host$k" >/dev/null 2>&1 || fail "restart of host$k's agent"
for i in $(seq 1 30); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
rc=0
"$NUBE" migrate $S c1 --to host3 >"$T/never.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "move-containers is never" "$T/never.out" || { cat "$T/never.out"; fail "move-containers = never: migrate exited $rc"; }
running_ct "$k" | grep -qx "$S.c1" || fail "c1 no longer runs on $h"
ok "with move-containers = never on $h, nube migrate refuses c1: $(tail -1 "$T/never.out")"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
for k in $(lab_hosts); do
	[ -z "$(host_ct "$k")" ] || fail "host$k still has containers: $(echo $(host_ct "$k"))"
	[ -z "$(layers "$k")" ] || fail "host$k still has layers: $(echo $(layers "$k"))"
	in_host "$k" sh -c 'grep -q " /var/lib/nube/containers/" /proc/mounts' && fail "host$k still has a layer mounted"
done
no_tars
assert_clean $S
ok "undeploy left no container, layer, tar, mount, link or store row"

# 5. the scenario's own --move-containers wins over a host's key: never, on host1 (operator)
"$NUBE" deploy "$D/lxc-move.xml" --restrictions "$D/lxc-move-restrictions.xml" --move-containers never \
	>"$T/deploy2.out" 2>"$T/deploy2.err" || { cat "$T/deploy2.err" "$T/deploy2.out" >&2; fail "deploy --move-containers never"; }
in_host 1 virsh -c lxc:///system dumpxml "$S.c1" | grep -q 'move="never"' || fail "c1's metadata lacks move=\"never\""
rc=0
"$NUBE" migrate $S c1 --to host3 >"$T/never2.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "move-containers is never (nube deploy --move-containers)" "$T/never2.out" ||
	{ cat "$T/never2.out"; fail "--move-containers never: migrate exited $rc"; }
running_ct 1 | grep -qx "$S.c1" || fail "c1 no longer runs on host1"
"$NUBE" undeploy $S >"$T/undeploy2.out" 2>&1 || { cat "$T/undeploy2.out" >&2; fail "undeploy"; }
assert_clean $S
ok "deployed with --move-containers never, c1 carries it and nube migrate refuses it on host1 (whose key is operator)"
