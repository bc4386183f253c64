/* images: the images a deployment's VMs boot and its containers' rootfs folders, by content —
 * summed on the operator's machine, written into the deployment (sha256, an image's format and
 * size), and sent to each host whose cache lacks one, several hosts at once: a libvirt storage
 * volume upload into its "nube-images" pool as "<sha256>.part" (a rootfs: a tar,
 * "<sha256>.rootfs.part"), which its agent checks against the sum and names (ops image-commit,
 * rootfs-commit) */
#include "cli/images.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cli/output.h"
#include "guestcfg/guestcfg.h"
#include "virt/virt.h"
#include "wire/names.h"

#define CHUNK		(1 << 20)

typedef struct {
	char *path;		/* on this machine */
	char *sha256;
	const char *format;	/* "qcow2", "raw", or "rootfs": a container's rootfs folder */
	uint64_t size;		/* a folder's: its files' bytes */
} image;

static void
image_free(gpointer p)
{
	image *i = p;

	g_free(i->path);
	g_free(i->sha256);
	g_free(i);
}

static void
silent(void *ud, virErrorPtr e)
{
	(void)ud, (void)e;
}

/* ---- the sums already computed on this machine ----
 * A GKeyFile in the user's cache folder (NUBE_IMAGE_SUMS overrides the path), one group per
 * image path: its device, inode, size, mtime and ctime (ns) when it was hashed, its sum and
 * format. A file whose stat still matches is not read again; any change (a copy, a touch,
 * an edit in place: ctime moves) hashes it anew. */
#define SUMS_FILE	"image-sums"

static char *
sums_path(void)
{
	const char *env = g_getenv("NUBE_IMAGE_SUMS");

	return env != NULL && *env != '\0' ? g_strdup(env) :
	    g_build_filename(g_get_user_cache_dir(), "nube", SUMS_FILE, NULL);
}

static char *
stat_key(const struct stat *st)
{
	return g_strdup_printf("%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", (uintmax_t)st->st_dev,
	    (uintmax_t)st->st_ino, (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec,
	    st->st_mtim.tv_nsec, (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* sums_lookup: the cached sum and format of path if its stat still matches */
static bool
sums_lookup_key(const char *path, const char *key, char **sum, char **format)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *file = sums_path(), *have = NULL;

	if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, NULL))
		return false;
	have = g_key_file_get_string(kf, path, "stat", NULL);
	if (have == NULL || strcmp(have, key) != 0)
		return false;
	*sum = g_key_file_get_string(kf, path, "sha256", NULL);
	*format = g_key_file_get_string(kf, path, "format", NULL);
	if (*sum == NULL || !proto_sha256_ok(*sum) || *format == NULL ||
	    (!proto_image_format_ok(*format) && strcmp(*format, "rootfs") != 0)) {
		g_clear_pointer(sum, g_free);
		g_clear_pointer(format, g_free);
		return false;
	}
	return true;
}

static bool
sums_lookup(const char *path, const struct stat *st, char **sum, char **format)
{
	g_autofree char *key = stat_key(st);

	return sums_lookup_key(path, key, sum, format);
}

/* sums_store: remember path's sum; a cache that cannot be written only costs a re-hash */
static void
sums_store_key(const char *path, const char *key, const char *sum, const char *format)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *file = sums_path(), *dir = g_path_get_dirname(file);

	(void)g_key_file_load_from_file(kf, file, G_KEY_FILE_KEEP_COMMENTS, NULL);
	g_key_file_set_string(kf, path, "stat", key);
	g_key_file_set_string(kf, path, "sha256", sum);
	g_key_file_set_string(kf, path, "format", format);
	if (g_mkdir_with_parents(dir, 0700) == 0)
		(void)g_key_file_save_to_file(kf, file, NULL);
}

static void
sums_store(const char *path, const struct stat *st, const char *sum, const char *format)
{
	g_autofree char *key = stat_key(st);

	sums_store_key(path, key, sum, format);
}

/* hash path: sum, format by content and size (from the sums cache when the file has not
 * changed since); NULL with a message printed */
static image *
image_hash(const char *path, bool quiet)
{
	g_autofree char *abs = g_canonicalize_filename(path, NULL);
	g_autofree char *csum = NULL, *cformat = NULL;
	unsigned char head[4] = { 0 };
	size_t nhead = 0;
	GChecksum *ck;
	struct stat st;
	char *buf;
	ssize_t n;
	image *img;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	gint64 t0 = g_get_monotonic_time();

	if (fd < 0 || fstat(fd, &st) < 0) {
		out_err("image '%s': %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (sums_lookup(abs, &st, &csum, &cformat)) {
		close(fd);
		img = g_new0(image, 1);
		img->path = g_strdup(path);
		img->sha256 = g_steal_pointer(&csum);
		img->format = strcmp(cformat, "qcow2") == 0 ? "qcow2" : "raw";
		img->size = (uint64_t)st.st_size;
		if (!quiet)
			fprintf(stderr, "image '%s': sha256 %.12s..., %s (unchanged since hashed)\n",
			    path, img->sha256, img->format);
		return img;
	}
	if (!quiet)
		fprintf(stderr, "image '%s': hashing %.0f MiB\n", path, st.st_size / 1048576.0);
	ck = g_checksum_new(G_CHECKSUM_SHA256);
	buf = g_malloc(CHUNK);
	for (bool first = true; (n = read(fd, buf, CHUNK)) > 0; first = false) {
		if (first) {
			nhead = MIN((size_t)n, sizeof head);
			memcpy(head, buf, nhead);
		}
		g_checksum_update(ck, (const guchar *)buf, n);
	}
	if (n < 0) {
		out_err("image '%s': read: %s", path, g_strerror(errno));
		close(fd);
		g_free(buf);
		g_checksum_free(ck);
		return NULL;
	}
	close(fd);
	g_free(buf);
	img = g_new0(image, 1);
	img->path = g_strdup(path);
	img->sha256 = g_strdup(g_checksum_get_string(ck));
	img->format = proto_image_format_of(head, nhead);
	img->size = (uint64_t)st.st_size;
	g_checksum_free(ck);
	sums_store(abs, &st, img->sha256, img->format);
	if (!quiet)
		fprintf(stderr, "image '%s': sha256 %.12s..., %s, hashed in %.1f s\n", path,
		    img->sha256, img->format, (g_get_monotonic_time() - t0) / 1e6);
	return img;
}

/* hash the rootfs folder path: its content id (virt_tree_sum), from the sums cache when
 * its stamp (every entry's lstat) has not changed since; NULL with a message printed */
static image *
rootfs_hash(const char *path, bool quiet)
{
	g_autofree char *abs = g_canonicalize_filename(path, NULL);
	g_autofree char *group = g_strconcat("rootfs:", abs, NULL);
	g_autofree char *stamp = NULL, *csum = NULL, *cformat = NULL;
	GError *err = NULL;
	uint64_t bytes = 0;
	gint64 t0 = g_get_monotonic_time();
	image *img;

	stamp = virt_tree_stamp(path, &bytes, &err);
	if (stamp == NULL) {
		out_err("%s", err->message);
		g_error_free(err);
		return NULL;
	}
	img = g_new0(image, 1);
	img->path = g_strdup(path);
	img->format = "rootfs";
	img->size = bytes;
	if (sums_lookup_key(group, stamp, &csum, &cformat) && strcmp(cformat, "rootfs") == 0) {
		img->sha256 = g_steal_pointer(&csum);
		if (!quiet)
			fprintf(stderr, "rootfs '%s': content %.12s... (unchanged since summed)\n", path,
			    img->sha256);
		return img;
	}
	if (!quiet)
		fprintf(stderr, "rootfs '%s': summing %.0f MiB\n", path, bytes / 1048576.0);
	img->sha256 = virt_tree_sum(path, NULL, &err);
	if (img->sha256 == NULL) {
		out_err("%s", err->message);
		g_error_free(err);
		image_free(img);
		return NULL;
	}
	sums_store_key(group, stamp, img->sha256, "rootfs");
	if (!quiet)
		fprintf(stderr, "rootfs '%s': content %.12s..., summed in %.1f s\n", path, img->sha256,
		    (g_get_monotonic_time() - t0) / 1e6);
	return img;
}

/* what img is, in messages */
static const char *
kind_of(const image *img)
{
	return strcmp(img->format, "rootfs") == 0 ? "rootfs" : "image";
}

/* an upload's progress on standard error: a line about once a second, and its total */
typedef struct {
	const image *img;
	const char *host;
	gint64 t0;
	bool quiet;
} sent_progress;

static void
sent_line(uint64_t sent, uint64_t total, void *ud)
{
	sent_progress *p = ud;
	double s = (g_get_monotonic_time() - p->t0) / 1e6, mib = sent / 1048576.0;
	bool tree = strcmp(p->img->format, "rootfs") == 0;

	if (p->quiet)
		return;
	if (sent == total)
		fprintf(stderr, "%s: %s %.12s...: %.0f MiB%s sent in %.1f s (%.1f MiB/s)\n", p->host,
		    kind_of(p->img), p->img->sha256, mib, tree ? " of tar" : "", s,
		    s > 0 ? mib / s : 0.0);
	else
		fprintf(stderr, "%s: %s %.12s...: %.0f of %s%.0f MiB (%.1f MiB/s)\n", p->host,
		    kind_of(p->img), p->img->sha256, mib, tree ? "~" : "", total / 1048576.0,
		    s > 0 ? mib / s : 0.0);
}

/* upload img into host's image cache over libvirt at uri: a file as "<sha256>.part", a
 * rootfs folder as a tar "<sha256>.rootfs.part" */
static int
upload(const image *img, const char *host, const char *uri, bool quiet)
{
	sent_progress pr = { img, host, g_get_monotonic_time(), quiet };
	GError *err = NULL;
	int rc;

	if (strcmp(img->format, "rootfs") == 0) {
		g_autofree char *part = virt_rootfs_part(img->sha256);

		rc = virt_tree_upload(uri, img->path, part, img->size, sent_line, &pr, &err);
	} else {
		g_autofree char *part = g_strdup_printf("%s.part", img->sha256);
		int fd = open(img->path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			out_err("image '%s': %s", img->path, g_strerror(errno));
			return -1;
		}
		rc = virt_fd_upload(uri, fd, part, img->size, sent_line, &pr, NULL, &err);
		close(fd);
	}
	if (rc < 0) {
		out_err("%s '%s' to %s: %s", kind_of(img), img->path, host, err->message);
		g_error_free(err);
	}
	return rc;
}

/* One image (or rootfs) for one host: asked for, sent when missing, then checked there. */
typedef struct {
	const image *img;	/* borrowed from images_send's table */
	char *host;
	char *uri;		/* the host's libvirt, NULL until needed */
	bool missing;
	int rc;			/* the upload's */
	bool quiet;
} xfer;

static void
xfer_free(gpointer p)
{
	xfer *x = p;

	g_free(x->host);
	g_free(x->uri);
	g_free(x);
}

static void
xfer_upload(gpointer data, gpointer ud)
{
	xfer *x = data;

	(void)ud;
	x->rc = upload(x->img, x->host, x->uri, x->quiet);
}

/* UPLOADS_AT_ONCE: hosts sent to at the same time (the operator's uplink is shared; each
 * host's check, a sha256 of the image or an unpack and sum of the rootfs, runs on its own) */
#define UPLOADS_AT_ONCE	4

/* each of todo (xfer*) in its host's cache afterwards: every host asked at once, the missing
 * ones sent (UPLOADS_AT_ONCE at a time), then every host's check at once. 0 or -1 with each
 * failure printed. */
static int
ensure_all(session *sess, GPtrArray *todo, int timeout_s)
{
	g_autoptr(GPtrArray) calls = g_ptr_array_new();
	GThreadPool *pool = NULL;
	int pending = 0, rc = 0;
	guint nmissing = 0;

	for (guint i = 0; i < todo->len; i++) {
		xfer *x = todo->pdata[i];

		g_ptr_array_add(calls, client_call_start(sess->c, x->host, json_pack("{s:s, s:s}",
		    "op", "image-status", "sha256", x->img->sha256), timeout_s * 1000, &pending, NULL,
		    NULL, NULL));
	}
	client_wait_calls(&pending, NULL, -1);
	for (guint i = 0; i < todo->len; i++) {
		xfer *x = todo->pdata[i];
		client_call *k = calls->pdata[i];
		client_host *h = client_host_get(sess->c, x->host);
		const char *addr = h != NULL && h->state != NULL ? h->state->fabric_addr : NULL;

		if (!k->ok) {
			out_err("%s '%s' on %s: %s", kind_of(x->img), x->img->path, x->host,
			    k->error != NULL ? k->error : "failed");
			rc = -1;
			continue;
		}
		if (json_is_true(json_object_get(json_object_get(k->reply, "present"),
		    x->img->format)))
			continue;
		if (addr == NULL) {
			out_err("%s '%s' to %s: the host reports no fabric address", kind_of(x->img),
			    x->img->path, x->host);
			rc = -1;
			continue;
		}
		x->missing = true;
		nmissing++;
		x->uri = strstr(sess->conf->libvirt_uri, "%s") != NULL ?
		    g_strdup_printf(sess->conf->libvirt_uri, addr) : g_strdup(sess->conf->libvirt_uri);
		if (!x->quiet)
			fprintf(stderr, "%s: %s %.12s... not in its cache: sending '%s' (%.0f MiB) to "
			    "%s\n", x->host, kind_of(x->img), x->img->sha256, x->img->path,
			    x->img->size / 1048576.0, x->uri);
	}
	if (rc < 0 || nmissing == 0)
		return rc;
	if (nmissing > 1)
		pool = g_thread_pool_new(xfer_upload, NULL, MIN(UPLOADS_AT_ONCE, (int)nmissing), TRUE,
		    NULL);
	for (guint i = 0; i < todo->len; i++) {
		xfer *x = todo->pdata[i];

		if (x->missing && (pool == NULL || !g_thread_pool_push(pool, x, NULL)))
			xfer_upload(x, NULL);
	}
	if (pool != NULL)
		g_thread_pool_free(pool, FALSE, TRUE);	/* waits for every upload */
	g_ptr_array_set_size(calls, 0);
	for (guint i = 0; i < todo->len; i++) {
		xfer *x = todo->pdata[i];

		if (!x->missing || x->rc < 0) {
			rc = x->rc < 0 ? -1 : rc;
			g_ptr_array_add(calls, NULL);
			continue;
		}
		g_ptr_array_add(calls, client_call_start(sess->c, x->host, strcmp(x->img->format,
		    "rootfs") == 0 ? json_pack("{s:s, s:s}", "op", "rootfs-commit", "sha256",
		    x->img->sha256) : json_pack("{s:s, s:s, s:s}", "op", "image-commit", "sha256",
		    x->img->sha256, "format", x->img->format), timeout_s * 1000, &pending, NULL, NULL,
		    NULL));
	}
	client_wait_calls(&pending, NULL, -1);
	for (guint i = 0; i < todo->len; i++) {
		xfer *x = todo->pdata[i];
		client_call *k = calls->pdata[i];

		if (k == NULL)
			continue;
		if (!k->ok) {
			out_err("%s '%s' on %s: %s", kind_of(x->img), x->img->path, x->host,
			    k->error != NULL ? k->error : "failed");
			rc = -1;
		} else if (!x->quiet)
			fprintf(stderr, "%s: %s %.12s... checked and cached\n", x->host, kind_of(x->img),
			    x->img->sha256);
	}
	return rc;
}

int
images_send(session *sess, const scenario *s, proto_deployment *dep, bool quiet, int timeout_s)
{
	g_autoptr(GHashTable) by_path = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	    image_free);
	g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(xfer_free);

	virSetErrorFunc(NULL, silent);
	for (guint i = 0; i < dep->vms->len; i++) {
		proto_vm_place *pl = dep->vms->pdata[i];
		const sc_vm *vm = scenario_vm((scenario *)s, pl->vm);
		g_autofree char *path = NULL;
		g_autofree char *key = NULL;
		struct stat st;
		image *img;
		xfer *x;

		if (vm == NULL || vm->filesystem == NULL || (vm->fs_type != NULL &&
		    g_ascii_strcasecmp(vm->fs_type, "direct") == 0))
			continue;
		path = guestcfg_host_path(s, vm->filesystem);
		if (stat(path, &st) < 0 || !(S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) &&
		    vm->type != NULL && g_ascii_strcasecmp(vm->type, "lxc") == 0)))
			continue;	/* not here: the host's own file of that path, if any */
		img = g_hash_table_lookup(by_path, path);
		if (img == NULL) {
			img = S_ISDIR(st.st_mode) ? rootfs_hash(path, quiet) : image_hash(path, quiet);
			if (img == NULL)
				return -1;
			g_hash_table_insert(by_path, img->path, img);
		}
		if (strcmp(img->format, "rootfs") == 0) {
			g_free(pl->rootfs_sha256);
			pl->rootfs_sha256 = g_strdup(img->sha256);
		} else {
			g_free(pl->image_sha256);
			g_free(pl->image_format);
			pl->image_sha256 = g_strdup(img->sha256);
			pl->image_format = g_strdup(img->format);
			pl->image_size = img->size;
		}
		key = g_strdup_printf("%s %s", pl->host, img->sha256);
		if (g_hash_table_contains(done, key))
			continue;
		g_hash_table_add(done, g_steal_pointer(&key));
		x = g_new0(xfer, 1);
		x->img = img;
		x->host = g_strdup(pl->host);
		x->quiet = quiet;
		g_ptr_array_add(todo, x);
	}
	return todo->len > 0 ? ensure_all(sess, todo, timeout_s) : 0;
}
