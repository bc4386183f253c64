/* topic: build and split nube's rpc and reply topics; which ops a peer may send */
#include "wire/topic.h"

#include <string.h>

#include <glib.h>


#define TOPIC_LEVEL_MAX	128

/* the balancer's requests between agents (src/agent/migrate.c, peer.c: nubed_call) */
static const char *const topic_peer_ops[] = {
	"admit", "release", "net-ensure", "net-remove", "image-status", "image-commit", "wake",
	"heal",
	"cold-receive", "rootfs-commit",
};

bool
topic_level_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++, n++)
		if (*p == '/' || *p == '+' || *p == '#' || *p < 0x20 || *p == 0x7f ||
		    n >= TOPIC_LEVEL_MAX)
			return false;
	return true;
}

char *
topic_rpc(const char *host, const char *sender)
{
	return g_strdup_printf(PROTO_TOPIC_ROOT "host/%s/rpc/%s", host, sender);
}

/* split topic after prefix into exactly n valid levels (out[i] new strings); 0 or -1 */
static int
split_levels(const char *topic, const char *prefix, int n, char **out[])
{
	g_auto(GStrv) lv = NULL;

	if (topic == NULL || !g_str_has_prefix(topic, prefix))
		return -1;
	lv = g_strsplit(topic + strlen(prefix), "/", -1);
	if ((int)g_strv_length(lv) != n)
		return -1;
	for (int i = 0; i < n; i++)
		if (!topic_level_ok(lv[i]))
			return -1;
	for (int i = 0; i < n; i++)
		if (out[i] != NULL)
			*out[i] = g_strdup(lv[i]);
	return 0;
}

int
topic_rpc_parse(const char *topic, char **host, char **sender)
{
	g_autofree char *h = NULL, *rpc = NULL, *s = NULL;
	char **out[] = { &h, &rpc, &s };

	if (split_levels(topic, PROTO_TOPIC_ROOT "host/", 3, out) < 0 || strcmp(rpc, "rpc") != 0)
		return -1;
	if (host != NULL)
		*host = g_steal_pointer(&h);
	if (sender != NULL)
		*sender = g_steal_pointer(&s);
	return 0;
}

char *
topic_reply(const char *user, const char *client_id, const char *host)
{
	return g_strdup_printf(PROTO_TOPIC_ROOT "reply/%s/%s/%s", user, client_id, host);
}

char *
topic_reply_sub(const char *user, const char *client_id)
{
	return g_strdup_printf(PROTO_TOPIC_ROOT "reply/%s/%s/+", user, client_id);
}

int
topic_reply_parse(const char *topic, char **user, char **client_id, char **host)
{
	g_autofree char *u = NULL, *c = NULL, *h = NULL;
	char **out[] = { &u, &c, &h };

	if (split_levels(topic, PROTO_TOPIC_ROOT "reply/", 3, out) < 0)
		return -1;
	if (user != NULL)
		*user = g_steal_pointer(&u);
	if (client_id != NULL)
		*client_id = g_steal_pointer(&c);
	if (host != NULL)
		*host = g_steal_pointer(&h);
	return 0;
}

bool
topic_op_peer(const char *op)
{
	for (size_t i = 0; op != NULL && i < G_N_ELEMENTS(topic_peer_ops); i++)
		if (strcmp(topic_peer_ops[i], op) == 0)
			return true;
	return false;
}

char *
topic_host(const char *host, const char *leaf)
{
	return g_strdup_printf(PROTO_TOPIC_ROOT "host/%s/%s", host, leaf);
}

char *
topic_host_parse(const char *topic, const char *leaf)
{
	const char *pfx = PROTO_TOPIC_ROOT "host/";
	const char *h, *slash;

	if (!g_str_has_prefix(topic, pfx))
		return NULL;
	h = topic + strlen(pfx);
	slash = strchr(h, '/');
	if (slash == NULL || strcmp(slash + 1, leaf) != 0)
		return NULL;
	g_autofree char *name = g_strndup(h, (gsize)(slash - h));
	if (!topic_level_ok(name))
		return NULL;
	return g_steal_pointer(&name);
}
