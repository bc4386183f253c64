/* config: load and check nubed.conf (GKeyFile) in one pass, [balance] included; every error
 * names the file, section and key */
#include "agent/config.h"

#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "scenario/scenario.h"
#include "wire/names.h"
#include "wire/topic.h"

G_DEFINE_QUARK(nube-config-error-quark, config_error)
#define CONFIG_ERROR config_error_quark()

static const char *const known_keys[][12] = {
	{ "nubed", "host", "libvirt_uri", "lxc_uri", "fabric_addr", "migrate_uri_template", "interval",
	    "state_dir", NULL },
	{ "broker", "url", "username", "password", "cafile", NULL },
	{ "metrics", "cgroup", "memory", "memory_reserve", NULL },
	{ "guest", "kernel", "initrd", "type_fallback", "disk_dir", "image_dir", "missing_image",
	    "image_cache_max", "container_dir", "container_fallback", NULL },
	{ "heal", "enabled", "grace", NULL },
};

config *
config_new_defaults(void)
{
	config *c = g_new0(config, 1);

	c->libvirt_uri = g_strdup("qemu:///system");
	c->lxc_uri = g_strdup("lxc:///system");
	c->container_dir = g_strdup(CONFIG_DEFAULT_CONTAINER_DIR);
	c->migrate_uri_template = g_strdup("qemu+tcp://%s/system");
	c->interval_s = 10;
	c->state_dir = g_strdup("/var/lib/nube/nubed");
	c->guest_kernel = g_strdup("/var/lib/nube/guest/vmlinuz");
	c->guest_initrd = g_strdup("/var/lib/nube/guest/initrd.img");
	c->type_fallback = true;
	c->disk_dir = g_strdup(CONFIG_DEFAULT_DISK_DIR);
	c->image_dir = g_strdup(CONFIG_DEFAULT_IMAGE_DIR);
	c->missing_image_fallback = false;
	c->mem_reserve_mib = CONFIG_DEFAULT_MEM_RESERVE_MIB;
	balance_config_defaults(&c->bc);
	c->bc.interval = c->interval_s;
	c->bal = (config_balance){ .max_migrations = 1, .evacuate = false, .evacuate_timeout = 600,
		.link_mbps = 1000, .rpc_timeout = 15, .enabled = true,
		.move_containers = CONFIG_MOVE_OPERATOR, .cold_stop_grace = 5 };
	c->heal = true;
	c->heal_grace = 60;
	c->unknown = g_ptr_array_new_with_free_func(g_free);
	return c;
}

void
config_free(config *c)
{
	if (c == NULL)
		return;
	g_free(c->file);
	g_free(c->bal.standby_command);
	g_free(c->bal.wake_command);
	g_free(c->host);
	g_free(c->libvirt_uri);
	g_free(c->lxc_uri);
	g_free(c->container_dir);
	g_free(c->fabric_addr);
	g_free(c->migrate_uri_template);
	g_free(c->state_dir);
	g_free(c->broker_url);
	g_free(c->username);
	g_free(c->password);
	g_free(c->cafile);
	g_free(c->cgroup);
	g_free(c->guest_kernel);
	g_free(c->guest_initrd);
	g_free(c->disk_dir);
	g_free(c->image_dir);
	if (c->unknown != NULL)
		g_ptr_array_unref(c->unknown);
	g_free(c);
}

/* string key: replaces *dst when present; empty value = unset (NULL) */
static void
get_string(GKeyFile *kf, const char *grp, const char *key, char **dst)
{
	g_autofree char *v = g_key_file_get_string(kf, grp, key, NULL);

	if (v == NULL)
		return;
	g_strstrip(v);
	g_free(*dst);
	*dst = v[0] != '\0' ? g_strdup(v) : NULL;
}

static int
get_int(GKeyFile *kf, const char *file, const char *grp, const char *key, long long min,
    long long max, long long *dst, GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, grp, key, NULL);
	char *end = NULL;
	long long x;

	if (v == NULL)
		return 0;
	g_strstrip(v);
	x = g_ascii_strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0') {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [%s] %s: '%s' is not an integer", file, grp,
		    key, v);
		return -1;
	}
	if (x < min || x > max) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [%s] %s: %lld is out of range %lld..%lld",
		    file, grp, key, x, min, max);
		return -1;
	}
	*dst = x;
	return 0;
}

static int
get_bool(GKeyFile *kf, const char *file, const char *grp, const char *key, bool *dst,
    GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, grp, key, NULL);

	if (v == NULL)
		return 0;
	g_strstrip(v);
	if (g_ascii_strcasecmp(v, "true") == 0 || g_ascii_strcasecmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0)
		*dst = true;
	else if (g_ascii_strcasecmp(v, "false") == 0 || g_ascii_strcasecmp(v, "no") == 0 ||
	    strcmp(v, "0") == 0)
		*dst = false;
	else {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [%s] %s: '%s' is not a boolean (true/false)",
		    file, grp, key, v);
		return -1;
	}
	return 0;
}

static int
get_double(GKeyFile *kf, const char *file, const char *grp, const char *key, double min,
    double max, double *dst, GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, grp, key, NULL);
	char *end = NULL;
	double x;

	if (v == NULL)
		return 0;
	g_strstrip(v);
	x = g_ascii_strtod(v, &end);
	if (v[0] == '\0' || *end != '\0' || !(x >= min && x <= max)) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [%s] %s: '%s' is not a number in %g..%g",
		    file, grp, key, v, min, max);
		return -1;
	}
	*dst = x;
	return 0;
}

/* load_balance: the [balance] group: the agent's keys here, every other key to the core's
 * balance_config_load_keyfile (which refuses unknown keys). Keys take '-' or '_'. */
static int
load_balance(GKeyFile *kf, config *c, GError **err)
{
	g_autoptr(GKeyFile) core = g_key_file_new();
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "balance", NULL, NULL);
	GError *e = NULL;
	config_balance *b = &c->bal;

	for (int i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree char *k = g_strdelimit(g_strdup(keys[i]), "_", '-');
		g_autofree char *v = g_key_file_get_string(kf, "balance", keys[i], NULL);
		double x = b->max_migrations;
		int rc = 0;

		if (strcmp(k, "interval") == 0) {
			g_set_error(err, CONFIG_ERROR, 1, "%s: [balance] %s: not a [balance] key: the "
			    "sampling interval is [nubed] interval", c->file, keys[i]);
			return -1;
		} else if (strcmp(k, "max-migrations") == 0) {
			rc = get_double(kf, c->file, "balance", keys[i], 1, 16, &x, err);
			if (rc == 0 && x != floor(x)) {
				g_set_error(err, CONFIG_ERROR, 1, "%s: [balance] %s: '%s' is not an "
				    "integer", c->file, keys[i], v);
				rc = -1;
			}
			b->max_migrations = (int)x;
		} else if (strcmp(k, "evacuate") == 0)
			rc = get_bool(kf, c->file, "balance", keys[i], &b->evacuate, err);
		else if (strcmp(k, "enabled") == 0)
			rc = get_bool(kf, c->file, "balance", keys[i], &b->enabled, err);
		else if (strcmp(k, "evacuate-timeout") == 0)
			rc = get_double(kf, c->file, "balance", keys[i], 0, 86400, &b->evacuate_timeout,
			    err);
		else if (strcmp(k, "link-mbps") == 0)
			rc = get_double(kf, c->file, "balance", keys[i], 0.001, 1e7, &b->link_mbps, err);
		else if (strcmp(k, "rpc-timeout") == 0)
			rc = get_double(kf, c->file, "balance", keys[i], 1, 3600, &b->rpc_timeout, err);
		else if (strcmp(k, "cold-stop-grace") == 0)
			rc = get_double(kf, c->file, "balance", keys[i], 0, 300, &b->cold_stop_grace,
			    err);
		else if (strcmp(k, "move-containers") == 0) {
			if (g_strcmp0(v, "never") == 0)
				b->move_containers = CONFIG_MOVE_NEVER;
			else if (g_strcmp0(v, "operator") == 0)
				b->move_containers = CONFIG_MOVE_OPERATOR;
			else if (g_strcmp0(v, "cold") == 0)
				b->move_containers = CONFIG_MOVE_COLD;
			else {
				g_set_error(err, CONFIG_ERROR, 1, "%s: [balance] %s: '%s' is not never, "
				    "operator or cold", c->file, keys[i], v != NULL ? v : "");
				rc = -1;
			}
		} else if (strcmp(k, "standby-command") == 0) {
			g_free(b->standby_command);
			b->standby_command = v != NULL && *v != '\0' ? g_strdup(v) : NULL;
		} else if (strcmp(k, "wake-command") == 0) {
			g_free(b->wake_command);
			b->wake_command = v != NULL && *v != '\0' ? g_strdup(v) : NULL;
		} else
			g_key_file_set_string(core, "balance", k, v != NULL ? v : "");
		if (rc < 0)
			return -1;
	}
	if (balance_config_load_keyfile(core, "balance", &c->bc, &e) < 0) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [balance] %s", c->file, e->message);
		g_error_free(e);
		return -1;
	}
	return 0;
}

static void
note_unknown(GKeyFile *kf, config *c)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (int g = 0; groups[g] != NULL; g++) {
		const char *const *known = NULL;
		g_auto(GStrv) keys = NULL;

		if (strcmp(groups[g], "balance") == 0)
			continue;	/* every key checked by load_balance */
		for (size_t i = 0; i < G_N_ELEMENTS(known_keys); i++)
			if (strcmp(known_keys[i][0], groups[g]) == 0)
				known = &known_keys[i][1];
		if (known == NULL) {
			g_ptr_array_add(c->unknown, g_strdup_printf("[%s]", groups[g]));
			continue;
		}
		keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
		for (int k = 0; keys != NULL && keys[k] != NULL; k++)
			if (!g_strv_contains(known, keys[k]))
				g_ptr_array_add(c->unknown, g_strdup_printf("[%s] %s", groups[g],
				    keys[k]));
	}
}

config *
config_load(const char *path, GError **err)
{
	g_autoptr(config) c = config_new_defaults();
	g_autoptr(GKeyFile) kf = g_key_file_new();
	GError *e = NULL;
	long long x;

	c->file = g_strdup(path != NULL ? path : CONFIG_DEFAULT_PATH);
	if (!g_key_file_load_from_file(kf, c->file, G_KEY_FILE_NONE, &e)) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: %s", c->file, e->message);
		g_error_free(e);
		return NULL;
	}
	get_string(kf, "nubed", "host", &c->host);
	get_string(kf, "nubed", "libvirt_uri", &c->libvirt_uri);
	get_string(kf, "nubed", "lxc_uri", &c->lxc_uri);	/* empty: no containers here */
	get_string(kf, "nubed", "fabric_addr", &c->fabric_addr);
	get_string(kf, "nubed", "migrate_uri_template", &c->migrate_uri_template);
	get_string(kf, "nubed", "state_dir", &c->state_dir);
	x = c->interval_s;
	if (get_int(kf, c->file, "nubed", "interval", 1, 3600, &x, err) < 0)
		return NULL;
	c->interval_s = (int)x;
	for (const char *const *k = (const char *const[]){ "vni_min", "vni_max", NULL }; *k != NULL;
	    k++) {
		if (g_key_file_has_key(kf, "nubed", *k, NULL)) {
			g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] %s: not a nubed key any more: a "
			    "deploy's VNIs come from the store (nube.conf [deploy], within %u..%u), a "
			    "net a migration stretches gets one from %u..%u", c->file, *k,
			    NUBE_VNI_DEPLOY_MIN, NUBE_VNI_DEPLOY_MAX, NUBE_VNI_STRETCH_MIN,
			    NUBE_VNI_STRETCH_MAX);
			return NULL;
		}
	}
	get_string(kf, "broker", "url", &c->broker_url);
	get_string(kf, "broker", "username", &c->username);
	get_string(kf, "broker", "password", &c->password);
	get_string(kf, "broker", "cafile", &c->cafile);
	get_string(kf, "metrics", "cgroup", &c->cgroup);
	x = (long long)c->mem_mib;
	if (get_int(kf, c->file, "metrics", "memory", 0, 1LL << 40, &x, err) < 0)
		return NULL;
	c->mem_mib = (uint64_t)x;
	x = (long long)c->mem_reserve_mib;
	if (get_int(kf, c->file, "metrics", "memory_reserve", 0, 1LL << 40, &x, err) < 0)
		return NULL;
	c->mem_reserve_mib = (uint64_t)x;
	get_string(kf, "guest", "kernel", &c->guest_kernel);
	get_string(kf, "guest", "initrd", &c->guest_initrd);
	if (get_bool(kf, c->file, "guest", "type_fallback", &c->type_fallback, err) < 0)
		return NULL;
	get_string(kf, "guest", "disk_dir", &c->disk_dir);
	get_string(kf, "guest", "image_dir", &c->image_dir);
	x = (long long)c->image_cache_max_mib;
	if (get_int(kf, c->file, "guest", "image_cache_max", 0, 1LL << 40, &x, err) < 0)
		return NULL;
	c->image_cache_max_mib = (uint64_t)x;
	get_string(kf, "guest", "container_dir", &c->container_dir);
	if (get_bool(kf, c->file, "guest", "container_fallback", &c->container_fallback, err) < 0)
		return NULL;
	if (c->container_dir == NULL || c->container_dir[0] != '/') {
		g_set_error(err, CONFIG_ERROR, 0, "%s: [guest] container_dir: an absolute path "
		    "expected, got '%s'", c->file, c->container_dir != NULL ? c->container_dir : "");
		return NULL;
	}
	if (c->disk_dir == NULL || c->disk_dir[0] != '/') {
		g_set_error(err, CONFIG_ERROR, 0, "%s: [guest] disk_dir: an absolute path expected, "
		    "got '%s'", c->file, c->disk_dir != NULL ? c->disk_dir : "");
		return NULL;
	}
	if (c->image_dir == NULL || c->image_dir[0] != '/') {
		g_set_error(err, CONFIG_ERROR, 0, "%s: [guest] image_dir: an absolute path expected, "
		    "got '%s'", c->file, c->image_dir != NULL ? c->image_dir : "");
		return NULL;
	}
	if (g_key_file_has_key(kf, "guest", "missing_image", NULL)) {
		g_autofree char *mi = g_key_file_get_string(kf, "guest", "missing_image", NULL);

		g_strstrip(mi);
		if (g_strcmp0(mi, "error") == 0)
			c->missing_image_fallback = false;
		else if (g_strcmp0(mi, "test-guest") == 0)
			c->missing_image_fallback = true;
		else {
			g_set_error(err, CONFIG_ERROR, 0, "%s: [guest] missing_image: 'error' or "
			    "'test-guest' expected, got '%s'", c->file, mi != NULL ? mi : "");
			return NULL;
		}
	}
	if (load_balance(kf, c, err) < 0)
		return NULL;
	if (get_bool(kf, c->file, "heal", "enabled", &c->heal, err) < 0 ||
	    get_double(kf, c->file, "heal", "grace", 1, 86400, &c->heal_grace, err) < 0)
		return NULL;
	c->bc.interval = c->interval_s;
	note_unknown(kf, c);
	return g_steal_pointer(&c);
}

int
config_check(const config *c, GError **err)
{
	const char *f = c->file != NULL ? c->file : "(command line)";
	unsigned char buf[16];
	const char *pct, *why;

	if (c->host == NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] host: missing (or give --host)", f);
		return -1;
	}
	if ((why = sc_host_name_check(c->host)) != NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] host: '%s' is not a valid host name: "
		    "it %s (letters, digits, '-', '_', '.'; at most %d)", f, c->host, why,
		    SC_HOST_NAME_MAX);
		return -1;
	}
	if (strcmp(c->host, TOPIC_OPERATOR) == 0) {	/* it would send as the operator */
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] host: '%s' is reserved for the "
		    "operator's requests", f, c->host);
		return -1;
	}
	if (c->fabric_addr == NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] fabric_addr: missing (or give "
		    "--fabric-addr)", f);
		return -1;
	}
	if (inet_pton(AF_INET, c->fabric_addr, buf) != 1 &&
	    inet_pton(AF_INET6, c->fabric_addr, buf) != 1) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] fabric_addr: '%s' is not an IPv4 or "
		    "IPv6 address", f, c->fabric_addr);
		return -1;
	}
	if (c->libvirt_uri == NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] libvirt_uri: empty", f);
		return -1;
	}
	pct = c->migrate_uri_template != NULL ? strstr(c->migrate_uri_template, "%s") : NULL;
	if (pct == NULL || strchr(c->migrate_uri_template, '%') != pct ||
	    strchr(pct + 2, '%') != NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] migrate_uri_template: '%s' must hold "
		    "exactly one %%s (the destination's fabric address) and no other %%", f,
		    c->migrate_uri_template != NULL ? c->migrate_uri_template : "");
		return -1;
	}
	if (c->interval_s < 1 || c->interval_s > 3600) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] interval: %d is out of range 1..3600",
		    f, c->interval_s);
		return -1;
	}
	if (c->state_dir == NULL || c->state_dir[0] != '/') {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [nubed] state_dir: must be an absolute path", f);
		return -1;
	}
	if (c->broker_url == NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [broker] url: missing (or give --broker)", f);
		return -1;
	}
	if (!g_str_has_prefix(c->broker_url, "mqtt://") &&
	    !g_str_has_prefix(c->broker_url, "mqtts://")) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [broker] url: '%s' must start with mqtt:// or "
		    "mqtts://", f, c->broker_url);
		return -1;
	}
	if (c->password != NULL && c->username == NULL) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [broker] password: given without username", f);
		return -1;
	}
	if (c->username != NULL && strcmp(c->username, c->host) != 0) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [broker] username: '%s' must be the host name "
		    "'%s' (the broker's ACL names an agent's topics by its user name)", f,
		    c->username, c->host);
		return -1;
	}
	if (c->cafile != NULL && !g_file_test(c->cafile, G_FILE_TEST_IS_REGULAR)) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [broker] cafile: '%s' is not a readable file",
		    f, c->cafile);
		return -1;
	}
	if (c->cgroup != NULL && (c->cgroup[0] == '/' || strstr(c->cgroup, "..") != NULL)) {
		g_set_error(err, CONFIG_ERROR, 1, "%s: [metrics] cgroup: '%s' must be a relative "
		    "cgroup path like nube-lab/host1", f, c->cgroup);
		return -1;
	}
	return 0;
}
