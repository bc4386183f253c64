#!/bin/bash
# test-guest-config.sh: real guests configure themselves from the media nube gives them. On a
# 2-host lab, a scenario of two VMs (g1 on host1, g2 on host2, one net spanning both) whose
# <filesystem type="cow"> is the Debian image with VNX's daemon is deployed; each VM gets a
# "vnx" medium (vnxboot.xml + filetree/, a read-only virtio disk vdb) and a "cidata" one
# (cloud-init's seed, an IDE CD-ROM). Then, through `nube exec` (the image's qemu-ga):
#  - the guest is Debian 12 (/etc/os-release), not nube's test guest
#  - eth1 has the scenario's address, and the MTU of a net over VXLAN (fabric - 50)
#  - the hostname is the VM's name
#  - the <filetree seq="on_boot"> file is in root= with its content
#  - the <exec seq="on_boot"> marker exists (written by the on_boot commands, after VNX's
#    daemon configured the guest and rebooted it once)
#  - g1 pings g2 across the hosts
# then `nube undeploy` leaves no domain, no volume in either host's pool (media included), no
# net, nothing in the store. Both images are run: the cloud-init one (debian12-cloud.qcow2)
# first; NUBE_GUEST_CONFIG_CASES (default "cloud vnx") picks them and their order. A missing
# on_boot file fails the deploy before anything is stored. Boots are real Debian under TCG (1-2 min each; the VNX daemon reboots
# once): every wait polls for the next step with a generous limit, fails at once when the
# image's configurer (vnxace.service, cloud-init) reports a failure, and reports how long each
# guest took from its start to configured. Run as root under the lab lock:
#   NUBE_LAB_ID=12 flock -o /tmp/nube-lab.lock tests/integration/e2e/test-guest-config.sh
# Honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
IMAGES=/var/lib/nube/images
POOL_DIR=/var/lib/nube/disks
S=gcfg
BOOT_LIMIT=${NUBE_GUEST_BOOT_LIMIT:-900}	# s from the deploy to a configured guest
CASES=${NUBE_GUEST_CONFIG_CASES:-cloud vnx}
for c in $CASES; do
	[ -r "$IMAGES/debian12-$c.qcow2" ] || fail "no $IMAGES/debian12-$c.qcow2 (guest/build-guest --image $c)"
done
command -v genisoimage >/dev/null || fail "genisoimage is missing (scripts/install-deps)"

# the scenario: scenario IMAGE > FILE
scenario() {
	cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx>
  <global>
    <version>2.0</version>
    <scenario_name>$S</scenario_name>
    <automac/>
    <vm_mgmt type="none"/>
  </global>
  <net name="Net0" mode="virtual_bridge"/>
EOF
	for i in 1 2; do
		cat <<EOF
  <vm name="g$i" type="libvirt" subtype="kvm" os="linux">
    <filesystem type="cow">$IMAGES/$1</filesystem>
    <mem>256M</mem>
    <if id="1" net="Net0"><ipv4>10.61.0.$i/24</ipv4></if>
    <filetree seq="on_boot" root="/etc/nube-test/">conf/</filetree>
    <exec seq="on_boot" type="verbatim">
      echo "on_boot of \$(hostname)" > /root/nube-on-boot.marker
    </exec>
  </vm>
EOF
	done
	echo "</vnx>"
}
mkdir -p "$T/conf"
echo "filetree content $$" >"$T/conf/hello.txt"
cat >"$T/r.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<deployment_restrictions>
  <vm_deploy_at vm="g1" host="host1"/>
  <vm_deploy_at vm="g2" host="host2"/>
</deployment_restrictions>
EOF

# gx VM CMD: run CMD in VM through its guest agent; its stdout on ours, its exit status ours
gx() {
	"$NUBE" exec $S --vm "$1" --cmd "$2" --timeout 30 --json >"$T/gx.json" 2>"$T/gx.err" || true
	jq -j '.results[0].stdout // ""' "$T/gx.json" 2>/dev/null
	return "$(jq -r '.results[0].exit // 1' "$T/gx.json" 2>/dev/null || echo 1)"
}

# pool_left K: what of the scenario is in host K's pool folder and pool
pool_left() {
	in_host "$1" sh -c "ls -A $POOL_DIR | grep '^$S\\.' || true"
	in_host "$1" virsh -q -c qemu:///system vol-list nube 2>/dev/null | awk '{print $1}' | grep "^$S\\." || true
}

# wait_configured: poll both guests until the on_boot marker is there; each step (domain
# running, guest agent answering, configured) is reported with its time since the deploy.
# Fails when a guest is not configured within BOOT_LIMIT s, naming the step it reached.
wait_configured() {
	local t0=$1 vm k step
	declare -A st=([g1]=started [g2]=started)
	while :; do
		local pending=0
		for vm in g1 g2; do
			[ "${st[$vm]}" = configured ] && continue
			k=${vm#g}
			step=${st[$vm]}
			in_host "$k" virsh -q -c qemu:///system domstate "$S.$vm" 2>/dev/null | grep -q running ||
				fail "$vm: domain $S.$vm is not running on host$k ($step)"
			if gx "$vm" 'test -f /root/nube-on-boot.marker && echo yes' >/dev/null; then
				st[$vm]=configured
				eval "conf_$vm=$((SECONDS - t0))"
				info "$vm: configured $((SECONDS - t0)) s after the deploy (guest uptime $(gx "$vm" 'cut -d" " -f1 /proc/uptime') s)"
				continue
			elif [ "$step" = started ] && jq -e '.results[0].exit | numbers' "$T/gx.json" >/dev/null 2>&1; then
				st[$vm]=agent
				info "$vm: guest agent answers $((SECONDS - t0)) s after the deploy"
			fi
			# the image's configurer gave up: no use waiting for it
			if [ "${st[$vm]}" = agent ] && out=$(gx "$vm" "$FAILED_PROBE") && [ -n "$out" ]; then
				fail "$vm: the guest's configuration failed ($((SECONDS - t0)) s after the deploy): $out"
			fi
			pending=1
		done
		[ "$pending" = 0 ] && return 0
		[ $((SECONDS - t0)) -lt "$BOOT_LIMIT" ] ||
			fail "not configured within $BOOT_LIMIT s: g1 ${st[g1]}, g2 ${st[g2]} (last exec: $(cat "$T/gx.err" "$T/gx.json" 2>/dev/null | tr '\n' ' ' | cut -c1-300))"
		sleep 5
	done
}

# one_case IMAGE LABEL: deploy, check, undeploy, check clean
one_case() {
	local img=$1 label=$2 vm k out t0
	# FAILED_PROBE: prints why when the image's own configurer failed, nothing while it works
	case $label in
	vnx) FAILED_PROBE='systemctl is-failed -q vnxace.service && { echo "vnxace.service failed:"; sleep 2; journalctl -b -u vnxace.service --no-pager -o cat | tail -4; }' ;;
	cloud) FAILED_PROBE='cloud-init status 2>/dev/null | grep -q "status: error" && { echo "cloud-init failed:"; cloud-init status --long 2>/dev/null | tail -5; }' ;;
	esac
	scenario "$img" >"$T/$S.xml"
	t0=$SECONDS
	"$NUBE" deploy "$T/$S.xml" --restrictions "$T/r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
		{ cat "$T/deploy.err" >&2; fail "$label: deploy"; }
	ok "$label: deployed in $((SECONDS - t0)) s"
	grep -q "configures itself from its media" "$T/deploy.err" ||
		{ cat "$T/deploy.err" >&2; fail "$label: no agent said its VMs configure themselves"; }
	# the media are in each host's pool and attached as vdb (vnx) and hdc (cidata)
	for k in 1 2; do
		out=$(pool_left "$k" | sort -u | tr '\n' ' ')
		[ "$out" = "$S.g$k.cidata.iso $S.g$k.qcow2 $S.g$k.vnx.iso " ] ||
			fail "$label: host$k's pool holds '$out', expected g$k's overlay and two media"
		in_host "$k" virsh -q -c qemu:///system domblklist "$S.g$k" >"$T/blk"
		grep -Eq "^ *vdb +$POOL_DIR/$S.g$k.vnx.iso" "$T/blk" && grep -Eq "^ *hdc +$POOL_DIR/$S.g$k.cidata.iso" "$T/blk" ||
			{ cat "$T/blk" >&2; fail "$label: g$k's media are not attached as vdb and hdc"; }
	done
	ok "$label: each host's pool has its VM's overlay and media, attached as vdb and hdc"

	wait_configured "$t0"
	# shellcheck disable=SC2154
	ok "$label: both guests configured (g1 ${conf_g1} s, g2 ${conf_g2} s after the deploy)"
	echo "$label g1 ${conf_g1} g2 ${conf_g2}" >>"$T/times"

	for vm in g1 g2; do
		k=${vm#g}
		out=$(gx "$vm" '. /etc/os-release; echo "$ID $VERSION_ID"') || fail "$label: $vm: os-release: $(cat "$T/gx.json")"
		[ "$out" = "debian 12" ] || fail "$label: $vm runs '$out', not debian 12"
		out=$(gx "$vm" 'ip -4 -o addr show dev eth1') || fail "$label: $vm: no eth1: $(cat "$T/gx.json")"
		grep -q "inet 10.61.0.$k/24" <<<"$out" || fail "$label: $vm: eth1 has '$out', not 10.61.0.$k/24"
		out=$(gx "$vm" 'cat /sys/class/net/eth1/mtu') || fail "$label: $vm: eth1 MTU: $(cat "$T/gx.json")"
		[ "$out" = "$(($(in_host "$k" cat /sys/class/net/eth0/mtu) - 50))" ] ||
			fail "$label: $vm: eth1 MTU '$out', not the fabric's - 50"
		out=$(gx "$vm" 'hostname') || fail "$label: $vm: hostname: $(cat "$T/gx.json")"
		[ "$out" = "$vm" ] || fail "$label: $vm: hostname '$out'"
		out=$(gx "$vm" 'cat /etc/nube-test/hello.txt') || fail "$label: $vm: no /etc/nube-test/hello.txt: $(cat "$T/gx.json")"
		[ "$out" = "$(cat "$T/conf/hello.txt")" ] || fail "$label: $vm: filetree file holds '$out'"
		out=$(gx "$vm" 'cat /root/nube-on-boot.marker') || fail "$label: $vm: marker: $(cat "$T/gx.json")"
		[ "$out" = "on_boot of $vm" ] || fail "$label: $vm: on_boot marker holds '$out'"
	done
	ok "$label: g1 and g2 run Debian 12 with hostname, eth1 address and MTU, filetree file and on_boot marker"
	retry 120 gx g1 'ping -c 3 -W 2 10.61.0.2' || { cat "$T/gx.json" >&2; fail "$label: g1 cannot ping g2 (10.61.0.2)"; }
	ok "$label: g1 (host1) pings g2 (host2)"

	"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "$label: undeploy"; }
	assert_clean $S
	for k in 1 2; do
		out=$(pool_left "$k" | tr '\n' ' ')
		[ -z "$out" ] || fail "$label: host$k's pool still holds $out"
	done
	ok "$label: no volume of $S left in either host's pool"
}

lab_up 2

# a missing on_boot file: refused before anything is stored or started
scenario debian12-vnx.qcow2 | sed 's|>conf/<|>conf-missing/<|' >"$T/bad.xml"
rc=0
"$NUBE" deploy "$T/bad.xml" --restrictions "$T/r.xml" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/bad.err" >&2; fail "deploy with a missing filetree exited $rc, not 1"; }
grep -q "vm 'g1': filetree 'conf-missing/': .*('$T/conf-missing/')" "$T/bad.err" ||
	{ cat "$T/bad.err" >&2; fail "the error does not name vm, path and where it was looked for"; }
# (before the first deploy the store may not even have its tables: nothing stored either)
rows=$(store_rows $S 2>/dev/null || echo 0)
[ "$rows" = 0 ] && [ -z "$(host_domains 1)$(host_domains 2)" ] ||
	fail "a refused deploy left something in the store ($rows rows) or on the hosts"
ok "a missing filetree source is refused before anything is stored, naming vm, path and place"

for c in $CASES; do
	one_case "debian12-$c.qcow2" "$c"
done
info "boot to configured (s after the deploy): $(tr '\n' ';' <"$T/times")"
