/* lxc: containers — type="lxc" VMs as libvirt LXC domains on an overlay of their rootfs, configured through their layer, exec by namespace entry */
#include "virt/virt.h"
#include "virt/virt_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-lxc.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define LXC_INIT		"/sbin/init"
#define LXC_SHIM		"/etc/nube/init"	/* runs LXC_INIT once its cgroups are right */
#define LXC_EXEC_PATH		"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define LXC_OUT_MAX		(4u * 1024 * 1024)	/* captured bytes per stream */

/* ---------------------------------------------------------------- can this host run them */

/* what the probe found per LXC URI, for the life of the process: "" works, else why not */
static GMutex probe_lock;
static GHashTable *probe_seen;	/* uri -> reason (owned) */

/* the probe: a transient container that runs /bin/true on the host's own root. libvirt's
 * LXC driver connects even where it cannot start anything (this machine's hybrid cgroup
 * layout: "Unable to create directory /sys/fs/cgroup/unified"); starting one tells. */
static char *probe_start(virConnectPtr c)
{
	g_autofree char *xml = g_strdup_printf("<domain type='lxc'><name>nube-lxc-probe-%d</name>"
	    "<memory unit='MiB'>32</memory><os><type>exe</type><init>/bin/true</init></os>"
	    "<devices><console type='pty'/></devices></domain>", (int)getpid());
	virDomainPtr d = virDomainCreateXML(c, xml, 0);

	if (!d) {
		const char *m = virGetLastErrorMessage();
		return g_strdup_printf("a test container does not start: %s",
		    m && *m ? m : "unknown libvirt error");
	}
	if (virDomainIsActive(d) == 1)
		virDomainDestroy(d);
	virDomainFree(d);
	return g_strdup("");
}

int virt_lxc_usable(virt *v, GError **err)
{
	if (!v->lxc_uri || !*v->lxc_uri) {
		g_set_error(err, VIRT_ERROR, 0, "no LXC connection configured ([nubed] lxc_uri)");
		return -1;
	}
	if (!v->lxc) {
		v->lxc = virConnectOpen(v->lxc_uri);
		if (!v->lxc) {
			virt_set_error(err, "libvirt's LXC driver: connect to %s", v->lxc_uri);
			return -1;
		}
	}
	g_mutex_lock(&probe_lock);
	if (!probe_seen)
		probe_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	const char *why = g_hash_table_lookup(probe_seen, v->lxc_uri);
	if (!why) {
		char *r = probe_start(v->lxc);
		g_hash_table_insert(probe_seen, g_strdup(v->lxc_uri), r);
		why = r;
	}
	int rc = *why ? -1 : 0;
	if (rc < 0)
		g_set_error(err, VIRT_ERROR, 0, "libvirt's LXC driver on %s: %s", v->lxc_uri, why);
	g_mutex_unlock(&probe_lock);
	return rc;
}

int virt_lxc_probe(virt *v, GError **err)
{
	if (!v) {
		g_set_error(err, VIRT_ERROR, 0, "lxc probe: no connection");
		return -1;
	}
	return virt_lxc_usable(v, err);
}

bool virt_is_dir(const char *p)
{
	struct stat st;

	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool virt_lxc_type(const sc_vm *vm)
{
	return vm && vm->type && g_ascii_strcasecmp(vm->type, "lxc") == 0;
}

static bool direct(const sc_vm *vm);

/* the folder under vm's layer: the host's cached copy of the rootfs the deployment names by
 * content, else the folder of the path the scenario wrote (g_free) */
static char *rootfs_of(const virt *v, const proto_deployment *dep, const sc_vm *vm)
{
	const proto_vm_place *pl = dep ? proto_deployment_vm(dep, vm->name) : NULL;

	if (pl && pl->rootfs_sha256 && !direct(vm))
		return virt_rootfs_path(v, pl->rootfs_sha256);
	return g_strdup(vm->filesystem);
}

int virt_lxc_decide(virt *v, const proto_deployment *dep, const sc_vm *vm, GPtrArray *warnings,
    GError **err)
{
	GError *why = NULL;

	if (!virt_lxc_type(vm))
		return 0;
	if (virt_lxc_usable(v, &why) < 0) {
		if (v->container_fallback) {
			if (warnings)
				g_ptr_array_add(warnings, g_strdup_printf("vm '%s': type 'lxc' not available "
				    "on this host, running it as %s (%s; [guest] container_fallback)",
				    vm->name, v->domain_type, why->message));
			g_error_free(why);
			return 0;
		}
		g_set_error(err, VIRT_ERROR, 0, "vm '%s': type 'lxc' not available on this host: %s "
		    "(no QEMU substitute: [guest] container_fallback is off)", vm->name, why->message);
		g_error_free(why);
		return -1;
	}
	g_autofree char *rootfs = rootfs_of(v, dep, vm);
	const proto_vm_place *pl = dep ? proto_deployment_vm(dep, vm->name) : NULL;

	if (pl && pl->rootfs_sha256 && !direct(vm) && !virt_is_dir(rootfs)) {
		g_set_error(err, VIRT_ERROR, 0, "vm '%s': rootfs '%s' (content %.12s...) is not in "
		    "this host's cache %s", vm->name, vm->filesystem, pl->rootfs_sha256, rootfs);
		return -1;
	}
	/* a rootfs that is not here: the disks' own rule (an error, or the test guest) */
	return virt_is_dir(rootfs) ? 1 : 0;
}

/* ---------------------------------------------------------------- the layer */

static bool direct(const sc_vm *vm)
{
	return vm->fs_type && g_ascii_strcasecmp(vm->fs_type, "direct") == 0;
}

char *virt_lxc_dir(const virt *v, const char *domname)
{
	return g_build_filename(v->container_dir, domname, NULL);
}

/* the container's root: the merged overlay, or (type="direct") the rootfs itself */
static char *root_of(const virt *v, const sc_vm *vm, const char *domname)
{
	if (direct(vm))
		return g_strdup(vm->filesystem);
	g_autofree char *d = virt_lxc_dir(v, domname);
	return g_build_filename(d, "root", NULL);
}

static bool is_mountpoint(const char *p)
{
	struct stat a, b;
	g_autofree char *up = g_build_filename(p, "..", NULL);

	return stat(p, &a) == 0 && stat(up, &b) == 0 && (a.st_dev != b.st_dev);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return (flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT ? -1 : 0;
}

int virt_rm_tree(const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int rmdir_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(p);	/* a group still holding a process stays */
	return 0;
}

/* The groups the init shim joined in name=systemd and cgroup2 outlive their container:
 * libvirt removes only its own controllers' groups. Remove those whose container is gone
 * (its memory group, libvirt's, no longer exists) and that hold no process. */
static void cgroup_sweep(void)
{
	static const char *const hiers[] = { "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified" };

	for (guint i = 0; i < G_N_ELEMENTS(hiers); i++) {
		g_autofree char *m = g_build_filename(hiers[i], "machine", NULL);
		GDir *d = g_dir_open(m, 0, NULL);
		const char *e;

		while (d && (e = g_dir_read_name(d)) != NULL) {
			if (!g_str_has_prefix(e, "lxc-") || !g_str_has_suffix(e, ".libvirt-lxc"))
				continue;
			g_autofree char *mem = g_build_filename("/sys/fs/cgroup/memory/machine", e, NULL);
			g_autofree char *dir = g_build_filename(m, e, NULL);
			if (!virt_is_dir(mem))
				nftw(dir, rmdir_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		}
		if (d)
			g_dir_close(d);
	}
}

int virt_lxc_layer_remove(virt *v, const char *domname, GError **err)
{
	g_autofree char *d = virt_lxc_dir(v, domname);
	g_autofree char *root = g_build_filename(d, "root", NULL);

	if (!virt_is_dir(d))
		return 0;	/* a container being made: nothing of it to sweep either */
	cgroup_sweep();
	if (is_mountpoint(root) && umount2(root, 0) < 0 && umount2(root, MNT_DETACH) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "container layer of '%s': unmount '%s': %s", domname,
		    root, g_strerror(errno));
		return -1;
	}
	if (virt_rm_tree(d) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "container layer of '%s': remove '%s': %s", domname, d,
		    g_strerror(errno));
		return -1;
	}
	return 0;
}

/* write text to root/rel (parents made 0755), mode */
static int put_file(const char *root, const char *rel, const void *data, gsize len, int mode,
    GError **err)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "make '%s': %s", dir, g_strerror(errno));
		return -1;
	}
	unlink(p);	/* a symlink in the rootfs must not lead the write elsewhere */
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		g_set_error(err, VIRT_ERROR, 0, "write '%s': %s", p, g_strerror(errno));
		return -1;
	}
	const char *b = data;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			g_set_error(err, VIRT_ERROR, 0, "write '%s': %s", p, g_strerror(errno));
			close(fd);
			return -1;
		}
		b += w;
		len -= (gsize)w;
	}
	fchmod(fd, mode);
	close(fd);
	return 0;
}

static int put_text(const char *root, const char *rel, const char *text, GError **err)
{
	return put_file(root, rel, text, strlen(text), 0644, err);
}

/* the medium's vnxboot.xml: the roots of its <filetree>s, in order (filetree/<k>/ holds the
 * k-th), of char* */
static GPtrArray *filetree_roots(const proto_medium *m)
{
	GPtrArray *roots = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; m && i < m->files->len; i++) {
		const proto_media_file *f = g_ptr_array_index(m->files, i);
		if (strcmp(f->path, "vnxboot.xml") != 0)
			continue;
		gsize len = 0;
		const char *x = g_bytes_get_data(f->data, &len);
		xmlDocPtr doc = xmlReadMemory(x, (int)len, "vnxboot.xml", NULL,
		    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
		for (xmlNodePtr vmn = root ? root->children : NULL; vmn; vmn = vmn->next) {
			if (vmn->type != XML_ELEMENT_NODE || xmlStrcmp(vmn->name, BAD_CAST "vm") != 0)
				continue;
			for (xmlNodePtr c = vmn->children; c; c = c->next) {
				if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "filetree") != 0)
					continue;
				xmlChar *r = xmlGetProp(c, BAD_CAST "root");
				g_ptr_array_add(roots, g_strdup(r ? (const char *)r : "/"));
				xmlFree(r);
			}
		}
		if (doc)
			xmlFreeDoc(doc);
	}
	return roots;
}

/* the on_boot <filetree>s: filetree/<k>/<rel> of the "vnx" medium into <root of tree k>/<rel> */
static int write_filetrees(const char *root, const proto_vm_place *pl, GError **err)
{
	const proto_medium *m = pl ? proto_vm_place_medium(pl, PROTO_MEDIUM_VNX) : NULL;
	g_autoptr(GPtrArray) roots = filetree_roots(m);

	for (guint i = 0; m && i < m->files->len; i++) {
		const proto_media_file *f = g_ptr_array_index(m->files, i);
		unsigned k = 0;
		int off = 0;

		if (sscanf(f->path, "filetree/%u/%n", &k, &off) != 1 || off == 0 || k < 1 ||
		    k > roots->len || f->path[off] == '\0')
			continue;
		g_autofree char *rel = g_build_filename(g_ptr_array_index(roots, k - 1), f->path + off,
		    NULL);
		gsize len = 0;
		const void *data = g_bytes_get_data(f->data, &len);
		if (put_file(root, rel, data, len, (int)(f->mode & 07777), err) < 0)
			return -1;
	}
	return 0;
}

static char *addr_text(const sc_ip *ip)
{
	return ip->prefix >= 0 ? g_strdup_printf("%s/%d", ip->addr, ip->prefix) :
	    g_strdup_printf("%s/%d", ip->addr, ip->family == 6 ? 64 : 24);
}

/* /etc/network/interfaces.d/nube: ifupdown stanzas of every <if> (the rootfs runs ifupdown) */
static char *ifupdown_text(const sc_vm *vm, int mtu)
{
	GString *t = g_string_new("# written by nube for this container: its interfaces as the "
	    "scenario gives them\n");

	for (guint i = 0; vm->ifs && i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		bool any = false;

		g_string_append_printf(t, "\nauto eth%d\n", ifc->id);
		for (guint k = 0; ifc->ips && k < ifc->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(ifc->ips, k);

			if (ip->dhcp || !ip->addr) {
				g_string_append_printf(t, "iface eth%d %s\n", ifc->id,
				    ip->family == 6 ? "inet6 auto" : "inet dhcp");
			} else {
				g_autofree char *a = addr_text(ip);
				g_string_append_printf(t, "iface eth%d %s static\n    address %s\n", ifc->id,
				    ip->family == 6 ? "inet6" : "inet", a);
				if (ip->family == 6)
					g_string_append(t, "    dad-attempts 0\n");
			}
			if (mtu > 0 && !any)
				g_string_append_printf(t, "    mtu %d\n", mtu);
			any = true;
		}
		if (!any)
			g_string_append_printf(t, "iface eth%d inet manual\n    up ip link set dev $IFACE up\n",
			    ifc->id);
	}
	return g_string_free(t, FALSE);
}

/* /etc/nube/boot.sh, run once per boot by the rootfs's nube-boot.service after networking:
 * forwarding, routes, then the on_boot commands (VNX runs them at every start) */
static char *boot_text(const scenario *s, const sc_vm *vm)
{
	GString *t = g_string_new("#!/bin/sh\n# written by nube for this container: forwarding, "
	    "routes and its on_boot commands\necho \"nube-boot: start $(date -u +%FT%TZ)\"\n");
	g_autoptr(GPtrArray) seqs = g_ptr_array_new();

	for (guint i = 0; vm->reserved_ifs != NULL && i < vm->reserved_ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->reserved_ifs, i);

		for (guint k = 0; strcmp(f->net, SC_NET_LO) == 0 && f->ips && k < f->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(f->ips, k);

			if (!ip->dhcp && ip->addr)	/* <if net="lo">: on the container's lo */
				g_string_append_printf(t, "ip -%d addr replace %s/%d dev lo\n",
				    ip->family, ip->addr, ip->prefix >= 0 ? ip->prefix :
				    ip->family == 6 ? 128 : 32);
		}
	}
	if (vm->fwd_ipv4)
		g_string_append(t, "echo 1 > /proc/sys/net/ipv4/ip_forward\n");
	if (vm->fwd_ipv6)
		g_string_append(t, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding\n");
	for (guint k = 0; vm->routes && k < vm->routes->len; k++) {
		const sc_route *r = g_ptr_array_index(vm->routes, k);
		g_autofree char *qd = g_shell_quote(r->dest ? r->dest : "default");
		g_autofree char *qg = g_shell_quote(r->gw ? r->gw : "");
		/* the interface with the gateway's subnet may still be coming up (ifupdown runs
		 * beside this unit): try for 30 s before giving up on the route */
		g_string_append_printf(t, "n=0; until ip %sroute replace %s via %s 2>/dev/null; do "
		    "n=$((n + 1)); if [ $n -ge 60 ]; then echo \"nube-boot: route %s via %s failed\" "
		    ">&2; break; fi; sleep 0.5; done\n", r->family == 6 ? "-6 " : "", qd, qg,
		    r->dest ? r->dest : "default", r->gw ? r->gw : "");
	}
	if (scenario_expand_seq(s, "on_boot", seqs) == 0) {
		for (guint q = 0; q < seqs->len; q++)
			for (guint e = 0; vm->execs && e < vm->execs->len; e++) {
				const sc_exec *x = g_ptr_array_index(vm->execs, e);

				if (g_strcmp0(x->seq, g_ptr_array_index(seqs, q)) != 0 || !x->text ||
				    g_strcmp0(x->type, "file") == 0)
					continue;
				g_autofree char *qc = g_shell_quote(x->text);
				/* VNX: ostype "exec" does not wait, "system" (and the rest) does */
				g_string_append_printf(t, "echo \"nube-boot: on_boot: %s\"\n/bin/sh -c %s%s\n",
				    x->seq, qc, g_strcmp0(x->ostype, "exec") == 0 ? " &" : "");
			}
	}
	g_string_append(t, "echo \"nube-boot: done $(date -u +%FT%TZ)\"\n");
	return g_string_free(t, FALSE);
}

/* /etc/nube/init, the container's first program when its rootfs has a shell. Without
 * systemd-machined, libvirt's LXC driver makes the container's cgroup in the controllers it
 * manages (/machine/lxc-<pid>-<name>.libvirt-lxc) but leaves it at the root of the
 * name=systemd and cgroup2 hierarchies, and gives it no cgroup namespace: the rootfs's
 * systemd then takes the host's whole cgroup tree for its own — it moves itself out of the
 * container's memory cgroup, and its clean-up removes other containers' cgroups made a moment
 * before libvirt_lxc joins them ("Unable to write to .../machine/lxc-.../tasks"). The shim
 * joins the container's own cgroup in those two hierarchies too, as machined would, and
 * runs the rootfs's init; where the placement is already the container's own it does
 * nothing. */
static const char init_shim[] =
    "#!/bin/sh\n"
    "# written by nube: join this container's cgroup in the name=systemd and cgroup2\n"
    "# hierarchies (libvirt without machined leaves it at their root), then run init\n"
    "p=\n"
    "while IFS=: read -r _ c g; do\n"
    "\tcase \",$c,\" in *,memory,*) p=$g ;; esac\n"
    "done < /proc/self/cgroup\n"
    "if [ -n \"$p\" ] && [ \"$p\" != / ]; then\n"
    "\twhile IFS=: read -r _ c g; do\n"
    "\t\t[ \"$g\" = / ] || continue\n"
    "\t\tcase \"$c\" in\n"
    "\t\tname=systemd) d=/sys/fs/cgroup/systemd; m= ;;\n"
    "\t\t'') d=/dev/.nube-cgroup2; m=1\n"
    "\t\t\tmkdir -p $d && mount -t cgroup2 cgroup2 $d 2>/dev/null || { rmdir $d; continue; } ;;\n"
    "\t\t*) continue ;;\n"
    "\t\tesac\n"
    "\t\tmkdir -p \"$d$p\" 2>/dev/null && echo $$ > \"$d$p/cgroup.procs\" 2>/dev/null\n"
    "\t\t[ -z \"$m\" ] || { umount $d; rmdir $d; }\n"
    "\tdone < /proc/self/cgroup\n"
    "fi\n"
    "exec " LXC_INIT " \"$@\"\n";

/* the shim runs where the rootfs has a shell (bin/sh, through a merged /usr too) */
static bool shim_wanted(const char *rootfs)
{
	g_autofree char *sh = g_build_filename(rootfs, "bin", "sh", NULL);
	struct stat st;

	return stat(sh, &st) == 0 && S_ISREG(st.st_mode);
}

/* hostname, interfaces, forwarding and routes, filetrees, on_boot: into the container's root */
static int write_config(const scenario *s, const sc_vm *vm, const proto_vm_place *pl,
    const char *rootfs, const char *root, int mtu, GError **err)
{
	g_autofree char *host = g_strdup_printf("%s\n", vm->name);
	g_autofree char *hosts = g_strdup_printf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n"
	    "::1\tlocalhost ip6-localhost ip6-loopback\n", vm->name);
	g_autofree char *ifs = ifupdown_text(vm, mtu);
	g_autofree char *boot = boot_text(s, vm);

	if (put_text(root, "etc/hostname", host, err) < 0 || put_text(root, "etc/hosts", hosts, err) < 0 ||
	    put_text(root, "etc/network/interfaces.d/nube", ifs, err) < 0 ||
	    write_filetrees(root, pl, err) < 0 ||
	    put_file(root, "etc/nube/boot.sh", boot, strlen(boot), 0755, err) < 0)
		return -1;
	if (shim_wanted(rootfs) && put_file(root, "etc/nube/init", init_shim,
	    sizeof init_shim - 1, 0755, err) < 0)
		return -1;
	return 0;
}

/* mount_layer: the overlay of rootfs with domname's layer (upper/work in its folder, made when
 * missing) on its root; fresh: a layer made now is removed again when the mount fails. 0 or
 * -1 + err. */
static int mount_layer(virt *v, const char *domname, const char *rootfs, bool fresh, GError **err)
{
	g_autofree char *d = virt_lxc_dir(v, domname);
	g_autofree char *upper = g_build_filename(d, "upper", NULL);
	g_autofree char *work = g_build_filename(d, "work", NULL);
	g_autofree char *root = g_build_filename(d, "root", NULL);

	if (strpbrk(rootfs, ",:\\") || strpbrk(d, ",:\\")) {
		g_set_error(err, VIRT_ERROR, 0, "rootfs '%s' or layer '%s' has a ',', ':' or '\\' "
		    "(overlayfs options cannot carry them)", rootfs, d);
		return -1;
	}
	if (is_mountpoint(root))
		return 0;
	if (g_mkdir_with_parents(upper, 0755) < 0 || g_mkdir_with_parents(work, 0700) < 0 ||
	    g_mkdir_with_parents(root, 0755) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "make the layer in '%s': %s", d, g_strerror(errno));
		return -1;
	}
	g_autofree char *opts = g_strdup_printf("lowerdir=%s,upperdir=%s,workdir=%s", rootfs, upper,
	    work);
	if (mount("overlay", root, "overlay", 0, opts) < 0) {
		int e2 = errno;
		g_set_error(err, VIRT_ERROR, 0, "mount an overlay of '%s' on '%s': %s", rootfs, root,
		    g_strerror(e2));
		if (fresh)
			virt_rm_tree(d);
		return -1;
	}
	return 0;
}

int virt_lxc_prepare(virt *v, const scenario *s, const proto_deployment *dep, const sc_vm *vm,
    int mtu, GError **err)
{
	g_autofree char *domname = proto_domain_name(s->name, vm->name);
	g_autofree char *root = root_of(v, vm, domname);
	g_autofree char *rootfs = rootfs_of(v, dep, vm);
	const proto_vm_place *pl = dep ? proto_deployment_vm(dep, vm->name) : NULL;

	if (!direct(vm)) {
		/* the layer of a container that still runs is its own: left as it is */
		if (is_mountpoint(root)) {
			virDomainPtr dom = v->lxc ? virDomainLookupByName(v->lxc, domname) : NULL;
			bool live = dom && virDomainIsActive(dom) == 1;
			if (dom)
				virDomainFree(dom);
			if (live)
				return 0;
		}
		if (virt_lxc_layer_remove(v, domname, err) < 0 ||
		    mount_layer(v, domname, rootfs, true, err) < 0) {
			g_prefix_error(err, "vm '%s': ", vm->name);
			return -1;
		}
		if (pl && pl->rootfs_sha256)
			virt_rootfs_touch(rootfs);	/* the cache's last use */
	}
	if (write_config(s, vm, pl, rootfs, root, mtu, err) < 0) {
		g_prefix_error(err, "vm '%s': configuration: ", vm->name);
		if (!direct(vm)) {
			GError *e2 = NULL;
			if (virt_lxc_layer_remove(v, domname, &e2) < 0)
				g_error_free(e2);
		}
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the domain */

static void set_prop(xmlNodePtr n, const char *name, const char *value)
{
	xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

char *virt_lxc_render(virt *v, const scenario *s, const proto_deployment *dep, const sc_vm *vm,
    int mtu, void (*metadata)(xmlNodePtr dom, const scenario *s, const sc_vm *vm,
    const proto_vm_place *place, const char *config), GError **err)
{
	(void)err;
	g_autofree char *domname = proto_domain_name(s->name, vm->name);
	g_autofree char *root = root_of(v, vm, domname);
	g_autofree char *rootfs = rootfs_of(v, dep, vm);
	const proto_vm_place *place = dep ? proto_deployment_vm(dep, vm->name) : NULL;
	g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, vm->mem_mib ? vm->mem_mib :
	    SC_DEFAULT_MEM_MIB);
	g_autofree char *vcpu = g_strdup_printf("%d", vm->vcpu > 0 ? vm->vcpu : SC_DEFAULT_VCPU);

	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlDocSetRootElement(doc, dom);
	set_prop(dom, "type", "lxc");
	xmlNewTextChild(dom, NULL, BAD_CAST "name", BAD_CAST domname);
	metadata(dom, s, vm, place, "container");
	/* nube's metadata element carries what a cold move needs: the rootfs under the layer (the
	 * destination mounts it again), its content id (the destination layers it on its own
	 * copy) and who may move it (nube deploy --move-containers) */
	for (xmlNodePtr md = dom->children; md; md = md->next) {
		if (md->type != XML_ELEMENT_NODE || xmlStrcmp(md->name, BAD_CAST "metadata") != 0 ||
		    !md->children)
			continue;
		if (!direct(vm))
			set_prop(md->children, "rootfs", rootfs);
		if (!direct(vm) && place && place->rootfs_sha256)
			set_prop(md->children, "rootfs-sha256", place->rootfs_sha256);
		if (dep && dep->move_containers)
			set_prop(md->children, "move", dep->move_containers);
	}
	set_prop(xmlNewTextChild(dom, NULL, BAD_CAST "memory", BAD_CAST mem), "unit", "MiB");
	xmlNewTextChild(dom, NULL, BAD_CAST "vcpu", BAD_CAST vcpu);
	xmlNodePtr os = xmlNewChild(dom, NULL, BAD_CAST "os", NULL);
	xmlNewTextChild(os, NULL, BAD_CAST "type", BAD_CAST "exe");
	xmlNewTextChild(os, NULL, BAD_CAST "init", BAD_CAST (shim_wanted(rootfs) ?
	    LXC_SHIM : LXC_INIT));
	/* its own network namespace even without interfaces */
	xmlNewChild(xmlNewChild(dom, NULL, BAD_CAST "features", NULL), NULL, BAD_CAST "privnet", NULL);
	xmlNewTextChild(dom, NULL, BAD_CAST "on_poweroff", BAD_CAST "destroy");
	xmlNewTextChild(dom, NULL, BAD_CAST "on_reboot", BAD_CAST "restart");
	xmlNewTextChild(dom, NULL, BAD_CAST "on_crash", BAD_CAST "destroy");
	xmlNodePtr devs = xmlNewChild(dom, NULL, BAD_CAST "devices", NULL);
	xmlNodePtr fs = xmlNewChild(devs, NULL, BAD_CAST "filesystem", NULL);
	set_prop(fs, "type", "mount");
	set_prop(fs, "accessmode", "passthrough");
	set_prop(xmlNewChild(fs, NULL, BAD_CAST "source", NULL), "dir", root);
	set_prop(xmlNewChild(fs, NULL, BAD_CAST "target", NULL), "dir", "/");
	for (guint i = 0; vm->ifs && i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		char brbuf[16];
		const char *br;
		const char *mac = virt_planned_mac(place, ifc, i);
		g_autofree char *gdev = g_strdup_printf("eth%d", ifc->id);

		virt_bridge_of(s, ifc->net, brbuf, &br);
		xmlNodePtr n = xmlNewChild(devs, NULL, BAD_CAST "interface", NULL);
		set_prop(n, "type", "bridge");
		set_prop(xmlNewChild(n, NULL, BAD_CAST "source", NULL), "bridge", br);
		if (mac)
			set_prop(xmlNewChild(n, NULL, BAD_CAST "mac", NULL), "address", mac);
		set_prop(xmlNewChild(n, NULL, BAD_CAST "guest", NULL), "dev", gdev);
		if (mtu > 0) {
			g_autofree char *m = g_strdup_printf("%d", mtu);
			set_prop(xmlNewChild(n, NULL, BAD_CAST "mtu", NULL), "size", m);
		}
	}
	set_prop(xmlNewChild(devs, NULL, BAD_CAST "console", NULL), "type", "pty");

	xmlBufferPtr buf = xmlBufferCreate();
	xmlNodeDump(buf, doc, dom, 0, 1);
	char *out = g_strdup_printf("%s\n", (const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return out;
}

virDomainPtr virt_lxc_lookup(virt *v, const char *domname)
{
	if (!v->lxc) {
		GError *e = NULL;
		if (virt_lxc_usable(v, &e) < 0) {
			g_error_free(e);
			if (!v->lxc)
				return NULL;
		}
	}
	virDomainPtr d = virDomainLookupByName(v->lxc, domname);
	if (!d)
		virResetLastError();
	return d;
}

/* ---------------------------------------------------------------- exec */

/* read what is there from fd into s (up to LXC_OUT_MAX); false at end of file */
static bool drain(int fd, GString *s)
{
	char buf[8192];
	ssize_t r = read(fd, buf, sizeof buf);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0)
		return false;
	if (s->len < LXC_OUT_MAX)
		g_string_append_len(s, buf, MIN((gsize)r, LXC_OUT_MAX - s->len));
	return true;
}

int virt_lxc_exec(virt *v, virDomainPtr dom, const char *cmd, int timeout_s, int *exit_code,
    char **out, char **errout, GError **err)
{
	int *fds = NULL;
	const char *name = virDomainGetName(dom);
	int nfd = virDomainLxcOpenNamespace(dom, &fds, 0);

	if (nfd < 0) {
		virt_set_error(err, "exec in container '%s' on %s: its namespaces", name, v->lxc_uri);
		return -1;
	}
	/* a namespace the container shares with nubed (its user namespace) is not entered:
	 * setns into one's own user namespace fails (EINVAL) */
	static const char *const own_ns[] = { "user", "ipc", "mnt", "net", "pid", "uts", "cgroup" };
	g_autofree bool *skip = g_new0(bool, nfd > 0 ? nfd : 1);
	for (int i = 0; i < nfd; i++) {
		struct stat a, b;
		if (fstat(fds[i], &a) < 0)
			continue;
		for (size_t k = 0; k < G_N_ELEMENTS(own_ns); k++) {
			g_autofree char *p = g_strdup_printf("/proc/self/ns/%s", own_ns[k]);
			if (stat(p, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
				skip[i] = true;
		}
	}
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "exec in container '%s': pipe: %s", name, g_strerror(errno));
		for (int i = 0; i < nfd; i++)
			close(fds[i]);
		free(fds);
		return -1;
	}
	/* the child enters the namespaces (setns only: nothing that allocates after fork), then
	 * forks the command so that it is inside the container's pid namespace too */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < nfd; i++)
			if (!skip[i] && setns(fds[i], 0) < 0) {
				char m[96];
				int e = errno;
				int l = snprintf(m, sizeof m, "setns of namespace %d of %d: errno %d", i + 1,
				    nfd, e);
				if (l > 0 && write(pe[1], m, (size_t)l) < 0)
					l = 0;
				kill(getpid(), SIGKILL);	/* "not entered": no exit status */
			}
		if (chdir("/") < 0)
			kill(getpid(), SIGKILL);
		pid_t c = fork();
		if (c == 0) {
			char *const argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
			char *const envp[] = { "PATH=" LXC_EXEC_PATH, "HOME=/root", "TERM=dumb",
			    "LANG=C.UTF-8", NULL };
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int nul = open("/dev/null", O_RDONLY);
			if (nul >= 0)
				dup2(nul, 0);
			dup2(po[1], 1);
			dup2(pe[1], 2);
			execve("/bin/sh", argv, envp);
			_exit(127);
		}
		if (c < 0)
			kill(getpid(), SIGKILL);
		int st = 0;
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
	}
	int fork_errno = errno;
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	free(fds);
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(po[0]);
		close(pe[0]);
		g_set_error(err, VIRT_ERROR, 0, "exec in container '%s': fork: %s", name,
		    g_strerror(fork_errno));
		return -1;
	}
	g_autoptr(GString) so = g_string_new(NULL);
	g_autoptr(GString) se = g_string_new(NULL);
	gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s > 0 ? timeout_s : 1) * G_USEC_PER_SEC;
	bool oo = true, eo = true, late = false;
	while (oo || eo) {
		struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		if (left <= 0) {
			late = true;
			break;
		}
		int r = poll(p, 2, (int)MIN(left, 1000));
		if (r < 0 && errno != EINTR)
			break;
		if (oo && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			oo = drain(po[0], so);
		if (eo && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			eo = drain(pe[0], se);
	}
	close(po[0]);
	close(pe[0]);
	if (late)
		kill(pid, SIGKILL);	/* the command dies with it (PR_SET_PDEATHSIG) */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (late) {
		g_set_error(err, VIRT_ERROR, 0, "command in container '%s' did not finish within %d s",
		    name, timeout_s);
		return -1;
	}
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	/* the child kills itself when it cannot enter (the command's own status is an exit) */
	if (WIFSIGNALED(st)) {
		g_set_error(err, VIRT_ERROR, 0, "exec in container '%s': cannot enter its namespaces "
		    "(%s)", name, se->str);
		return -1;
	}
	if (exit_code)
		*exit_code = code;
	if (out)
		*out = g_strdup(so->str);
	if (errout)
		*errout = g_strdup(se->str);
	return 0;
}

/* ---------------------------------------------------------------- cold move */

void virt_cold_clear(virt_cold *c)
{
	if (!c)
		return;
	g_free(c->xml);
	g_free(c->volume);
	g_free(c->sha256);
	memset(c, 0, sizeof *c);
}

char *virt_cold_volume(const char *domname)
{
	return g_strconcat(domname, VIRT_LAYER_SUFFIX, NULL);
}

/* what a container's domain XML says for a cold move: its name, the rootfs under its layer
 * (nube's metadata) and the <filesystem> mounted on "/" (its source element); borrowed from
 * doc, NULL when absent */
typedef struct {
	xmlDocPtr doc;
	const char *name;
	char *rootfs;		/* xmlFree */
	char *rootfs_sha256;	/* xmlFree; NULL: the rootfs is the folder of that path */
	xmlNodePtr meta;	/* nube's metadata element */
	xmlNodePtr root_source;	/* <source dir=...> of the filesystem on "/" */
} cold_xml;

static void cold_xml_clear(cold_xml *x)
{
	if (x->rootfs)
		xmlFree(x->rootfs);
	if (x->rootfs_sha256)
		xmlFree(x->rootfs_sha256);
	if (x->doc)
		xmlFreeDoc(x->doc);
	memset(x, 0, sizeof *x);
}

static int cold_xml_read(const char *xml, cold_xml *x, GError **err)
{
	memset(x, 0, sizeof *x);
	x->doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr dom = x->doc ? xmlDocGetRootElement(x->doc) : NULL;

	if (!dom || xmlStrcmp(dom->name, BAD_CAST "domain") != 0) {
		g_set_error(err, VIRT_ERROR, 0, "cold move: the domain XML does not parse");
		cold_xml_clear(x);
		return -1;
	}
	for (xmlNodePtr c = dom->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(c->name, BAD_CAST "name") == 0 && c->children && c->children->content)
			x->name = (const char *)c->children->content;
		if (xmlStrcmp(c->name, BAD_CAST "metadata") == 0)
			for (xmlNodePtr m = c->children; m; m = m->next)
				if (m->type == XML_ELEMENT_NODE && m->ns && m->ns->href &&
				    xmlStrcmp(m->ns->href, BAD_CAST VIRT_METADATA_NS) == 0 && !x->meta) {
					x->meta = m;
					x->rootfs = (char *)xmlGetProp(m, BAD_CAST "rootfs");
					x->rootfs_sha256 = (char *)xmlGetProp(m, BAD_CAST "rootfs-sha256");
				}
		if (xmlStrcmp(c->name, BAD_CAST "devices") == 0)
			for (xmlNodePtr f = c->children; f; f = f->next) {
				xmlNodePtr src = NULL;
				bool slash = false;

				if (f->type != XML_ELEMENT_NODE || xmlStrcmp(f->name, BAD_CAST "filesystem") != 0)
					continue;
				for (xmlNodePtr e = f->children; e; e = e->next) {
					if (e->type != XML_ELEMENT_NODE)
						continue;
					if (xmlStrcmp(e->name, BAD_CAST "source") == 0)
						src = e;
					if (xmlStrcmp(e->name, BAD_CAST "target") == 0) {
						xmlChar *t = xmlGetProp(e, BAD_CAST "dir");
						slash = t && xmlStrcmp(t, BAD_CAST "/") == 0;
						xmlFree(t);
					}
				}
				if (slash && src)
					x->root_source = src;
			}
	}
	if (!x->name || !x->rootfs || !x->root_source) {
		g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': its domain has no %s", x->name ?
		    x->name : "?", !x->name ? "name" : !x->rootfs ? "rootfs in nube's metadata "
		    "(deployed by an older nube, or type=\"direct\": its root is the rootfs itself)" :
		    "root filesystem");
		cold_xml_clear(x);
		return -1;
	}
	return 0;
}

char *virt_lxc_rootfs_sha256(virt *v, const char *domname)
{
	virDomainPtr dom = virt_lxc_lookup(v, domname);
	g_autofree char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
	char *sha = NULL;
	cold_xml x;
	GError *e = NULL;

	if (dom)
		virDomainFree(dom);
	virResetLastError();
	if (xml && cold_xml_read(xml, &x, &e) == 0) {
		sha = x.rootfs_sha256 ? g_strdup(x.rootfs_sha256) : NULL;
		cold_xml_clear(&x);
	}
	g_clear_error(&e);
	return sha;
}

/* run argv (tar), its stderr into the error; 0 or -1 + err */
static int run_tool(char **argv, GError **err)
{
	g_autofree char *errout = NULL;
	GError *e = NULL;
	int st = 0;

	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
	    NULL, NULL, &errout, &st, &e)) {
		g_set_error(err, VIRT_ERROR, 0, "%s: %s", argv[0], e->message);
		g_error_free(e);
		return -1;
	}
	if (!g_spawn_check_wait_status(st, &e)) {
		g_set_error(err, VIRT_ERROR, 0, "%s: %s: %s", argv[0], e->message,
		    errout ? g_strstrip(errout) : "");
		g_error_free(e);
		return -1;
	}
	return 0;
}

/* sha256 of a file (g_free) and its size; NULL + err */
static char *file_sha256(const char *path, uint64_t *bytes, GError **err)
{
	g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree char *buf = g_malloc(1 << 20);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t n = 0;
	ssize_t r;

	if (fd < 0) {
		g_set_error(err, VIRT_ERROR, 0, "read '%s': %s", path, g_strerror(errno));
		return NULL;
	}
	while ((r = read(fd, buf, 1 << 20)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			g_set_error(err, VIRT_ERROR, 0, "read '%s': %s", path, g_strerror(errno));
			close(fd);
			return NULL;
		}
		g_checksum_update(ck, (const guchar *)buf, (gsize)r);
		n += (uint64_t)r;
	}
	close(fd);
	if (bytes)
		*bytes = n;
	return g_strdup(g_checksum_get_string(ck));
}

static void unlink_volume(virt *v, const char *domname)
{
	g_autofree char *vol = virt_cold_volume(domname);
	g_autofree char *path = g_build_filename(v->disk_dir, vol, NULL);

	if (unlink(path) == 0)
		virt_pool_refresh(v, VIRT_POOL);
}

/* the overlay xattr that names a lower file by its handle: meaningless on another host's
 * copy of the rootfs, so it does not travel (overlayfs then treats the file as its own) */
#define TAR_XATTRS	"--xattrs", "--xattrs-include=*", "--xattrs-exclude=trusted.overlay.origin"

int virt_cold_out(virt *v, const char *domname, int grace_s, virt_cold *out, GError **err)
{
	virDomainPtr dom = virt_lxc_lookup(v, domname);
	g_autofree char *d = virt_lxc_dir(v, domname);
	g_autofree char *upper = g_build_filename(d, "upper", NULL);
	g_autofree char *root = g_build_filename(d, "root", NULL);
	g_autofree char *tarf = NULL;
	cold_xml x;
	gint64 t0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!dom) {
		g_set_error(err, VIRT_ERROR, 0, "cold move: '%s' is not a container here", domname);
		return -1;
	}
	out->xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!out->xml) {
		virt_set_error(err, "cold move: the XML of '%s'", domname);
		goto done;
	}
	if (cold_xml_read(out->xml, &x, err) < 0)
		goto done;
	xmlChar *src = xmlGetProp(x.root_source, BAD_CAST "dir");
	bool layered = g_strcmp0((const char *)src, root) == 0;
	xmlFree(src);
	cold_xml_clear(&x);
	if (!layered || !virt_is_dir(upper)) {
		g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': its root is not a layer in '%s' "
		    "(type=\"direct\" containers are not moved)", domname, d);
		goto done;
	}
	/* stop: its own shutdown for up to grace_s, then destroyed */
	t0 = g_get_monotonic_time();
	if (virDomainIsActive(dom) == 1) {
		if (grace_s > 0 && virDomainShutdown(dom) == 0) {
			gint64 end = t0 + (gint64)grace_s * G_USEC_PER_SEC;

			while (virDomainIsActive(dom) == 1 && g_get_monotonic_time() < end)
				g_usleep(G_USEC_PER_SEC / 20);
		}
		virResetLastError();
		if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
			virt_set_error(err, "cold move: stop '%s'", domname);
			goto done;
		}
	}
	out->stop_ms = (g_get_monotonic_time() - t0) / 1000;
	/* the layer, still: unmounted, then one tar of it in the pool */
	t0 = g_get_monotonic_time();
	if (is_mountpoint(root) && umount2(root, 0) < 0 && umount2(root, MNT_DETACH) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "cold move: unmount '%s': %s", root, g_strerror(errno));
		goto done;
	}
	out->volume = virt_cold_volume(domname);
	tarf = g_build_filename(v->disk_dir, out->volume, NULL);
	char *argv[] = { "tar", "--create", "--file", tarf, "--directory", upper, "--numeric-owner",
	    "--sparse", "--acls", TAR_XATTRS, ".", NULL };
	if (run_tool(argv, err) < 0) {
		unlink(tarf);
		g_prefix_error(err, "cold move: pack the layer of '%s': ", domname);
		goto done;
	}
	out->sha256 = file_sha256(tarf, &out->bytes, err);
	if (!out->sha256) {
		unlink(tarf);
		goto done;
	}
	virt_pool_refresh(v, VIRT_POOL);
	out->pack_ms = (g_get_monotonic_time() - t0) / 1000;
	rc = 0;
done:
	virDomainFree(dom);
	return rc;
}

int virt_cold_back(virt *v, const char *domname, GError **err)
{
	virDomainPtr dom = virt_lxc_lookup(v, domname);
	g_autofree char *xml = NULL;
	cold_xml x;
	int rc = -1;

	unlink_volume(v, domname);
	if (!dom) {
		g_set_error(err, VIRT_ERROR, 0, "restart: '%s' is not a container here", domname);
		return -1;
	}
	if (virDomainIsActive(dom) == 1) {
		virDomainFree(dom);
		return 0;
	}
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml) {
		virt_set_error(err, "restart: the XML of '%s'", domname);
		goto done;
	}
	if (cold_xml_read(xml, &x, err) < 0)
		goto done;
	rc = mount_layer(v, domname, x.rootfs, false, err);
	cold_xml_clear(&x);
	if (rc < 0)
		goto done;
	rc = -1;
	if (virDomainCreate(dom) < 0) {
		virt_set_error(err, "restart '%s' on %s", domname, v->lxc_uri);
		goto done;
	}
	rc = 0;
done:
	virDomainFree(dom);
	return rc;
}

/* only what virt_lxc_render makes: type lxc, devices filesystem (one, on "/"), bridged
 * interfaces, console; the <emulator> libvirt adds is dropped (this host's libvirt puts its
 * own back: a peer does not choose the program that runs) */
static int cold_xml_safe(cold_xml *x, GError **err)
{
	xmlNodePtr dom = xmlDocGetRootElement(x->doc);
	xmlChar *type = xmlGetProp(dom, BAD_CAST "type");
	bool lxc = type && xmlStrcmp(type, BAD_CAST "lxc") == 0;
	int nfs = 0;

	xmlFree(type);
	if (!lxc) {
		g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': not an LXC domain", x->name);
		return -1;
	}
	for (xmlNodePtr c = dom->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "devices") != 0)
			continue;
		for (xmlNodePtr d = c->children, next; d; d = next) {
			next = d->next;
			if (d->type == XML_ELEMENT_NODE && xmlStrcmp(d->name, BAD_CAST "emulator") == 0) {
				xmlUnlinkNode(d);
				xmlFreeNode(d);
				continue;
			}
			if (d->type != XML_ELEMENT_NODE || xmlStrcmp(d->name, BAD_CAST "console") == 0)
				continue;
			xmlChar *t = xmlGetProp(d, BAD_CAST "type");
			bool ok = (xmlStrcmp(d->name, BAD_CAST "filesystem") == 0 && nfs++ == 0 && t &&
			    xmlStrcmp(t, BAD_CAST "mount") == 0) ||
			    (xmlStrcmp(d->name, BAD_CAST "interface") == 0 && t &&
			    xmlStrcmp(t, BAD_CAST "bridge") == 0);
			xmlFree(t);
			if (!ok) {
				g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': device <%s> is not one "
				    "nube gives a container", x->name, (const char *)d->name);
				return -1;
			}
		}
	}
	return 0;
}

int virt_cold_in(virt *v, const char *xml, const char *sha256, const char *domname,
    GError **err)
{
	cold_xml x;
	g_autofree char *name = NULL, *d = NULL, *upper = NULL, *root = NULL, *tarf = NULL,
	    *vol = NULL, *sum = NULL, *xml2 = NULL;
	virDomainPtr dom = NULL;
	int rc = -1;

	if (virt_lxc_usable(v, err) < 0)
		return -1;
	if (cold_xml_read(xml, &x, err) < 0)
		return -1;
	name = g_strdup(x.name);
	if (proto_split_domain(name, NULL, NULL) < 0 || g_strcmp0(name, domname) != 0) {
		g_set_error(err, VIRT_ERROR, 0, "cold move: the XML names '%s', not '%s'", name,
		    domname);
		g_clear_pointer(&name, g_free);
		goto out;
	}
	if (cold_xml_safe(&x, err) < 0) {
		g_clear_pointer(&name, g_free);
		goto out;
	}
	vol = virt_cold_volume(name);
	tarf = g_build_filename(v->disk_dir, vol, NULL);
	if (x.rootfs_sha256) {
		/* this host's copy of the same content */
		if (!proto_sha256_ok(x.rootfs_sha256)) {
			g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': rootfs-sha256 '%s' is not a "
			    "sha256", name, x.rootfs_sha256);
			goto out;
		}
		g_autofree char *mine = virt_rootfs_path(v, x.rootfs_sha256);
		xmlFree(x.rootfs);
		x.rootfs = (char *)xmlStrdup(BAD_CAST mine);
		xmlSetProp(x.meta, BAD_CAST "rootfs", BAD_CAST mine);
	}
	if (!virt_is_dir(x.rootfs)) {
		g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': its rootfs '%s'%s is not on this "
		    "host", name, x.rootfs, x.rootfs_sha256 ? " (by content)" : "");
		goto out;
	}
	if ((dom = virt_lxc_lookup(v, name)) != NULL) {
		g_set_error(err, VIRT_ERROR, 0, "cold move: a container '%s' exists here already", name);
		virDomainFree(dom);
		dom = NULL;
		goto out;
	}
	/* the layer is what its source packed, or nothing */
	if (!(sum = file_sha256(tarf, NULL, err)))
		goto out;
	if (strcmp(sum, sha256) != 0) {
		g_set_error(err, VIRT_ERROR, 0, "cold move of '%s': the layer received has sha256 %s, "
		    "its source sent %s", name, sum, sha256);
		goto out;
	}
	d = virt_lxc_dir(v, name);
	upper = g_build_filename(d, "upper", NULL);
	root = g_build_filename(d, "root", NULL);
	if (virt_lxc_layer_remove(v, name, err) < 0)
		goto out;
	if (g_mkdir_with_parents(upper, 0755) < 0) {
		g_set_error(err, VIRT_ERROR, 0, "make '%s': %s", upper, g_strerror(errno));
		goto out;
	}
	char *argv[] = { "tar", "--extract", "--file", tarf, "--directory", upper, "--numeric-owner",
	    "--same-permissions", "--same-owner", "--acls", TAR_XATTRS, NULL };
	if (run_tool(argv, err) < 0) {
		g_prefix_error(err, "cold move: unpack the layer of '%s': ", name);
		goto out;
	}
	if (mount_layer(v, name, x.rootfs, false, err) < 0)
		goto out;
	xmlSetProp(x.root_source, BAD_CAST "dir", BAD_CAST root);
	{
		xmlChar *buf = NULL;
		int len = 0;

		xmlDocDumpMemory(x.doc, &buf, &len);
		xml2 = g_strndup((const char *)buf, (gsize)len);
		xmlFree(buf);
	}
	dom = virDomainDefineXML(v->lxc, xml2);
	if (!dom) {
		virt_set_error(err, "cold move: define '%s' on %s", name, v->lxc_uri);
		goto out;
	}
	if (virDomainCreate(dom) < 0) {
		virt_set_error(err, "cold move: start '%s' on %s", name, v->lxc_uri);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && dom) {
		if (virDomainIsActive(dom) == 1)
			virDomainDestroy(dom);
		virDomainUndefine(dom);
	}
	if (dom)
		virDomainFree(dom);
	if (rc < 0 && d) {
		GError *e2 = NULL;

		if (virt_lxc_layer_remove(v, name, &e2) < 0)
			g_error_free(e2);
	}
	unlink_volume(v, domname);
	cold_xml_clear(&x);
	return rc;
}
