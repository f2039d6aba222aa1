/* tools/bench-loops.h: sixteen independent accumulator chains for the
 * peak-throughput loops of bench-kern and bench-engine - enough chains to
 * cover the FMA / dot-product latency on every core these run on. */
#ifndef VD_BENCH_LOOPS_H
#define VD_BENCH_LOOPS_H

/* distinct starting values, or the compiler merges identical chains */
#define DECL16(T, init)                                                        \
    T a0 = init(1), a1 = init(2), a2 = init(3), a3 = init(4), a4 = init(5),    \
      a5 = init(6), a6 = init(7), a7 = init(8), a8 = init(9), a9 = init(10),   \
      a10 = init(11), a11 = init(12), a12 = init(13), a13 = init(14),          \
      a14 = init(15), a15 = init(16)
#define STEP16(OP)                                                             \
    OP(a0);                                                                    \
    OP(a1);                                                                    \
    OP(a2);                                                                    \
    OP(a3);                                                                    \
    OP(a4);                                                                    \
    OP(a5);                                                                    \
    OP(a6);                                                                    \
    OP(a7);                                                                    \
    OP(a8);                                                                    \
    OP(a9);                                                                    \
    OP(a10);                                                                   \
    OP(a11);                                                                   \
    OP(a12);                                                                   \
    OP(a13);                                                                   \
    OP(a14);                                                                   \
    OP(a15)
#define SUM16(add)                                                             \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))),     \
        add(add(add(a8, a9), add(a10, a11)),                                   \
            add(add(a12, a13), add(a14, a15))))

#endif
