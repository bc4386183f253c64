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
	n->env->virt_close(v);
	rpc_job_ok(j, json_pack("{s:s, s:o}", "sha256", sha, "present", present));
}

void
op_image_commit(nubed *n, rpc_job *j)
{
	const char *sha = rpc_job_str(j, "sha256", true);
	const char *fmt = rpc_job_str(j, "format", true);
	GError *err = NULL;
	virt *v;

	if (sha == NULL || fmt == NULL)
		return;
	if (!proto_image_format_ok(fmt)) {
		rpc_job_fail(j, "image-commit: format '%s' is not qcow2 or raw", fmt);
		return;
	}
	v = nubed_virt_open(n, &err);
	if (v == NULL || n->env->virt_image_commit(v, sha, fmt, &err) < 0) {
		rpc_job_fail(j, "%s", err->message);
		g_clear_error(&err);
		if (v != NULL)
			n->env->virt_close(v);
		return;
	}
	n->env->virt_close(v);
	nubed_log(NLOG_INFO, "image %.12s... (%s) is in the cache, from '%s'", sha, fmt,
	    rpc_job_sender(j));
	rpc_job_ok(j, json_pack("{s:s, s:s}", "sha256", sha, "format", fmt));
}
