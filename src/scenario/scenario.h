/* scenario: the neutral model of a VNX 2.0 scenario, its deployment restrictions and a cluster
 * description; parse (vnx.c, restrict.c, cluster.c) and validate (validate.c) fill and check it.
 *
 * Ownership: every string and array hangs off the top object and is freed with it
 * (scenario_free, restrictions_free, cluster_free). All names are UTF-8 as in the file. */
#ifndef NUBE_SCENARIO_H
#define NUBE_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "util/diag.h"

/* limits the validator enforces */
#define SC_MEM_MIN_MIB	16
#define SC_MEM_MAX_MIB	(1024 * 1024)
#define SC_VCPU_MAX	256
#define SC_DEFAULT_MEM_MIB	256	/* VNX's default when <mem> is absent */
#define SC_DEFAULT_VCPU	1
#define SC_SEQ_MAX_DEPTH	64	/* cmd-seq nesting */
#define SC_SEQ_MAX_EXPANSION	10000	/* seqs one cmd-seq may expand to */

/* names (sc_name_check): scenario, VM and net names are 1..SC_NAME_MAX of letters, digits,
 * '_' and '-', not starting with '-'; so they never hold '/', "..", whitespace, control
 * characters or SC_DOMAIN_SEP, which joins scenario and VM in a domain name
 * (proto_domain_name). Host names (sc_host_name_check) also allow '.', but not "..". */
#define SC_NAME_MAX		63	/* a DNS label: the VM name is the guest's hostname */
#define SC_HOST_NAME_MAX	64
#define SC_DOMAIN_SEP		'.'
#define SC_DOMAIN_SEP_STR	"."

/* every mode runs as a Linux bridge today; validate warns where that differs from VNX */
typedef enum { SC_NET_VIRTUAL_BRIDGE, SC_NET_OPENVSWITCH, SC_NET_VETH, SC_NET_UML_SWITCH } sc_net_mode;

/* net names an <if> may use without a <net>: VNX's reserved words. Interfaces on them are
 * kept in sc_vm.reserved_ifs, never in sc_vm.ifs, so no bridge, VNI or plan sees them. */
#define SC_NET_LO		"lo"		/* loopback addresses, own interface-id space */
#define SC_NET_VM_MGMT		"vm_mgmt"	/* names the management interface */
#define SC_NET_UNCONNECTED	"unconnected"	/* an interface with no link */

typedef struct {
	char *name;
	int line;
	sc_net_mode mode;
	char *external;		/* host interface to attach, NULL if none */
	bool managed;		/* managed="no" -> false: nube does not create it */
	int vlan;		/* -1 when none */
	bool p2p;		/* type="p2p" (with mode veth): exactly two interfaces */
	int mtu;		/* mtu=, 0 when absent */
} sc_net;

typedef struct {
	int family;		/* 4 or 6 (AF_INET/AF_INET6 are not used to keep the core libc-neutral) */
	bool dhcp;		/* <ipv4>dhcp</ipv4>: addr is NULL */
	char *addr;		/* address text without prefix, e.g. "10.1.0.2" */
	int prefix;		/* from "/24" or mask="..."; -1 when absent */
	int line;
} sc_ip;

typedef struct {
	int id;
	char *net;		/* net name (validated to exist) */
	char *mac;		/* explicit <mac>, NULL when automac/none */
	int line;
	GPtrArray *ips;		/* of sc_ip* */
	char *name;		/* name= as written (VNX passes it on in vnxboot.xml), NULL if none */
	GPtrArray *dns;		/* of char*: <dns> server addresses in file order; NULL or empty when none */
} sc_if;

typedef struct {
	int family;		/* 4 or 6 */
	char *dest;		/* "default" or "a.b.c.d/len" / "x::/len" */
	char *gw;
	int line;
} sc_route;

typedef struct {
	char *seq;		/* one seq name: seq="a,b" in the file gives one sc_exec per name */
	char *type;		/* "verbatim" or "file" */
	char *ostype;		/* may be NULL */
	char *text;		/* commands, verbatim, trimmed of the common leading/trailing blank lines */
	int line;
	char *raw;		/* the element's text exactly as written (VNX's own command processing
				 * starts from it: guestcfg_vnx_commands) */
} sc_exec;

typedef struct {
	char *seq;		/* one seq name, as for sc_exec */
	char *root;		/* destination dir inside the VM */
	char *src;		/* path on the operator side */
	int line;
	char *user, *group, *perms;	/* user=, group=, perms= as written, NULL when absent */
} sc_filetree;

typedef struct {
	char *name;
	int line;
	char *type;		/* "libvirt", "lxc", ... as written */
	char *subtype;		/* "kvm", ... or NULL */
	char *os;		/* "linux", ... or NULL */
	char *arch;		/* "x86_64", ... or NULL */
	uint64_t mem_mib;	/* from <mem> (units M/G/K handled), or vm_defaults, or SC_DEFAULT_MEM_MIB */
	int mem_line;
	int vcpu;		/* from vcpu= attr or <vcpu>, default SC_DEFAULT_VCPU */
	char *filesystem;	/* path as written, NULL if none */
	char *fs_type;		/* "cow", "direct", ... */
	char *kernel;		/* NULL if none */
	bool fwd_ipv4, fwd_ipv6;/* <forwarding type="ip|ipv4|ipv6"/> */
	GPtrArray *ifs;		/* of sc_if* in file order, on declared nets only */
	GPtrArray *reserved_ifs;/* of sc_if* on SC_NET_LO, SC_NET_VM_MGMT or SC_NET_UNCONNECTED */
	GPtrArray *routes;	/* of sc_route* */
	GPtrArray *execs;	/* of sc_exec* */
	GPtrArray *filetrees;	/* of sc_filetree* */
	char *initrd;		/* <kernel initrd="...">, NULL if none */
	bool no_start;		/* <on_boot>no</on_boot>: defined on its host, not started */
	bool has_order;		/* <vm order="N">: start order (VNX starts these first, by N, */
	int order;		/* then the others in file order) */
} sc_vm;

typedef struct {
	char *seq;
	GPtrArray *members;	/* of char* (seq names or other cmd-seq names) */
	int line;
} sc_cmdseq;

typedef enum { SC_MGMT_NONE, SC_MGMT_PRIVATE, SC_MGMT_NET } sc_mgmt_type;

typedef struct {
	sc_mgmt_type type;
	char *network;		/* "10.250.0.0" */
	int mask;		/* 24 */
	int offset;		/* first host offset */
	char *net;		/* for type net: the scenario net name (or a host bridge) */
	bool net_managed;	/* <mgmt_net managed="no">: false, net is an existing host bridge */
	int line;
} sc_mgmt;

typedef struct {
	char *file;		/* path the scenario was read from (for messages) */
	char *name;		/* scenario_name */
	int name_line;
	char *version;
	bool automac;
	int automac_offset;
	sc_mgmt mgmt;
	uint64_t default_mem_mib;	/* from vm_defaults, 0 if none */
	int default_vcpu;		/* from vm_defaults, 0 if none */
	char *basedir;			/* <vm_defaults><basedir>: base of relative paths, NULL if none */
	GPtrArray *nets;	/* of sc_net* */
	GPtrArray *vms;		/* of sc_vm* */
	GPtrArray *cmdseqs;	/* of sc_cmdseq* */
	GPtrArray *host_ifs;	/* of sc_if* (<host><hostif>), id = index */
	GPtrArray *host_routes;	/* of sc_route* */
	GPtrArray *host_execs;	/* of sc_exec* (<host><exec>): their seqs count as defined */
	int global_line;	/* line of <global>, 0 when absent */
	GPtrArray *uses;	/* of sc_use*: the VNX constructs the file uses (scenario_use), NULL
				 * when none was recorded */
	/* name -> index+1 for scenario_vm/net lookups, filled by the parser; may be NULL
	 * (hand-built models), lookups then scan */
	GHashTable *vm_index;
	GHashTable *net_index;
} scenario;

/* ---- VNX constructs and what nube does with them (features.c) ---- */

typedef enum { SC_SUPPORT_DONE, SC_SUPPORT_DEGRADED, SC_SUPPORT_IGNORED } sc_support;

/* construct keys: the report's names; features.c gives each its support and meaning */
#define SC_F_NET_BRIDGE		"<net mode=virtual_bridge>"
#define SC_F_NET_OVS		"<net mode=openvswitch>"
#define SC_F_NET_OVS_SDN	"<net controller|of_version|hwaddr|fail_mode|stp>"
#define SC_F_NET_CONNECTION	"<net><connection>"
#define SC_F_NET_VLAN		"<net vlan>"
#define SC_F_IF_VLAN		"<if><vlan> (tags, trunks)"
#define SC_F_NET_UML		"<net mode=uml_switch>"
#define SC_F_NET_UML_ATTRS	"<net sock|hub|capture_*|uml_switch_binary>"
#define SC_F_NET_VETH		"<net mode=veth type=p2p>"
#define SC_F_NET_EXTERNAL	"<net external>"
#define SC_F_NET_UNMANAGED	"<net managed=no>"
#define SC_F_NET_MTU		"<net mtu>"
#define SC_F_SHAPING		"bw|delay|loss, <bw>"
#define SC_F_VM_LIBVIRT		"<vm type=libvirt>"
#define SC_F_VM_LXC		"<vm type=lxc>"
#define SC_F_VM_FALLBACK	"<vm type=uml|dynamips|vbox|nsrouter>"
#define SC_F_VM_OS		"<vm os=windows|android|olive|freebsd|openbsd>"
#define SC_F_IF			"<if> <ipv4> <ipv6> <mac> <dns>"
#define SC_F_IF_NAME		"<if name>"
#define SC_F_IF_LO		"<if net=lo>"
#define SC_F_IF_UNCONNECTED	"<if net=unconnected>"
#define SC_F_IF_MGMT		"<if net=vm_mgmt>"
#define SC_F_VM_MGMT		"<vm_mgmt type=private|net>"
#define SC_F_HOST_MAPPING	"<vm_mgmt><host_mapping>"
#define SC_F_ROUTE		"<route>"
#define SC_F_FORWARDING		"<forwarding>"
#define SC_F_EXEC		"<exec>"
#define SC_F_FILETREE		"<filetree>"
#define SC_F_CMDSEQ		"<cmd-seq>"
#define SC_F_ON_BOOT		"<on_boot>"
#define SC_F_VM_ORDER		"<vm order>"
#define SC_F_KERNEL		"<kernel>"
#define SC_F_HOSTIF		"<host><hostif>"
#define SC_F_HOST_ROUTE		"<host><route>"
#define SC_F_HOST_EXEC		"<host><exec>"
#define SC_F_HOST_OTHER		"<host><physicalif|forwarding>"
#define SC_F_SHAREDDIR		"<shareddir>"
#define SC_F_SSH_KEY		"<ssh_key>"
#define SC_F_STORAGE		"<storage|cdrom|boot>"
#define SC_F_ROUTER_CONF	"<conf|dynamips_ext|olive_ext>"
#define SC_F_CONSOLE		"<console|xterm|video>"
#define SC_F_CPU_QUOTA		"<vm vcpu_quota>"
#define SC_F_NO_EFFECT		"<help|seq_help|vnx_cfg|ssh_version|extension|exec_mode|...>"

/* one use of a construct in the file */
typedef struct {
	const char *key;	/* an SC_F_* string (static) */
	int line;
	char *what;		/* e.g. "vm 'r1': <shareddir>" */
} sc_use;

/* per construct used: its support, its meaning, how often and where first */
typedef struct {
	const char *construct;	/* SC_F_* key, static */
	sc_support support;
	const char *how;	/* static */
	guint count;
	int first_line;
} sc_feature;

/* scenario_use: record a use of construct key (an SC_F_*) at line; fmt names it */
void scenario_use(scenario *s, const char *key, int line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
void sc_use_free(gpointer p);

/* scenario_features: the constructs s uses (of sc_feature), in the report's order; free
 * with g_array_unref */
GArray *scenario_features(const scenario *s);

/* scenario_warn_features: one warning (file:line) per use of a construct nube degrades or
 * ignores, unless validate words it itself; scenario_validate calls it */
void scenario_warn_features(const scenario *s, diag *d);

const char *sc_support_name(sc_support v);

/* ---- restrictions (EDIV's <deployment_restrictions>) ---- */

typedef struct {
	char *what;		/* VM name (vm_at) or net name (net_at) */
	char *host;
	int line;
} rs_at;

typedef struct {
	GPtrArray *names;	/* of char*: VM names (affinity/antiaffinity) or net names (net_together) */
	int line;
} rs_group;

typedef struct {
	char *file;
	GPtrArray *vm_at;	/* of rs_at* */
	GPtrArray *net_at;	/* of rs_at* */
	GPtrArray *affinity;	/* of rs_group* */
	GPtrArray *antiaffinity;/* of rs_group* */
	GPtrArray *net_together;/* of rs_group*: each <net_deploy_together net=a/> is a group of 1 net
				 * meaning "all VMs on that net on one host" */
} restrictions;

/* ---- cluster description (EDIV's cluster.conf, INI) ---- */

typedef struct {
	char *name;		/* section name = host name used in restrictions and plans */
	char *host_name;	/* address/hostname of the host (EDIV host_name) */
	uint64_t mem_mib;
	double cpu;		/* EDIV cpu weight; we read it as CPU capacity (number of CPUs) */
	int max_vms;		/* 0 = unlimited */
	double load;		/* 0..1, ours, default 0 */
	bool online;		/* always true from a file */
	int line;
} cl_host;

typedef struct {
	char *file;
	GPtrArray *hosts;	/* of cl_host*, in [cluster] host = order */
} cluster;

/* ---- parse ---- */

/* scenario_parse_file: read a VNX 2.0 file. Returns a new scenario (free with scenario_free)
 * or NULL when the XML is malformed or not a <vnx> document; every problem, including
 * unknown elements (warnings), goes to d as file:line. A non-NULL result may still carry
 * errors in d (e.g. bad <mem> text); callers check diag_has_errors. */
scenario *scenario_parse_file(const char *path, diag *d);

/* scenario_parse_memory: same from a buffer; name is used in messages. */
scenario *scenario_parse_memory(const char *buf, size_t len, const char *name, diag *d);

void scenario_free(scenario *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(scenario, scenario_free)

/* lookups: return the object or NULL; index variants return -1 when absent */
sc_vm *scenario_vm(const scenario *s, const char *name);
/* scenario_vms_start_sort: vms (of sc_vm*) in VNX's start order: the VMs with an order
 * attribute first, by it, then the others, each group in file order */
void scenario_vms_start_sort(GPtrArray *vms);
sc_net *scenario_net(const scenario *s, const char *name);
int scenario_vm_index(const scenario *s, const char *name);
int scenario_net_index(const scenario *s, const char *name);

/* scenario_expand_seq: expand a cmd-seq name recursively into plain seq names, in order,
 * appended to out (of char*, borrowed from s; a plain top-level seq is seq itself). A seq
 * that is not a cmd-seq expands to itself. Returns 0, or -1 on a cycle or beyond the limits
 * SC_SEQ_MAX_DEPTH / SC_SEQ_MAX_EXPANSION (scenario_validate reports both). */
int scenario_expand_seq(const scenario *s, const char *seq, GPtrArray *out);

restrictions *restrictions_parse_file(const char *path, diag *d);
/* restrictions_parse_memory: same from a buffer; name is used in messages. */
restrictions *restrictions_parse_memory(const char *buf, size_t len, const char *name, diag *d);
restrictions *restrictions_new(void);	/* empty set */
void restrictions_free(restrictions *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(restrictions, restrictions_free)

cluster *cluster_parse_file(const char *path, diag *d);
/* cluster_parse_memory: same from a buffer (need not be NUL-terminated); name is used in
 * messages. NULL when the text is not valid INI, has no [cluster] or lists no host. */
cluster *cluster_parse_memory(const char *buf, size_t len, const char *name, diag *d);
void cluster_free(cluster *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cluster, cluster_free)

/* ---- names ---- */

/* sc_name_check: NULL when name is a valid scenario, VM or net name, else why not (a static
 * string to follow the quoted name, e.g. "contains '/'"). */
const char *sc_name_check(const char *name);

/* sc_host_name_check: the same for a host name (cluster.conf section, nubed.conf host). */
const char *sc_host_name_check(const char *host);

/* ---- validate ---- */

/* scenario_validate: check the model (names by sc_name_check, at least one vm, ifs, addresses, routes, cmd-seq, mem/vcpu);
 * appends every problem to d. Returns true when no error was added. */
bool scenario_validate(const scenario *s, diag *d);

/* restrictions_validate: names known to s, hosts known to c (c may be NULL: hosts unchecked),
 * no contradictions (affinity+antiaffinity on one pair, two deploy_at hosts for one
 * affinity group, ...). Appends to d; true when no error was added. */
bool restrictions_validate(const restrictions *r, const scenario *s, const cluster *c, diag *d);

#endif
