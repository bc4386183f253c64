/* media: a domain's configuration media as ISO images in the "nube" storage pool, made from
 * the deployment's files with genisoimage (they are volumes of the domain: storage.c deletes
 * them with it and uploads them to a migration's destination) */
#include "virt/virt.h"
#include "virt/virt_int.h"
#include "virt/storage.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

char *virt_media_volume(const char *domname, const char *kind)
{
	return g_strdup_printf("%s.%s.iso", domname, kind);
}

/* remove a folder and everything under it (a temporary one this file made) */
static void rm_tree(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(path, name, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			rm_tree(p);
		else
			g_unlink(p);
	}
	if (d)
		g_dir_close(d);
	g_rmdir(path);
}

/* write m's files under dir; 0 or -1 + err */
static int media_write_tree(const char *dir, const proto_medium *m, GError **err)
{
	for (guint i = 0; i < m->files->len; i++) {
		const proto_media_file *f = g_ptr_array_index(m->files, i);
		g_autofree char *p = NULL, *parent = NULL;
		const char *why = proto_media_path_check(f->path);
		gsize len = 0;
		const char *data = g_bytes_get_data(f->data, &len);

		if (why) {	/* proto_deployment_from_json refused it already */
			g_set_error(err, VIRT_ERROR, 0, "medium '%s': path '%s' %s", m->kind, f->path,
			    why);
			return -1;
		}
		p = g_build_filename(dir, f->path, NULL);
		parent = g_path_get_dirname(p);
		if (g_mkdir_with_parents(parent, 0755) < 0) {
			g_set_error(err, VIRT_ERROR, 0, "medium '%s': cannot make '%s': %s", m->kind,
			    parent, g_strerror(errno));
			return -1;
		}
		if (!g_file_set_contents_full(p, data ? data : "", (gssize)len,
		    G_FILE_SET_CONTENTS_NONE, 0600, err))
			return -1;
		if (g_chmod(p, (int)f->mode) < 0) {
			g_set_error(err, VIRT_ERROR, 0, "medium '%s': chmod '%s': %s", m->kind, p,
			    g_strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* genisoimage of dir into out: VNX's options for its medium (mkisofs -l -R: names kept,
 * Rock Ridge), cloud-init's for a seed (volume id "cidata", Joliet and Rock Ridge) */
static int media_mkiso(const char *kind, const char *dir, const char *out, GError **err)
{
	const char *vnx[] = { "genisoimage", "-quiet", "-o", out, "-l", "-R", dir, NULL };
	const char *ci[] = { "genisoimage", "-quiet", "-o", out, "-V", "cidata", "-J", "-R", dir,
	    NULL };
	g_autofree char *errout = NULL;
	GError *e = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)(strcmp(kind, PROTO_MEDIUM_VNX) == 0 ? vnx : ci), NULL,
	    G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &errout, &status,
	    &e)) {
		g_set_error(err, VIRT_ERROR, 0, "medium '%s': genisoimage: %s", kind, e->message);
		g_error_free(e);
		return -1;
	}
	if (!g_spawn_check_wait_status(status, &e)) {
		g_strstrip(errout);
		g_set_error(err, VIRT_ERROR, 0, "medium '%s': genisoimage: %s%s%s", kind, e->message,
		    *errout ? ": " : "", errout);
		g_error_free(e);
		return -1;
	}
	return 0;
}

int virt_media_write(virt *v, const char *domname, const GPtrArray *media, GError **err)
{
	virStoragePoolPtr pool = NULL;
	g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
	int rc = -1;

	if (!media || media->len == 0)
		return 0;
	if (!(pool = virStoragePoolLookupByName(v->conn, VIRT_POOL))) {
		virt_set_error(err, "storage pool '%s' on %s", VIRT_POOL, v->uri);
		return -1;
	}
	for (guint i = 0; i < media->len; i++) {
		const proto_medium *m = g_ptr_array_index(media, i);
		g_autofree char *vol = virt_media_volume(domname, m->kind);
		g_autofree char *iso = virt_volume_path(v, vol);
		g_autofree char *tmp = g_dir_make_tmp("nube-medium-XXXXXX", NULL);
		int r;

		if (!tmp) {
			g_set_error(err, VIRT_ERROR, 0, "medium '%s': temporary folder: %s", m->kind,
			    g_strerror(errno));
			goto out;
		}
		g_chmod(tmp, 0755);	/* the medium's root as the guest sees it */
		g_unlink(iso);
		g_ptr_array_add(made, g_strdup(iso));
		r = media_write_tree(tmp, m, err);
		if (r == 0)
			r = media_mkiso(m->kind, tmp, iso, err);
		rm_tree(tmp);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		for (guint i = 0; i < made->len; i++)
			g_unlink(g_ptr_array_index(made, i));
	/* the pool learns of the new (or removed) files */
	if (virStoragePoolRefresh(pool, 0) < 0 && rc == 0) {
		virt_set_error(err, "refresh storage pool '%s' on %s", VIRT_POOL, v->uri);
		rc = -1;
	}
	virStoragePoolFree(pool);
	return rc;
}

bool virt_media_used(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname)
{
	const sc_vm *vm = scenario_vm(s, vmname);
	const proto_vm_place *p = proto_deployment_vm(dep, vmname);
	virt_vm_disk d;
	bool used;

	if (!vm || !p || !p->media || p->media->len == 0 || virt_lxc_decide(v, dep, vm, NULL, NULL) != 0 ||
	    virt_vm_disk_decide(v, s, dep, vm, &d, NULL, NULL) < 0)
		return false;	/* a container reads its filetrees from them, through its layer */
	used = d.boot == VIRT_BOOT_DISK;
	virt_vm_disk_clear(&d);
	return used;
}
