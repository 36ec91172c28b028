/* CBRL_VECTOR_CLONES marks a hot loop nest to be compiled twice, for AVX2 and for the baseline
   x86-64, with the choice made once at load time. AVX2 without FMA on purpose: the clones then
   run the same IEEE operations in the same order, only four lanes at a time instead of two, so
   results stay bitwise identical whichever clone a machine picks. */
#ifndef CBRL_VECTOR_CLONES_H
#define CBRL_VECTOR_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(CBRL_NO_CLONES)
#if __has_attribute(target_clones)
#define CBRL_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef CBRL_VECTOR_CLONES
#define CBRL_VECTOR_CLONES
#endif

#endif
