#!/bin/bash
# test-disks.sh: a VM boots the image its <filesystem> names, on its own copy-on-write disk,
# the image reaches the hosts by content, and the disk follows a live migration. On a 2-host
# lab (each host has its own pool directories: /var/lib/nube/disks and
# /var/lib/nube/image-cache bound to /run/nube-labID/hostK/{disks,image-cache}):
#  - scenario dsk: d1 names debian12-cloud.qcow2 (type="cow"), pinned to host1; t1, the test
#    guest, on host2; one net. nube hashes the image, uploads it to host1's cache only (with
#    progress), host1's agent checks it: <sha256>.qcow2 there, nothing in host2's cache. d1
#    boots Debian 12 through the firmware from the overlay dsk.d1.qcow2 in host1's pool on
#    that cached image
#  - a file written in d1 is there after `nube migrate dsk d1 --to host2`: host1's agent sent
#    the image to host2 first (an image-sent event), the overlay moved (host1's pool empty,
#    host2's has it on host2's cached copy); d1 still reaches t1. Moved back to host1, the
#    image is not sent again (host1 has it) and the file is still there
#  - n1 (<on_boot>no</on_boot>) is defined on host2 and left off
#  - undeploy leaves no domain, no volume in either pool, no link, nothing in the store
#  - with [guest] missing_image = error (not the lab's test-guest fallback), a scenario naming
#    an image that is nowhere fails before anything starts, naming the VM and the path
# Needs the image: guest/build-guest --image cloud (scripts/test-all builds it). Debian boots
# under TCG here: waits are generous and progress-based. Run as root; honours NUBE_LAB_ID,
# NUBE, NUBED, NUBE_IMAGE_DIR.
source "$(dirname "$0")/lib.sh"
need
IMG=${NUBE_IMAGE_DIR:-/var/lib/nube/images}/debian12-cloud.qcow2
[ -f "$IMG" ] || fail "no image $IMG (run guest/build-guest --image cloud)"
command -v qemu-img >/dev/null || fail "qemu-img is missing (scripts/install-deps)"
S=dsk
img_sum0=$(stat -c '%s %Y' "$IMG")

cat >"$T/dsk.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx><global><version>2.0</version><scenario_name>$S</scenario_name><automac/>
<vm_mgmt type="none"/></global>
<net name="Net0" mode="virtual_bridge"/>
<vm name="d1" type="libvirt" subtype="kvm" os="linux">
  <filesystem type="cow">$IMG</filesystem>
  <if id="1" net="Net0"><ipv4>10.96.0.1/24</ipv4></if>
</vm>
<vm name="t1" type="libvirt" subtype="kvm" os="linux">
  <mem>96M</mem>
  <if id="1" net="Net0"><ipv4>10.96.0.2/24</ipv4></if>
</vm>
<vm name="n1" type="libvirt" subtype="kvm" os="linux">
  <mem>96M</mem>
  <on_boot>no</on_boot>
  <if id="1" net="Net0"><ipv4>10.96.0.3/24</ipv4></if>
</vm>
</vnx>
EOF
cat >"$T/dsk-r.xml" <<EOF
<deployment_restrictions>
  <vm_deploy_at vm="d1" host="host1"/>
  <vm_deploy_at vm="t1" host="host2"/>
  <vm_deploy_at vm="n1" host="host2"/>
</deployment_restrictions>
EOF
cat >"$T/gone.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx><global><version>2.0</version><scenario_name>gone</scenario_name><automac/>
<vm_mgmt type="none"/></global>
<net name="Net0" mode="virtual_bridge"/>
<vm name="g1" type="libvirt" subtype="kvm" os="linux">
  <filesystem type="cow">/nonexistent/nube-test/debian.qcow2</filesystem>
  <if id="1" net="Net0"><ipv4>10.95.0.1/24</ipv4></if>
</vm>
</vnx>
EOF

pool() { ls "$LAB_STATE/host$1/disks" 2>/dev/null | sort | paste -sd' ' -; }
cache() { ls "$LAB_STATE/host$1/image-cache" 2>/dev/null | sort | paste -sd' ' -; }
SHA=$(sha256sum "$IMG" | cut -d' ' -f1)
CACHED=/var/lib/nube/image-cache/$SHA.qcow2
backing() { in_host "$1" qemu-img info -U --output=json "/var/lib/nube/disks/$S.d1.qcow2" | jq -r '."backing-filename"'; }
image_sent() {
	"$NUBE" events --json >"$T/events" 2>"$T/events.err" || { cat "$T/events.err" >&2; fail "nube events"; }
	jq -s --arg h "$1" '[.[] | select(.type == "image-sent" and .data.dst == $h)] | length' "$T/events"
}
xc() { "$NUBE" exec $S --vm "$1" --cmd "$2" --json >"$T/xc.json" 2>"$T/xc.err"; }
xc_out() { jq -r '.. | objects | select(has("stdout")) | .stdout' "$T/xc.json" 2>/dev/null; }

lab_up 2
export NUBE_IMAGE_SUMS=$T/image-sums	# a fresh sums cache: the first deploy hashes

# 1. deploy: d1 boots Debian from its overlay on host1
t0=$SECONDS
"$NUBE" deploy "$T/dsk.xml" --restrictions "$T/dsk-r.xml" --timeout 900 >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy dsk"; }
BOOT=$((SECONDS - t0))
cat "$T/deploy.err"
grep -q "warning" "$T/deploy.err" && { cat "$T/deploy.err" >&2; fail "deploy of an image that is there warned"; }
grep -q "^host1: image ${SHA:0:12}\.\.\.: .* MiB sent in " "$T/deploy.err" &&
	grep -q "^host1: image ${SHA:0:12}\.\.\. checked and cached" "$T/deploy.err" ||
	fail "no upload of the image to host1 with its progress"
grep -q "^host2: image" "$T/deploy.err" && fail "the image was sent to host2, which runs no VM of it"
[ "$(cache 1)" = "$SHA.qcow2" ] && [ -z "$(cache 2)" ] ||
	fail "image caches: host1 has '$(cache 1)', host2 '$(cache 2)' (want $SHA.qcow2 on host1 only)"
cmp -s "$IMG" "$LAB_STATE/host1/image-cache/$SHA.qcow2" || fail "host1's cached image differs from $IMG"
[ "$(host_domains 1)" = "$S.d1" ] && [ "$(host_domains 2 | paste -sd' ' -)" = "$S.n1 $S.t1" ] ||
	fail "libvirt: host1 has '$(host_domains 1)', host2 '$(host_domains 2)'"
[ "$(in_host 2 virsh -c qemu:///system domstate $S.n1 | sed '/^$/d')" = "shut off" ] ||
	fail "n1 (<on_boot>no</on_boot>) is not defined-but-off on host2"
grep -q "^host2: vm 'n1' defined as domain '$S.n1', not started (<on_boot>no</on_boot>)" "$T/deploy.err" ||
	fail "no progress line for n1 defined, not started"
# its overlay, and the configuration media every VM booting an image gets (test-guest-config.sh)
D1_VOLS="$S.d1.cidata.iso $S.d1.qcow2 $S.d1.vnx.iso"
[ "$(pool 1)" = "$D1_VOLS" ] && [ -z "$(pool 2)" ] ||
	fail "pools: host1 has '$(pool 1)', host2 '$(pool 2)' (want $D1_VOLS on host1 only)"
[ "$(backing 1)" = "$CACHED" ] || fail "host1's overlay sits on '$(backing 1)', not $CACHED"
in_host 1 virsh -q -c qemu:///system dumpxml "$S.d1" >"$T/d1.xml"
grep -q "<boot dev='hd'/>" "$T/d1.xml" && ! grep -q "<kernel>" "$T/d1.xml" ||
	{ cat "$T/d1.xml" >&2; fail "d1 does not boot from its disk through the firmware"; }
ok "deploy in $BOOT s: image uploaded to host1's cache only; d1 boots from dsk.d1.qcow2 in host1's pool on it, host2's pool is empty"
"$NUBE" status $S --json | jq -e '[.vms[] | select(.vm == "d1") | .config] == ["vnx+cloud-init"] and
    [.vms[] | select(.vm == "t1") | .config] == ["qemu-ga"]' >/dev/null ||
	{ "$NUBE" status $S; fail "nube status: d1 (its image, with media) should be vnx+cloud-init, t1 qemu-ga"; }

# d1 configures itself (cloud-init) as it boots: the deploy does not wait for it
retry 900 xc d1 'cat /etc/os-release; hostname' || { cat "$T/xc.err" "$T/xc.json" >&2; fail "exec in d1"; }
xc_out | grep -q '^VERSION_CODENAME=bookworm$' || { cat "$T/xc.json" >&2; fail "d1 does not run Debian 12"; }
retry 120 "$NUBE" exec $S --vm d1 --cmd 'ping -c 2 -W 2 10.96.0.2' ||
	{ cat "$T/retry.out" >&2; fail "d1 (host1) does not reach t1 (host2)"; }
MARK="nube-disk-$RANDOM-$RANDOM"
xc d1 "echo $MARK > /root/marker && sync && cat /root/marker" || { cat "$T/xc.err" >&2; fail "write in d1"; }
[ "$(xc_out)" = "$MARK" ] || { cat "$T/xc.json" >&2; fail "d1 did not write its marker"; }
ok "d1 runs Debian 12 (bookworm), reaches t1 across hosts, wrote /root/marker"

# 2. live migration with its disk
rc=0
"$NUBE" migrate $S d1 --to host2 --force --json --timeout 900 >"$T/mig.json" 2>"$T/mig.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T/mig.err" "$T/mig.json" >&2; fail "nube migrate $S d1 --to host2 exited $rc"; }
jq -e '.status == "moved" and .dst == "host2"' "$T/mig.json" >/dev/null || { cat "$T/mig.json" >&2; fail "migrate --json"; }
[ -z "$(host_domains 1)" ] && [ "$(host_domains 2 | paste -sd' ' -)" = "$S.d1 $S.n1 $S.t1" ] ||
	fail "libvirt after the move: host1 has '$(host_domains 1)', host2 '$(host_domains 2)'"
[ -z "$(pool 1)" ] && [ "$(pool 2)" = "$D1_VOLS" ] ||
	fail "pools after the move: host1 has '$(pool 1)', host2 '$(pool 2)'"
[ "$(backing 2)" = "$CACHED" ] || fail "host2's overlay sits on '$(backing 2)', not $CACHED"
[ "$(cache 2)" = "$SHA.qcow2" ] && cmp -s "$IMG" "$LAB_STATE/host2/image-cache/$SHA.qcow2" ||
	fail "host2's image cache has '$(cache 2)', not a copy of $IMG"
[ "$(image_sent host2)" = 1 ] || { cat "$T/events" >&2; fail "not one image-sent event to host2"; }
xc d1 'cat /root/marker' || { cat "$T/xc.err" >&2; fail "exec in d1 after the move"; }
[ "$(xc_out)" = "$MARK" ] || { cat "$T/xc.json" >&2; fail "d1 lost its marker in the move"; }
retry 60 "$NUBE" exec $S --vm d1 --cmd 'ping -c 2 -W 2 10.96.0.2' ||
	{ cat "$T/retry.out" >&2; fail "d1 does not reach t1 after the move"; }
[ "$(stat -c '%s %Y' "$IMG")" = "$img_sum0" ] || fail "the image $IMG changed"
ok "nube migrate: image sent to host2 once, d1 moved with its overlay in $(jq .duration_ms "$T/mig.json") ms (downtime $(jq .downtime_ms "$T/mig.json") ms); its file is there, the image untouched"

rc=0
"$NUBE" migrate $S d1 --to host1 --force --json --timeout 900 >"$T/mig2.json" 2>"$T/mig2.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T/mig2.err" "$T/mig2.json" >&2; fail "nube migrate $S d1 --to host1 exited $rc"; }
[ "$(pool 1)" = "$D1_VOLS" ] && [ -z "$(pool 2)" ] ||
	fail "pools after the move back: host1 has '$(pool 1)', host2 '$(pool 2)'"
[ "$(image_sent host1)" = 0 ] || fail "the image was sent back to host1, which has it"
xc d1 'cat /root/marker' || { cat "$T/xc.err" >&2; fail "exec in d1 after the move back"; }
[ "$(xc_out)" = "$MARK" ] || { cat "$T/xc.json" >&2; fail "d1 lost its marker in the move back"; }
ok "moved back to host1 in $(jq .duration_ms "$T/mig2.json") ms: no image sent (host1 has it), the file is there"

# 3. undeploy: nothing left
"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
assert_clean $S
[ -z "$(pool 1)" ] && [ -z "$(pool 2)" ] || fail "pools after undeploy: host1 '$(pool 1)', host2 '$(pool 2)'"
ok "undeploy: no volume left in either pool (the image caches keep the image: $(cache 1) / $(cache 2))"

# 3b. the same image again: neither hashed (the sums cache knows it, unchanged) nor sent
grep -q "^image '$IMG': hashing " "$T/deploy.err" || fail "the first deploy did not hash the image"
"$NUBE" deploy "$T/dsk.xml" --restrictions "$T/dsk-r.xml" --timeout 900 >"$T/again.out" 2>"$T/again.err" ||
	{ cat "$T/again.err" >&2; fail "second deploy dsk"; }
grep -q "^image '$IMG': sha256 ${SHA:0:12}\.\.\., qcow2 (unchanged since hashed)$" "$T/again.err" ||
	{ cat "$T/again.err" >&2; fail "the second deploy did not take the sum from the cache"; }
grep -q "hashing\|MiB sent in" "$T/again.err" && { cat "$T/again.err" >&2; fail "the second deploy hashed or sent the image again"; }
"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy 2"; }
assert_clean $S
ok "deployed again: the sum came from the sums cache, nothing hashed or sent"

# 4. an image that is nowhere, without the fallback: refused before anything starts
sed -i 's/^missing_image = .*/missing_image = error/' "$LAB_STATE/host1/nubed.conf"
"$LAB" restart-agent host1 >/dev/null || fail "restart agent host1"
retry 60 bash -c "[ \"\$('$NUBE' hosts --json | jq '[.hosts[] | select(.online)] | length')\" = 2 ]" ||
	fail "host1 not live after its restart"
cat >"$T/gone-r.xml" <<EOF
<deployment_restrictions><vm_deploy_at vm="g1" host="host1"/></deployment_restrictions>
EOF
rc=0
"$NUBE" deploy "$T/gone.xml" --restrictions "$T/gone-r.xml" >"$T/gone.out" 2>&1 || rc=$?
cat "$T/gone.out"
[ "$rc" = 1 ] || fail "deploy of a missing image exited $rc, not 1"
grep -q "vm 'g1': filesystem '/nonexistent/nube-test/debian.qcow2' not found on this host" "$T/gone.out" ||
	fail "the failure does not name g1 and its path"
assert_clean gone
ok "a missing image with missing_image = error: deploy refused naming g1 and the path, nothing left"
