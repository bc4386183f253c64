/* output: shared CLI output helpers: aligned text tables, JSON documents, "nube: ..." errors */
#ifndef NUBE_OUTPUT_H
#define NUBE_OUTPUT_H

#include <stdio.h>
#include <glib.h>
#include <jansson.h>

#include "plan/plan.h"
#include "scenario/scenario.h"

typedef struct out_table out_table;

/* out_table_new: a table with ncols columns titled by the ncols strings in headers (copied).
 * Free with out_table_free (accepts NULL). */
out_table *out_table_new(int ncols, const char *const *headers);
void out_table_free(out_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(out_table, out_table_free)

/* out_table_right: right-align column col (numbers); columns are left-aligned by default */
void out_table_right(out_table *t, int col);

/* out_table_add: append a row of ncols cells (copied; NULL prints as "-") */
void out_table_add(out_table *t, const char *const *cells);

/* out_table_addv: append a row given as exactly ncols const char* arguments */
void out_table_addv(out_table *t, ...);

/* out_table_rows: number of data rows so far */
int out_table_rows(const out_table *t);

/* out_table_print: headers in upper case, then the rows; each column as wide as its widest
 * cell (counted in UTF-8 characters), two spaces between columns, no trailing blanks. */
void out_table_print(const out_table *t, FILE *fp);

/* out_json_print: write j to fp indented by 2, keys in insertion order (a stable interface),
 * then a newline. Does not take j. 0, or -1 when writing failed (reported). */
int out_json_print(const json_t *j, FILE *fp);

/* out_json_str: json string or null for NULL (new reference) */
json_t *out_json_str(const char *s);

/* out_err: print "nube: <message>" to stderr */
void out_err(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* out_usage: a bad command line of command cmd: "nube: CMD: MSG" (msg may be NULL: no such
 * line) and "Try 'nube CMD --help'." on stderr. Returns CLI_USAGE. */
int out_usage(const char *cmd, const char *msg);

/* out_check_name: 0 when name follows the name rule (sc_name_check, or sc_host_name_check
 * when host), else "nube: CMD: WHAT name 'NAME' WHY" on stderr and CLI_USAGE */
int out_check_name(const char *cmd, const char *what, const char *name, bool host);

/* out_plan_json: the placement of plan p of scenario s as printed by `nube plan --json` and
 * `nube deploy --json`: {"scenario", "algorithm", "placements": [{vm, host, mem_mib, vcpu,
 * nets, macs, mgmt}], "nets": [{net, hosts, vni}], "totals": {vms, nets, cross_host_nets,
 * hosts}}. New reference. */
json_t *out_plan_json(const scenario *s, const plan *p);

/* out_plan_print: the placement table (VM, HOST, MEM, NETS, CROSS-HOST, VNIS), the per-host
 * totals and a summary line, as `nube plan` and `nube deploy` print them */
void out_plan_print(const scenario *s, const plan *p, FILE *fp);

#endif
