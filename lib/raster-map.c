/* Raster: decide the pixels of each page - the native raster and the
 * model image after smart resize - and map boxes between the image the
 * model saw and page coordinates (PDF points or image pixels, visible
 * orientation, top-left origin). Every bbox in the document tree and every
 * rendered page goes through here, so the engines agree on one space. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "raster.h"

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

/* Pixels are rounded to the nearest whole pixel, at least one. */
static int px(double v)
{
    if (!(v >= 1.0))
        return 1;
    if (v > 1e9)
        return 1000000000;
    return (int)(v + 0.5);
}

vd_status vd__page_geometry(vd_ctx *ctx, const vd_page_info *info,
                            const vd_render_opts *o, vd__page_geom *g)
{
    memset(g, 0, sizeof *g);
    int64_t minp = o->min_pixels > 0 ? o->min_pixels : VD_DEFAULT_MIN_PIXELS;
    int64_t maxp = o->max_pixels > 0 ? o->max_pixels : VD_DEFAULT_MAX_PIXELS;
    if (minp > maxp)
        minp = maxp;
    double pw = info->width, ph = info->height;
    if (!(pw > 0 && ph > 0 && pw < 1e9 && ph < 1e9))
        return vd__fail(ctx, VD_ERR_FORMAT, "unusable page size %g x %g", pw,
                        ph);
    uint64_t ceiling = ctx->opts.limits.max_page_pixels;
    double rw, rh;
    if (info->unit == VD_UNIT_PX) {
        /* Image files: their own pixels. Fax pixels are often not square
         * (204 x 98 DPI): stretch the coarser axis so nothing is lost and
         * the page keeps its real shape. */
        double dx = info->dpi_x, dy = info->dpi_y;
        rw = pw;
        rh = ph;
        g->dpi_x = dx;
        g->dpi_y = dy;
        if (dx > 0 && dy > 0 && fabs(dx - dy) > 0.01 * (dx > dy ? dx : dy)) {
            double d = dx > dy ? dx : dy;
            rw = pw * d / dx;
            rh = ph * d / dy;
            g->dpi_x = g->dpi_y = d;
        }
        g->scan = 1;
    } else if (o->dpi > 0) {
        g->dpi_x = g->dpi_y = o->dpi;
        rw = pw * o->dpi / 72.0;
        rh = ph * o->dpi / 72.0;
        g->direct = 1;
    } else if (info->is_scan && info->scan_w > 0 && info->scan_h > 0 &&
               (uint64_t)info->scan_w * (uint64_t)info->scan_h <= ceiling) {
        /* the scan's own pixels: nothing invented, nothing lost */
        rw = info->scan_w;
        rh = info->scan_h;
        g->dpi_x = rw * 72.0 / pw;
        g->dpi_y = rh * 72.0 / ph;
        g->scan = 1;
    } else {
        /* Born-digital (or a scan too large to hold at its own
         * resolution): the DPI whose raster fills the model budget. */
        double dpi = 72.0 * sqrt((double)maxp / (pw * ph));
        g->dpi_x = g->dpi_y = dpi;
        rw = pw * dpi / 72.0;
        rh = ph * dpi / 72.0;
        g->direct = 1;
    }
    g->raster_w = px(rw);
    g->raster_h = px(rh);
    g->map.page_w = pw;
    g->map.page_h = ph;
    g->map.unit = info->unit;
    /* tiny pages are enlarged to at least one 28-px patch group first */
    int sh = g->raster_h < 28 ? 28 : g->raster_h;
    int sw = g->raster_w < 28 ? 28 : g->raster_w;
    vd_status st = vd_smart_resize(ctx, sh, sw, 28, minp, maxp, &g->map.model_h,
                                   &g->map.model_w);
    if (st)
        return st;
    if (g->dpi_x > 0 && g->dpi_y > 0) {
        g->model_dpi_x = g->dpi_x * g->map.model_w / rw;
        g->model_dpi_y = g->dpi_y * g->map.model_h / rh;
    }
    return VD_OK;
}
