#!/bin/bash
# test-exec-seq.sh: `nube exec SCENARIO SEQ` does what VNX's daemon does for a seq, on a 2-host
# lab with the test guest (its qemu-ga is the channel):
#  - the seq's <filetree>s are copied first (a folder's contents, a file renamed by a file
#    root=, octal perms=, symbolic perms=), then its <exec>s run in file order; an
#    <exec type="file"> runs the host file's content; a VM with only a filetree for the seq
#    (and a comma-separated seq= list) takes part
#  - ostype="exec" starts its commands detached: exec returns before they end, they finish
#  - a missing host file fails the exec with its path, before anything is copied or run
#  - `nube undeploy` runs the on_shutdown seq first (its output is shown), then leaves nothing
# Run as root under the lab lock; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=xseq
lab_up 2

mkdir -p "$T/conf/tree/sub"
echo "hello $$" >"$T/conf/tree/hello.txt"
echo "deep $$" >"$T/conf/tree/sub/x.txt"
echo "one $$" >"$T/conf/one.txt"
printf '#!/bin/sh\necho run.sh ran\n' >"$T/conf/run.sh"
chmod 0644 "$T/conf/run.sh"
printf '# a VNX command file\necho "from file on $(hostname)"\n\necho second line\n' >"$T/conf/cmds.sh"
cat >"$T/s.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx>
  <global>
    <version>2.0</version>
    <scenario_name>$S</scenario_name>
    <automac/>
    <vm_mgmt type="none"/>
  </global>
  <net name="Net0" mode="virtual_bridge"/>
  <vm name="a" type="libvirt" subtype="kvm" os="linux">
    <if id="1" net="Net0"><ipv4>10.62.0.1/24</ipv4></if>
    <filetree seq="put" root="/tmp/put/">conf/tree/</filetree>
    <filetree seq="put" root="/tmp/one.txt" perms="600">conf/one.txt</filetree>
    <filetree seq="put" root="/tmp/bin/" perms="u+x">conf/run.sh</filetree>
    <exec seq="put" type="verbatim">cat /tmp/put/hello.txt /tmp/put/sub/x.txt; ls -l /tmp/one.txt; /tmp/bin/run.sh</exec>
    <exec seq="put" type="file">conf/cmds.sh</exec>
    <exec seq="bg" type="verbatim" ostype="exec">sleep 3; echo finished > /tmp/bg.marker</exec>
    <exec seq="on_shutdown" type="verbatim">echo "on_shutdown of \$(hostname)"</exec>
  </vm>
  <vm name="b" type="libvirt" subtype="kvm" os="linux">
    <if id="1" net="Net0"><ipv4>10.62.0.2/24</ipv4></if>
    <filetree seq="other,put" root="/tmp/putb/">conf/one.txt</filetree>
  </vm>
</vnx>
EOF
cat >"$T/r.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<deployment_restrictions>
  <vm_deploy_at vm="a" host="host1"/>
  <vm_deploy_at vm="b" host="host2"/>
</deployment_restrictions>
EOF
"$NUBE" deploy "$T/s.xml" --restrictions "$T/r.xml" >"$T/deploy.out" 2>&1 ||
	{ cat "$T/deploy.out"; fail "deploy"; }
ok "deployed a on host1, b on host2"
"$NUBE" status $S --json | jq -e '[.vms[] | .config] == ["qemu-ga", "qemu-ga"]' >/dev/null ||
	{ "$NUBE" status $S; fail "nube status does not say the test guests are configured through qemu-ga"; }
"$NUBE" status $S | grep -q "qemu-ga" || fail "nube status's table has no config column"

# gx VM CMD: CMD's stdout in VM (through nube exec --cmd)
gx() { "$NUBE" exec $S --vm "$1" --cmd "$2" --json | jq -j '.results[0].stdout'; }

# ---- filetrees, then execs, in order ----
rc=0
"$NUBE" exec $S put >"$T/put.out" 2>"$T/put.err" || rc=$?
cat "$T/put.out"
[ "$rc" = 0 ] || { cat "$T/put.err"; fail "exec put: exit $rc"; }
grep -qx "== a (host1) seq put: copied 2 files to /tmp/put/" "$T/put.out" || fail "a's folder filetree not reported as 2 files"
grep -qx "== a (host1) seq put: copied 1 file to /tmp/one.txt" "$T/put.out" || fail "a's file filetree not reported"
grep -qx "== a (host1) seq put: copied 1 file to /tmp/bin/" "$T/put.out" || fail "a's run.sh filetree not reported"
grep -qx "== b (host2) seq put: copied 1 file to /tmp/putb/" "$T/put.out" || fail "b (a filetree only, seq list 'other,put') did not take part"
grep -qx "hello $$" "$T/put.out" || fail "the exec did not see the copied hello.txt (copied after the exec?)"
grep -qx "deep $$" "$T/put.out" || fail "sub/x.txt not copied"
grep -Eq '^-rw------- .* /tmp/one.txt$' "$T/put.out" || fail "perms=600 not applied to /tmp/one.txt"
grep -qx "run.sh ran" "$T/put.out" || fail "perms=u+x did not make run.sh executable"
grep -qx "from file on a" "$T/put.out" || fail "exec type=file did not run the file's content"
grep -qx "second line" "$T/put.out" || fail "exec type=file stopped after its first line"
! grep -q "a VNX command file" "$T/put.out" || fail "the command file's comment was run or printed"
order=$(grep -n "^== a " "$T/put.out" | cut -d: -f1 | tr '\n' ' ')
[ "$(grep '^== a ' "$T/put.out" | sed -n 4p)" = "== a (host1) seq put: exit 0" ] ||
	fail "a's steps out of order (lines $order): the 3 filetrees come first, then the 2 execs"
[ "$(gx b 'cat /tmp/putb/one.txt')" = "one $$" ] || fail "b's /tmp/putb/one.txt has not the host file's content"
ok "exec put: 3+1 filetrees copied (perms applied), then the verbatim and the file exec ran"

"$NUBE" exec $S put --json | jq -e '[.results[] | select(.vm == "a" and .filetree != null)] | length == 3' >/dev/null ||
	fail "exec --json does not list a's 3 filetrees"

# ---- ostype exec: detached ----
t0=$SECONDS
"$NUBE" exec $S bg >"$T/bg.out" 2>&1 || { cat "$T/bg.out"; fail "exec bg"; }
[ -z "$(gx a 'cat /tmp/bg.marker 2>/dev/null')" ] || fail "exec bg waited for its detached commands"
retry 60 sh -c "'$NUBE' exec $S --vm a --cmd 'cat /tmp/bg.marker' | grep -qx finished" ||
	fail "the detached commands of seq bg never finished"
ok "ostype exec: returned before its commands ended; they finished later ($((SECONDS - t0)) s)"

# ---- a missing host file: nothing copied, nothing run ----
echo "changed $$" >"$T/conf/tree/hello.txt"
rm "$T/conf/cmds.sh"
rc=0
"$NUBE" exec $S put >"$T/miss.out" 2>"$T/miss.err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/miss.out" "$T/miss.err"; fail "exec with a missing command file: exit $rc, expected 1"; }
grep -q "cmds.sh" "$T/miss.err" || { cat "$T/miss.err"; fail "the error does not name the missing file"; }
[ "$(gx a 'cat /tmp/put/hello.txt')" = "hello $$" ] || fail "a filetree was copied although the exec failed"
ok "missing conf/cmds.sh: exit 1 naming it, nothing copied ($(head -1 "$T/miss.err"))"

# ---- undeploy: on_shutdown first ----
"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out"; fail "undeploy"; }
cat "$T/undeploy.out"
grep -qx "on_shutdown of a" "$T/undeploy.out" || fail "undeploy did not run a's on_shutdown seq"
assert_clean $S
ok "undeploy ran on_shutdown, then removed everything"
