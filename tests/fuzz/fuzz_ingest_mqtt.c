/* libFuzzer target for the MQTT telemetry payload parser (mqtt_telemetry_parse) and the Modbus
 * read planner. Invariants: at most MQTT_VALUES_MAX values, every value finite with a non-empty
 * name and a timestamp in the accepted window; the runs cover every span, ascending, within the
 * limit. */
#include "base/err.h"
#include "ingest/field_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1763870400000LL

static void plan(const uint8_t *data, size_t size)
{
    uint16_t addr[64], len[64];
    struct modbus_run runs[64];
    size_t n = 0, nr;
    for (size_t i = 0; i + 3 <= size && n < 64; i += 3, n++) {
        addr[n] = (uint16_t)(data[i] << 8 | data[i + 1]);
        len[n] = (uint16_t)(data[i + 2] % 3 + 1);
    }
    if (modbus_plan_runs(addr, len, n, MODBUS_MAX_REGS, runs, 64, &nr) != PW_OK)
        return;
    for (size_t r = 0; r < nr; r++) {
        if (runs[r].count == 0 || runs[r].count > MODBUS_MAX_REGS)
            abort();
        if (r && runs[r].start < runs[r - 1].start + runs[r - 1].count)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        bool covered = false;
        for (size_t r = 0; r < nr && !covered; r++)
            covered = addr[i] >= runs[r].start &&
                      (uint32_t)addr[i] + len[i] <= (uint32_t)runs[r].start + runs[r].count;
        if (!covered)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mqtt_telemetry t;
    char err[256];
    if (mqtt_telemetry_parse((const char *)data, size, NOW, &t, err, sizeof err) == PW_OK) {
        if (t.n > MQTT_VALUES_MAX)
            abort();
        for (size_t i = 0; i < t.n; i++)
            if (!t.v[i].name[0] || !isfinite(t.v[i].value) || t.v[i].ts < 946684800000LL ||
                t.v[i].ts > NOW + 86400000LL)
                abort();
        mqtt_telemetry_release(&t);
    } else if (t.v || t.doc) {
        abort();
    }
    plan(data, size);
    return 0;
}
