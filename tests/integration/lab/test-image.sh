#!/bin/bash
# test-image.sh: build (or reuse) nube's Debian 12 images and boot each under plain QEMU (TCG)
#
# Run as root from the repository root: tests/integration/lab/test-image.sh [vnx] [cloud]
# (both flavours when none is named). For each flavour: guest/build-guest --image F
# (cached), then boot a throw-away overlay of the image from its own bootloader with
# 256 MiB, a virtio disk, a virtio NIC (QEMU user network, restricted: no way out) and
# the guest agent channel, and check: the serial console shows the boot; the agent
# answers guest-ping; systemd reaches multi-user.target; /etc/os-release is Debian 12;
# `vtysh -c 'show version'` answers (FRR); the tools are there; the NIC is eth0.
#   vnx:   vnxace.service is installed and enabled, its Perl modules load.
#   cloud: cloud-init runs against a NoCloud seed ISO (label cidata) holding only a
#          hostname and finishes; the hostname is the seed's.
# Prints build time, image size and boot-to-agent time per flavour. Waits are
# progress-based: a boot fails when the serial console stays silent for STALL_LIMIT
# seconds (default 240) or QEMU exits, not after a fixed time.
# The VNX daemon's files: NUBE_VNX_AUTOCONF or guest/build-image's default.
set -eu

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
IDIR=${NUBE_IMAGE_DIR:-/var/lib/nube/images}
STALL_LIMIT=${STALL_LIMIT:-240}
FLAVOURS=${*:-vnx cloud}
T=$(mktemp -d /tmp/nube-test-image.XXXXXX)
QPID=""
QGA_PID=""
SUMMARY=""

fail() { echo "FAIL: $*" >&2; [ -f "$T/console.log" ] && { echo "--- console (last 30 lines)" >&2; tail -30 "$T/console.log" >&2; }; exit 1; }
ok() { echo "ok: $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
qemu_stop() {
	[ -n "${QGA_PID:-}" ] && kill "$QGA_PID" 2>/dev/null || true
	QGA_PID=""
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID"
		for _ in $(seq 1 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
	fi
	QPID=""
}
cleanup() { qemu_stop; rm -rf "$T"; }
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run as root"
for t in qemu-system-x86_64 qemu-img genisoimage socat jq; do
	command -v "$t" >/dev/null 2>&1 || fail "'$t' missing (run scripts/install-deps)"
done
trap "" PIPE  # a dropped agent connection must not kill the test

# --- guest agent client (one connection kept open; see guest/README.md) ----------------
qga_connect() {
	if [ -n "${QGA_PID:-}" ] && kill -0 "$QGA_PID" 2>/dev/null; then return 0; fi
	coproc QGA { exec socat - "UNIX-CONNECT:$T/qga.sock" 2>/dev/null; }
	QGA_PID=${QGA_PID:-}  # bash unsets it when the coprocess ends
	sleep 0.1
	[ -n "$QGA_PID" ] && kill -0 "$QGA_PID" 2>/dev/null
}
# qga_call JSON [TIMEOUT]: send one request, print its reply line
qga_call() {
	local line
	qga_connect || return 1
	printf '%s\n' "$1" >&"${QGA[1]}"
	IFS= read -r -t "${2:-30}" line <&"${QGA[0]}" || return 1
	printf '%s\n' "$line"
}
# qga_sync [TIMEOUT]: discard stale replies (guest-sync with a fresh id)
qga_sync() {
	local id=$RANDOM$RANDOM line
	qga_connect || { sleep 0.5; return 1; }
	printf '{"execute":"guest-sync","arguments":{"id":%s}}\n' "$id" >&"${QGA[1]}" || return 1
	while IFS= read -r -t "${1:-1}" line <&"${QGA[0]}"; do
		case "$line" in *"\"return\": $id"*) return 0 ;; esac
	done
	return 1
}
# guest_run CMD: run /bin/sh -c CMD in the guest, print stdout, return its exit code
guest_run() {
	local r pid st
	r=$(qga_call "$(jq -cn --arg c "$1" '{execute:"guest-exec",arguments:{path:"/bin/sh",arg:["-c",$c],"capture-output":true}}')") ||
		fail "guest-exec '$1': no reply"
	pid=$(echo "$r" | jq -e .return.pid) || fail "guest-exec '$1': $r"
	while :; do
		st=$(qga_call "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || fail "guest-exec-status: no reply"
		[ "$(echo "$st" | jq .return.exited)" = true ] && break
		alive_or_fail
		sleep 0.5
	done
	echo "$st" | jq -r '.return["out-data"] // ""' | base64 -d
	return "$(echo "$st" | jq '.return.exitcode // 255')"
}
# guest_exec CMD: guest_run, failing the test on a non-zero exit
guest_exec() {
	local out rc=0
	out=$(guest_run "$1") || rc=$?
	[ "$rc" = 0 ] || fail "'$1' exited $rc in the guest: $out"
	printf '%s\n' "$out"
}

# progress: QEMU alive, and the serial console wrote something in the last STALL_LIMIT s
LAST_SIZE=0
LAST_CHANGE=0
alive_or_fail() {
	local s
	[ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null || fail "QEMU exited"
	s=$(stat -c %s "$T/console.log" 2>/dev/null || echo 0)
	if [ "$s" != "$LAST_SIZE" ]; then
		LAST_SIZE=$s
		LAST_CHANGE=$(date +%s)
	elif [ $(( $(date +%s) - LAST_CHANGE )) -ge "$STALL_LIMIT" ]; then
		fail "no progress: the serial console was silent for ${STALL_LIMIT}s"
	fi
}

# --- one flavour -------------------------------------------------------------------------
test_flavour() {
	local f=$1 img="$IDIR/debian12-$1.qcow2" t0 t1 build vsize fsize start ms mu_ms out state hn
	echo "=== debian12-$f"
	t0=$(date +%s)
	nice "$REPO/guest/build-guest" --image "$f" | tee "$T/build.log" || fail "guest/build-guest --image $f failed"
	t1=$(date +%s)
	if grep -q "up to date" "$T/build.log"; then build="cached"; else build="$((t1 - t0)) s"; fi
	[ -f "$img" ] || fail "'$img' was not written"
	vsize=$(qemu-img info --output=json "$img" | jq '.["virtual-size"]')
	fsize=$(stat -c %s "$img")
	[ "$vsize" -le $((1024 * 1024 * 1024)) ] || fail "virtual size $vsize bytes is over 1 GiB"
	ok "image $img: virtual $((vsize / 1048576)) MiB, file $((fsize / 1048576)) MiB (build: $build)"

	rm -f "$T"/*.qcow2 "$T"/seed.iso "$T"/console.log
	qemu-img create -q -f qcow2 -F qcow2 -b "$img" "$T/disk.qcow2" || fail "qemu-img create (overlay) failed"
	local extra=()
	if [ "$f" = cloud ]; then
		mkdir -p "$T/seed"
		printf 'instance-id: nube-test-%s\nlocal-hostname: nube-seed-host\n' "$$" > "$T/seed/meta-data"
		printf '#cloud-config\n' > "$T/seed/user-data"
		genisoimage -quiet -output "$T/seed.iso" -volid cidata -joliet -rock \
			"$T/seed/user-data" "$T/seed/meta-data" || fail "genisoimage failed"
		extra=(-drive "file=$T/seed.iso,media=cdrom,readonly=on")
	fi

	start=$(now_ms)
	LAST_SIZE=0
	LAST_CHANGE=$(date +%s)
	qemu-system-x86_64 -accel tcg -m 256 -smp 1 -display none -no-reboot \
		-serial "file:$T/console.log" \
		-drive "file=$T/disk.qcow2,if=virtio,format=qcow2" \
		"${extra[@]}" \
		-device virtio-serial \
		-chardev "socket,path=$T/qga.sock,server=on,wait=off,id=qga0" \
		-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
		-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
		-pidfile "$T/qemu.pid" -daemonize || fail "qemu did not start"
	QPID=$(cat "$T/qemu.pid")
	ok "qemu started (pid $QPID), waiting for the guest agent (console: $T/console.log)"

	while ! qga_sync 2; do alive_or_fail; done
	ms=$(( $(now_ms) - start ))
	out=$(qga_call '{"execute":"guest-ping"}') || fail "guest-ping: no reply"
	[ "$(echo "$out" | jq -c .return)" = "{}" ] || fail "guest-ping: unexpected reply $out"
	ok "guest-ping answered; boot-to-agent $((ms / 1000)).$(( (ms % 1000) / 100 )) s"
	grep -q "Linux version" "$T/console.log" || fail "no kernel messages on the serial console"
	ok "boot progress visible on the serial console (ttyS0)"

	# systemd: wait for the end of start-up, then multi-user.target must be active
	while :; do
		state=$(guest_run "systemctl is-system-running" || true)
		case "$state" in initializing|starting|"") alive_or_fail; sleep 2 ;; *) break ;; esac
	done
	mu_ms=$(( $(now_ms) - start ))
	out=$(guest_exec "systemctl is-active multi-user.target")
	[ "$out" = active ] || fail "multi-user.target is '$out' (system: $state)"
	ok "systemd reached multi-user.target after $((mu_ms / 1000)) s (system state: $state)"
	[ "$state" = running ] || echo "note: failed units: $(guest_run 'systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd" "' || true)"

	out=$(guest_exec "cat /etc/os-release")
	echo "$out" | grep -qx 'ID=debian' && echo "$out" | grep -qx 'VERSION_ID="12"' ||
		fail "/etc/os-release is not Debian 12: $out"
	ok "guest-exec cat /etc/os-release: $(echo "$out" | sed -n 's/^PRETTY_NAME=//p')"
	out=$(guest_exec "vtysh -c 'show version'")
	echo "$out" | grep -q FRRouting || fail "vtysh -c 'show version' gave: $out"
	ok "vtysh: $(echo "$out" | grep -m1 FRRouting)"
	out=$(guest_exec "for t in ip tcpdump iperf3 ethtool python3 qemu-ga ifup; do command -v \$t >/dev/null || echo missing \$t; done")
	[ -z "$out" ] || fail "$out"
	ok "iproute2, tcpdump, iperf3, ethtool, python3, qemu-ga, ifupdown present"
	guest_exec "ip -o link show eth0" > /dev/null
	out=$(guest_exec "cat /proc/cmdline")
	case "$out" in *console=ttyS0*net.ifnames=0*) ;; *) fail "kernel command line: $out" ;; esac
	ok "the NIC is eth0; kernel command line: $out"

	case "$f" in
	vnx)
		out=$(guest_exec "systemctl is-enabled vnxace.service")
		[ "$out" = enabled ] || fail "vnxace.service is '$out'"
		guest_exec "test -x /usr/local/bin/vnxaced && test -x /usr/local/bin/vnx_halt && test -d /root/.vnx" > /dev/null
		out=$(guest_exec "perl -c /usr/local/bin/vnxaced 2>&1")
		case "$out" in *"syntax OK"*) ;; *) fail "perl -c vnxaced: $out" ;; esac
		ok "vnxace.service installed and enabled; vnxaced compiles (XML::LibXML, NetAddr::IP present)"
		;;
	cloud)
		while :; do
			out=$(guest_run "cloud-init status" || true)
			case "$out" in *running*|*"not started"*|"") alive_or_fail; sleep 2 ;; *) break ;; esac
		done
		case "$out" in
		*done*) ;;
		*) fail "cloud-init status: $out; its log says: $(guest_run "grep -E 'WARNING|ERROR|Traceback|Error' /var/log/cloud-init.log | cut -c1-400" || true)" ;;
		esac
		out=$(guest_exec "cat /run/cloud-init/result.json")
		echo "$out" | grep -q NoCloud || fail "cloud-init did not use NoCloud: $out"
		hn=$(guest_exec "hostname")
		[ "$hn" = nube-seed-host ] || fail "hostname is '$hn', the seed says nube-seed-host"
		ok "cloud-init finished with the NoCloud seed; hostname '$hn' from the seed"
		;;
	esac

	printf '%s\n' '{"execute":"guest-shutdown","arguments":{"mode":"powerdown"}}' >&"${QGA[1]}" || true
	while kill -0 "$QPID" 2>/dev/null; do
		alive_or_fail 2>/dev/null || break
		sleep 1
	done
	kill -0 "$QPID" 2>/dev/null && fail "guest-shutdown did not power the guest off"
	QPID=""
	[ -n "${QGA_PID:-}" ] && kill "$QGA_PID" 2>/dev/null || true
	QGA_PID=""
	ok "guest-shutdown powered the guest off"
	SUMMARY="$SUMMARY
debian12-$f: build $build; file $((fsize / 1048576)) MiB (virtual $((vsize / 1048576)) MiB); boot-to-agent $((ms / 1000)).$(( (ms % 1000) / 100 )) s; boot-to-multi-user $((mu_ms / 1000)) s (TCG, 256 MiB, load $(cut -d' ' -f1 /proc/loadavg))"
}

for f in $FLAVOURS; do
	case "$f" in vnx|cloud) test_flavour "$f" ;; *) fail "unknown flavour '$f' (vnx or cloud)" ;; esac
done
echo "$SUMMARY" | sed '/^$/d'
echo "PASS test-image ($FLAVOURS)"
