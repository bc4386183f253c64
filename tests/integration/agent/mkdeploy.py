#!/usr/bin/env python3
# mkdeploy.py SPEC SCENARIO VNI HOST=ADDR:VM,VM ... : print a deploy rpc (proto_deployment JSON)
# placing the listed VMs on each host; every net spans all hosts given (test-agent.sh);
# GUEST_TIMEOUT_S=N adds "guest_timeout_s" (how long the agent waits for guest agents)
import json, os, sys
spec = open(sys.argv[1]).read()
scen, vni = sys.argv[2], int(sys.argv[3])
vms, hosts, addrs = [], [], []
for arg in sys.argv[4:]:
    host, rest = arg.split("=", 1)
    addr, names = rest.split(":", 1)
    hosts.append(host)
    addrs.append(addr)
    for v in names.split(","):
        vms.append({"vm": v, "host": host, "macs": ["02:fd:00:%02x:00:%02x" % (vni % 256, len(vms) + 1)],
                    "mgmt_addr": None})
dep = {"scenario": scen, "spec": spec, "algorithm": "manual", "vms": vms,
       "nets": [{"net": "Net0", "vni": vni, "hosts": hosts, "addrs": addrs}]}
req = {"op": "deploy", "scenario": scen, "deployment": dep}
if os.environ.get("GUEST_TIMEOUT_S"):
    req["guest_timeout_s"] = int(os.environ["GUEST_TIMEOUT_S"])
print(json.dumps(req))
