/* fuzz_cluster: libFuzzer target: any bytes through the cluster.conf reader */
#include <stddef.h>
#include <stdint.h>

#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag *d = diag_new();

	cluster_free(cluster_parse_memory((const char *)data, size, "fuzz.conf", d));
	diag_free(d);
	return 0;
}
