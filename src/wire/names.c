/* names: device, alias and domain names derived from scenario, net and VM names */
#include "wire/names.h"

#include <stdio.h>
#include <string.h>
#include <glib.h>

#include "scenario/scenario.h"

/* ---- names ---- */

/* FNV-1a 32-bit over "scenario/net" */
static uint32_t
net_hash(const char *scenario, const char *net)
{
	uint32_t h = 2166136261u;
	const char *parts[3] = { scenario, "/", net };

	for (int k = 0; k < 3; k++)
		for (const unsigned char *p = (const unsigned char *)parts[k]; *p != '\0'; p++) {
			h ^= *p;
			h *= 16777619u;
		}
	return h;
}

uint32_t
proto_stretch_vni(const char *scenario, const char *net, GHashTable *used)
{
	const uint32_t span = NUBE_VNI_STRETCH_MAX - NUBE_VNI_STRETCH_MIN + 1;
	uint32_t vni = NUBE_VNI_STRETCH_MIN + net_hash(scenario, net) % span;

	for (uint32_t tries = 0; tries < span; tries++) {
		if (used == NULL || !g_hash_table_contains(used, GUINT_TO_POINTER(vni)))
			return vni;
		vni = vni == NUBE_VNI_STRETCH_MAX ? NUBE_VNI_STRETCH_MIN : vni + 1;
	}
	return 0;
}

void
proto_bridge_name(const char *scenario, const char *net, char buf[16])
{
	snprintf(buf, 16, "nbr%08x", net_hash(scenario, net));
}

void
proto_vxlan_name(const char *scenario, const char *net, char buf[16])
{
	snprintf(buf, 16, "nvx%08x", net_hash(scenario, net));
}

char *
proto_net_alias(const char *scenario, const char *net)
{
	return g_strdup_printf(PROTO_ALIAS_PREFIX "%s/%s", scenario, net);
}

int
proto_parse_alias(const char *alias, char **scenario, char **net)
{
	const char *rest, *slash;
	g_autofree char *s = NULL;

	if (alias == NULL || !g_str_has_prefix(alias, PROTO_ALIAS_PREFIX))
		return -1;
	rest = alias + strlen(PROTO_ALIAS_PREFIX);
	slash = strchr(rest, '/');
	if (slash == NULL)
		return -1;
	s = g_strndup(rest, (gsize)(slash - rest));
	if (sc_name_check(s) != NULL || sc_name_check(slash + 1) != NULL)
		return -1;	/* not a name nube could have written */
	if (scenario != NULL)
		*scenario = g_steal_pointer(&s);
	if (net != NULL)
		*net = g_strdup(slash + 1);
	return 0;
}

char *
proto_domain_name(const char *scenario, const char *vm)
{
	return g_strdup_printf("%s" SC_DOMAIN_SEP_STR "%s", scenario, vm);
}

int
proto_split_domain(const char *domain, char **scenario, char **vm)
{
	const char *sep = domain != NULL ? strchr(domain, SC_DOMAIN_SEP) : NULL;
	g_autofree char *s = NULL;

	if (sep == NULL)
		return -1;
	s = g_strndup(domain, (gsize)(sep - domain));
	if (sc_name_check(s) != NULL || sc_name_check(sep + 1) != NULL)
		return -1;
	if (scenario != NULL)
		*scenario = g_steal_pointer(&s);
	if (vm != NULL)
		*vm = g_strdup(sep + 1);
	return 0;
}

bool
proto_sha256_ok(const char *s)
{
	if (s == NULL || strlen(s) != PROTO_SHA256_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

bool
proto_image_format_ok(const char *s)
{
	return g_strcmp0(s, "qcow2") == 0 || g_strcmp0(s, "raw") == 0;
}

char *
proto_image_volume(const char *sha256, const char *format)
{
	return g_strdup_printf("%s.%s", sha256, format);
}

int
proto_image_volume_parse(const char *vol, char **sha256, const char **format)
{
	const char *dot = vol != NULL ? strrchr(vol, '.') : NULL;
	g_autofree char *sha = NULL;

	if (dot == NULL)
		return -1;
	sha = g_strndup(vol, (gsize)(dot - vol));
	if (!proto_sha256_ok(sha) || !proto_image_format_ok(dot + 1))
		return -1;
	*format = strcmp(dot + 1, "qcow2") == 0 ? "qcow2" : "raw";
	*sha256 = g_steal_pointer(&sha);
	return 0;
}

const char *
proto_image_format_of(const void *head, size_t n)
{
	return n >= 4 && memcmp(head, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}
