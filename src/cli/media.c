/* media: build each image-booting VM's configuration media with guestcfg for the deploy */
#include "cli/media.h"

#include <string.h>

#include "guestcfg/guestcfg.h"

typedef struct {
	const sc_vm *vm;	/* borrowed from the scenario */
	gc_seq *on_boot;	/* resolved with GC_RESOLVE_DATA */
	char *user_data;
} media_vm;

struct media_prep {
	const scenario *s;	/* borrowed */
	GPtrArray *vms;		/* of media_vm* */
};

static void
media_vm_free(gpointer p)
{
	media_vm *m = p;

	if (m == NULL)
		return;
	gc_seq_free(m->on_boot);
	g_free(m->user_data);
	g_free(m);
}

void
media_prep_free(media_prep *mp)
{
	if (mp == NULL)
		return;
	if (mp->vms != NULL)
		g_ptr_array_unref(mp->vms);
	g_free(mp);
}

bool
media_wanted(const sc_vm *vm)
{
	return vm != NULL && vm->filesystem != NULL && vm->filesystem[0] != '\0' &&
	    vm->kernel == NULL;
}

media_prep *
media_prepare(const scenario *s, diag *d)
{
	g_autoptr(media_prep) mp = g_new0(media_prep, 1);
	bool bad = false;

	mp->s = s;
	mp->vms = g_ptr_array_new_with_free_func(media_vm_free);
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		media_vm *m;

		if (!media_wanted(vm))
			continue;
		m = g_new0(media_vm, 1);
		m->vm = vm;
		g_ptr_array_add(mp->vms, m);
		m->on_boot = guestcfg_resolve(s, vm, GC_SEQ_ON_BOOT, GC_RESOLVE_DATA, d);
		if (m->on_boot == NULL) {
			bad = true;
			continue;
		}
		m->user_data = guestcfg_ci_user_data(s, vm, m->on_boot, d);
		if (m->user_data == NULL)
			bad = true;
	}
	if (bad || diag_has_errors(d))
		return NULL;
	return g_steal_pointer(&mp);
}

static void
add_text(proto_medium *m, const char *path, char *text)
{
	g_autoptr(GBytes) b = g_bytes_new_take(text, strlen(text));

	proto_medium_add(m, path, 0644, b);
}

/* the "vnx" medium: vnxboot.xml and filetree/<num>/<rel> of every on_boot filetree */
static proto_medium *
vnx_medium(const scenario *s, const media_vm *m, const gc_net *net, diag *d)
{
	g_autofree char *id = guestcfg_new_id(m->vm->name);
	xmlDoc *doc = guestcfg_vnxboot(s, m->vm, id, net, m->on_boot, d);
	g_autoptr(proto_medium) md = NULL;

	if (doc == NULL)
		return NULL;
	md = proto_medium_new(PROTO_MEDIUM_VNX);
	add_text(md, "vnxboot.xml", guestcfg_xml_text(doc, NULL));
	xmlFreeDoc(doc);
	for (guint t = 0; t < m->on_boot->trees->len; t++) {
		const gc_tree *tr = g_ptr_array_index(m->on_boot->trees, t);

		for (guint k = 0; k < tr->files->len; k++) {
			const gc_file *f = g_ptr_array_index(tr->files, k);
			g_autofree char *path = g_strdup_printf("filetree/%u/%s", tr->num, f->rel);

			proto_medium_add(md, path, f->mode, f->data);
		}
	}
	return g_steal_pointer(&md);
}

/* the "cidata" medium; its instance-id is a digest of the other two documents, so it
 * changes exactly when what cloud-init would apply changes */
static proto_medium *
cidata_medium(const scenario *s, const media_vm *m, const gc_net *net, diag *d)
{
	g_autofree char *nc = guestcfg_ci_network_config(s, m->vm, net, d);
	g_autoptr(GChecksum) ck = NULL;
	g_autofree char *iid = NULL;
	proto_medium *md;

	if (nc == NULL)
		return NULL;
	ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ck, (const guchar *)m->user_data, (gssize)strlen(m->user_data));
	g_checksum_update(ck, (const guchar *)"\n", 1);
	g_checksum_update(ck, (const guchar *)nc, (gssize)strlen(nc));
	iid = g_strdup_printf("nube-%s-%.16s", m->vm->name, g_checksum_get_string(ck));
	md = proto_medium_new(PROTO_MEDIUM_CIDATA);
	add_text(md, "meta-data", guestcfg_ci_meta_data(m->vm, iid));
	add_text(md, "user-data", g_strdup(m->user_data));
	add_text(md, "network-config", g_steal_pointer(&nc));
	return md;
}

int
media_attach(media_prep *mp, proto_deployment *dep, diag *d)
{
	int n = 0;
	bool bad = false;

	for (guint i = 0; i < mp->vms->len; i++) {
		const media_vm *m = g_ptr_array_index(mp->vms, i);
		proto_vm_place *v = (proto_vm_place *)proto_deployment_vm(dep, m->vm->name);
		gc_net net = { 0 };
		proto_medium *vnx, *ci;

		if (v == NULL)
			continue;
		net.macs = v->macs;
		vnx = vnx_medium(mp->s, m, &net, d);
		ci = cidata_medium(mp->s, m, &net, d);
		if (vnx == NULL || ci == NULL) {
			proto_medium_free(vnx);
			proto_medium_free(ci);
			bad = true;
			continue;
		}
		g_ptr_array_add(v->media, vnx);
		g_ptr_array_add(v->media, ci);
		n++;
	}
	if (!proto_deployment_media_check(dep, d))
		bad = true;
	return bad ? -1 : n;
}
