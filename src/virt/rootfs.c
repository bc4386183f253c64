/* rootfs: container root filesystem folders by content — their content id, a cheap stamp that
 * says whether a folder changed since it was summed, the tar stream that carries one to another
 * host's cache, and that host's check of what it unpacked */
#include "virt/virt.h"
#include "virt/virt_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define CHUNK		(1 << 20)
#define ROOTFS_PART	".rootfs.part"	/* "<sha256>.rootfs.part", the upload */
/* GNU tar as the cold move packs a layer: owners by number, modes, ACLs, every xattr but the
 * overlay's own (its file handles mean nothing elsewhere) */
#define TAR_KEEP	"--numeric-owner", "--acls", "--xattrs", "--xattrs-include=*", \
			"--xattrs-exclude=trusted.overlay.*"

/* ---------------------------------------------------------------- the walk */

typedef struct {
	GChecksum *ck;
	bool stamp;		/* lstat only: inode and times, no content */
	uint64_t bytes;		/* regular files' sizes */
	char *buf;
	GError **err;
} walk;

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);	/* bytes, not the locale's order */
}

static int not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static int by_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the xattrs of p, by name, but the overlay's: "x <name>\0<len>\0<value>" */
static int walk_xattrs(walk *w, const char *p)
{
	ssize_t n = llistxattr(p, NULL, 0);

	if (n < 0)
		return errno == ENOTSUP ? 0 : -1;
	if (n == 0)
		return 0;
	g_autofree char *names = g_malloc((gsize)n);
	n = llistxattr(p, names, (size_t)n);
	if (n < 0)
		return -1;
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	for (char *k = names; k < names + n; k += strlen(k) + 1)
		if (!g_str_has_prefix(k, "trusted.overlay."))
			g_ptr_array_add(list, k);
	g_ptr_array_sort(list, by_str);
	for (guint i = 0; i < list->len; i++) {
		const char *k = list->pdata[i];
		ssize_t vl = lgetxattr(p, k, NULL, 0);
		g_autofree char *val = NULL;
		g_autofree char *head = NULL;

		if (vl < 0)
			return -1;
		val = g_malloc((gsize)vl + 1);
		vl = lgetxattr(p, k, val, (size_t)vl);
		if (vl < 0)
			return -1;
		head = g_strdup_printf("x %s", k);
		g_checksum_update(w->ck, (const guchar *)head, strlen(head) + 1);
		g_free(head);
		head = g_strdup_printf("%zd", vl);
		g_checksum_update(w->ck, (const guchar *)head, strlen(head) + 1);
		g_checksum_update(w->ck, (const guchar *)val, (gsize)vl);
	}
	return 0;
}

/* one entry (rel "" is the folder itself), then a folder's entries in byte order of names */
static int walk_one(walk *w, const char *abs, const char *rel)
{
	struct stat st;
	g_autofree char *head = NULL;
	char kind;

	if (lstat(abs, &st) < 0) {
		g_set_error(w->err, VIRT_ERROR, errno, "'%s': %s", abs, g_strerror(errno));
		return -1;
	}
	kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : S_ISLNK(st.st_mode) ? 'l' :
	    S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b' : S_ISFIFO(st.st_mode) ? 'p' : 's';
	if (w->stamp)
		head = g_strdup_printf("%c %o %u %u %jd %ju %jd.%09ld %jd.%09ld /%s", kind,
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (intmax_t)st.st_size, (uintmax_t)st.st_ino, (intmax_t)st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, rel);
	else if (kind == 'f')
		head = g_strdup_printf("f %o %u %u %jd /%s", (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid, (unsigned)st.st_gid, (intmax_t)st.st_size, rel);
	else if (kind == 'c' || kind == 'b')
		head = g_strdup_printf("%c %o %u %u %u:%u /%s", kind, (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid, (unsigned)st.st_gid, major(st.st_rdev), minor(st.st_rdev), rel);
	else
		head = g_strdup_printf("%c %o %u %u /%s", kind, (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid, (unsigned)st.st_gid, rel);
	g_checksum_update(w->ck, (const guchar *)head, strlen(head) + 1);	/* with its NUL */
	if (kind == 'f')
		w->bytes += (uint64_t)st.st_size;
	if (w->stamp)
		return kind == 'd' ? 1 : 0;

	if (kind == 'l') {
		char target[PATH_MAX];
		ssize_t n = readlink(abs, target, sizeof target);

		if (n < 0) {
			g_set_error(w->err, VIRT_ERROR, errno, "'%s': %s", abs, g_strerror(errno));
			return -1;
		}
		g_checksum_update(w->ck, (const guchar *)target, (gsize)n);
		g_checksum_update(w->ck, (const guchar *)"", 1);
	} else if (kind == 'f') {
		int fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		uint64_t left = (uint64_t)st.st_size;
		ssize_t n = 0;

		if (fd < 0) {
			g_set_error(w->err, VIRT_ERROR, errno, "'%s': %s", abs, g_strerror(errno));
			return -1;
		}
		while (left > 0 && (n = read(fd, w->buf, CHUNK)) > 0) {
			g_checksum_update(w->ck, (const guchar *)w->buf, (gsize)MIN((uint64_t)n, left));
			left -= MIN((uint64_t)n, left);
		}
		close(fd);
		if (n < 0 || left > 0) {
			g_set_error(w->err, VIRT_ERROR, n < 0 ? errno : 0, "'%s': %s", abs, n < 0 ?
			    g_strerror(errno) : "shorter than its size (changed while read)");
			return -1;
		}
	}
	if (walk_xattrs(w, abs) < 0) {
		g_set_error(w->err, VIRT_ERROR, errno, "'%s': xattrs: %s", abs, g_strerror(errno));
		return -1;
	}
	return kind == 'd' ? 1 : 0;
}

static int walk_tree(walk *w, const char *abs, const char *rel)
{
	struct dirent **list = NULL;
	int rc = walk_one(w, abs, rel), n;

	if (rc <= 0)
		return rc;
	n = scandir(abs, &list, not_dots, by_name);
	if (n < 0) {
		g_set_error(w->err, VIRT_ERROR, errno, "'%s': %s", abs, g_strerror(errno));
		return -1;
	}
	rc = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0) {
			g_autofree char *a = g_build_filename(abs, list[i]->d_name, NULL);
			g_autofree char *r = *rel ? g_strconcat(rel, "/", list[i]->d_name, NULL) :
			    g_strdup(list[i]->d_name);

			rc = walk_tree(w, a, r) < 0 ? -1 : 0;
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

static char *tree_walk(const char *dir, bool stamp, uint64_t *bytes, GError **err)
{
	walk w = { g_checksum_new(G_CHECKSUM_SHA256), stamp, 0, stamp ? NULL : g_malloc(CHUNK),
	    err };
	struct stat st;
	char *sum = NULL;
	/* the folder a path names, through symbolic links (the tree's own are kept) */
	g_autofree char *real = realpath(dir, NULL);

	if (real == NULL || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
		g_set_error(err, VIRT_ERROR, 0, "rootfs '%s' is not a folder", dir);
	else {
		/* the id's version first: another rule of summing is another id */
		g_checksum_update(w.ck, (const guchar *)"nube-tree-1", 12);
		if (walk_tree(&w, real, "") == 0)
			sum = g_strdup(g_checksum_get_string(w.ck));
		else
			g_prefix_error(err, "rootfs '%s': ", dir);
	}
	if (bytes)
		*bytes = w.bytes;
	g_checksum_free(w.ck);
	g_free(w.buf);
	return sum;
}

char *virt_tree_sum(const char *dir, uint64_t *bytes, GError **err)
{
	return tree_walk(dir, false, bytes, err);
}

char *virt_tree_stamp(const char *dir, uint64_t *bytes, GError **err)
{
	return tree_walk(dir, true, bytes, err);
}

/* ---------------------------------------------------------------- the tar stream */

int virt_fd_upload(const char *uri, int fd, const char *volname, uint64_t bytes,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud,
    bool (*done_ok)(void *ud, GError **err), GError **err)
{
	/* capacity: what the caller expects (a tar's files' bytes, a file's size); a file volume
	 * of a dir pool grows with what is written */
	g_autofree char *xml = g_strdup_printf("<volume type='file'><name>%s</name><capacity "
	    "unit='bytes'>%" G_GUINT64_FORMAT "</capacity><target><format type='raw'/>"
	    "<permissions><mode>0600</mode></permissions></target></volume>", volname,
	    bytes > 0 ? bytes : 1);
	virConnectPtr conn = virConnectOpen(uri);
	virStoragePoolPtr pool = conn ? virStoragePoolLookupByName(conn, VIRT_IMAGE_POOL) : NULL;
	virStorageVolPtr vol = NULL;
	virStreamPtr st = NULL;
	g_autofree char *buf = g_malloc(CHUNK);
	uint64_t sent = 0;
	gint64 last = g_get_monotonic_time();
	int rc = -1;
	ssize_t n;

	if (conn == NULL) {
		virt_set_error(err, "connect to %s", uri);
		return -1;
	}
	if (pool == NULL || virStoragePoolRefresh(pool, 0) < 0) {
		virt_set_error(err, "storage pool '%s' on %s", VIRT_IMAGE_POOL, uri);
		goto out;
	}
	if ((vol = virStorageVolLookupByName(pool, volname)) != NULL) {	/* an earlier try's */
		virStorageVolDelete(vol, 0);
		virStorageVolFree(vol);
	}
	virResetLastError();
	if ((vol = virStorageVolCreateXML(pool, xml, 0)) == NULL) {
		virt_set_error(err, "create volume '%s' on %s", volname, uri);
		goto out;
	}
	st = virStreamNew(conn, 0);
	if (st == NULL || virStorageVolUpload(vol, st, 0, 0, 0) < 0) {
		virt_set_error(err, "upload to '%s' on %s", volname, uri);
		goto out;
	}
	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(err, VIRT_ERROR, errno, "read: %s", g_strerror(errno));
			virStreamAbort(st);
			goto out;
		}
		for (ssize_t off = 0; off < n;) {
			int w = virStreamSend(st, buf + off, (size_t)(n - off));

			if (w < 0) {
				virt_set_error(err, "send to '%s' on %s", volname, uri);
				virStreamAbort(st);
				goto out;
			}
			off += w;
		}
		sent += (uint64_t)n;
		if (progress && g_get_monotonic_time() - last >= G_USEC_PER_SEC) {
			last = g_get_monotonic_time();
			progress(sent, bytes, ud);
		}
	}
	if (done_ok && !done_ok(ud, err)) {
		virStreamAbort(st);
		goto out;
	}
	if (virStreamFinish(st) < 0) {
		virt_set_error(err, "finish the upload to '%s' on %s", volname, uri);
		goto out;
	}
	if (progress)
		progress(sent, sent, ud);
	rc = 0;
out:
	if (st != NULL)
		virStreamFree(st);
	if (rc < 0 && vol != NULL)
		virStorageVolDelete(vol, 0);
	if (vol != NULL)
		virStorageVolFree(vol);
	if (pool != NULL)
		virStoragePoolFree(pool);
	virConnectClose(conn);
	return rc;
}

/* the tar behind a tree's upload: it must have ended well for the upload to be kept */
typedef struct {
	const char *dir;
	GPid pid;
	int errfd;
	void (*progress)(uint64_t sent, uint64_t total, void *ud);
	void *ud;
} tar_run;

static void tar_progress(uint64_t sent, uint64_t total, void *ud)
{
	tar_run *t = ud;

	if (t->progress)
		t->progress(sent, total, t->ud);
}

static bool tar_ok(void *ud, GError **err)
{
	tar_run *t = ud;
	g_autofree char *errout = NULL;
	GIOChannel *ch = g_io_channel_unix_new(t->errfd);
	GError *e = NULL;
	int status = 0;

	g_io_channel_read_to_end(ch, &errout, NULL, NULL);
	g_io_channel_unref(ch);
	waitpid(t->pid, &status, 0);
	t->pid = 0;
	if (!g_spawn_check_wait_status(status, &e)) {
		g_set_error(err, VIRT_ERROR, 0, "tar of '%s': %s: %s", t->dir, e->message,
		    errout ? g_strstrip(errout) : "");
		g_error_free(e);
		return false;
	}
	return true;
}

int virt_tree_upload(const char *uri, const char *dir, const char *volname,
    uint64_t bytes, void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud,
    GError **err)
{
	char *argv[] = { "tar", "--create", "--directory", (char *)dir, TAR_KEEP, "--sparse",
	    "--file", "-", ".", NULL };
	tar_run t = { dir, 0, -1, progress, ud };
	GError *e = NULL;
	int out = -1, rc;

	if (!g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_SEARCH_PATH |
	    G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &t.pid, NULL, &out, &t.errfd, &e)) {
		g_set_error(err, VIRT_ERROR, 0, "tar: %s", e->message);
		g_error_free(e);
		return -1;
	}
	/* the files' bytes and a header block or two per file are more than enough for a start */
	rc = virt_fd_upload(uri, out, volname, bytes + (1 << 20), tar_progress, &t, tar_ok, err);
	close(out);
	if (t.pid > 0) {	/* the upload failed before tar ended */
		kill(t.pid, SIGTERM);
		waitpid(t.pid, NULL, 0);
	}
	if (t.errfd >= 0)
		close(t.errfd);
	return rc;
}

/* ---------------------------------------------------------------- a host's cache */

char *virt_rootfs_part(const char *sha256)
{
	return g_strdup_printf("%s%s", sha256, ROOTFS_PART);
}

char *virt_rootfs_path(const virt *v, const char *sha256)
{
	return g_build_filename(v->container_dir, VIRT_ROOTFS_SUB, sha256, NULL);
}

bool virt_rootfs_present(virt *v, const char *sha256)
{
	g_autofree char *p = virt_rootfs_path(v, sha256);

	return virt_is_dir(p);
}

int virt_rootfs_remove(virt *v, const char *sha256, GError **err)
{
	g_autofree char *p = virt_rootfs_path(v, sha256);

	if (virt_rm_tree(p) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "evict rootfs '%s': %s", p, g_strerror(errno));
		return -1;
	}
	return 0;
}

void virt_rootfs_touch(const char *dir)
{
	utimensat(AT_FDCWD, dir, NULL, 0);
}

/* one commit at a time in a process: two uploads of one content (two deploys at once) must
 * not unpack into the same folder */
static GMutex commit_lock;

int virt_rootfs_commit(virt *v, const char *sha256, GError **err)
{
	g_autofree char *vol = virt_rootfs_part(sha256);
	g_autofree char *part = g_build_filename(v->image_dir, vol, NULL);
	g_autofree char *final = virt_rootfs_path(v, sha256);
	g_autofree char *tmp = g_strconcat(final, ".part", NULL);
	g_autofree char *errout = NULL;
	g_autofree char *sum = NULL;
	GError *e = NULL;
	int status = 0, rc = -1;
	char *argv[] = { "tar", "--extract", "--file", part, "--directory", tmp, TAR_KEEP,
	    "--same-owner", "--same-permissions", NULL };

	g_mutex_lock(&commit_lock);
	if (virt_is_dir(final)) {
		unlink(part);
		rc = 0;
		goto out;
	}
	virt_rm_tree(tmp);
	if (g_mkdir_with_parents(tmp, 0755) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "rootfs %.12s...: make '%s': %s", sha256, tmp,
		    g_strerror(errno));
		goto out;
	}
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
	    NULL, NULL, &errout, &status, &e) || !g_spawn_check_wait_status(status, &e)) {
		g_set_error(err, VIRT_ERROR, 0, "rootfs %.12s...: unpack: %s: %s", sha256, e->message,
		    errout ? g_strstrip(errout) : "");
		g_error_free(e);
		goto out;
	}
	/* what was unpacked is what was summed where it came from, or nothing */
	if ((sum = virt_tree_sum(tmp, NULL, err)) == NULL)
		goto out;
	if (strcmp(sum, sha256) != 0) {
		g_set_error(err, VIRT_ERROR, 0, "rootfs %.12s...: the folder received sums to %s, "
		    "not %s (dropped)", sha256, sum, sha256);
		goto out;
	}
	if (rename(tmp, final) < 0) {
		g_set_error(err, VIRT_ERROR, errno, "rootfs %.12s...: name it '%s': %s", sha256, final,
		    g_strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		virt_rm_tree(tmp);
	unlink(part);
	g_mutex_unlock(&commit_lock);
	virt_pool_refresh(v, VIRT_IMAGE_POOL);
	return rc;
}

int virt_rootfs_send(virt *v, const char *dest_uri, const char *sha256,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	g_autofree char *dir = virt_rootfs_path(v, sha256);
	g_autofree char *vol = virt_rootfs_part(sha256);
	g_autofree char *stamp = NULL;
	uint64_t bytes = 0;

	if (!virt_is_dir(dir)) {
		g_set_error(err, VIRT_ERROR, 0, "rootfs %.12s... is not in this host's cache", sha256);
		return -1;
	}
	if ((stamp = virt_tree_stamp(dir, &bytes, err)) == NULL)
		return -1;
	return virt_tree_upload(dest_uri, dir, vol, bytes, progress, ud, err);
}
