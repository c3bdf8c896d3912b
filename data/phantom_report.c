/* Report text for phantom lesions: a findings-style sentence that describes what was drawn
 * (never the class name), for image-report pretraining. Reads the lesion model only. */
#include <stdio.h>
#include <string.h>

#include "data/phantom_model.h"

static const char *const segments[8] = {"I", "II", "III", "IV", "V", "VI", "VII", "VIII"};

char *ph_report(const ph_lesion *L, int size, int has_delayed) {
    char buf[640], more[256] = "";
    int mm = (int)(2.0f * L->R * 0.7f * 64.0f / (float)size + 0.5f);
    const char *seg = segments[(L->segment - 1) & 7];
    int f = L->flags;
    switch (L->cls) {
    case LV_PHANTOM_CYST:
        if (f & LV_PHANTOM_ATYPICAL)
            snprintf(buf, sizeof buf, "A %d mm small low-attenuation lesion in segment %s with slightly ill-defined "
                     "margins, too small to characterize; no measurable enhancement.", mm, seg);
        else
            snprintf(buf, sizeof buf, "A %d mm well-circumscribed homogeneous lesion of fluid attenuation in segment %s "
                     "with a sharp margin and no enhancement on any phase.", mm, seg);
        break;
    case LV_PHANTOM_FNH:
        if (f & LV_PHANTOM_ATYPICAL) {
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s with moderate arterial enhancement and slight "
                     "hypoattenuation on the portal venous phase; no central scar.", mm, seg);
            break;
        }
        if (f & LV_PHANTOM_SCAR)
            snprintf(more, sizeof more, ", with a central stellate scar that is hypoattenuating on the arterial phase%s",
                     has_delayed ? " and enhances on the delayed phase" : "");
        snprintf(buf, sizeof buf, "A %d mm lobulated lesion in segment %s with intense homogeneous arterial "
                 "enhancement, isoattenuating to liver on the portal venous%s phase%s.", mm, seg,
                 has_delayed ? " and delayed" : "", more);
        break;
    case LV_PHANTOM_HCC:
        if (f & LV_PHANTOM_NECROSIS) snprintf(more, sizeof more, " and central non-enhancing necrosis");
        if (f & LV_PHANTOM_NO_WASHOUT)
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s with heterogeneous arterial hyperenhancement, "
                     "isoattenuating on the portal venous phase without washout; no capsule%s.", mm, seg, more);
        else if (f & LV_PHANTOM_HYPOVASCULAR)
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s without arterial hyperenhancement, "
                     "hypoattenuating on the portal venous phase%s.", mm, seg, more);
        else
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s with heterogeneous non-rim arterial "
                     "hyperenhancement and washout on the portal venous%s phase%s%s.", mm, seg,
                     has_delayed ? " and delayed" : "", (f & LV_PHANTOM_CAPSULE) ? ", with an enhancing capsule" : "",
                     more);
        break;
    case LV_PHANTOM_HEM:
        if (f & LV_PHANTOM_FLASH)
            snprintf(buf, sizeof buf, "A %d mm small lesion in segment %s with immediate homogeneous arterial "
                     "enhancement that persists and follows the blood pool on later phases.", mm, seg);
        else if (f & LV_PHANTOM_SLOW_FILL)
            snprintf(buf, sizeof buf, "A %d mm hypoattenuating lesion in segment %s with faint peripheral nodular "
                     "enhancement and only minimal centripetal fill-in.", mm, seg);
        else
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s with peripheral nodular discontinuous arterial "
                     "enhancement following the blood pool and progressive centripetal fill-in on the portal "
                     "venous%s phase.", mm, seg, has_delayed ? " and delayed" : "");
        break;
    default:
        if (f & LV_PHANTOM_HYPERVASCULAR)
            snprintf(buf, sizeof buf, "A %d mm lesion in segment %s with rim-predominant arterial hyperenhancement "
                     "and washout on the portal venous phase; no capsule.", mm, seg);
        else if (f & LV_PHANTOM_CYSTIC)
            snprintf(buf, sizeof buf, "A %d mm lesion of near-fluid attenuation in segment %s with a thin enhancing "
                     "rim on the portal venous phase.", mm, seg);
        else
            snprintf(buf, sizeof buf, "A %d mm irregular hypoattenuating lesion in segment %s with peripheral rim "
                     "enhancement on the portal venous phase.", mm, seg);
        break;
    }
    return strdup(buf);
}
