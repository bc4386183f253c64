/* image: the ops of this host's image cache — whether it holds an image (by sha256), and the
 * check that names an upload ("<sha256>.part", written by the operator's nube or a peer over
 * libvirt) once its content is the sum it claims */
#include "agent/rpc.h"

#include "agent/env.h"
#include "wire/names.h"

void
op_image_status(nubed *n, rpc_job *j)
{
	const char *sha = rpc_job_str(j, "sha256", true);
	GError *err = NULL;
	virt *v;
	json_t *present;

	if (sha == NULL)
		return;
	v = nubed_virt_open(n, &err);
	if (v == NULL) {
		rpc_job_fail(j, "libvirt: %s", err->message);
		g_clear_error(&err);
		return;
	}
	present = json_object();
	json_object_set_new(present, "qcow2", json_boolean(n->env->virt_image_present(v, sha,
	    "qcow2")));
	json_object_set_new(present, "raw", json_boolean(n->env->virt_image_present(v, sha, "raw")));
	json_object_set_new(present, "rootfs", json_boolean(n->env->virt_rootfs_present != NULL &&
	    n->env->virt_rootfs_present(v, sha)));
	n->env->virt_close(v);
	rpc_job_ok(j, json_pack("{s:s, s:o}", "sha256", sha, "present", present));
}

/* cache_commit: an upload into this host's cache checked and named — an image ("<sha256>.part",
 * fmt qcow2 or raw: virt_image_commit) or a rootfs folder ("<sha256>.rootfs.part", fmt
 * "rootfs": unpacked and summed, virt_rootfs_commit) — then logged and answered */
static void
cache_commit(nubed *n, rpc_job *j, const char *sha, const char *fmt)
{
	bool tree = strcmp(fmt, "rootfs") == 0;
	gint64 t0 = g_get_monotonic_time();
	GError *err = NULL;
	virt *v;

	if (tree && n->env->virt_rootfs_commit == NULL) {
		rpc_job_fail(j, "rootfs-commit: this host keeps no rootfs folders");
		return;
	}
	v = nubed_virt_open(n, &err);
	if (v == NULL || (tree ? n->env->virt_rootfs_commit(v, sha, &err) :
	    n->env->virt_image_commit(v, sha, fmt, &err)) < 0) {
		rpc_job_fail(j, "%s", err->message);
		g_clear_error(&err);
		if (v != NULL)
			n->env->virt_close(v);
		return;
	}
	n->env->virt_close(v);
	if (tree) {
		nubed_log(NLOG_INFO, "rootfs %.12s... is in the cache, from '%s' (unpacked and "
		    "checked in %.1f s)", sha, rpc_job_sender(j), (g_get_monotonic_time() - t0) / 1e6);
		rpc_job_ok(j, json_pack("{s:s}", "sha256", sha));
	} else {
		nubed_log(NLOG_INFO, "image %.12s... (%s) is in the cache, from '%s'", sha, fmt,
		    rpc_job_sender(j));
		rpc_job_ok(j, json_pack("{s:s, s:s}", "sha256", sha, "format", fmt));
	}
}

void
op_image_commit(nubed *n, rpc_job *j)
{
	const char *sha = rpc_job_str(j, "sha256", true);
	const char *fmt = rpc_job_str(j, "format", true);

	if (sha == NULL || fmt == NULL)
		return;
	if (!proto_image_format_ok(fmt)) {
		rpc_job_fail(j, "image-commit: format '%s' is not qcow2 or raw", fmt);
		return;
	}
	cache_commit(n, j, sha, fmt);
}

/* rootfs-commit: the rootfs folder uploaded as "<sha256>.rootfs.part" (the request's fields
 * are checked before: sha256 is one) */
void
op_rootfs_commit(nubed *n, rpc_job *j)
{
	const char *sha = rpc_job_str(j, "sha256", true);

	if (sha != NULL)
		cache_commit(n, j, sha, "rootfs");
}

void
image_cache_trim(nubed *n, virt *v)
{
	g_autoptr(GPtrArray) doms = NULL;
	g_autoptr(GPtrArray) in_use = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) evicted = g_ptr_array_new_with_free_func(g_free);
	GError *err = NULL;

	if (n->cfg->image_cache_max_mib == 0)
		return;
	if ((doms = n->env->virt_list(v, &err)) == NULL) {
		nubed_log(NLOG_WARN, "image cache: not trimmed: libvirt: %s", err->message);
		g_error_free(err);
		return;
	}
	for (guint i = 0; i < doms->len; i++) {
		char *img = n->env->virt_domain_image(v,
		    ((const virt_dom_info *)doms->pdata[i])->domain);

		if (img != NULL)
			g_ptr_array_add(in_use, img);
		/* a container's rootfs by content: never evicted under its layer */
		img = n->env->virt_lxc_rootfs_sha256 ? n->env->virt_lxc_rootfs_sha256(v,
		    ((const virt_dom_info *)doms->pdata[i])->domain) : NULL;
		if (img != NULL) {
			g_ptr_array_add(in_use, g_strconcat(img, ".rootfs", NULL));
			g_free(img);
		}
	}
	if (n->env->virt_image_evict(v, n->cfg->image_cache_max_mib, in_use, evicted, &err) < 0) {
		nubed_log(NLOG_WARN, "image cache: %s", err->message);
		g_clear_error(&err);
	}
	for (guint i = 0; i < evicted->len; i++)
		nubed_event(n, "image-evicted", NULL, NULL, json_pack("{s:s, s:I}", "volume",
		    (char *)evicted->pdata[i], (json_int_t)n->cfg->image_cache_max_mib),
		    "image %s evicted from the cache (no VM here uses it; cache limit %" G_GUINT64_FORMAT
		    " MiB)", (char *)evicted->pdata[i], n->cfg->image_cache_max_mib);
}
