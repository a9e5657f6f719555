/* Fused Gaussian-mixture sums for the sampled-entropy MIG (see mixture_kernel.py).
 *
 * For every sample s in [s_begin, s_end) and one latent dimension it adds to sums[s]
 *
 *     sum_m 2^(t_sm - shift_s),   t_sm = log2 N(z_s; mu_m, var_m)
 *                                      = neg_half_log2e_prec_m * (z_s - mu_m)^2 + log2_norm_m,
 *
 * without materialising the S x M matrix: each term is computed, exponentiated and
 * accumulated in registers. The shift is an integer chosen by the caller so that the sum
 * neither overflows nor underflows; it enters through magic_s = 1.5 * 2^23 - shift_s, which
 * rounds t to an integer k (the "magic number" rounding of a float with an ulp of 1) and at
 * the same time leaves k - shift_s in the low mantissa bits of t + magic_s. Then
 * 2^(t - shift) = 2^r * 2^(k - shift) with r = t - k in [-1/2, 1/2]: 2^r is a degree-4
 * polynomial (relative error below 2.7e-6 in float32, the order of the error that rounding
 * t itself to float32 brings: |t| 2^-24 in t, about 5e-6 of the term for |t| near 128) and
 * the power of two is added to its exponent bits. t is clamped below at low_s = shift_s - 125 so that the result stays a
 * normal float; a clamped term is worth 2^-125 relative to the shift, far below the term of
 * the sample's own component (the caller guarantees at least 2^-41).
 *
 * Written with GCC/Clang vector extensions (8 floats, AVX2 when compiled with
 * -march=native on x86-64; plain SSE or NEON pairs elsewhere). n_components must be a
 * multiple of 8 (the caller pads with components of weight zero) and the component arrays
 * hold one latent dimension each, contiguously. The float32 partial sums cover at most
 * BLOCK components per lane group (128 additions per lane) before they are added to the
 * double sums, which bounds the rounding error of the accumulation to about 1e-5
 * relative in the worst case and far less in practice.
 */
#include <stdint.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define BLOCK 1024

/* Minimax coefficients of 2^r on [-1/2, 1/2], degree 4 (fitted for relative error; one
 * multiply-add less per term than degree 5, whose 2e-7 the float32 t does not carry). */
#define P0 0.9999992847442627f
#define P1 0.6931218504905701f
#define P2 0.240247443318367f
#define P3 0.05591768026351929f
#define P4 0.009570038877427578f

static inline v8f load8(const float* p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline v8f shifted_exp2_term(v8f z, v8f magic, v8f low, v8f mu, v8f prec, v8f norm) {
    v8f d = z - mu;
    v8f t = d * d * prec + norm;
#if defined(__AVX__)
    t = __builtin_ia32_maxps256(t, low); /* one instruction for the compare-and-select below */
#else
    v8i below = t < low;
    t = (v8f)(((v8i)t & ~below) | ((v8i)low & below));
#endif
    v8f k_magic = t + magic;
    v8f r = t - (k_magic - magic);
    v8f p = r * P4 + P3;
    p = p * r + P2;
    p = p * r + P1;
    p = p * r + P0;
    return (v8f)((v8i)p + ((v8i)k_magic << 23));
}

static inline double horizontal_sum(v8f v) {
    double total = 0.0;
    for (int i = 0; i < 8; i++) total += v[i];
    return total;
}

void mixture_exp2_sums(const float* z, const float* magic, const float* low,
                       int64_t s_begin, int64_t s_end,
                       const float* mu, const float* neg_half_log2e_prec, const float* log2_norm,
                       int64_t n_components, double* sums)
{
    for (int64_t m0 = 0; m0 < n_components; m0 += BLOCK) {
        const int64_t m1 = m0 + BLOCK < n_components ? m0 + BLOCK : n_components;
        int64_t s = s_begin;
        for (; s + 2 <= s_end; s += 2) {
            const v8f z0 = (v8f){0} + z[s], g0 = (v8f){0} + magic[s], l0 = (v8f){0} + low[s];
            const v8f z1 = (v8f){0} + z[s + 1], g1 = (v8f){0} + magic[s + 1],
                      l1 = (v8f){0} + low[s + 1];
            v8f acc0 = {0}, acc1 = {0};
            for (int64_t m = m0; m < m1; m += 8) {
                const v8f mu8 = load8(mu + m), prec8 = load8(neg_half_log2e_prec + m),
                          norm8 = load8(log2_norm + m);
                acc0 += shifted_exp2_term(z0, g0, l0, mu8, prec8, norm8);
                acc1 += shifted_exp2_term(z1, g1, l1, mu8, prec8, norm8);
            }
            sums[s] += horizontal_sum(acc0);
            sums[s + 1] += horizontal_sum(acc1);
        }
        for (; s < s_end; s++) {
            const v8f z0 = (v8f){0} + z[s], g0 = (v8f){0} + magic[s], l0 = (v8f){0} + low[s];
            v8f acc0 = {0};
            for (int64_t m = m0; m < m1; m += 8) {
                acc0 += shifted_exp2_term(z0, g0, l0, load8(mu + m),
                                          load8(neg_half_log2e_prec + m), load8(log2_norm + m));
            }
            sums[s] += horizontal_sum(acc0);
        }
    }
}
