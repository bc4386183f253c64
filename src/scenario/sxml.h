/* sxml: small libxml2 helpers shared by the scenario and restrictions parsers (internal) */
#ifndef NUBE_SCENARIO_SXML_H
#define NUBE_SCENARIO_SXML_H

#include <stddef.h>
#include <libxml/tree.h>

#include "util/diag.h"

/* sxml_read: parse buf as XML without network access or entity expansion; libxml2's own
 * errors go to d as name:line (never to stderr). Returns the document (free with
 * xmlFreeDoc) or NULL when it is malformed. */
xmlDoc *sxml_read(const char *buf, size_t len, const char *name, diag *d);

/* sxml_line: line number of n (0 when unknown). */
int sxml_line(const xmlNode *n);

/* sxml_prop: attribute value, stripped of surrounding white space, as a new g_malloc'd
 * string, or NULL when absent or empty (VNX reads vlan="" as no vlan). */
char *sxml_prop(const xmlNode *n, const char *attr);

/* sxml_text: text content of n with surrounding white space stripped; new string. */
char *sxml_text(const xmlNode *n);

/* sxml_is: true when n is an element called name. */
int sxml_is(const xmlNode *n, const char *name);

/* sxml_check_attrs: warn (name:line) about every attribute of n not in known (NULL-ended);
 * namespaced attributes (xmlns:*, xsi:*) are ignored. */
void sxml_check_attrs(const xmlNode *n, const char *const *known, const char *name, diag *d);

/* sxml_in: true when s is one of the NULL-ended list. */
int sxml_in(const char *s, const char *const *list);

#endif
