/* Core: CPU feature detection for kernel dispatch. Reads CPUID and the
 * OS-enabled register state (XGETBV) once; VLDOC_ISA lowers the level for
 * tests. Never assumes at build time what the CPU can do. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vd-private.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = (c >> 27) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return 0;
    unsigned long long xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;
    int zmm_ok = (xcr0 & 0xE6) == 0xE6;
    if (!ymm_ok)
        return 0;
    if (fma)
        f |= VD_CPU_FMA;
    if (f16c)
        f |= VD_CPU_F16C;
    if (__get_cpuid_max(0, NULL) < 7)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    if ((b >> 5) & 1)
        f |= VD_CPU_AVX2;
    if (zmm_ok) {
        if ((b >> 16) & 1)
            f |= VD_CPU_AVX512F;
        if ((b >> 17) & 1)
            f |= VD_CPU_AVX512DQ;
        if ((b >> 30) & 1)
            f |= VD_CPU_AVX512BW;
        if ((b >> 31) & 1)
            f |= VD_CPU_AVX512VL;
        if ((c >> 11) & 1)
            f |= VD_CPU_AVX512VNNI;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        if ((a1 >> 5) & 1)
            f |= VD_CPU_AVX512BF16;
        if ((a1 >> 4) & 1)
            f |= VD_CPU_AVXVNNI;
    }
    return f;
}
#else
static unsigned detect(void)
{
    return 0;
}
#endif

static unsigned features;
static vd__isa isa;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *const isa_names[] = { "ref", "avx2", "avx512",
                                         "avx512bf16" };

static void init(void)
{
    features = detect();
    unsigned need2 = VD_CPU_AVX2 | VD_CPU_FMA | VD_CPU_F16C;
    unsigned need512 = need2 | VD_CPU_AVX512F | VD_CPU_AVX512BW |
                       VD_CPU_AVX512VL | VD_CPU_AVX512DQ;
    isa = VD_ISA_REF;
    if ((features & need2) == need2)
        isa = VD_ISA_AVX2;
    if ((features & need512) == need512)
        isa = VD_ISA_AVX512;
    if (isa == VD_ISA_AVX512 && (features & VD_CPU_AVX512BF16) &&
        (features & VD_CPU_AVX512VNNI))
        isa = VD_ISA_AVX512BF16;
    const char *e = getenv("VLDOC_ISA");
    if (e && *e) {
        for (int i = 0; i < 4; i++)
            if (strcmp(e, isa_names[i]) == 0 && (vd__isa)i < isa)
                isa = (vd__isa)i;
    }
}

unsigned vd__cpu_features(void)
{
    pthread_once(&once, init);
    return features;
}

vd__isa vd__isa_active(void)
{
    pthread_once(&once, init);
    return isa;
}

const char *vd__isa_name(vd__isa i)
{
    return (unsigned)i < 4 ? isa_names[i] : "?";
}
