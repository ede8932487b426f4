/* dispersion_int.h — internals shared by the files of src/dispersion/. Not a public header. */
#ifndef PW_DISPERSION_INT_H
#define PW_DISPERSION_INT_H

#include "dispersion/dispersion.h"

#include <stddef.h>

/* snprintf into err when errcap > 0 */
void disp_errf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Empties *out and fills the zone names, levels, transport wind, the dense-gas criterion, the
 * flags of the plume p and the steady centreline. */
void disp_result_start(struct disp_result *out, const struct disp_scenario *sc,
                       const struct disp_plume *p);
/* Orients z->ring counter-clockwise, computes its area and its farthest distance from src,
 * adds `global` and the near-field flag. */
void disp_zone_finish(struct disp_zone *z, struct geo_xy src, unsigned global);

#endif
