/* rpcreq: the fields every rpc op accepts, with their types, checked once before dispatch so
 * a field of the wrong type is an error, never a default. Pure (jansson only). */
#ifndef NUBE_RPCREQ_H
#define NUBE_RPCREQ_H

#include <stdbool.h>
#include <jansson.h>

/* the "events" op: at most this many events per reply ("limit"), this many when not given */
#define RPCREQ_EVENTS_LIMIT_MAX		10000
#define RPCREQ_EVENTS_LIMIT_DEFAULT	1000

typedef enum {
	RPCREQ_STR,	/* non-empty string */
	RPCREQ_NAME,	/* scenario, VM or net name (sc_name_check) */
	RPCREQ_HOST,	/* host name (sc_host_name_check) */
	RPCREQ_VMREF,	/* a VM name or a domain name "<scenario>.<vm>" (proto_split_domain) */
	RPCREQ_BOOL,
	RPCREQ_INT,	/* integer in min..max */
	RPCREQ_NUM,	/* any number, integer or real */
	RPCREQ_OBJECT,
	RPCREQ_HOSTS,	/* array of host names */
	RPCREQ_STRS,	/* array of strings */
	RPCREQ_SHA256,	/* 64 lowercase hex digits (proto_sha256_ok) */
	RPCREQ_OBJECTS,	/* array of objects (their members are the op's to check) */
} rpcreq_type;

typedef struct {
	const char *key;
	rpcreq_type type;
	bool required;
	json_int_t min, max;	/* RPCREQ_INT only */
} rpcreq_field;

/* rpcreq_fields: the fields op accepts, ended by a NULL key; NULL for an op with no table.
 * A field absent or null is "not given"; keys outside the table are left to the op. */
const rpcreq_field *rpcreq_fields(const char *op);

/* rpcreq_check: check req (a JSON object with "op") against its op's table. Returns NULL when
 * it fits, else a new message for the caller to g_free, e.g.
 * malformed request: "cancel" must be a boolean. */
char *rpcreq_check(const json_t *req);

#endif
