/* restrict: parse EDIV's <deployment_restrictions> file (vm/net pinning, affinity,
 * anti-affinity, net_deploy_together) into the restrictions model */
#include "scenario/scenario.h"
#include "scenario/sxml.h"

#include <string.h>
#include <libxml/tree.h>

static void
restrict_at_free(gpointer p)
{
	rs_at *a = p;

	if (a == NULL)
		return;
	g_free(a->what);
	g_free(a->host);
	g_free(a);
}

static void
restrict_group_free(gpointer p)
{
	rs_group *g = p;

	if (g == NULL)
		return;
	if (g->names != NULL)
		g_ptr_array_unref(g->names);
	g_free(g);
}

restrictions *
restrictions_new(void)
{
	restrictions *r = g_new0(restrictions, 1);

	r->vm_at = g_ptr_array_new_with_free_func(restrict_at_free);
	r->net_at = g_ptr_array_new_with_free_func(restrict_at_free);
	r->affinity = g_ptr_array_new_with_free_func(restrict_group_free);
	r->antiaffinity = g_ptr_array_new_with_free_func(restrict_group_free);
	r->net_together = g_ptr_array_new_with_free_func(restrict_group_free);
	return r;
}

void
restrictions_free(restrictions *r)
{
	if (r == NULL)
		return;
	g_free(r->file);
	g_ptr_array_unref(r->vm_at);
	g_ptr_array_unref(r->net_at);
	g_ptr_array_unref(r->affinity);
	g_ptr_array_unref(r->antiaffinity);
	g_ptr_array_unref(r->net_together);
	g_free(r);
}

/* restrict_at: <vm_deploy_at vm= host=/> or <net_deploy_at net= host=/> */
static void
restrict_at(restrictions *r, const xmlNode *n, const char *key, GPtrArray *into, diag *d)
{
	const char *const attrs[] = { key, "host", NULL };
	g_autofree char *what = sxml_prop(n, key);
	g_autofree char *host = sxml_prop(n, "host");
	rs_at *a;

	sxml_check_attrs(n, attrs, r->file, d);
	if (what == NULL || host == NULL) {
		diag_error(d, r->file, sxml_line(n), "<%s> needs %s= and host=",
				(const char *)n->name, key);
		return;
	}
	a = g_new0(rs_at, 1);
	a->what = g_strstrip(g_steal_pointer(&what));
	a->host = g_strstrip(g_steal_pointer(&host));
	a->line = sxml_line(n);
	g_ptr_array_add(into, a);
}

/* restrict_group: <affinity>/<antiaffinity> with <vm>name</vm> children */
static void
restrict_group(restrictions *r, const xmlNode *n, GPtrArray *into, diag *d)
{
	rs_group *g = g_new0(rs_group, 1);

	sxml_check_attrs(n, (const char *const[]){ NULL }, r->file, d);
	g->names = g_ptr_array_new_with_free_func(g_free);
	g->line = sxml_line(n);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "vm")) {
			char *name = sxml_text(k);

			if (name[0] == '\0') {
				diag_error(d, r->file, sxml_line(k), "empty <vm> in <%s>",
						(const char *)n->name);
				g_free(name);
				continue;
			}
			g_ptr_array_add(g->names, name);
		} else {
			diag_warn(d, r->file, sxml_line(k), "unknown element <%s> in <%s>, ignored",
					(const char *)k->name, (const char *)n->name);
		}
	}
	if (g->names->len < 2)
		diag_warn(d, r->file, g->line, "<%s> with fewer than two VMs has no effect",
				(const char *)n->name);
	g_ptr_array_add(into, g);
}

restrictions *
restrictions_parse_memory(const char *buf, size_t len, const char *name, diag *d)
{
	xmlDoc *doc = sxml_read(buf, len, name, d);
	xmlNode *root;
	restrictions *r;

	if (doc == NULL)
		return NULL;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !sxml_is(root, "deployment_restrictions")) {
		diag_error(d, name, root != NULL ? sxml_line(root) : 0,
				"not a restrictions file: the root element is <%s>, expected "
				"<deployment_restrictions>", root != NULL ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return NULL;
	}
	r = restrictions_new();
	r->file = g_strdup(name);
	for (const xmlNode *k = root->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "vm_deploy_at")) {
			restrict_at(r, k, "vm", r->vm_at, d);
		} else if (sxml_is(k, "net_deploy_at")) {
			restrict_at(r, k, "net", r->net_at, d);
		} else if (sxml_is(k, "affinity")) {
			restrict_group(r, k, r->affinity, d);
		} else if (sxml_is(k, "antiaffinity")) {
			restrict_group(r, k, r->antiaffinity, d);
		} else if (sxml_is(k, "net_deploy_together")) {
			static const char *const attrs[] = { "net", NULL };
			char *net = sxml_prop(k, "net");
			rs_group *g;

			sxml_check_attrs(k, attrs, r->file, d);
			if (net == NULL) {
				diag_error(d, r->file, sxml_line(k), "<net_deploy_together> needs net=");
				continue;
			}
			g = g_new0(rs_group, 1);
			g->names = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(g->names, g_strstrip(net));
			g->line = sxml_line(k);
			g_ptr_array_add(r->net_together, g);
		} else {
			diag_warn(d, r->file, sxml_line(k),
					"unknown element <%s> in <deployment_restrictions>, ignored",
					(const char *)k->name);
		}
	}
	xmlFreeDoc(doc);
	return r;
}

restrictions *
restrictions_parse_file(const char *path, diag *d)
{
	g_autofree char *buf = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &buf, &len, &err)) {
		diag_error(d, path, 0, "cannot read restrictions: %s", err->message);
		return NULL;
	}
	return restrictions_parse_memory(buf, len, path, d);
}
