/* guestcfg: the configuration each guest image expects, generated from the scenario model:
 * VNX's autoconfiguration medium (vnxboot.xml, command.xml, filetree/) and a cloud-init
 * NoCloud seed (meta-data, user-data, network-config); plus the resolver of the host files
 * a VM's <filetree> and <exec type="file"> name.
 *
 * The generators are pure (model + plan in, documents out); only guestcfg_resolve reads the
 * file system. Nothing here writes a medium or talks to a guest: the CLI packs the documents
 * and files into the deployment message (cli/media.c, wire/deployment.h's media), the agent
 * writes them as ISO images and attaches them (virt/media.c: "vnx" as vdb, "cidata" as hdc).
 *
 * ---- 1. VNX images (guest daemon vnxaced) --------------------------------------------------
 *
 * What VNX's host side does (vnx.pl make_vmAPI_doc and get_vm_ftrees_and_execs,
 * vmAPI_libvirt.pm define_vm and execute_cmd; giros-dit/vnx 8181942, davidfdezc/vnx f944a16):
 *
 * Boot medium. A CD-ROM (mkisofs -l -R: Rock Ridge, names kept) attached to the domain from
 * the start, holding
 *     vnxboot.xml          the <create_conf> document below (guestcfg_vnxboot)
 *     filetree/1/ ...      the host files of the VM's first <filetree seq="on_boot">,
 *     filetree/2/ ...      of the second one, and so on (guestcfg_resolve: gc_tree.num)
 * The guest daemon, at boot, mounts the CD (/dev/sr0 on /media/cdrom), sees a vnxboot.xml
 * whose <id> differs from the cmd_id it saved in /root/.vnx/vnxaced.status, writes the
 * network configuration (ifupdown interfaces named eth<id> by MAC through udev rules,
 * addresses, routes attached to the interface whose subnet holds the gateway, dns),
 * /etc/sysctl.conf forwarding, /etc/hostname and /etc/hosts, and REBOOTS the guest. After
 * that reboot it mounts the CD again, finds the same <id> with on_boot_cmds_pending=yes
 * and runs every <filetree> (copying filetree/<n>/ to root=) and then every <exec> of
 * vnxboot.xml, whatever their seq (that is why only the on_boot ones are in it). So the
 * CD must stay attached across that guest-initiated reboot.
 *
 * vnxboot.xml (one line, as XML::LibXML's toString writes it):
 *   <create_conf>
 *     <id>VM-XXXXXX</id>                      fresh per medium: guestcfg_new_id
 *     <vm name= type= subtype= os= exec_mode="cdrom" arch= vcpu=>
 *       (VNX writes subtype= with the os value: kept, the daemon reads neither)
 *       <filesystem type="cow">PATH</filesystem>
 *       <mem>KiB</mem>
 *       <if mac=",MAC" net="" id="0"><ipv4 mask="DOTTED">ADDR</ipv4></if>   management, only
 *                                               when the caller gives one (gc_net.mgmt_mac)
 *       <if id= net= mac=",MAC" [name=]>       one per <if>, file order; VNX's leading comma
 *         <ipv4 mask="255.255.255.0">10.1.0.2</ipv4>  dotted mask, default /24; "dhcp" too
 *         <ipv6>2001:db8::2/64</ipv6>                  prefix in the text, default /64
 *         <dns>ADDR</dns>
 *       </if>
 *       <route type="ipv4|ipv6" gw=>DEST</route>     "default" or a prefix, as written
 *       <forwarding type="ipv4"/> <forwarding type="ipv6"/>
 *       <filetree seq= root= [user= group= perms=]>SRC as written</filetree>  on_boot ones
 *       <exec seq="on_boot" ostype="system">COMMANDS</exec>
 *     </vm>
 *   </create_conf>
 * COMMANDS are VNX's processing of the <exec> text (or of the file's content for
 * type="file", its path found like a filetree source; VNX takes a relative one from its
 * working directory): backslash-continued lines joined, each line trimmed, empty and '#' lines
 * dropped, ';' appended unless the line ends in ';' or '&', one line each
 * (guestcfg_vnx_commands). ostype defaults to "system" (run by bash, waited for);
 * "exec" forks; "xsystem"/"xexec" run on the user's display.
 * Not generated (not in nube's model, and not read by vnxaced on Linux): <console>,
 * <storage>, <shareddir>, <video>, <conf>, <ssh_key>, if bw/delay/loss, plugin files.
 *
 * exec of a seq (VNX's "vnx -x SEQ"; cmd-seqs expand to their seqs, one exchange each):
 *   1. host: a new ISO (mkisofs -d -nobak -follow-links -max-iso9660-filename
 *      -allow-leading-dots -pad -quiet -allow-lowercase -allow-multidot: no Rock Ridge)
 *      with command.xml (guestcfg_command) and filetree/<n>/ for the seq's filetrees;
 *   2. host: "virsh attach-disk VM ISO vdb|hdb --mode readonly --type cdrom" (a media
 *      change in the domain's CD drive);
 *   3. host: connects to the domain's second serial port (libvirt <serial type="tcp">
 *      <source mode="bind" host="127.0.0.1" service="13000+"/><protocol type="telnet"/>
 *      <target port="1"/>, the guest's /dev/ttyS1) and writes the line "exeCommand cdrom\n";
 *   4. guest: mounts the CD, takes command.xml if its <id> is new, copies the filetrees,
 *      runs the execs in order, answers "OK\n" on the same line ("NOTOK <why>\n" for an
 *      unknown command or exec mode);
 *   5. host: waits (120 s by default) for a line starting with OK or NOTOK (leading
 *      non-word bytes, i.e. telnet negotiation, are skipped), then inserts an empty ISO.
 * Other lines the daemon understands: "hello" and "nop" (answer OK), "halt", "reboot",
 * "vnxaced_update cdrom". The commands' output is not sent back: vnxaced writes it to
 * /var/log/vnxaced.log in the guest. command.xml:
 *   <command><id>VM-XXXXXX</id> <filetree .../>... <exec seq= ostype=>COMMANDS</exec>...
 *   </command>
 *
 * Two transports, same documents and layout. VNX's own default exec_mode for
 * libvirt-kvm-linux is "sdisk" (Globals.pm: sdisk cdrom net): a 50 MiB ext3 disk, second
 * disk of the domain (vdb with virtio), holding vnxboot.xml, filetree/ and an empty config/;
 * for an exec the host loop-mounts it, replaces command.xml and filetree/, unmounts it and
 * sends "exeCommand sdisk". The daemon (vnxaced.pl, giros-dit 8181942) decides by device:
 *   - "sdisk": it mounts the first of /dev/vdb, /dev/sdb, /dev/hdb on /mnt/sdisk, and at
 *     start-up EXITS ("linux configuration disk not found") when none of them exists;
 *   - "cdrom": it has a mount command for Ubuntu (/media/cdrom from fstab), Fedora and
 *     CentOS only: on Debian it never mounts the CD.
 * So on a Debian guest the medium must be a second disk, vdb: an ISO image attached as a
 * virtio disk works for vnxboot.xml; for an exec the host must change that disk's content
 * while the guest has it unmounted (the daemon mounts it only around each command): VNX
 * rewrites its ext3 image in place through a loop mount; swapping the file under a running
 * QEMU does not work (QEMU keeps the old file open), hot-unplugging and plugging the disk
 * does. Then "exeCommand sdisk". vnxboot.xml's exec_mode= is not read by the daemon.
 * Also: the published vnxaced.pl calls autoconfigure_debian_ubuntu without defining it;
 * VNX's packaging (admin-scripts/build_vnx_tar) appends perl-modules/VNX/
 * vnx_autoconfigure.pl to it, and a test image must do the same. That code writes ifupdown's
 * /etc/network/interfaces (with "ifconfig" in up lines) and udev rules matching
 * KERNEL=="eth*", so the image needs ifupdown, net-tools and net.ifnames=0.
 *
 * <filetree> sources (VNX's get_abs_path and its cp): a relative path is relative to
 * <vm_defaults><basedir> if given, else to the scenario file's folder; "~/" is the user's
 * home; a pattern with * ? [ is expanded (every match, sorted; VNX keeps only the first
 * match: a VNX bug nube does not copy). A file goes to filetree/<n>/<its name>; a directory
 * written with a trailing '/' contributes its contents, one without contributes itself
 * (VNX's "cp -a SRC* dst" puts the folder, by its name, inside filetree/<n>/). The daemon
 * then copies filetree/<n>/ * to root= when root ends in '/', else to the file root= (one
 * file only), and applies user=, group=, perms= (chown/chmod -R) to what it copied.
 *
 * ---- 2. cloud images (cloud-init NoCloud seed) ----------------------------------------------
 *
 * Three documents on a CD-ROM labelled "cidata" (or vfat), all JSON, which is YAML:
 *   meta-data       {"instance-id": ID, "local-hostname": VM}
 *   user-data       "#cloud-config\n" + {hostname, manage_etc_hosts: "localhost",
 *                   write_files: [...], runcmd: [...]}
 *     write_files   every file of the on_boot filetrees: path = root + path below
 *                   filetree/<n>/ (or root itself when root does not end in '/'),
 *                   encoding "b64", content, permissions "0NNN" from perms= when octal,
 *                   else the host file's mode; owner "user:group" from user=/group=;
 *                   plus /etc/sysctl.d/90-nube-forwarding.conf with VNX's two values
 *     runcmd        ["sysctl", "-p", that file]; ["chmod", "-R", PERMS, PATH] for each
 *                   entry of a filetree whose perms= is not octal (e.g. "u+x"); then
 *                   for each on_boot exec, in file order, ["bash", "-c", SCRIPT]
 *                   (ostype system/xsystem) or a detached bash (exec/xexec), SCRIPT
 *                   being what vnxaced runs: COMMANDS without the ';' VNX appended
 *                   (other ostypes are not run, as under VNX: a warning)
 *                   root= must be absolute (the daemon would take it from its cwd)
 *   network-config {"version": 2, "ethernets": {"eth<id>": {"match": {"macaddress": MAC},
 *                   "set-name": "eth<id>", "addresses": [...], "dhcp4": bool, "dhcp6":
 *                   bool, "routes": [{"to", "via"}], "nameservers": {"addresses"}, "mtu"}}}
 *                   routes go to the interface with an address whose subnet holds the
 *                   gateway (as vnxaced does); "default" is written 0.0.0.0/0 or ::/0.
 * cloud-init reads all three with yaml.safe_load; the tests parse them back with jansson and
 * check that no string needed YAML quoting beyond JSON's.
 *
 * Ownership: every function returning a pointer returns a new object the caller frees
 * (g_free for strings, xmlFreeDoc for documents, gc_seq_free); arguments are borrowed. */
#ifndef NUBE_GUESTCFG_H
#define NUBE_GUESTCFG_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>
#include <libxml/tree.h>

#include "scenario/scenario.h"
#include "util/diag.h"

#define GC_SEQ_ON_BOOT		"on_boot"
#define GC_SEQ_ON_SHUTDOWN	"on_shutdown"
#define GC_DEFAULT_OSTYPE	"system"	/* VNX's first ostype for libvirt-kvm-linux */
#define GC_ID_RANDOM_LEN	6		/* VNX: "<vm>-" + 6 of [A-Za-z0-9_] */
#define GC_FWD_SYSCTL_PATH	"/etc/sysctl.d/90-nube-forwarding.conf"
#define GC_MAX_SEED_BYTES	(8u * 1024 * 1024)	/* file data a cloud-init seed may carry */

/* what the plan decides for a VM's interfaces; all borrowed */
typedef struct {
	GPtrArray *macs;	/* of char*, one per sc_if of the VM in file order ("aa:bb:..") */
	const char *mgmt_mac;	/* NULL: no management interface (nube plugs none today) */
	const char *mgmt_addr;	/* "a.b.c.d/len" for the management interface, or NULL: dhcp */
	int mtu;		/* > 0: written for every interface (cloud-init only) */
} gc_net;

/* one regular file under a resolved filetree */
typedef struct {
	char *host;		/* absolute host path */
	char *rel;		/* its path below filetree/<num>/, e.g. "h3/index.html" */
	guint mode;		/* permission bits on the host (st_mode & 07777) */
	GBytes *data;		/* content, only when resolved with GC_RESOLVE_DATA, else NULL */
} gc_file;

/* one top-level entry VNX puts into filetree/<num>/ */
typedef struct {
	char *host;		/* absolute host path (file or directory, copied recursively) */
	char *medium;		/* its path on the medium, e.g. "filetree/1/h3" */
	bool dir;
} gc_copy;

typedef struct {
	const sc_filetree *ft;	/* borrowed from the scenario */
	guint num;		/* folder number on the medium, 1-based in seq order */
	GPtrArray *copies;	/* of gc_copy* */
	GPtrArray *files;	/* of gc_file*: every regular file below the copies, sorted */
} gc_tree;

typedef struct {
	const sc_exec *ex;	/* borrowed */
	char *ostype;		/* ex->ostype or GC_DEFAULT_OSTYPE */
	char *text;		/* guestcfg_vnx_commands of the verbatim text or the file's content */
} gc_cmd;

/* everything one seq of one VM needs, host files resolved */
typedef struct {
	char *seq;
	GPtrArray *trees;	/* of gc_tree*, in file order */
	GPtrArray *cmds;	/* of gc_cmd*, in file order */
} gc_seq;

typedef enum { GC_RESOLVE_PATHS = 0, GC_RESOLVE_DATA = 1 } gc_resolve_flags;

void gc_seq_free(gc_seq *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(gc_seq, gc_seq_free)

/* guestcfg_seq_has: true when the seq= list (VNX: comma-separated, blanks trimmed) holds seq. */
bool guestcfg_seq_has(const char *list, const char *seq);

/* guestcfg_new_id: a fresh document id "<vm>-XXXXXX" as VNX makes it. */
char *guestcfg_new_id(const char *vm);

/* guestcfg_host_path: where VNX looks for a path written in the scenario: absolute as is,
 * "~/" under the user's home, else relative to s->basedir (itself relative to the scenario
 * file's folder) or to the scenario file's folder. New string. */
char *guestcfg_host_path(const scenario *s, const char *written);

/* guestcfg_resolve: the <filetree> and <exec> elements of vm whose seq= holds seq, with
 * their host files found (and read, with GC_RESOLVE_DATA). Every missing or unreadable
 * file is an error in d naming the VM, the path as written and where it was looked for, at
 * the element's line. Returns NULL when any error was added. */
gc_seq *guestcfg_resolve(const scenario *s, const sc_vm *vm, const char *seq,
		gc_resolve_flags flags, diag *d);

/* guestcfg_vnx_commands: VNX's processing of an <exec>'s text into the lines it sends
 * (see the top of this file), quirks included: the result starts with a newline when the
 * text's first line is empty (or "0", false to Perl), so it is "\n" when nothing is left.
 * New string. */
char *guestcfg_vnx_commands(const char *text);

/* guestcfg_vnxboot: the vnxboot.xml document of vm, with id as <id>, the interfaces' MACs
 * from net and the on_boot filetrees and execs of on_boot (may be NULL: none). Problems
 * (a MAC missing for an interface) go to d; returns NULL when one was an error. */
xmlDoc *guestcfg_vnxboot(const scenario *s, const sc_vm *vm, const char *id,
		const gc_net *net, const gc_seq *on_boot, diag *d);

/* guestcfg_command: the command.xml document carrying seq's filetrees and execs. */
xmlDoc *guestcfg_command(const char *id, const gc_seq *seq);

/* guestcfg_layout: what goes on a medium besides the XML document: of gc_copy* (borrowed
 * from q, in order), host path -> medium path. */
GPtrArray *guestcfg_layout(const gc_seq *q);

/* guestcfg_xml_text: doc serialized as VNX writes it (declaration, UTF-8, unformatted,
 * trailing newline). New string; *len (may be NULL) gets its length. */
char *guestcfg_xml_text(xmlDoc *doc, gsize *len);

/* cloud-init NoCloud documents. instance_id should change whenever the seed changes. */
char *guestcfg_ci_meta_data(const sc_vm *vm, const char *instance_id);
/* user-data: on_boot must have been resolved with GC_RESOLVE_DATA (may be NULL: none).
 * NULL with an error in d when a filetree cannot be written as files (root= is a file
 * but several files come), or the files exceed GC_MAX_SEED_BYTES. */
char *guestcfg_ci_user_data(const scenario *s, const sc_vm *vm, const gc_seq *on_boot, diag *d);
/* network-config: NULL with an error in d when a MAC is missing or an address is
 * malformed; a route whose gateway is on no interface is a warning and left out. */
char *guestcfg_ci_network_config(const scenario *s, const sc_vm *vm, const gc_net *net, diag *d);

/* guestcfg_exec_steps: what an agent does in vm for an exec of the seq q (resolved with
 * GC_RESOLVE_DATA), in VNX's order (the daemon copies the filetrees, then runs the execs):
 *   [{"filetree": ROOT, "write_files": [...as user-data's...], "runcmd": [[chmod...]]},
 *    {"cmd": SCRIPT, "detach": bool}, ...]
 * SCRIPT is what vnxaced runs (as in runcmd); detach for ostype exec/xexec; other ostypes are
 * not run (a warning in d). *bytes (may be NULL) gets the file and script bytes carried.
 * NULL with an error in d when a filetree cannot be written as files. New reference. */
json_t *guestcfg_exec_steps(const scenario *s, const sc_vm *vm, const gc_seq *q, gsize *bytes,
		diag *d);

#endif
