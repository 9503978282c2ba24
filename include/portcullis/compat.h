/* Lets one header compile as BPF C (clang -target bpf) and as C++ (g++). */
#pragma once

#include <linux/types.h>

#ifdef __cplusplus
#define PC_INLINE static inline
#else
#define PC_INLINE static inline __attribute__((always_inline))
#endif

/* A step big enough to be its own BPF subprogram: the verifier then prunes the states of the
 * caller and the callee apart instead of walking every combination of their branches. */
#if defined(__bpf__)
#define PC_STEP static __attribute__((noinline))
#else
#define PC_STEP static inline
#endif

#if defined(__bpf__)
#define PC_UNROLL _Pragma("unroll")
#else
#define PC_UNROLL
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define pc_ntohs(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define pc_ntohl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#else
#define pc_ntohs(x) ((__u16)(x))
#define pc_ntohl(x) ((__u32)(x))
#endif
#define pc_htons(x) pc_ntohs(x)
#define pc_htonl(x) pc_ntohl(x)
