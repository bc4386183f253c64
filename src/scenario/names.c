/* names: the one rule for scenario, VM and net names (and the one for host names) that every
 * entry point applies: the VNX parser's validation, the CLI's arguments and every rpc field */
#include "scenario/scenario.h"

#include <string.h>

const char *
sc_name_check(const char *name)
{
	size_t n;

	if (name == NULL || name[0] == '\0')
		return "is empty";
	if (strchr(name, '/') != NULL)	/* first: it is what makes a name a path */
		return "contains '/'";
	if (name[0] == '-')
		return "starts with '-'";
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (g_ascii_isalnum(c) || c == '_' || c == '-')
			continue;
		if (c == SC_DOMAIN_SEP)
			return "contains '" SC_DOMAIN_SEP_STR "' (it separates scenario and vm in "
			    "domain names)";
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
			return "contains whitespace";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		return "contains a character other than letters, digits, '_' and '-'";
	}
	n = strlen(name);	/* after the characters: "contains '/'" says more than the length */
	if (n > SC_NAME_MAX)
		return "is longer than " G_STRINGIFY(SC_NAME_MAX) " characters";
	return NULL;
}

const char *
sc_host_name_check(const char *host)
{
	if (host == NULL || host[0] == '\0')
		return "is empty";
	if (strlen(host) > SC_HOST_NAME_MAX)
		return "is longer than " G_STRINGIFY(SC_HOST_NAME_MAX) " characters";
	if (host[0] == '-' || host[0] == '.')
		return "starts with '-' or '.'";
	if (strstr(host, "..") != NULL)
		return "contains '..'";
	for (const char *p = host; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.')
			continue;
		if (c == '/')
			return "contains '/'";
		if (g_ascii_isspace(c))
			return "contains whitespace";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		return "contains a character other than letters, digits, '_', '-' and '.'";
	}
	return NULL;
}
