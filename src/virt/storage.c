/* storage: the disks of nube's VMs — the per-host "nube" dir pool, the decision of what a VM
 * boots (test guest, its kernel, its image direct or through an overlay), overlays, deleting a
 * domain's volumes, and carrying them to a migration's destination */
#include "virt/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "wire/names.h"

static const char *const volume_suffixes[] = VIRT_VOLUME_SUFFIXES;

char *
virt_volume_path(const virt *v, const char *name)
{
	return g_build_filename(v->disk_dir, name, NULL);
}

/* ---------------------------------------------------------------- images */

int
virt_image_probe(const char *path, const char **format, uint64_t *capacity, GError **err)
{
	unsigned char h[32] = { 0 };
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "image '%s': %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		g_set_error(err, VIRT_ERROR, 0, "image '%s': not a regular file or block device", path);
		return -1;
	}
	n = read(fd, h, sizeof h);
	close(fd);
	if (n == (ssize_t)sizeof h && strcmp(proto_image_format_of(h, sizeof h), "qcow2") == 0) {
		/* qcow2 header: version (4 bytes BE) at 4, virtual size (8 bytes BE) at 24 */
		uint64_t size = 0;

		for (int i = 0; i < 8; i++)
			size = size << 8 | h[24 + i];
		*format = "qcow2";
		*capacity = size;
		return 0;
	}
	*format = "raw";
	*capacity = (uint64_t)st.st_size;
	return 0;
}

static bool
is_file(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* ---------------------------------------------------------------- the pool */

/* the target path of a pool's XML description, NULL when unreadable */
static char *
pool_target(virStoragePoolPtr pool)
{
	g_autofree char *xml = virStoragePoolGetXMLDesc(pool, 0);
	char *path = NULL;
	xmlDocPtr doc;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;

	if (xml == NULL)
		return NULL;
	doc = xmlReadMemory(xml, (int)strlen(xml), "pool.xml", NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return NULL;
	xc = xmlXPathNewContext(doc);
	r = xmlXPathEvalExpression(BAD_CAST "string(/pool/target/path)", xc);
	if (r != NULL && r->stringval != NULL && r->stringval[0] != '\0')
		path = g_strdup((const char *)r->stringval);
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	return path;
}

/* the dir pool name on dir: defined, built, started, autostarted, refreshed */
static int
pool_ensure_named(virt *v, const char *name, const char *dir, const char *key, GError **err)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(v->conn, name);
	int rc = -1;

	if (pool == NULL) {
		g_autofree char *edir = g_markup_escape_text(dir, -1);
		g_autofree char *xml = g_strdup_printf("<pool type='dir'><name>%s</name><target>"
		    "<path>%s</path><permissions><mode>0711</mode></permissions></target></pool>",
		    name, edir);

		pool = virStoragePoolDefineXML(v->conn, xml, 0);
		if (pool == NULL) {
			virt_set_error(err, "define storage pool '%s' on '%s' (%s)", name, dir, v->uri);
			return -1;
		}
	} else {
		g_autofree char *target = pool_target(pool);

		if (target == NULL || strcmp(target, dir) != 0) {
			g_set_error(err, VIRT_ERROR, 0, "storage pool '%s' on %s has directory '%s', "
			    "this host's [guest] %s is '%s' (undefine the pool or change %s)", name,
			    v->uri, target != NULL ? target : "?", key, dir, key);
			goto out;
		}
	}
	if (virStoragePoolIsActive(pool) != 1) {
		/* build makes the directory (no-op when it exists) */
		if (virStoragePoolBuild(pool, 0) < 0 && g_mkdir_with_parents(dir, 0711) < 0) {
			virt_set_error(err, "build storage pool '%s' (%s)", name, dir);
			goto out;
		}
		if (virStoragePoolCreate(pool, 0) < 0) {
			virt_set_error(err, "start storage pool '%s' (%s)", name, dir);
			goto out;
		}
	}
	if (virStoragePoolSetAutostart(pool, 1) < 0) {
		virt_set_error(err, "autostart storage pool '%s'", name);
		goto out;
	}
	if (virStoragePoolRefresh(pool, 0) < 0) {
		virt_set_error(err, "refresh storage pool '%s'", name);
		goto out;
	}
	rc = 0;
out:
	virStoragePoolFree(pool);
	return rc;
}

int
virt_pool_ensure(virt *v, GError **err)
{
	if (pool_ensure_named(v, VIRT_POOL, v->disk_dir, "disk_dir", err) < 0)
		return -1;
	return pool_ensure_named(v, VIRT_IMAGE_POOL, v->image_dir, "image_dir", err);
}

/* the active, refreshed pool of conn, or NULL + err */
static virStoragePoolPtr
pool_of(virConnectPtr conn, const char *uri, const char *name, GError **err)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(conn, name);

	if (pool == NULL) {
		virt_set_error(err, "storage pool '%s' on %s (is its nubed running?)", name, uri);
		return NULL;
	}
	if (virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0) {
		virt_set_error(err, "start storage pool '%s' on %s", name, uri);
		virStoragePoolFree(pool);
		return NULL;
	}
	if (virStoragePoolRefresh(pool, 0) < 0) {
		virt_set_error(err, "refresh storage pool '%s' on %s", name, uri);
		virStoragePoolFree(pool);
		return NULL;
	}
	return pool;
}

GPtrArray *
virt_volumes_list(virt *v, GError **err)
{
	virStoragePoolPtr pool = pool_of(v->conn, v->uri, VIRT_POOL, err);
	virStorageVolPtr *vols = NULL;
	GPtrArray *out;
	int n;

	if (pool == NULL)
		return NULL;
	n = virStoragePoolListAllVolumes(pool, &vols, 0);
	if (n < 0) {
		virt_set_error(err, "list the volumes of pool '%s' on %s", VIRT_POOL, v->uri);
		virStoragePoolFree(pool);
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < n; i++) {
		g_ptr_array_add(out, g_strdup(virStorageVolGetName(vols[i])));
		virStorageVolFree(vols[i]);
	}
	free(vols);
	virStoragePoolFree(pool);
	return out;
}

/* delete volume name of pool (absent: 0); 1 when deleted, -1 + err */
static int
volume_delete(virStoragePoolPtr pool, const char *uri, const char *name, GError **err)
{
	virStorageVolPtr vol = virStorageVolLookupByName(pool, name);
	int rc = 1;

	if (vol == NULL)
		return 0;
	if (virStorageVolDelete(vol, 0) < 0) {
		virt_set_error(err, "delete volume '%s' of pool '%s' on %s", name, VIRT_POOL, uri);
		rc = -1;
	}
	virStorageVolFree(vol);
	return rc;
}

static int
volumes_delete_on(virConnectPtr conn, const char *uri, const char *domname, GError **err)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(conn, VIRT_POOL);
	int n = 0;

	if (pool == NULL)
		return 0;	/* no pool: no volume of nube's on this host */
	if (virStoragePoolIsActive(pool) != 1 || virStoragePoolRefresh(pool, 0) < 0) {
		virt_set_error(err, "refresh storage pool '%s' on %s", VIRT_POOL, uri);
		virStoragePoolFree(pool);
		return -1;
	}
	for (int i = 0; volume_suffixes[i] != NULL; i++) {
		g_autofree char *name = g_strconcat(domname, volume_suffixes[i], NULL);
		int r = volume_delete(pool, uri, name, err);

		if (r < 0) {
			virStoragePoolFree(pool);
			return -1;
		}
		n += r;
	}
	virStoragePoolFree(pool);
	return n;
}

int
virt_volumes_delete(virt *v, const char *domname, GError **err)
{
	/* a container's layer is one of its volumes */
	if (virt_lxc_layer_remove(v, domname, err) < 0)
		return -1;
	return volumes_delete_on(v->conn, v->uri, domname, err);
}

/* ---------------------------------------------------------------- what a VM boots */

/* other domains of this host that have path (the same file, however spelled) as a disk:
 * their names, comma-separated, or NULL */
static char *
disk_users(virt *v, const char *path, const char *except)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(v->conn, &doms, 0);
	GString *users = g_string_new(NULL);
	struct stat want;
	bool by_inode = stat(path, &want) == 0;

	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		g_autofree char *xml = NULL;
		xmlDocPtr doc;

		if (g_strcmp0(name, except) == 0 || (xml = virDomainGetXMLDesc(doms[i], 0)) == NULL)
			goto next;
		doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET |
		    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		if (doc != NULL) {
			xmlXPathContextPtr xc = xmlXPathNewContext(doc);
			xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST
			    "/domain/devices/disk/source/@file", xc);

			for (int k = 0; r != NULL && r->nodesetval != NULL &&
			    k < r->nodesetval->nodeNr; k++) {
				xmlChar *f = xmlNodeGetContent(r->nodesetval->nodeTab[k]);
				struct stat st;

				if (f != NULL && (strcmp((const char *)f, path) == 0 || (by_inode &&
				    stat((const char *)f, &st) == 0 && st.st_dev == want.st_dev &&
				    st.st_ino == want.st_ino)))
					g_string_append_printf(users, "%s'%s'", users->len ? ", " : "",
					    name);
				xmlFree(f);
			}
			xmlXPathFreeObject(r);
			xmlXPathFreeContext(xc);
			xmlFreeDoc(doc);
		}
next:
		virDomainFree(doms[i]);
	}
	free(doms);
	if (users->len == 0) {
		g_string_free(users, TRUE);
		return NULL;
	}
	return g_string_free(users, FALSE);
}

void
virt_vm_disk_clear(virt_vm_disk *d)
{
	g_clear_pointer(&d->disk, g_free);
	g_clear_pointer(&d->image, g_free);
}

int
virt_vm_disk_decide(virt *v, const scenario *s, const proto_deployment *dep, const sc_vm *vm,
    virt_vm_disk *d, GPtrArray *warnings, GError **err)
{
	g_autofree char *domname = proto_domain_name(s->name, vm->name);
	const proto_vm_place *pl = dep != NULL ? proto_deployment_vm(dep, vm->name) : NULL;
	bool direct = vm->fs_type != NULL && g_ascii_strcasecmp(vm->fs_type, "direct") == 0;
	g_autofree char *cached = NULL;
	const char *missing = NULL, *what = NULL;

	memset(d, 0, sizeof *d);
	d->boot = VIRT_BOOT_TEST_GUEST;
	d->kernel = v->kernel;
	d->initrd = v->initrd;
	if (vm->kernel != NULL) {
		if (!is_file(vm->kernel)) {
			missing = vm->kernel;
			what = "kernel";
		} else if (vm->initrd != NULL && !is_file(vm->initrd)) {
			missing = vm->initrd;
			what = "initrd";
		} else {
			d->boot = VIRT_BOOT_KERNEL;
			d->kernel = vm->kernel;
			d->initrd = vm->initrd;
		}
	}
	/* a copy-on-write image the operator has: this host's copy of that content */
	if (missing == NULL && vm->filesystem != NULL && !direct && pl != NULL &&
	    pl->image_sha256 != NULL) {
		g_autofree char *vol = proto_image_volume(pl->image_sha256, pl->image_format);

		cached = g_build_filename(v->image_dir, vol, NULL);
		if (!is_file(cached)) {
			g_set_error(err, VIRT_ERROR, 0, "vm '%s': image '%s' (sha256 %.12s...) is not in "
			    "this host's image cache %s", vm->name, vm->filesystem, pl->image_sha256,
			    v->image_dir);
			return -1;
		}
	}
	if (missing == NULL && vm->filesystem != NULL) {
		const char *file = cached != NULL ? cached : vm->filesystem;

		if (!is_file(file)) {
			missing = vm->filesystem;
			what = "filesystem";
		} else {
			uint64_t cap;

			if (virt_image_probe(file, &d->image_format, &cap, err) < 0)
				return -1;
			d->image = g_strdup(file);
			d->capacity = cap;
			d->overlay = !direct;
			if (d->overlay) {
				g_autofree char *vol = g_strconcat(domname, ".qcow2", NULL);

				d->disk = virt_volume_path(v, vol);
				d->disk_format = "qcow2";
			} else {
				d->disk = g_strdup(file);
				d->disk_format = d->image_format;
			}
			if (d->boot == VIRT_BOOT_TEST_GUEST)
				d->boot = VIRT_BOOT_DISK;
		}
	}
	if (missing != NULL) {
		virt_vm_disk_clear(d);
		memset(d, 0, sizeof *d);
		if (!v->missing_image_fallback) {
			g_set_error(err, VIRT_ERROR, 0, "vm '%s': %s '%s' not found on this host",
			    vm->name, what, missing);
			return -1;
		}
		d->boot = VIRT_BOOT_TEST_GUEST;
		d->kernel = v->kernel;
		d->initrd = v->initrd;
		if (warnings != NULL)
			g_ptr_array_add(warnings, g_strdup_printf("vm '%s': %s '%s' not found on this "
			    "host, booting the test guest instead ([guest] missing_image = "
			    "test-guest)", vm->name, what, missing));
	}
	return 0;
}

int
virt_vm_disks_check(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname,
    GError **err)
{
	const sc_vm *vm = scenario_vm((scenario *)s, vmname);
	virt_vm_disk d;
	int rc = 0;

	if (vm == NULL) {
		g_set_error(err, VIRT_ERROR, 0, "scenario '%s' has no vm '%s'", s->name, vmname);
		return -1;
	}
	switch (virt_lxc_decide(v, dep, vm, NULL, err)) {
	case -1: return -1;
	case 1: return 0;	/* a container: its rootfs is here */
	}
	if (virt_vm_disk_decide(v, s, dep, vm, &d, NULL, err) < 0)
		return -1;
	if (d.image != NULL && !d.overlay) {
		g_autofree char *domname = proto_domain_name(s->name, vm->name);
		g_autofree char *users = disk_users(v, d.image, domname);

		if (users != NULL) {
			g_set_error(err, VIRT_ERROR, 0, "vm '%s': filesystem '%s' (type \"direct\") is "
			    "already a disk of %s on this host; a direct image has one user (use "
			    "type=\"cow\" to share it)", vm->name, d.image, users);
			rc = -1;
		}
	}
	virt_vm_disk_clear(&d);
	return rc;
}

/* create volume name on pool: a qcow2 overlay of capacity bytes on backing (format bfmt),
 * or, backing NULL, an empty volume of format fmt; 0 or -1 + err */
static int
volume_create(virStoragePoolPtr pool, const char *uri, const char *name, uint64_t capacity,
    const char *fmt, const char *backing, const char *bfmt, GError **err)
{
	g_autofree char *ename = g_markup_escape_text(name, -1);
	g_autofree char *eback = backing != NULL ? g_markup_escape_text(backing, -1) : NULL;
	g_autofree char *xml = g_strdup_printf("<volume type='file'><name>%s</name>"
	    "<capacity unit='bytes'>%" G_GUINT64_FORMAT "</capacity><target><format type='%s'/>"
	    "<permissions><mode>0600</mode></permissions></target>%s%s%s%s%s</volume>", ename,
	    capacity, fmt, backing != NULL ? "<backingStore><path>" : "", backing != NULL ? eback : "",
	    backing != NULL ? "</path><format type='" : "", backing != NULL ? bfmt : "",
	    backing != NULL ? "'/></backingStore>" : "");
	virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);

	if (vol == NULL) {
		virt_set_error(err, "create volume '%s' in pool '%s' on %s", name, VIRT_POOL, uri);
		return -1;
	}
	virStorageVolFree(vol);
	return 0;
}

int
virt_vm_disks_prepare(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, GError **err)
{
	const sc_vm *vm = scenario_vm((scenario *)s, vmname);
	g_autofree char *domname = NULL, *vol = NULL;
	virStoragePoolPtr pool;
	virDomainPtr dom;
	virt_vm_disk d;
	int rc = -1;

	if (vm == NULL) {
		g_set_error(err, VIRT_ERROR, 0, "scenario '%s' has no vm '%s'", s->name, vmname);
		return -1;
	}
	switch (virt_lxc_decide(v, dep, vm, NULL, err)) {
	case -1: return -1;
	case 1: return virt_lxc_prepare(v, s, dep, vm, 0, err);	/* its layer, configured */
	}
	if (virt_vm_disk_decide(v, s, dep, vm, &d, NULL, err) < 0)
		return -1;
	if (d.image == NULL || !d.overlay) {
		virt_vm_disk_clear(&d);
		return 0;
	}
	domname = proto_domain_name(s->name, vm->name);
	dom = virDomainLookupByName(v->conn, domname);
	if (dom != NULL && is_file(d.disk)) {	/* a redeploy: the domain keeps its disk */
		virDomainFree(dom);
		virt_vm_disk_clear(&d);
		return 0;
	}
	if (dom != NULL)
		virDomainFree(dom);
	pool = pool_of(v->conn, v->uri, VIRT_POOL, err);
	if (pool == NULL)
		goto out;
	vol = g_strconcat(domname, ".qcow2", NULL);
	if (volume_delete(pool, v->uri, vol, err) < 0 ||
	    volume_create(pool, v->uri, vol, d.capacity, "qcow2", d.image, d.image_format, err) < 0) {
		g_prefix_error(err, "vm '%s': overlay on '%s': ", vm->name, d.image);
		virStoragePoolFree(pool);
		goto out;
	}
	virStoragePoolFree(pool);
	/* a cached image's mtime is its last use: the cache evicts the least recent first */
	if (g_str_has_prefix(d.image, v->image_dir) && utimensat(AT_FDCWD, d.image, NULL, 0) < 0)
		g_debug("touch '%s': %s", d.image, g_strerror(errno));
	rc = 0;
out:
	virt_vm_disk_clear(&d);
	return rc;
}

/* ---------------------------------------------------------------- migration */

/* one pool volume of a domain, as found in its XML and the pool */
typedef struct {
	char *name;		/* volume name */
	char *target;		/* the disk's target dev, e.g. "vda" */
	bool readonly;		/* a medium: uploaded; else an overlay: mirrored */
	uint64_t capacity;
	char *format;		/* of the volume */
	char *backing;		/* its backing image, NULL if none */
	char *backing_format;
} pool_disk;

static void
pool_disk_free(gpointer p)
{
	pool_disk *d = p;

	g_free(d->name);
	g_free(d->target);
	g_free(d->format);
	g_free(d->backing);
	g_free(d->backing_format);
	g_free(d);
}

static char *
xpath_string(xmlXPathContextPtr xc, const char *expr)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, xc);
	char *out = NULL;

	if (r != NULL && r->stringval != NULL && r->stringval[0] != '\0')
		out = g_strdup((const char *)r->stringval);
	xmlXPathFreeObject(r);
	return out;
}

/* fill capacity, format and backing of d from the volume's XML; 0 or -1 + err */
static int
volume_describe(virStorageVolPtr vol, pool_disk *d, GError **err)
{
	g_autofree char *xml = virStorageVolGetXMLDesc(vol, 0);
	g_autofree char *cap = NULL;
	xmlDocPtr doc;
	xmlXPathContextPtr xc;

	if (xml == NULL) {
		virt_set_error(err, "describe volume '%s'", d->name);
		return -1;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "vol.xml", NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		g_set_error(err, VIRT_ERROR, 0, "volume '%s': unreadable description", d->name);
		return -1;
	}
	xc = xmlXPathNewContext(doc);
	cap = xpath_string(xc, "string(/volume/capacity)");
	d->capacity = cap != NULL ? g_ascii_strtoull(cap, NULL, 10) : 0;
	d->format = xpath_string(xc, "string(/volume/target/format/@type)");
	d->backing = xpath_string(xc, "string(/volume/backingStore/path)");
	d->backing_format = xpath_string(xc, "string(/volume/backingStore/format/@type)");
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	if (d->format == NULL)
		d->format = g_strdup("raw");
	if (d->backing != NULL && d->backing_format == NULL)
		d->backing_format = g_strdup("raw");
	return 0;
}

/* the pool volumes a running domain uses (of pool_disk*), or NULL + err */
static GPtrArray *
domain_pool_disks(virt *v, virDomainPtr dom, GError **err)
{
	g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
	g_autofree char *prefix = g_strconcat(v->disk_dir, "/", NULL);
	GPtrArray *out;
	xmlDocPtr doc;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;
	virStoragePoolPtr pool;

	if (xml == NULL) {
		virt_set_error(err, "domain '%s': XML", virDomainGetName(dom));
		return NULL;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		g_set_error(err, VIRT_ERROR, 0, "domain '%s': unreadable XML", virDomainGetName(dom));
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(pool_disk_free);
	xc = xmlXPathNewContext(doc);
	r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk[source/@file]", xc);
	for (int i = 0; r != NULL && r->nodesetval != NULL && i < r->nodesetval->nodeNr; i++) {
		g_autofree char *file = NULL;
		pool_disk *d;

		xc->node = r->nodesetval->nodeTab[i];
		file = xpath_string(xc, "string(source/@file)");
		if (file == NULL || !g_str_has_prefix(file, prefix) ||
		    strchr(file + strlen(prefix), '/') != NULL)
			continue;
		d = g_new0(pool_disk, 1);
		d->name = g_strdup(file + strlen(prefix));
		d->target = xpath_string(xc, "string(target/@dev)");
		{
			xmlXPathObjectPtr ro = xmlXPathEvalExpression(BAD_CAST
			    "boolean(readonly) or @device = 'cdrom'", xc);

			d->readonly = ro != NULL && ro->boolval;
			xmlXPathFreeObject(ro);
		}
		g_ptr_array_add(out, d);
	}
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	if (out->len == 0)
		return out;
	pool = pool_of(v->conn, v->uri, VIRT_POOL, err);
	if (pool == NULL) {
		g_ptr_array_unref(out);
		return NULL;
	}
	for (guint i = 0; i < out->len; i++) {
		pool_disk *d = out->pdata[i];
		virStorageVolPtr vol = virStorageVolLookupByName(pool, d->name);

		if (vol == NULL) {
			virt_set_error(err, "volume '%s' of pool '%s' on %s", d->name, VIRT_POOL,
			    v->uri);
			goto fail;
		}
		if (volume_describe(vol, d, err) < 0) {
			virStorageVolFree(vol);
			goto fail;
		}
		virStorageVolFree(vol);
	}
	virStoragePoolFree(pool);
	return out;
fail:
	virStoragePoolFree(pool);
	g_ptr_array_unref(out);
	return NULL;
}

/* copy the content of volume sname of pool sp (this host) into volume dname of pool dp (on
 * dc), which exists; progress (may be NULL) about twice a second */
static int
volume_upload(virt *v, virConnectPtr dc, const char *duri, virStoragePoolPtr sp,
    const char *sname, virStoragePoolPtr dp, const char *dname,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	virStorageVolPtr sv = virStorageVolLookupByName(sp, sname);
	virStorageVolPtr dv = sv != NULL ? virStorageVolLookupByName(dp, dname) : NULL;
	virStreamPtr in = NULL, out = NULL;
	gint64 last = g_get_monotonic_time();
	uint64_t sent = 0, total = 0;
	char *buf = NULL;
	int rc = -1;

	if (sv == NULL || dv == NULL) {
		virt_set_error(err, "volume '%s'", sv == NULL ? sname : dname);
		goto done;
	}
	{
		/* a file volume's bytes: its file size (a qcow2's capacity is its virtual size) */
		g_autofree char *sp_path = virStorageVolGetPath(sv);
		struct stat st;

		if (sp_path != NULL && stat(sp_path, &st) == 0)
			total = (uint64_t)st.st_size;
	}
	in = virStreamNew(v->conn, 0);
	out = virStreamNew(dc, 0);
	if (in == NULL || out == NULL || virStorageVolDownload(sv, in, 0, 0, 0) < 0) {
		virt_set_error(err, "read volume '%s' on %s", sname, v->uri);
		goto done;
	}
	if (virStorageVolUpload(dv, out, 0, 0, 0) < 0) {
		virt_set_error(err, "write volume '%s' on %s", dname, duri);
		virStreamAbort(in);
		goto done;
	}
	buf = g_malloc(1 << 20);
	for (;;) {
		int n = virStreamRecv(in, buf, 1 << 20);

		if (n < 0) {
			virt_set_error(err, "read volume '%s' on %s", sname, v->uri);
			virStreamAbort(out);
			goto done;
		}
		if (n == 0)
			break;
		for (int off = 0; off < n;) {
			int w = virStreamSend(out, buf + off, (size_t)(n - off));

			if (w < 0) {
				virt_set_error(err, "write volume '%s' on %s", dname, duri);
				virStreamAbort(in);
				goto done;
			}
			off += w;
		}
		sent += (uint64_t)n;
		if (progress != NULL && g_get_monotonic_time() - last >= G_USEC_PER_SEC / 2) {
			last = g_get_monotonic_time();
			progress(sent, total, ud);
		}
	}
	if (virStreamFinish(in) < 0 || virStreamFinish(out) < 0) {
		virt_set_error(err, "copy volume '%s' to %s", sname, duri);
		goto done;
	}
	rc = 0;
done:
	g_free(buf);
	if (in != NULL)
		virStreamFree(in);
	if (out != NULL)
		virStreamFree(out);
	if (sv != NULL)
		virStorageVolFree(sv);
	if (dv != NULL)
		virStorageVolFree(dv);
	return rc;
}

int
virt_migrate_volumes_send(virt *v, virConnectPtr dc, const char *duri, virDomainPtr dom,
    GPtrArray *made, GPtrArray *mirror, GError **err)
{
	g_autoptr(GPtrArray) disks = domain_pool_disks(v, dom, err);
	virStoragePoolPtr sp = NULL, dp = NULL;
	int rc = -1;

	if (disks == NULL)
		return -1;
	if (disks->len == 0)
		return 0;
	sp = pool_of(v->conn, v->uri, VIRT_POOL, err);
	dp = sp != NULL ? pool_of(dc, duri, VIRT_POOL, err) : NULL;
	if (dp == NULL)
		goto out;
	for (guint i = 0; i < disks->len; i++) {
		pool_disk *d = disks->pdata[i];

		if (volume_delete(dp, duri, d->name, err) < 0)
			goto out;
		if (d->readonly) {
			if (volume_create(dp, duri, d->name, d->capacity, d->format, NULL, NULL,
			    err) < 0)
				goto out;
			g_ptr_array_add(made, g_strdup(d->name));
			if (volume_upload(v, dc, duri, sp, d->name, dp, d->name, NULL, NULL, err) < 0)
				goto out;
		} else {
			if (volume_create(dp, duri, d->name, d->capacity, d->format, d->backing,
			    d->backing_format, err) < 0) {
				if (d->backing != NULL)
					g_prefix_error(err, "(is the image '%s' there?) ", d->backing);
				goto out;
			}
			g_ptr_array_add(made, g_strdup(d->name));
			if (d->target != NULL)
				g_ptr_array_add(mirror, g_strdup(d->target));
		}
	}
	rc = 0;
out:
	if (sp != NULL)
		virStoragePoolFree(sp);
	if (dp != NULL)
		virStoragePoolFree(dp);
	return rc;
}

void
virt_migrate_volumes_undo(virConnectPtr dc, const char *duri, GPtrArray *made)
{
	virStoragePoolPtr dp;

	if (made->len == 0 || (dp = virStoragePoolLookupByName(dc, VIRT_POOL)) == NULL)
		return;
	virStoragePoolRefresh(dp, 0);
	for (guint i = 0; i < made->len; i++) {
		GError *e = NULL;

		volume_delete(dp, duri, made->pdata[i], &e);
		g_clear_error(&e);
	}
	virStoragePoolFree(dp);
}

/* ---------------------------------------------------------------- the image cache */

bool
virt_image_present(virt *v, const char *sha256, const char *format)
{
	g_autofree char *vol = proto_image_volume(sha256, format);
	g_autofree char *path = g_build_filename(v->image_dir, vol, NULL);

	return is_file(path);
}

/* sha256 of a file as 64 hex digits (new string), NULL + err */
static char *
file_sha256(const char *path, GError **err)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	char *buf = g_malloc(1 << 20), *out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		g_set_error(err, VIRT_ERROR, errno, "'%s': %s", path, g_strerror(errno));
		goto done;
	}
	while ((n = read(fd, buf, 1 << 20)) > 0)
		g_checksum_update(ck, (const guchar *)buf, n);
	if (n < 0)
		g_set_error(err, VIRT_ERROR, errno, "read '%s': %s", path, g_strerror(errno));
	else
		out = g_strdup(g_checksum_get_string(ck));
	close(fd);
done:
	g_free(buf);
	g_checksum_free(ck);
	return out;
}

void
virt_pool_refresh(virt *v, const char *name)
{
	virStoragePoolPtr p = v->conn != NULL ? virStoragePoolLookupByName(v->conn, name) : NULL;

	if (p != NULL) {
		virStoragePoolRefresh(p, 0);
		virStoragePoolFree(p);
	} else
		virResetLastError();
}

int
virt_image_commit(virt *v, const char *sha256, const char *format, GError **err)
{
	g_autofree char *part = g_strdup_printf("%s/%s.part", v->image_dir, sha256);
	g_autofree char *vol = proto_image_volume(sha256, format);
	g_autofree char *final = g_build_filename(v->image_dir, vol, NULL);
	g_autofree char *sum = NULL;
	int rc = -1;

	if (is_file(final)) {
		unlink(part);
		rc = 0;
		goto out;
	}
	sum = file_sha256(part, err);
	if (sum == NULL) {
		g_prefix_error(err, "image %.12s...: ", sha256);
		goto out;
	}
	if (strcmp(sum, sha256) != 0) {
		g_set_error(err, VIRT_ERROR, 0, "image %.12s...: the upload's sha256 is %s, not %s "
		    "(dropped)", sha256, sum, sha256);
		unlink(part);
		goto out;
	}
	if (chmod(part, 0644) < 0 || rename(part, final) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "image %.12s...: name it '%s': %s", sha256, final,
		    g_strerror(errno));
		goto out;
	}
	rc = 0;
out:
	virt_pool_refresh(v, VIRT_IMAGE_POOL);
	return rc;
}

/* send_volume: copy volume src_vol of this host's pool (a file of bytes bytes) to volume
 * dst_vol of the same pool on dest_uri over libvirt streams (delete, create, upload; a
 * failed upload leaves nothing there). in_cache: say a missing source is not in this host's
 * image cache. */
static int
send_volume(virt *v, const char *dest_uri, const char *pool, const char *src_vol,
    const char *dst_vol, uint64_t bytes, bool in_cache,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	virConnectPtr dc = virConnectOpen(dest_uri);
	virStoragePoolPtr sp = NULL, dp = NULL;
	virStorageVolPtr sv = NULL;
	int rc = -1;

	if (dc == NULL) {
		virt_set_error(err, "connect to %s", dest_uri);
		return -1;
	}
	sp = pool_of(v->conn, v->uri, pool, err);
	dp = sp != NULL ? pool_of(dc, dest_uri, pool, err) : NULL;
	if (dp == NULL)
		goto out;
	if (in_cache && (sv = virStorageVolLookupByName(sp, src_vol)) == NULL) {
		virt_set_error(err, "image '%s' in this host's cache", src_vol);
		goto out;
	}
	if (volume_delete(dp, dest_uri, dst_vol, err) < 0 ||
	    volume_create(dp, dest_uri, dst_vol, bytes, "raw", NULL, NULL, err) < 0)
		goto out;
	if (volume_upload(v, dc, dest_uri, sp, src_vol, dp, dst_vol, progress, ud, err) < 0) {
		GError *e2 = NULL;

		volume_delete(dp, dest_uri, dst_vol, &e2);
		g_clear_error(&e2);
		goto out;
	}
	rc = 0;
out:
	if (sv != NULL)
		virStorageVolFree(sv);
	if (sp != NULL)
		virStoragePoolFree(sp);
	if (dp != NULL)
		virStoragePoolFree(dp);
	virConnectClose(dc);
	return rc;
}

int
virt_image_send(virt *v, const char *dest_uri, const char *sha256, const char *format,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	g_autofree char *vol = proto_image_volume(sha256, format);
	g_autofree char *part = g_strdup_printf("%s.part", sha256);
	g_autofree char *path = g_build_filename(v->image_dir, vol, NULL);
	struct stat st;

	/* the file's bytes, not the volume's capacity (a qcow2's virtual size) */
	if (stat(path, &st) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "image '%s': %s", path, g_strerror(errno));
		return -1;
	}
	return send_volume(v, dest_uri, VIRT_IMAGE_POOL, vol, part, (uint64_t)st.st_size, true,
	    progress, ud, err);
}

char *
virt_domain_image(virt *v, const char *domname)
{
	g_autofree char *vol = g_strconcat(domname, ".qcow2", NULL);
	g_autofree char *prefix = g_strconcat(v->image_dir, "/", NULL);
	virStoragePoolPtr pool = virStoragePoolLookupByName(v->conn, VIRT_POOL);
	virStorageVolPtr sv;
	pool_disk d = { .name = (char *)vol };
	char *out = NULL;

	if (pool == NULL)
		return NULL;
	virStoragePoolRefresh(pool, 0);
	sv = virStorageVolLookupByName(pool, vol);
	if (sv != NULL) {
		GError *e = NULL;

		if (volume_describe(sv, &d, &e) == 0 && d.backing != NULL &&
		    g_str_has_prefix(d.backing, prefix) && strchr(d.backing + strlen(prefix), '/') == NULL)
			out = g_strdup(d.backing + strlen(prefix));
		g_clear_error(&e);
		g_free(d.format);
		g_free(d.backing);
		g_free(d.backing_format);
		virStorageVolFree(sv);
	}
	virStoragePoolFree(pool);
	return out;
}

/* ---------------------------------------------------------------- cache eviction */

typedef struct {
	char *name;		/* "<sha256>.<format>" */
	uint64_t bytes;		/* allocated */
	struct timespec used;	/* mtime: committed or last booted from */
} cached_image;

static void
cached_image_free(gpointer p)
{
	cached_image *c = p;

	g_free(c->name);
	g_free(c);
}

static gint
older_first(gconstpointer a, gconstpointer b)
{
	const cached_image *x = *(cached_image *const *)a, *y = *(cached_image *const *)b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return g_strcmp0(x->name, y->name);
}

int
virt_image_evict(virt *v, uint64_t max_mib, const GPtrArray *in_use, GPtrArray *evicted,
    GError **err)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(cached_image_free);
	g_autoptr(GDir) dp = NULL;
	uint64_t total = 0, max = max_mib * 1048576ull;
	const char *n;
	int rc = 0;

	if (max_mib == 0)
		return 0;
	if ((dp = g_dir_open(v->image_dir, 0, err)) == NULL)
		return -1;
	while ((n = g_dir_read_name(dp)) != NULL) {
		g_autofree char *path = g_build_filename(v->image_dir, n, NULL);
		g_autofree char *sha = NULL;
		const char *fmt;
		struct stat st;
		cached_image *c;

		if (proto_image_volume_parse(n, &sha, &fmt) < 0 || stat(path, &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;	/* uploads under way (".part") and strangers stay */
		c = g_new0(cached_image, 1);
		c->name = g_strdup(n);
		c->bytes = (uint64_t)st.st_blocks * 512;
		c->used = st.st_mtim;
		total += c->bytes;
		g_ptr_array_add(all, c);
	}
	/* containers' rootfs folders by content ("<sha256>.rootfs"): their files' bytes, the
	 * folder's mtime (named, or last layered on) */
	{
		g_autofree char *rdir = g_build_filename(v->container_dir, VIRT_ROOTFS_SUB, NULL);
		g_autoptr(GDir) rp = g_dir_open(rdir, 0, NULL);

		while (rp != NULL && (n = g_dir_read_name(rp)) != NULL) {
			g_autofree char *path = g_build_filename(rdir, n, NULL);
			uint64_t bytes = 0;
			struct stat st;
			cached_image *c;
			char *stamp;

			if (!proto_sha256_ok(n) || stat(path, &st) < 0 || !S_ISDIR(st.st_mode) ||
			    (stamp = virt_tree_stamp(path, &bytes, NULL)) == NULL)
				continue;	/* unpacking ("<sha256>.part") and strangers stay */
			g_free(stamp);
			c = g_new0(cached_image, 1);
			c->name = g_strconcat(n, VIRT_ROOTFS_SUFFIX, NULL);
			c->bytes = bytes;
			c->used = st.st_mtim;
			total += c->bytes;
			g_ptr_array_add(all, c);
		}
	}
	if (total <= max)
		return 0;
	g_ptr_array_sort(all, older_first);
	/* files of the pool, removed as virt_image_commit names them: directly, then the
	 * pool refreshed */
	for (guint i = 0; i < all->len && total > max; i++) {
		cached_image *c = all->pdata[i];
		g_autofree char *path = g_build_filename(v->image_dir, c->name, NULL);
		bool used = false;

		for (guint k = 0; in_use != NULL && k < in_use->len && !used; k++)
			used = g_strcmp0(in_use->pdata[k], c->name) == 0;
		if (used)
			continue;
		if (g_str_has_suffix(c->name, VIRT_ROOTFS_SUFFIX)) {
			g_autofree char *sha = g_strndup(c->name, strlen(c->name) -
			    strlen(VIRT_ROOTFS_SUFFIX));

			if (virt_rootfs_remove(v, sha, err) < 0) {
				rc = -1;
				break;
			}
		} else if (unlink(path) < 0 && errno != ENOENT) {
			g_set_error(err, VIRT_ERROR, errno, "evict '%s': %s", path, g_strerror(errno));
			rc = -1;
			break;
		}
		total -= MIN(total, c->bytes);
		if (evicted != NULL)
			g_ptr_array_add(evicted, g_strdup(c->name));
	}
	virt_pool_refresh(v, VIRT_IMAGE_POOL);
	return rc;
}

int
virt_volume_send(virt *v, const char *dest_uri, const char *name,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	g_autofree char *path = g_build_filename(v->disk_dir, name, NULL);
	struct stat st;

	if (stat(path, &st) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "volume '%s': %s", path, g_strerror(errno));
		return -1;
	}
	return send_volume(v, dest_uri, VIRT_POOL, name, name, (uint64_t)st.st_size, false,
	    progress, ud, err);
}
