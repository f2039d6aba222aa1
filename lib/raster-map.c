/* Raster: map boxes between the pixels of the image the model saw and
 * page coordinates (PDF points or image pixels, visible orientation,
 * top-left origin). Every bbox in the document tree goes through here. */
#include "config.h"

#include <math.h>

#include "vd-private.h"

vd_box vd_pagemap_to_page(const vd_pagemap *m, vd_box b)
{
    double sx = m->model_w > 0 ? m->page_w / m->model_w : 1.0;
    double sy = m->model_h > 0 ? m->page_h / m->model_h : 1.0;
    vd_box r = { b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy };
    return r;
}

vd_box vd_pagemap_to_model(const vd_pagemap *m, vd_box b)
{
    double sx = m->page_w > 0 ? m->model_w / m->page_w : 1.0;
    double sy = m->page_h > 0 ? m->model_h / m->page_h : 1.0;
    vd_box r = { b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy };
    return r;
}

vd_status vd__page_geometry(vd_ctx *ctx, const vd_page_info *info,
                            const vd_render_opts *o, vd__page_geom *g)
{
    int64_t minp = o->min_pixels > 0 ? o->min_pixels : VD_DEFAULT_MIN_PIXELS;
    int64_t maxp = o->max_pixels > 0 ? o->max_pixels : VD_DEFAULT_MAX_PIXELS;
    double rw, rh;
    if (info->unit == VD_UNIT_PX) {
        rw = info->width;
        rh = info->height;
        g->dpi_x = info->dpi_x;
        g->dpi_y = info->dpi_y;
    } else if (o->dpi > 0) {
        g->dpi_x = g->dpi_y = o->dpi;
        rw = info->width * o->dpi / 72.0;
        rh = info->height * o->dpi / 72.0;
    } else if (info->is_scan && info->scan_w > 0 && info->scan_h > 0) {
        rw = info->scan_w;
        rh = info->scan_h;
        g->dpi_x = rw * 72.0 / info->width;
        g->dpi_y = rh * 72.0 / info->height;
    } else {
        double area = info->width * info->height; /* pt^2 */
        double dpi = area > 0 ? 72.0 * sqrt((double)maxp / area) : 72.0;
        g->dpi_x = g->dpi_y = dpi;
        rw = info->width * dpi / 72.0;
        rh = info->height * dpi / 72.0;
    }
    g->raster_w = (int)(rw + 0.5);
    g->raster_h = (int)(rh + 0.5);
    if (g->raster_w < 1)
        g->raster_w = 1;
    if (g->raster_h < 1)
        g->raster_h = 1;
    g->map.page_w = info->width;
    g->map.page_h = info->height;
    g->map.unit = info->unit;
    /* tiny pages are enlarged to at least one 28-px patch group first */
    int sh = g->raster_h < 28 ? 28 : g->raster_h;
    int sw = g->raster_w < 28 ? 28 : g->raster_w;
    return vd_smart_resize(ctx, sh, sw, 28, minp, maxp, &g->map.model_h,
                           &g->map.model_w);
}
