/* fuzz_vnx: libFuzzer target: any bytes through the VNX and restrictions parsers and the
 * validators; must never crash, leak or hang */
#include <stddef.h>
#include <stdint.h>

#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag *d = diag_new();
	scenario *s = scenario_parse_memory((const char *)data, size, "fuzz.xml", d);
	restrictions *r = restrictions_parse_memory((const char *)data, size, "fuzz.xml", d);

	if (s != NULL) {
		GPtrArray *out = g_ptr_array_new();

		scenario_validate(s, d);
		for (guint i = 0; i < s->cmdseqs->len; i++)
			scenario_expand_seq(s, ((sc_cmdseq *)g_ptr_array_index(s->cmdseqs, i))->seq, out);
		for (guint i = 0; i < s->vms->len; i++)
			scenario_vm(s, ((sc_vm *)g_ptr_array_index(s->vms, i))->name);
		g_ptr_array_unref(out);
	}
	if (r != NULL && s != NULL)
		restrictions_validate(r, s, NULL, d);
	restrictions_free(r);
	scenario_free(s);
	diag_free(d);
	return 0;
}
