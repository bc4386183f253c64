/* output: aligned text tables, JSON printing and messages shared by every nube command */
#include "cli/output.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "cli/cli.h"

struct out_table {
	int ncols;
	GPtrArray *rows;	/* of char** (ncols strings); row 0 = headers */
	bool *right;		/* [ncols] */
};

out_table *
out_table_new(int ncols, const char *const *headers)
{
	out_table *t = g_new0(out_table, 1);
	char **h = g_new0(char *, ncols + 1);

	t->ncols = ncols;
	t->right = g_new0(bool, ncols);
	t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	for (int i = 0; i < ncols; i++)
		h[i] = g_utf8_strup(headers[i] != NULL ? headers[i] : "", -1);
	g_ptr_array_add(t->rows, h);
	return t;
}

void
out_table_free(out_table *t)
{
	if (t == NULL)
		return;
	g_ptr_array_unref(t->rows);
	g_free(t->right);
	g_free(t);
}

void
out_table_right(out_table *t, int col)
{
	if (t != NULL && col >= 0 && col < t->ncols)
		t->right[col] = true;
}

void
out_table_add(out_table *t, const char *const *cells)
{
	char **r = g_new0(char *, t->ncols + 1);

	for (int i = 0; i < t->ncols; i++)
		r[i] = g_strdup(cells[i] != NULL ? cells[i] : "-");
	g_ptr_array_add(t->rows, r);
}

void
out_table_addv(out_table *t, ...)
{
	const char **cells = g_new0(const char *, t->ncols);
	va_list ap;

	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++)
		cells[i] = va_arg(ap, const char *);
	va_end(ap);
	out_table_add(t, cells);
	g_free(cells);
}

int
out_table_rows(const out_table *t)
{
	return t != NULL ? (int)t->rows->len - 1 : 0;
}

static void
pad(FILE *fp, long n)
{
	for (; n > 0; n--)
		fputc(' ', fp);
}

void
out_table_print(const out_table *t, FILE *fp)
{
	g_autofree long *w = NULL;

	if (t == NULL)
		return;
	w = g_new0(long, t->ncols);
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);

		for (int c = 0; c < t->ncols; c++)
			w[c] = MAX(w[c], g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);

		for (int c = 0; c < t->ncols; c++) {
			long gap = w[c] - g_utf8_strlen(row[c], -1);
			bool last = c == t->ncols - 1;

			if (c > 0)
				fputs("  ", fp);
			if (t->right[c])
				pad(fp, gap);
			fputs(row[c], fp);
			if (!t->right[c] && !last)
				pad(fp, gap);
		}
		fputc('\n', fp);
	}
}

int
out_json_print(const json_t *j, FILE *fp)
{
	if (json_dumpf(j, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', fp) == EOF) {
		out_err("cannot write JSON output");
		return -1;
	}
	return 0;
}

json_t *
out_json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

void
out_err(const char *fmt, ...)
{
	va_list ap;

	fputs("nube: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
out_usage(const char *cmd, const char *msg)
{
	if (msg != NULL)
		out_err("%s: %s", cmd, msg);
	fprintf(stderr, "Try 'nube %s --help'.\n", cmd);
	return CLI_USAGE;
}

int
out_check_name(const char *cmd, const char *what, const char *name, bool host)
{
	const char *why = host ? sc_host_name_check(name) : sc_name_check(name);

	if (why == NULL)
		return 0;
	out_err("%s: %s name '%s' %s", cmd, what, name != NULL ? name : "", why);
	return CLI_USAGE;
}

/* ---- placement of a plan (nube plan, nube deploy) ---- */

/* vm_nets: the distinct nets of vm's interfaces, in interface order (indexes into s->nets) */
static GArray *
vm_nets(const scenario *s, const sc_vm *vm)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(int));

	for (guint k = 0; k < vm->ifs->len; k++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
		int j = scenario_net_index(s, ifc->net);
		bool dup = false;

		for (guint m = 0; m < out->len; m++)
			dup = dup || g_array_index(out, int, m) == j;
		if (j >= 0 && !dup)
			g_array_append_val(out, j);
	}
	return out;
}

static bool
net_cross(const plan *p, int j)
{
	return p->net_hosts[j] != NULL && p->net_hosts[j]->len > 1;
}

json_t *
out_plan_json(const scenario *s, const plan *p)
{
	json_t *root = json_object(), *pls = json_array(), *nets = json_array();
	json_t *totals = json_object(), *hosts = json_array();
	g_autofree uint64_t *mem = g_new0(uint64_t, p->nhosts);
	g_autofree int *nvm = g_new0(int, p->nhosts);

	json_object_set_new(root, "scenario", json_string(s->name));
	json_object_set_new(root, "algorithm", json_string(plan_algorithm_name(p->algorithm)));
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		GPtrArray *macs = p->vm_macs != NULL ? g_ptr_array_index(p->vm_macs, i) : NULL;
		const char *mgmt = p->vm_mgmt_addr != NULL ? g_ptr_array_index(p->vm_mgmt_addr, i) : NULL;
		g_autoptr(GArray) vn = vm_nets(s, vm);
		json_t *o = json_object(), *jm = json_array(), *jn = json_array();
		int h = p->vm_host[i];

		mem[h] += vm->mem_mib;
		nvm[h]++;
		for (guint k = 0; k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			const char *mac = macs != NULL && k < macs->len ? g_ptr_array_index(macs, k) : NULL;

			json_array_append_new(jm, json_pack("{s:i, s:s, s:o}", "if", ifc->id,
			    "net", ifc->net, "mac", out_json_str(mac)));
		}
		for (guint m = 0; m < vn->len; m++) {
			const sc_net *n = g_ptr_array_index(s->nets, g_array_index(vn, int, m));

			json_array_append_new(jn, json_string(n->name));
		}
		json_object_set_new(o, "vm", json_string(vm->name));
		json_object_set_new(o, "host", json_string(p->hosts[h].name));
		json_object_set_new(o, "mem_mib", json_integer((json_int_t)vm->mem_mib));
		json_object_set_new(o, "vcpu", json_integer(vm->vcpu));
		json_object_set_new(o, "nets", jn);
		json_object_set_new(o, "macs", jm);
		json_object_set_new(o, "mgmt", out_json_str(mgmt));
		json_array_append_new(pls, o);
	}
	json_object_set_new(root, "placements", pls);
	for (guint j = 0; j < s->nets->len; j++) {
		const sc_net *n = g_ptr_array_index(s->nets, j);
		json_t *o = json_object(), *jh = json_array();
		GArray *nh = p->net_hosts[j];

		for (guint m = 0; nh != NULL && m < nh->len; m++)
			json_array_append_new(jh, json_string(p->hosts[g_array_index(nh, int, m)].name));
		json_object_set_new(o, "net", json_string(n->name));
		json_object_set_new(o, "hosts", jh);
		json_object_set_new(o, "vni", p->net_vni != NULL && p->net_vni[j] != 0
		    ? json_integer(p->net_vni[j]) : json_null());
		json_array_append_new(nets, o);
	}
	json_object_set_new(root, "nets", nets);
	for (int h = 0; h < p->nhosts; h++)
		json_array_append_new(hosts, json_pack("{s:s, s:i, s:I, s:I}",
		    "host", p->hosts[h].name, "vms", nvm[h], "mem_mib", (json_int_t)mem[h],
		    "mem_capacity_mib", (json_int_t)p->hosts[h].mem_mib));
	json_object_set_new(totals, "vms", json_integer(s->vms->len));
	json_object_set_new(totals, "nets", json_integer(s->nets->len));
	json_object_set_new(totals, "cross_host_nets", json_integer(plan_cross_host_nets(p)));
	json_object_set_new(totals, "hosts", hosts);
	json_object_set_new(root, "totals", totals);
	return root;
}

void
out_plan_print(const scenario *s, const plan *p, FILE *fp)
{
	static const char *const h1[] = { "vm", "host", "mem", "nets", "cross-host", "vnis" };
	static const char *const h2[] = { "host", "vms", "mem", "capacity" };
	g_autoptr(out_table) t = out_table_new(6, h1);
	g_autoptr(out_table) tot = out_table_new(4, h2);
	g_autofree uint64_t *mem = g_new0(uint64_t, p->nhosts);
	g_autofree int *nvm = g_new0(int, p->nhosts);

	out_table_right(t, 2);
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		g_autoptr(GArray) vn = vm_nets(s, vm);
		g_autoptr(GString) nets = g_string_new(NULL);
		g_autoptr(GString) cross = g_string_new(NULL);
		g_autoptr(GString) vnis = g_string_new(NULL);
		g_autofree char *m = g_strdup_printf("%" PRIu64 "M", vm->mem_mib);
		int h = p->vm_host[i];

		mem[h] += vm->mem_mib;
		nvm[h]++;
		for (guint k = 0; k < vn->len; k++) {
			int j = g_array_index(vn, int, k);
			const sc_net *n = g_ptr_array_index(s->nets, j);

			g_string_append_printf(nets, "%s%s", nets->len ? "," : "", n->name);
			if (net_cross(p, j)) {
				g_string_append_printf(cross, "%s%s", cross->len ? "," : "", n->name);
				if (p->net_vni != NULL && p->net_vni[j] != 0)
					g_string_append_printf(vnis, "%s%u", vnis->len ? "," : "",
					    p->net_vni[j]);
			}
		}
		out_table_addv(t, vm->name, p->hosts[h].name, m, nets->len ? nets->str : "-",
		    cross->len ? cross->str : "-", vnis->len ? vnis->str : "-");
	}
	fprintf(fp, "scenario '%s', algorithm %s\n\n", s->name, plan_algorithm_name(p->algorithm));
	out_table_print(t, fp);

	out_table_right(tot, 1);
	out_table_right(tot, 2);
	out_table_right(tot, 3);
	for (int h = 0; h < p->nhosts; h++) {
		g_autofree char *n = g_strdup_printf("%d", nvm[h]);
		g_autofree char *m = g_strdup_printf("%" PRIu64 "M", mem[h]);
		g_autofree char *c = g_strdup_printf("%" PRIu64 "M", p->hosts[h].mem_mib);

		out_table_addv(tot, p->hosts[h].name, n, m, c);
	}
	fputc('\n', fp);
	out_table_print(tot, fp);
	int used = 0;

	for (int h = 0; h < p->nhosts; h++)
		used += nvm[h] > 0;
	fprintf(fp, "\n%u VMs on %d of %d hosts, %d of %u nets cross hosts\n", s->vms->len, used,
	    p->nhosts, plan_cross_host_nets(p), s->nets->len);
}
