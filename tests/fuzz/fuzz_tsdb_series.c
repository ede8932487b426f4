/* libFuzzer target: recovery of the series log (see tsdb_fuzz.h: the input is that file, or edits
 * of a valid one; the engine opens, reads everything back, fscks, closes — never a crash or an
 * out-of-bounds read, never a sample that was not written). */
#include "tsdb_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        tf_init();
        ready = 1;
    }
    if (size > (4u << 20))
        return 0;
    tf_run(0, data, size);
    return 0;
}
