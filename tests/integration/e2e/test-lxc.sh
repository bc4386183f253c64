#!/bin/bash
# test-lxc.sh: containers. The VNX tutorial (examples/vnx/tutorial_lxc_ubuntu.xml, unchanged: 6
# type="lxc" VMs) with nube's debian12-lxc rootfs at the path it names deploys on 3 lab hosts
# as libvirt LXC containers (each host's lxc:///system lists them, no QEMU domain or process
# for them), h1 pings h3 through r1 and r2 across hosts over IPv4 and IPv6, `exec ls12`
# returns h2's real output, the configuration nube wrote into each layer ran at boot, and
# undeploy leaves no container, layer, link or store row. Then tests/data/lxc/lxc-mixed.xml:
# a container and a QEMU test guest on one net across two hosts ping each other, and the
# container's on_boot filetree and command ran.
# Needs the rootfs: guest/build-guest --image lxc. Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
ROOTFS=${NUBE_LXC_ROOTFS:-/var/lib/nube/images/debian12-lxc}
[ -x "$ROOTFS/sbin/init" ] || fail "no container rootfs at $ROOTFS (guest/build-guest --image lxc)"
S=tutorial_lxc_ubuntu
cmp -s "$TUTORIAL" /work/shared/vnx/tutorial_lxc_ubuntu.xml 2>/dev/null && info "tutorial file identical to the VNX original"
# the rootfs at the path the tutorial names (a symlink made here, removed at the end)
FSPATH=$(sed -n 's|.*<filesystem type="cow">\(.*\)</filesystem>.*|\1|p' "$TUTORIAL" | sort -u)
[ "$(echo "$FSPATH" | wc -l)" = 1 ] || fail "the tutorial names more than one filesystem"
[ ! -e "$FSPATH" ] || [ -L "$FSPATH" ] || fail "'$FSPATH' exists and is not a symlink: not touching it"
made_dirs=""
d=$(dirname "$FSPATH")
while [ ! -d "$d" ]; do made_dirs="$d $made_dirs"; d=$(dirname "$d"); done

lab_up 3
lxc_cleanup() {
	local rc=$?
	set +e
	[ -L "$FSPATH" ] && rm -f "$FSPATH"
	for d in $(echo $made_dirs | tr ' ' '\n' | sort -r); do rmdir "$d" 2>/dev/null; done
	(exit $rc)
	e2e_cleanup
}
trap lxc_cleanup EXIT
mkdir -p "$(dirname "$FSPATH")"
ln -sfn "$ROOTFS" "$FSPATH"

host_ct() { in_host "$1" virsh -q -c lxc:///system list --all --name | sed '/^$/d' | sort; }
layers() { ls "$LAB_STATE/host$1/containers" 2>/dev/null || true; }
for k in $(lab_hosts); do
	grep -q "containers: libvirt's LXC driver on lxc:///system runs them" "$LAB_STATE/host$k/nubed.log" ||
		{ cat "$LAB_STATE/host$k/nubed.log" >&2; fail "host$k's agent does not say it runs containers"; }
done
ok "every agent says its host runs containers"

t0=$(date +%s%N)
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" "$T/deploy.out" >&2; fail "deploy"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "the tutorial deployed as containers in $ms ms"
# the tutorial's <host> part is warned about (validate names it: nube joins no host to a
# net); any other warning would be a container that fell back
grep "warning" "$T/deploy.err" | grep -v ": warning: host: " | grep -q . &&
	{ cat "$T/deploy.err"; fail "deploy warned (a container fell back?)"; }
"$NUBE" status "$S" --json >"$T/status.json" || fail "status"
nh=$(jq '[.vms[].host] | unique | length' "$T/status.json")
[ "$nh" = 3 ] || fail "containers on $nh host(s), expected 3"
total=0
for k in $(lab_hosts); do
	c=$(host_ct "$k")
	q=$(host_domains "$k")
	info "host$k: containers $(echo $c); QEMU domains $(echo $q)"
	[ -z "$q" ] || fail "host$k has QEMU domains: $(echo $q)"
	for vm in $(jq -r --arg h "host$k" '.vms[] | select(.host==$h) | .vm' "$T/status.json"); do
		echo "$c" | grep -qx "$S.$vm" || fail "vm $vm: no container $S.$vm on host$k"
		in_host "$k" virsh -q -c lxc:///system domstate "$S.$vm" | grep -q running ||
			fail "container $S.$vm not running on host$k"
		[ -d "$LAB_STATE/host$k/containers/$S.$vm/upper" ] || fail "no layer of $S.$vm on host$k"
		total=$((total + 1))
	done
done
[ "$total" = 6 ] || fail "$total of 6 VMs found as containers"
! pgrep -f "qemu-system.*$S" >/dev/null || fail "a QEMU process runs for $S"
ok "6 containers on 3 hosts (virsh -c lxc:///system), no QEMU domain or process for them"
# the rootfs reached each host by content: one checked copy in its cache, under every layer
sha=$(sed -n "s/.*rootfs '[^']*': content \([0-9a-f]\{12\}\).*/\1/p" "$T/deploy.err" | head -1)
[ -n "$sha" ] || { cat "$T/deploy.err"; fail "deploy did not sum the rootfs"; }
grep -q "rootfs $sha\.\.\.: .* sent" "$T/deploy.err" || { cat "$T/deploy.err"; fail "the rootfs was not sent"; }
for k in $(lab_hosts); do
	c=$(ls "$LAB_STATE/host$k/containers/.rootfs" 2>/dev/null || true)
	[ "$(echo $c | wc -w)" = 1 ] && [ "${c#"$sha"}" != "$c" ] ||
		fail "host$k's rootfs cache holds '$c', not one copy of $sha..."
	in_host "$k" grep -q "lowerdir=/var/lib/nube/containers/.rootfs/$c," /proc/mounts ||
		fail "host$k's layers are not on its cached rootfs $c"
done
ok "the rootfs reached each host by content ($sha...), one copy each, under every layer"

retry 90 "$NUBE" exec $S --vm h1 --cmd 'ping -c 3 -W 2 10.1.2.2' ||
	{ cat "$T/retry.out" >&2; fail "h1 cannot ping h3 (10.1.2.2)"; }
grep -q "bytes from 10.1.2.2" "$T/retry.out" || fail "no ping reply in the output"
ok "h1 pings h3 over IPv4: $(grep -c 'bytes from' "$T/retry.out") replies"
retry 60 "$NUBE" exec $S --vm h1 --cmd 'ping -6 -c 3 -W 2 2001:db8:2::2' ||
	{ cat "$T/retry.out" >&2; fail "h1 cannot ping h3 over IPv6 (2001:db8:2::2)"; }
grep -q "bytes from 2001:db8:2::2" "$T/retry.out" || fail "no IPv6 ping reply in the output"
ok "h1 pings h3 over IPv6: $(grep -c 'bytes from' "$T/retry.out") replies"
hs=$(jq -r '[.vms[] | select(.vm=="h1" or .vm=="r1" or .vm=="r2" or .vm=="h3") | .host] | unique | length' "$T/status.json")
[ "$hs" -ge 2 ] || fail "h1, r1, r2 and h3 all on one host: nothing crossed hosts"
ok "the h1 -> h3 path spans $hs hosts"

# exec runs inside the container: its hostname, nube's rootfs, its own configuration
"$NUBE" exec $S --vm r1 --cmd 'hostname; cat /etc/vnx_rootfs_version; cat /proc/sys/net/ipv4/ip_forward; tail -1 /var/log/nube-boot.log; ip -br addr show eth2' >"$T/r1.out" 2>&1 ||
	{ cat "$T/r1.out"; fail "exec in r1"; }
cat "$T/r1.out"
grep -qx r1 "$T/r1.out" || fail "r1's hostname is not r1"
grep -q "debian12-lxc rootfs" "$T/r1.out" || fail "r1 does not run nube's rootfs"
grep -qx 1 "$T/r1.out" || fail "forwarding is off in r1"
grep -q "nube-boot: done" "$T/r1.out" || fail "nube's boot script did not finish in r1"
grep -q "10.1.1.1/24" "$T/r1.out" || fail "r1's eth2 lacks 10.1.1.1/24"
ok "r1: hostname, rootfs, forwarding, addresses and its boot script, seen from inside"
# its systemd runs in r1's own cgroup, not at the root of the host's tree (the init shim)
"$NUBE" exec $S --vm r1 --cmd 'cat /proc/1/cgroup' >"$T/cg.out" 2>&1 || { cat "$T/cg.out"; fail "exec cat /proc/1/cgroup in r1"; }
own="/machine/lxc-[0-9]+-[^/]*\\.r1\\.libvirt-lxc"	# libvirt drops the name's '_'s
if [ -d /sys/fs/cgroup/memory ]; then	# cgroup v1: libvirt's memory group, and systemd's own
	grep -Eq "^[0-9]+:memory:$own" "$T/cg.out" && grep -Eq "^[0-9]+:name=systemd:$own" "$T/cg.out" ||
		{ cat "$T/cg.out"; fail "r1's init is not in r1's own memory and name=systemd groups"; }
else
	grep -Eq "^0::$own" "$T/cg.out" || { cat "$T/cg.out"; fail "r1's init is not in r1's own cgroup"; }
fi
ok "r1's systemd runs in r1's own cgroup"
rc=0
"$NUBE" exec $S ls12 >"$T/exec.out" 2>"$T/exec.err" || rc=$?
cat "$T/exec.out"
[ "$rc" = 0 ] || { cat "$T/exec.err"; fail "exec ls12 exit $rc"; }
h2host=$(jq -r '.vms[] | select(.vm=="h2") | .host' "$T/status.json")
grep -q "^== h2 ($h2host) seq ls1: exit 0$" "$T/exec.out" || fail "no ls1 result for h2 on $h2host"
grep -q "^== h2 ($h2host) seq ls2: exit 0$" "$T/exec.out" || fail "no ls2 result for h2"
grep -Eq '^d[rwxt-]{9} .* \.\.$' "$T/exec.out" || fail "no '..' entry: not a real ls -al output"
ok "exec ls12 returned h2's real output"
rc=0
"$NUBE" exec $S --vm h3 --cmd 'echo oops >&2; exit 7' >"$T/exec7.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "cmd: exit 7" "$T/exec7.out" && grep -q oops "$T/exec7.out" ||
	{ cat "$T/exec7.out"; fail "exit 7 in a container not reported (nube exit $rc)"; }
ok "a failing command in a container is reported (exit 7, stderr kept)"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
for k in $(lab_hosts); do
	[ -z "$(host_ct "$k")" ] || fail "host$k still has containers: $(echo $(host_ct "$k"))"
	[ -z "$(layers "$k")" ] || fail "host$k still has layers: $(echo $(layers "$k"))"
	in_host "$k" sh -c 'grep -q " /var/lib/nube/containers/" /proc/mounts' && fail "host$k still has a layer mounted"
done
assert_clean $S
if [ -d /sys/fs/cgroup/systemd/machine ]; then
	left=$(ls /sys/fs/cgroup/systemd/machine | grep -F -- "-$(echo "$S" | tr -d _)." || true)
	[ -z "$left" ] || fail "name=systemd groups of the containers left: $(echo $left)"
fi
ok "undeploy left no container, layer, mount, link or store row"

# a container and a QEMU guest on one net across two hosts
M=lxc_mixed
"$NUBE" deploy "$REPO/tests/data/lxc/lxc-mixed.xml" --restrictions "$REPO/tests/data/lxc/lxc-mixed-restrictions.xml" \
	>"$T/mixed.out" 2>"$T/mixed.err" || { cat "$T/mixed.err" "$T/mixed.out" >&2; fail "deploy of the mixed scenario"; }
[ "$(host_ct 1)" = "$M.c1" ] || fail "c1 is not a container on host1: $(host_ct 1)"
! grep -q "not in its cache: sending" "$T/mixed.err" || { cat "$T/mixed.err"; fail "the rootfs was sent again"; }
grep -q "rootfs '[^']*': content $sha" "$T/mixed.err" || { cat "$T/mixed.err"; fail "the mixed deploy's rootfs is not $sha..."; }
[ "$(host_domains 2)" = "$M.q1" ] || fail "q1 is not a QEMU domain on host2: $(host_domains 2)"
ok "c1 is a container on host1, q1 a QEMU guest on host2"
retry 90 "$NUBE" exec $M --vm q1 --cmd 'ping -c 3 -W 2 10.9.0.1' ||
	{ cat "$T/retry.out" >&2; fail "q1 (QEMU) cannot ping c1 (container)"; }
retry 30 "$NUBE" exec $M --vm c1 --cmd 'ping -c 3 -W 2 10.9.0.2' ||
	{ cat "$T/retry.out" >&2; fail "c1 (container) cannot ping q1 (QEMU)"; }
ok "container and QEMU guest ping each other across hosts"
"$NUBE" status $M --json | jq -e '[.vms[] | select(.vm == "c1") | .config] == ["container"] and
    [.vms[] | select(.vm == "q1") | .config] == ["qemu-ga"]' >/dev/null ||
	{ "$NUBE" status $M; fail "nube status: c1 should be configured as a container, q1 through qemu-ga"; }
"$NUBE" exec $M --vm c1 --cmd 'cat /root/on_boot.out' >"$T/onboot.out" 2>&1 || { cat "$T/onboot.out"; fail "exec in c1"; }
grep -q "hello from the filetree" "$T/onboot.out" && grep -qx c1 "$T/onboot.out" ||
	{ cat "$T/onboot.out"; fail "c1's on_boot filetree and command did not run"; }
ok "c1's on_boot filetree was copied and its on_boot command ran"
"$NUBE" exec $M --vm c1 --cmd 'ip -4 addr show dev lo' >"$T/lo.out" 2>&1 || { cat "$T/lo.out"; fail "exec ip addr in c1"; }
grep -q 'inet 10.9.9.1/32' "$T/lo.out" || { cat "$T/lo.out"; fail "c1's <if net=\"lo\"> address is not on its lo"; }
"$NUBE" exec $M later >"$T/later.out" 2>&1 || { cat "$T/later.out"; fail "exec later in c1"; }
grep -q '^== c1 .* seq later: copied 1 file to /opt/later/$' "$T/later.out" &&
	grep -Eq '^-rw------- .* hello.txt$' "$T/later.out" || { cat "$T/later.out"; fail "exec of seq 'later' did not copy its filetree (perms 600) before listing it"; }
ok "c1: its loopback address is on lo; exec of a seq copies its filetree into the container, then runs its command"
"$NUBE" undeploy $M >"$T/undeploy2.out" 2>&1 || { cat "$T/undeploy2.out" >&2; fail "undeploy of the mixed scenario"; }
grep -qx "on_shutdown of c1" "$T/undeploy2.out" || { cat "$T/undeploy2.out"; fail "undeploy did not run c1's on_shutdown"; }
for k in 1 2; do
	[ -z "$(host_ct "$k")" ] && [ -z "$(layers "$k")" ] || fail "host$k keeps a container or layer"
done
assert_clean $M
ok "done"
