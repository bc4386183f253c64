/* names: what every host and a restarted agent derive the same way from a scenario — device
 * names, the bridge alias, libvirt domain names — and the VNI ranges. Pure; no scenario model
 * needed (net and virt include only this). */
#ifndef NUBE_WIRE_NAMES_H
#define NUBE_WIRE_NAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* VXLAN VNIs (24 bits) have two owners that can never collide: the store gives a deploy's
 * nets VNIs from the deploy range (cluster.conf vni_min..vni_max must lie inside it), and an
 * agent that stretches a net onto a new host by a migration derives one from the stretch
 * range (a hash of scenario/net, probed past VNIs in use on the hosts involved). */
#define NUBE_VNI_DEPLOY_MIN	1u
#define NUBE_VNI_DEPLOY_MAX	0xefffffu	/* 15,728,639 */
#define NUBE_VNI_STRETCH_MIN	0xf00000u	/* 15,728,640 */
#define NUBE_VNI_STRETCH_MAX	0xffffffu	/* 16,777,215: 1,048,576 VNIs */

/* nube_vni_deploy_range_ok: lo..hi is non-empty and inside the deploy range (what a cluster's
 * [deploy] vni_min..vni_max and `nube plan --vni-range` may be) */
static inline bool
nube_vni_deploy_range_ok(uint32_t lo, uint32_t hi)
{
	return lo >= NUBE_VNI_DEPLOY_MIN && lo <= hi && hi <= NUBE_VNI_DEPLOY_MAX;
}

/* proto_stretch_vni: the VNI an agent gives a net of one host that a migration stretches onto
 * another: FNV-1a of "scenario/net" in NUBE_VNI_STRETCH_MIN..MAX, probed upwards (wrapping)
 * past the VNIs in used (GUINT_TO_POINTER set of the VNIs on the hosts involved, may be NULL).
 * Hosts that see the same used set derive the same VNI. 0 when the whole range is used. */
uint32_t proto_stretch_vni(const char *scenario, const char *net, GHashTable *used);

/* Device names (<= 15 chars, IFNAMSIZ) derived from scenario and net so every host and a
 * restarted agent agree: bridge "nbr" + 8 hex of FNV-1a("scenario/net"), VXLAN "nvx" + same.
 * The bridge's ifalias is "nube:<scenario>/<net>" (proto_net_alias) so links are recognisably
 * the scenario's. Writes into buf (at least 16 bytes). */
void proto_bridge_name(const char *scenario, const char *net, char buf[16]);
void proto_vxlan_name(const char *scenario, const char *net, char buf[16]);
#define PROTO_ALIAS_PREFIX "nube:"
char *proto_net_alias(const char *scenario, const char *net);	/* g_free */
/* proto_parse_alias: split "nube:S/N"; returns 0 and new strings, -1 if not ours (also when
 * S or N is not a valid name, sc_name_check) */
int proto_parse_alias(const char *alias, char **scenario, char **net);

/* domain name of a VM: "<scenario>.<vm>" (SC_DOMAIN_SEP; libvirt domain names are
 * cluster-wide unique). Names cannot hold the separator (sc_name_check), so two VMs of two
 * scenarios never share a domain name and proto_split_domain undoes it. */
char *proto_domain_name(const char *scenario, const char *vm);	/* g_free */
/* proto_split_domain: "<scenario>.<vm>" with two valid names -> 0 and new strings (either
 * pointer may be NULL); -1 for anything else */
int proto_split_domain(const char *domain, char **scenario, char **vm);

/* Images are known by content: the sha256 of the file (64 lowercase hex digits) and its
 * format ("qcow2" or "raw", told by content). A host's image cache holds one as the volume
 * "<sha256>.<format>"; an upload in progress is "<sha256>.part". */
#define PROTO_SHA256_LEN	64
bool proto_sha256_ok(const char *s);
bool proto_image_format_ok(const char *s);
char *proto_image_volume(const char *sha256, const char *format);	/* g_free */
/* proto_image_volume_parse: "<sha256>.<format>" -> 0, *sha256 (new) and *format (static);
 * -1 for any other name */
int proto_image_volume_parse(const char *vol, char **sha256, const char **format);
/* proto_image_format_of: "qcow2" when the first n bytes of an image start with qcow's magic,
 * else "raw" */
const char *proto_image_format_of(const void *head, size_t n);

#endif
