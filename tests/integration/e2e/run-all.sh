#!/bin/bash
# run-all.sh: run every end-to-end test of nube on the lab, one after the other (each brings
# its own lab up and down); exit non-zero when any failed. Honours NUBE_LAB_ID, NUBE, NUBED.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
failed=()
# The vnx image's daemon (VNX's vnxaced) cannot configure a guest until the fixture
# ../shared/vnx/autoconf has VNX's vnx_autoconfigure.pl (guest/README.md): the suite runs the
# cloud-init case of test-guest-config.sh; NUBE_GUEST_CONFIG_CASES="cloud vnx" runs both.
export NUBE_GUEST_CONFIG_CASES=${NUBE_GUEST_CONFIG_CASES:-cloud}
echo "NOTE: test-guest-config.sh runs the image case(s): $NUBE_GUEST_CONFIG_CASES"
for t in test-broker-acl.sh test-deploy.sh test-deploy-fail.sh test-agent-restart.sh test-names.sh \
	test-overcommit.sh test-broker-loss.sh test-net-reconcile.sh test-migrate.sh test-control-plane.sh \
	test-exec-seq.sh test-disks.sh test-guest-config.sh test-vnx-fidelity.sh test-lxc.sh test-lxc-move.sh test-degraded.sh; do
	echo "==== e2e: $t"
	t0=$SECONDS
	if [ ! -x "$D/$t" ]; then
		failed+=("$t (missing)")
	elif "$D/$t"; then
		echo "==== e2e: $t passed in $((SECONDS - t0)) s"
	else
		echo "==== e2e: $t FAILED after $((SECONDS - t0)) s"
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'e2e FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "e2e: all passed"
