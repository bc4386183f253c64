/* args: command-line values several commands take */
#ifndef NUBE_ARGS_H
#define NUBE_ARGS_H

/* args_timeout: a --timeout value: whole seconds 1..86400 into *out; 0, or -1 when
 * malformed (*out untouched) */
int args_timeout(const char *arg, int *out);
/* args_seconds: whole seconds min..max into *out; 0, or -1 when malformed (*out untouched) */
int args_seconds(const char *arg, int min, int max, int *out);

#endif
