/* sxml: libxml2 reading with errors routed to diag, plus attribute/text helpers */
#include "scenario/sxml.h"

#include <limits.h>
#include <string.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

typedef struct {
	diag *d;
	const char *name;
	char *last;		/* previous message, libxml2 repeats some */
	int last_line;
} sxml_errctx;

static void
sxml_on_error(void *data, xmlErrorPtr err)
{
	sxml_errctx *ec = data;
	g_autofree char *msg = NULL;

	if (err == NULL)
		return;
	msg = g_strdup(err->message != NULL ? err->message : "XML error");
	if (strchr(msg, '\n') != NULL)
		*strchr(msg, '\n') = '\0';	/* the rest is a snippet of the input */
	g_strchomp(msg);
	if (ec->last != NULL && ec->last_line == err->line && strcmp(ec->last, msg) == 0)
		return;
	g_free(ec->last);
	ec->last = g_strdup(msg);
	ec->last_line = err->line;
	if (err->level == XML_ERR_WARNING)
		diag_warn(ec->d, ec->name, err->line, "%s", msg);
	else
		diag_error(ec->d, ec->name, err->line, "%s", msg);
}

xmlDoc *
sxml_read(const char *buf, size_t len, const char *name, diag *d)
{
	sxml_errctx ec = { d, name, NULL, 0 };
	xmlParserCtxtPtr ctxt;
	xmlDoc *doc;
	int before = d != NULL ? d->nerrors : 0;
	xmlStructuredErrorFunc prev_fn;
	void *prev_ctx;

	if (len > INT_MAX) {
		diag_error(d, name, 0, "file too large (%zu bytes)", len);
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		diag_error(d, name, 0, "cannot create an XML parser");
		return NULL;
	}
	/* errors of this parse go to d, nothing to stderr; the caller's handler comes back after */
	prev_fn = xmlStructuredError;
	prev_ctx = xmlStructuredErrorContext;
	xmlSetStructuredErrorFunc(&ec, sxml_on_error);
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL,
			XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA);
	xmlSetStructuredErrorFunc(prev_ctx, prev_fn);
	g_free(ec.last);
	if (doc == NULL || !ctxt->wellFormed) {
		if (d == NULL || d->nerrors == before)
			diag_error(d, name, 0, "malformed XML");
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

int
sxml_line(const xmlNode *n)
{
	long l = xmlGetLineNo(n);

	return l > 0 && l < INT_MAX ? (int)l : 0;
}

char *
sxml_prop(const xmlNode *n, const char *attr)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)attr);
	char *r;

	if (v == NULL)
		return NULL;
	r = g_strstrip(g_strdup((const char *)v));
	xmlFree(v);
	if (r[0] == '\0') {	/* VNX: an empty attribute (vlan="") is an absent one */
		g_free(r);
		return NULL;
	}
	return r;
}

char *
sxml_text(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *r = g_strdup(v != NULL ? (const char *)v : "");

	xmlFree(v);
	return g_strstrip(r);
}

int
sxml_is(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

int
sxml_in(const char *s, const char *const *list)
{
	if (s == NULL)
		return 0;
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

void
sxml_check_attrs(const xmlNode *n, const char *const *known, const char *name, diag *d)
{
	for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
		if (a->ns != NULL)
			continue;
		if (!sxml_in((const char *)a->name, known))
			diag_warn(d, name, sxml_line(n), "unknown attribute '%s' on <%s>, ignored",
					(const char *)a->name, (const char *)n->name);
	}
}
