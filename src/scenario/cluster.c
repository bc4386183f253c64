/* cluster: read EDIV's cluster.conf (INI) into the cluster model with GKeyFile; a tiny
 * line pre-pass adds what GKeyFile cannot give: line numbers and repeated `host =` keys */
#include "scenario/scenario.h"

#include <string.h>

/* where each "section" and "section\nkey" was seen, plus the ordered [cluster] hosts */
typedef struct {
	GHashTable *lines;	/* char* -> line (GINT_TO_POINTER) */
	GPtrArray *hosts;	/* of char* */
	GArray *host_lines;	/* of int */
} cluster_scan;

static void
cluster_host_free(gpointer p)
{
	cl_host *h = p;

	if (h == NULL)
		return;
	g_free(h->name);
	g_free(h->host_name);
	g_free(h);
}

void
cluster_free(cluster *c)
{
	if (c == NULL)
		return;
	g_free(c->file);
	if (c->hosts != NULL)
		g_ptr_array_unref(c->hosts);
	g_free(c);
}

static int
cluster_line(const cluster_scan *sc, const char *section, const char *key)
{
	g_autofree char *k = key != NULL ? g_strdup_printf("%s\n%s", section, key) : g_strdup(section);

	return GPOINTER_TO_INT(g_hash_table_lookup(sc->lines, k));
}

/* cluster_prescan: the only hand-written INI reading: section headers, key names and the
 * values of [cluster] host (repeated keys and comma lists). Syntax errors are left to
 * GKeyFile, except that lines it would reject are reported here with their number. */
static void
cluster_prescan(const char *buf, const char *file, cluster_scan *sc, diag *d)
{
	g_auto(GStrv) lines = g_strsplit(buf, "\n", -1);
	g_autofree char *section = NULL;

	for (int i = 0; lines[i] != NULL; i++) {
		char *l = g_strstrip(lines[i]);
		char *eq;

		if (l[0] == '\0' || l[0] == '#')
			continue;
		if (l[0] == '[' && l[strlen(l) - 1] == ']') {
			g_free(section);
			section = g_strndup(l + 1, strlen(l) - 2);
			if (!g_hash_table_contains(sc->lines, section))
				g_hash_table_insert(sc->lines, g_strdup(section), GINT_TO_POINTER(i + 1));
			continue;
		}
		eq = strchr(l, '=');
		if (eq == NULL || section == NULL) {
			diag_error(d, file, i + 1, "'%s' is not a key = value line%s", l,
					section == NULL ? " inside a [section]" : "");
			continue;
		}
		*eq = '\0';
		g_strstrip(l);
		g_hash_table_insert(sc->lines, g_strdup_printf("%s\n%s", section, l),
				GINT_TO_POINTER(i + 1));
		if (strcmp(section, "cluster") == 0 && strcmp(l, "host") == 0) {
			g_auto(GStrv) names = g_strsplit_set(eq + 1, ", \t", -1);

			for (int j = 0; names[j] != NULL; j++) {
				if (names[j][0] == '\0')
					continue;
				g_ptr_array_add(sc->hosts, g_strdup(names[j]));
				g_array_append_val(sc->host_lines, (int){ i + 1 });
			}
		}
	}
}

static bool
cluster_num(GKeyFile *kf, const cluster_scan *sc, const char *file, const char *sect,
		const char *key, double min, double max, double *out, diag *d)
{
	g_autofree char *v = g_key_file_get_value(kf, sect, key, NULL);
	char *end = NULL;
	double x;

	if (v == NULL)
		return false;
	g_strstrip(v);
	x = g_ascii_strtod(v, &end);
	if (end == v || *end != '\0' || !(x >= min && x <= max)) {
		diag_error(d, file, cluster_line(sc, sect, key),
				"[%s] %s = '%s' is not a number in %.15g..%.15g", sect, key, v, min, max);
		return false;
	}
	*out = x;
	return true;
}

static cl_host *
cluster_host(GKeyFile *kf, const cluster_scan *sc, const char *file, const char *name, int line,
		diag *d)
{
	static const char *const keys[] = { "host_name", "mem", "cpu", "max_vms", "load",
		"ifname", NULL };
	cl_host *h;
	g_auto(GStrv) have = NULL;
	double v;
	const char *why = sc_host_name_check(name);

	if (why != NULL) {
		diag_error(d, file, line, "host name '%s' %s", name, why);
		return NULL;
	}
	if (!g_key_file_has_group(kf, name)) {
		diag_error(d, file, line, "host '%s' is listed in [cluster] but has no [%s] section",
				name, name);
		return NULL;
	}
	h = g_new0(cl_host, 1);
	h->name = g_strdup(name);
	h->line = cluster_line(sc, name, NULL);
	h->online = true;
	h->host_name = g_key_file_get_value(kf, name, "host_name", NULL);
	if (h->host_name != NULL)
		g_strstrip(h->host_name);
	else
		h->host_name = g_strdup(name);
	if (cluster_num(kf, sc, file, name, "mem", 1, (double)G_MAXUINT32, &v, d))
		h->mem_mib = (uint64_t)v;
	else if (!g_key_file_has_key(kf, name, "mem", NULL))
		diag_error(d, file, h->line, "[%s] has no mem = (MiB)", name);
	if (cluster_num(kf, sc, file, name, "cpu", 0.01, 1e6, &v, d))
		h->cpu = v;
	else if (!g_key_file_has_key(kf, name, "cpu", NULL))
		diag_error(d, file, h->line, "[%s] has no cpu = (CPU capacity)", name);
	if (cluster_num(kf, sc, file, name, "max_vms", 0, G_MAXINT, &v, d)) {
		h->max_vms = (int)v;
		if (v != (double)h->max_vms)
			diag_error(d, file, cluster_line(sc, name, "max_vms"),
					"[%s] max_vms must be a whole number", name);
	}
	if (cluster_num(kf, sc, file, name, "load", 0, 1, &v, d))
		h->load = v;
	have = g_key_file_get_keys(kf, name, NULL, NULL);
	for (int i = 0; have != NULL && have[i] != NULL; i++)
		if (!g_strv_contains(keys, have[i]))
			diag_warn(d, file, cluster_line(sc, name, have[i]),
					"unknown key '%s' in [%s], ignored", have[i], name);
	return h;
}

cluster *
cluster_parse_memory(const char *buf, size_t len, const char *name, diag *d)
{
	static const char *const known_sections[] = { "cluster", "db", "vlan", "tables", NULL };
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) groups = NULL;
	g_autofree char *text = g_strndup(buf, len);
	cluster_scan sc;
	cluster *c = NULL;
	int before = d != NULL ? d->nerrors : 0;

	sc.lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	sc.hosts = g_ptr_array_new_with_free_func(g_free);
	sc.host_lines = g_array_new(FALSE, FALSE, sizeof(int));
	cluster_prescan(text, name, &sc, d);
	if (!g_key_file_load_from_data(kf, text, strlen(text), G_KEY_FILE_NONE, &err)) {
		if (d == NULL || d->nerrors == before)
			diag_error(d, name, 0, "%s", err->message);
		goto out;
	}
	if (!g_key_file_has_group(kf, "cluster")) {
		diag_error(d, name, 0, "no [cluster] section");
		goto out;
	}
	if (sc.hosts->len == 0) {
		diag_error(d, name, cluster_line(&sc, "cluster", NULL), "[cluster] lists no host =");
		goto out;
	}
	c = g_new0(cluster, 1);
	c->file = g_strdup(name);
	c->hosts = g_ptr_array_new_with_free_func(cluster_host_free);
	for (guint i = 0; i < sc.hosts->len; i++) {
		const char *hn = g_ptr_array_index(sc.hosts, i);
		int line = g_array_index(sc.host_lines, int, i);
		cl_host *h;
		bool dup = false;

		for (guint j = 0; j < i && !dup; j++)
			dup = strcmp(g_ptr_array_index(sc.hosts, j), hn) == 0;
		if (dup) {
			diag_error(d, name, line, "host '%s' is listed twice", hn);
			continue;
		}
		h = cluster_host(kf, &sc, name, hn, line, d);
		if (h != NULL)
			g_ptr_array_add(c->hosts, h);
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (int i = 0; groups[i] != NULL; i++) {
		bool listed = g_strv_contains(known_sections, groups[i]);

		for (guint j = 0; j < sc.hosts->len && !listed; j++)
			listed = strcmp(g_ptr_array_index(sc.hosts, j), groups[i]) == 0;
		if (!listed)
			diag_warn(d, name, cluster_line(&sc, groups[i], NULL),
					"section [%s] is not a host listed in [cluster], ignored", groups[i]);
	}
out:
	g_hash_table_unref(sc.lines);
	g_ptr_array_unref(sc.hosts);
	g_array_unref(sc.host_lines);
	return c;
}

cluster *
cluster_parse_file(const char *path, diag *d)
{
	g_autofree char *buf = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &buf, &len, &err)) {
		diag_error(d, path, 0, "cannot read cluster file: %s", err->message);
		return NULL;
	}
	return cluster_parse_memory(buf, len, path, d);
}
