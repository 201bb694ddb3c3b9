/*
 * The group arithmetic of ECVRF verification (protocol/vrf.ts), on libsodium's own ref10 code (vendored
 * from libsodium 1.0.21, the version sodium-native 5.1 bundles, under native/libsodium, ISC licence), as a Node-API addon.
 *
 * Why: libsodium's public API offers only crypto_scalarmult_ed25519_noclamp for a variable point, and that
 * checks the point's subgroup and runs a constant-time multiplication on every call: about two scalar
 * multiplications each, three calls per proof. Verification needs neither: everything in it is public. So,
 * as Algorand's and Cardano's nodes do (both verify their VRF in C over libsodium's ref10 internals), this
 * computes U = s*B - c*Y and V = s*H - c*Gamma with variable-time double-scalar multiplications.
 *
 * Every function accepts exactly the inputs the sodium-native path in protocol/vrf.ts accepts and gives
 * the same bytes (test/protocol/vrf-native.test.ts compares the two on valid, torsioned, small-order,
 * non-canonical and random inputs), so a node with and one without this addon agree on every block.
 */
#define CONFIGURED 1
#include "crypto_core/ed25519/ref10/ed25519_ref10.c"

#include <node_api.h>

/* libsodium utils.c, verbatim: the one libsodium symbol ed25519_ref10.c needs besides libc. */
int
sodium_is_zero(const unsigned char *n, const size_t nlen)
{
    size_t                 i;
    volatile unsigned char d = 0U;

    for (i = 0U; i < nlen; i++) {
        d |= n[i];
    }
    return 1 & ((d - 1) >> 8);
}

/* Ai = A, 3A, 5A, ..., 15A: as in ge25519_double_scalarmult_vartime. */
static void
odd_multiples(ge25519_cached Ai[8], const ge25519_p3 *A)
{
    ge25519_p1p1 t;
    ge25519_p3   u;
    ge25519_p3   A2;
    int          i;

    ge25519_p3_to_cached(&Ai[0], A);
    ge25519_p3_dbl(&t, A);
    ge25519_p1p1_to_p3(&A2, &t);
    for (i = 1; i < 8; i++) {
        ge25519_add(&t, &A2, &Ai[i - 1]);
        ge25519_p1p1_to_p3(&u, &t);
        ge25519_p3_to_cached(&Ai[i], &u);
    }
}

/*
 * r = a*A + b*P for two variable points: ge25519_double_scalarmult_vartime with a table for P in place of
 * the base point's. Preconditions: a[31] <= 127, b[31] <= 127. Variable time: every input is public.
 */
static void
double_scalarmult_vartime2(ge25519_p2 *r, const unsigned char *a, const ge25519_p3 *A,
                           const unsigned char *b, const ge25519_p3 *P)
{
    signed char    aslide[256];
    signed char    bslide[256];
    ge25519_cached Ai[8];
    ge25519_cached Pi[8];
    ge25519_p1p1   t;
    ge25519_p3     u;
    int            i;

    slide_vartime(aslide, a);
    slide_vartime(bslide, b);
    odd_multiples(Ai, A);
    odd_multiples(Pi, P);

    ge25519_p2_0(r);

    for (i = 255; i >= 0; --i) {
        if (aslide[i] || bslide[i]) {
            break;
        }
    }

    for (; i >= 0; --i) {
        ge25519_p2_dbl(&t, r);

        if (aslide[i] > 0) {
            ge25519_p1p1_to_p3(&u, &t);
            ge25519_add(&t, &u, &Ai[aslide[i] / 2]);
        } else if (aslide[i] < 0) {
            ge25519_p1p1_to_p3(&u, &t);
            ge25519_sub(&t, &u, &Ai[(-aslide[i]) / 2]);
        }

        if (bslide[i] > 0) {
            ge25519_p1p1_to_p3(&u, &t);
            ge25519_add(&t, &u, &Pi[bslide[i] / 2]);
        } else if (bslide[i] < 0) {
            ge25519_p1p1_to_p3(&u, &t);
            ge25519_sub(&t, &u, &Pi[(-bslide[i]) / 2]);
        }

        ge25519_p1p1_to_p2(r, &t);
    }
}

/* What crypto_scalarmult_ed25519_noclamp requires of its point (libsodium's _crypto_scalarmult_ed25519). */
static int
valid_point(ge25519_p3 *P, const unsigned char p[32])
{
    return ge25519_is_canonical(p) != 0 && ge25519_has_small_order(p) == 0 &&
           ge25519_frombytes(P, p) == 0 && ge25519_is_on_main_subgroup(P) != 0;
}

/* 8*p, or -1 where crypto_core_ed25519_add(p, p) fails (p does not decode to a curve point). */
static int
times_eight(unsigned char out[32], const unsigned char p[32])
{
    ge25519_p3   P;
    ge25519_p1p1 t;
    int          i;

    if (ge25519_frombytes(&P, p) != 0 || ge25519_is_on_curve(&P) == 0) {
        return -1;
    }
    for (i = 0; i < 3; i++) {
        ge25519_p3_dbl(&t, &P);
        ge25519_p1p1_to_p3(&P, &t);
    }
    ge25519_p3_tobytes(out, &P);
    return 0;
}

/*
 * out = U || V with U = s*B - c*Y, V = s*H - c*Gamma, or -1 where the sodium-native path fails: c = 0, s = 0
 * (its scalar multiplications refuse a zero scalar), Gamma not a valid point, Y or H not decoding. The caller
 * has checked Y with valid_point (a node key: it caches that) and s < q; H is 8 times a curve point.
 */
static int
vrf_uv(unsigned char out[64], const unsigned char pk[32], const unsigned char gamma[32],
       const unsigned char c16[16], const unsigned char s[32], const unsigned char h[32])
{
    unsigned char c[32] = { 0 };
    ge25519_p3    negY;
    ge25519_p3    G;
    ge25519_p3    H;
    ge25519_p2    r;

    memcpy(c, c16, 16);
    if (sodium_is_zero(c, 32) || sodium_is_zero(s, 32) || s[31] > 127) {
        return -1;
    }
    if (ge25519_frombytes_negate_vartime(&negY, pk) != 0 || !valid_point(&G, gamma) ||
        ge25519_frombytes(&H, h) != 0) {
        return -1;
    }
    ge25519_double_scalarmult_vartime(&r, c, &negY, s); /* c*(-Y) + s*B */
    ge25519_tobytes(out, &r);
    fe25519_neg(G.X, G.X); /* -Gamma */
    fe25519_neg(G.T, G.T);
    double_scalarmult_vartime2(&r, c, &G, s, &H); /* c*(-Gamma) + s*H */
    ge25519_tobytes(out + 32, &r);
    return 0;
}

/* ---- Node-API: each function takes Uint8Arrays of fixed lengths (outputs written in place), returns a boolean. */

static int
bytes_arg(napi_env env, napi_value v, size_t length, unsigned char **data)
{
    napi_typedarray_type type;
    size_t               n;
    void                *p;
    napi_value           buffer;
    size_t               offset;
    bool                 is;

    if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
    if (napi_get_typedarray_info(env, v, &type, &n, &p, &buffer, &offset) != napi_ok) return 0;
    if (type != napi_uint8_array || n != length || (p == NULL && length > 0)) return 0;
    *data = (unsigned char *) p;
    return 1;
}

static napi_value
result(napi_env env, int ok)
{
    napi_value v;
    napi_get_boolean(env, ok != 0, &v);
    return v;
}

static napi_value
misuse(napi_env env)
{
    napi_throw_type_error(env, "E_VRF_NATIVE_ARGS", "econumi_vrf: wrong argument types or lengths");
    return NULL;
}

/* validPoint(p: 32) */
static napi_value
js_valid_point(napi_env env, napi_callback_info info)
{
    size_t         argc = 1;
    napi_value     argv[1];
    unsigned char *p;
    ge25519_p3     P;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
        !bytes_arg(env, argv[0], 32, &p)) return misuse(env);
    return result(env, valid_point(&P, p));
}

/* timesEight(out: 32, p: 32) */
static napi_value
js_times_eight(napi_env env, napi_callback_info info)
{
    size_t         argc = 2;
    napi_value     argv[2];
    unsigned char *out, *p;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
        !bytes_arg(env, argv[0], 32, &out) || !bytes_arg(env, argv[1], 32, &p)) return misuse(env);
    return result(env, times_eight(out, p) == 0);
}

/* uv(out: 64, pk: 32, gamma: 32, c: 16, s: 32, h: 32) */
static napi_value
js_uv(napi_env env, napi_callback_info info)
{
    size_t         argc = 6;
    napi_value     argv[6];
    unsigned char *out, *pk, *gamma, *c, *s, *h;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6 ||
        !bytes_arg(env, argv[0], 64, &out) || !bytes_arg(env, argv[1], 32, &pk) ||
        !bytes_arg(env, argv[2], 32, &gamma) || !bytes_arg(env, argv[3], 16, &c) ||
        !bytes_arg(env, argv[4], 32, &s) || !bytes_arg(env, argv[5], 32, &h)) return misuse(env);
    return result(env, vrf_uv(out, pk, gamma, c, s, h) == 0);
}

static napi_value
init(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        { "validPoint", NULL, js_valid_point, NULL, NULL, NULL, napi_default, NULL },
        { "timesEight", NULL, js_times_eight, NULL, NULL, NULL, napi_default, NULL },
        { "uv", NULL, js_uv, NULL, NULL, NULL, napi_default, NULL }
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
