/* safetensors reader: validates the header of a .safetensors file against
 * the file's real size and maps the tensor bytes read-only. Used for model
 * checkpoints and for the reference vectors the tests compare against. */
#ifndef VD_SAFETENSORS_H
#define VD_SAFETENSORS_H

#include "vd-private.h"

typedef enum vd__st_dtype {
    VD_ST_BOOL,
    VD_ST_U8,
    VD_ST_I8,
    VD_ST_I16,
    VD_ST_U16,
    VD_ST_F16,
    VD_ST_BF16,
    VD_ST_I32,
    VD_ST_U32,
    VD_ST_F32,
    VD_ST_I64,
    VD_ST_U64,
    VD_ST_F64,
    VD_ST_F8_E4M3,
    VD_ST_F8_E5M2,
    VD_ST_DTYPE_COUNT_
} vd__st_dtype;

#define VD_ST_MAX_DIMS 8

typedef struct vd__st_tensor {
    const char *name; /* owned by the file handle */
    vd__st_dtype dtype;
    int ndim;
    int64_t shape[VD_ST_MAX_DIMS];
    int64_t numel;    /* product of shape (1 for 0-d) */
    const void *data; /* inside the mapping; may be unaligned */
    size_t nbytes;
} vd__st_tensor;

typedef struct vd__safetensors vd__safetensors;

/* Map PATH and validate its header: length within the ctx's
 * max_header_bytes and the file, JSON object of tensors, known dtypes,
 * shapes without overflow, offsets inside the data section, byte length
 * equal to shape x dtype size, no two tensors overlapping. Every failure
 * names PATH (and the tensor). On VD_OK the caller owns *out. */
vd_status vd__st_open(vd_ctx *ctx, const char *path, vd__safetensors **out);
/* The same on bytes in memory (not copied; must outlive the handle). NAME
 * is used in messages. */
vd_status vd__st_open_mem(vd_ctx *ctx, const char *name, const void *data,
                          size_t size, vd__safetensors **out);
void vd__st_close(vd__safetensors *st);

int vd__st_count(const vd__safetensors *st);
const vd__st_tensor *vd__st_at(const vd__safetensors *st, int i);
/* NULL when absent. */
const vd__st_tensor *vd__st_find(const vd__safetensors *st, const char *name);
/* A "__metadata__" string value, or NULL. */
const char *vd__st_metadata(const vd__safetensors *st, const char *key);
const char *vd__st_path(const vd__safetensors *st);

const char *vd__st_dtype_name(vd__st_dtype d);
size_t vd__st_dtype_size(vd__st_dtype d);

/* Copy tensor T widened to fp32 into OUT[T->numel] (F32, F16, BF16, F64,
 * integer types). Errors: VD_ERR_UNSUPPORTED for other dtypes. */
vd_status vd__st_to_f32(vd_ctx *ctx, const vd__st_tensor *t, float *out);
/* Copy an integer tensor into OUT[T->numel] as int64. */
vd_status vd__st_to_i64(vd_ctx *ctx, const vd__st_tensor *t, int64_t *out);

#endif
