/* media: a domain's configuration media as ISO images in the "nube" storage pool — made from
 * the deployment's files with genisoimage, removed with the domain, uploaded to a migration's
 * destination (libvirt copies no read-only disk) */
#include "virt/virt.h"
#include "virt/virt_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

static const char *const media_kinds[] = { PROTO_MEDIUM_VNX, PROTO_MEDIUM_CIDATA };

/* "<context>: <libvirt's last error>" */
static void media_lv_error(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void media_lv_error(GError **err, const char *fmt, ...)
{
	va_list ap;
	const char *lv = virGetLastErrorMessage();
	g_autofree char *ctx = NULL;

	va_start(ap, fmt);
	ctx = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, VIRT_ERROR, 0, "%s: %s", ctx, lv && *lv ? lv : "unknown libvirt error");
}

char *virt_media_volume(const char *domname, const char *kind)
{
	return g_strdup_printf("%s.%s.iso", domname, kind);
}

/* the active pool VIRT_MEDIA_POOL of c, or NULL + err */
static virStoragePoolPtr media_pool(virConnectPtr c, const char *uri, GError **err)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(c, VIRT_MEDIA_POOL);

	if (!p) {
		media_lv_error(err, "storage pool '%s' on %s", VIRT_MEDIA_POOL, uri);
		return NULL;
	}
	if (virStoragePoolIsActive(p) != 1) {
		g_set_error(err, VIRT_ERROR, 0, "storage pool '%s' on %s is not active",
		    VIRT_MEDIA_POOL, uri);
		virStoragePoolFree(p);
		return NULL;
	}
	return p;
}

/* the folder of a dir pool (its <target><path>), g_free; NULL + err */
static char *media_pool_dir(virStoragePoolPtr p, const char *uri, GError **err)
{
	char *xml = virStoragePoolGetXMLDesc(p, 0);
	xmlDocPtr doc;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;
	char *dir = NULL;

	if (!xml) {
		media_lv_error(err, "storage pool '%s' on %s", VIRT_MEDIA_POOL, uri);
		return NULL;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "pool.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(xml);
	if (doc) {
		xc = xmlXPathNewContext(doc);
		r = xmlXPathEvalExpression(BAD_CAST "string(/pool/target/path)", xc);
		if (r && r->type == XPATH_STRING && r->stringval && r->stringval[0] == '/')
			dir = g_strdup((const char *)r->stringval);
		xmlXPathFreeObject(r);
		xmlXPathFreeContext(xc);
		xmlFreeDoc(doc);
	}
	if (!dir)
		g_set_error(err, VIRT_ERROR, 0, "storage pool '%s' on %s has no target folder",
		    VIRT_MEDIA_POOL, uri);
	return dir;
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
	g_autofree char *dir = NULL;
	g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
	int rc = -1;

	if (!media || media->len == 0)
		return 0;
	if (!(pool = media_pool(virt_conn(v), virt_uri(v), err)) ||
	    !(dir = media_pool_dir(pool, virt_uri(v), err)))
		goto out;
	for (guint i = 0; i < media->len; i++) {
		const proto_medium *m = g_ptr_array_index(media, i);
		g_autofree char *vol = virt_media_volume(domname, m->kind);
		g_autofree char *iso = g_build_filename(dir, vol, NULL);
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
	if (pool && virStoragePoolRefresh(pool, 0) < 0 && rc == 0) {
		media_lv_error(err, "refresh storage pool '%s' on %s", VIRT_MEDIA_POOL, virt_uri(v));
		rc = -1;
	}
	if (pool)
		virStoragePoolFree(pool);
	return rc;
}

/* true when c has no pool VIRT_MEDIA_POOL (so no media either) */
static bool media_no_pool(virConnectPtr c)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(c, VIRT_MEDIA_POOL);

	if (p) {
		virStoragePoolFree(p);
		return false;
	}
	return virGetLastErrorCode() == VIR_ERR_NO_STORAGE_POOL;
}

/* delete domname's media volumes from c's pool; none (or no pool) is no error */
static int media_remove_conn(virConnectPtr c, const char *uri, const char *domname, GError **err)
{
	virStoragePoolPtr pool;
	g_autofree char *dir = NULL;
	int rc = 0;

	if (media_no_pool(c))
		return 0;
	if (!(pool = media_pool(c, uri, err)))
		return -1;
	dir = media_pool_dir(pool, uri, NULL);
	virStoragePoolRefresh(pool, 0);
	for (size_t k = 0; k < G_N_ELEMENTS(media_kinds); k++) {
		g_autofree char *name = virt_media_volume(domname, media_kinds[k]);
		virStorageVolPtr vol = virStorageVolLookupByName(pool, name);

		if (vol) {
			if (virStorageVolDelete(vol, 0) < 0 && rc == 0) {
				media_lv_error(err, "delete volume '%s' of pool '%s' on %s", name,
				    VIRT_MEDIA_POOL, uri);
				rc = -1;
			}
			virStorageVolFree(vol);
		} else if (dir) {	/* written but not yet seen by the pool */
			g_autofree char *p = g_build_filename(dir, name, NULL);

			g_unlink(p);
		}
	}
	virStoragePoolFree(pool);
	return rc;
}

int virt_media_remove(virt *v, const char *domname, GError **err)
{
	return media_remove_conn(virt_conn(v), virt_uri(v), domname, err);
}

int virt_media_remove_at(const char *uri, const char *domname, GError **err)
{
	virConnectPtr c = virConnectOpen(uri);
	int rc;

	if (!c) {
		media_lv_error(err, "connect to %s", uri);
		return -1;
	}
	rc = media_remove_conn(c, uri, domname, err);
	virConnectClose(c);
	return rc;
}

static int media_send(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
	int fd = *(int *)opaque;
	ssize_t n;

	(void)st;
	do
		n = read(fd, data, nbytes);
	while (n < 0 && errno == EINTR);
	return (int)n;
}

/* upload the local file path as volume name of dest's pool dp (replacing one there) */
static int media_upload(virConnectPtr dc, virStoragePoolPtr dp, const char *dest_uri,
    const char *name, const char *path, GError **err)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	virStorageVolPtr dv = NULL, old;
	virStreamPtr st = NULL;
	g_autofree char *xml = NULL;
	int rc = -1;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "medium '%s': %s", path, g_strerror(errno));
		goto out;
	}
	if ((old = virStorageVolLookupByName(dp, name)) != NULL) {
		virStorageVolDelete(old, 0);
		virStorageVolFree(old);
	}
	xml = g_strdup_printf("<volume><name>%s</name><capacity unit='bytes'>%lld</capacity>"
	    "<target><format type='raw'/></target></volume>", name, (long long)sb.st_size);
	if (!(dv = virStorageVolCreateXML(dp, xml, 0))) {
		media_lv_error(err, "create volume '%s' in pool '%s' on %s", name, VIRT_MEDIA_POOL,
		    dest_uri);
		goto out;
	}
	if (!(st = virStreamNew(dc, 0)) ||
	    virStorageVolUpload(dv, st, 0, (unsigned long long)sb.st_size, 0) < 0 ||
	    virStreamSendAll(st, media_send, &fd) < 0 || virStreamFinish(st) < 0) {
		media_lv_error(err, "upload volume '%s' to pool '%s' on %s", name, VIRT_MEDIA_POOL,
		    dest_uri);
		if (st)
			virStreamAbort(st);
		virStorageVolDelete(dv, 0);
		goto out;
	}
	rc = 0;
out:
	if (st)
		virStreamFree(st);
	if (dv)
		virStorageVolFree(dv);
	if (fd >= 0)
		close(fd);
	return rc;
}

int virt_media_copy_to(virt *src, const char *dest_uri, const char *domname, GError **err)
{
	virStoragePoolPtr sp = NULL, dp = NULL;
	virConnectPtr dc = NULL;
	int rc = -1, copied = 0;

	if (media_no_pool(virt_conn(src)))
		return 0;	/* no pool, no media */
	if (!(sp = media_pool(virt_conn(src), virt_uri(src), err)))
		return -1;
	virStoragePoolRefresh(sp, 0);
	for (size_t k = 0; k < G_N_ELEMENTS(media_kinds); k++) {
		g_autofree char *name = virt_media_volume(domname, media_kinds[k]);
		virStorageVolPtr vol = virStorageVolLookupByName(sp, name);
		g_autofree char *path = NULL;

		if (!vol)
			continue;	/* this domain has no such medium */
		path = virStorageVolGetPath(vol);
		virStorageVolFree(vol);
		if (!path) {
			media_lv_error(err, "volume '%s' on %s", name, virt_uri(src));
			goto out;
		}
		if (!dc) {
			if (!(dc = virConnectOpen(dest_uri))) {
				media_lv_error(err, "connect to %s", dest_uri);
				goto out;
			}
			if (!(dp = media_pool(dc, dest_uri, err)))
				goto out;
		}
		if (media_upload(dc, dp, dest_uri, name, path, err) < 0)
			goto out;
		copied++;
	}
	rc = copied;
out:
	if (rc < 0 && dc && copied > 0)	/* leave nothing half there */
		media_remove_conn(dc, dest_uri, domname, NULL);
	if (dp)
		virStoragePoolFree(dp);
	if (dc)
		virConnectClose(dc);
	virStoragePoolFree(sp);
	return rc;
}
