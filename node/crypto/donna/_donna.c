/*
 * node.crypto._donna: the Ed25519 verification equation with the hash left to the caller.
 *
 * Iroha's legacy keys sign with SHA3-512 where RFC 8032 has SHA-512, so libsodium's
 * verify cannot check them, and its public API has no double-scalar multiplication:
 * the pure path (node/crypto/ed25519_sha3.py) pays a constant-time variable-base
 * multiplication with a subgroup check, a base multiplication and a subtraction, about
 * four times a standard verify. This module does the one variable-time double-scalar
 * multiplication a verify needs, with ed25519-donna's curve arithmetic (public domain,
 * vendored beside this file; see README.md), about a quarter faster than libsodium's
 * own verify, so standard keys use it too (node/crypto/equation.py).
 *
 * equation(A, RS, h) -> bool: True iff encode(S*B - h*A) == R, where RS = R || S and h
 * is a 64-byte little-endian integer (taken mod L). The caller checks the rest of its
 * scheme's rules first (S < L, which keys and which R are refused; see ed25519.py and
 * ed25519_sha3.py). The comparison is on encodings, so a non-canonical R never matches.
 *
 * table(A) -> bytes | None: for a key used again and again, the multiples
 * (j+1) * 256^i * (-A), i < 32, j < 8, in the layout of donna's own base-point table
 * (affine y-x, y+x, and 2xy in row 0 but 2dxy in the other rows, as donna's fixed-base
 * multiplication expects); None if A does not decode. 24,576 bytes, built in about two
 * verifications' time. equation_table(table, RS, h) then answers as equation(A, RS, h)
 * does, with donna's fixed-base multiplication run for both scalars at once (64 additions
 * each, the four doublings shared; entries read in variable time and fetched ahead, zero
 * digits skipped) instead of one double-scalar multiplication: about 2.6 times faster for
 * a key whose table is in cache (2.2 with donna's constant-time multiplication run twice;
 * with 1,000 keys' tables in turn, 10-15 % faster than that).
 *
 * Built by `bakong-node native build` (node/native.py) beside the mypyc modules; without
 * it the pure path gives the same answers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "ed25519-donna.h"

static int
donna_equation(const unsigned char *pk, const unsigned char *rs, const unsigned char *h) {
	ge25519 ALIGN(16) A, R;
	bignum256modm k, S;
	unsigned char check[32];

	/* -A, so that the double multiplication below computes S*B - k*A */
	if (!ge25519_unpack_negative_vartime(&A, pk))
		return 0;
	expand256_modm(k, h, 64);
	expand256_modm(S, rs + 32, 32);
	ge25519_double_scalarmult_vartime(&R, &A, k, S);
	ge25519_pack(check, &R);
	return memcmp(check, rs, 32) == 0;
}

#define TABLE_BYTES (256 * 96)

/* 50 KB of working points: on the heap, not on a worker thread's stack */
typedef struct table_scratch_t {
	ge25519 ALIGN(16) pts[256];
	bignum25519 acc[256];
} table_scratch;

static void
build_table(uint8_t table[256][96], const ge25519 *p, table_scratch *scratch) {
	ge25519 *pts = scratch->pts;
	bignum25519 *acc = scratch->acc;
	ge25519 ALIGN(16) row;
	bignum25519 inv, zi, x, y, t;
	int pos, j, i;

	row = *p;
	for (pos = 0; pos < 32; pos++) {
		pts[pos * 8] = row;
		for (j = 1; j < 8; j++)
			ge25519_add(&pts[pos * 8 + j], &pts[pos * 8 + j - 1], &row);
		if (pos < 31) { /* the next row: 256 * row = 32 * (8 * row) */
			ge25519_double(&row, &pts[pos * 8 + 7]);
			for (j = 0; j < 4; j++)
				ge25519_double(&row, &row);
		}
	}
	/* to affine with one inversion: acc[i] = z_0 * ... * z_i */
	curve25519_copy(acc[0], pts[0].z);
	for (i = 1; i < 256; i++)
		curve25519_mul(acc[i], acc[i - 1], pts[i].z);
	curve25519_recip(inv, acc[255]);
	for (i = 255; i >= 0; i--) {
		if (i > 0) {
			curve25519_mul(zi, inv, acc[i - 1]);
			curve25519_mul(inv, inv, pts[i].z);
		} else {
			curve25519_copy(zi, inv);
		}
		curve25519_mul(x, pts[i].x, zi);
		curve25519_mul(y, pts[i].y, zi);
		curve25519_sub_reduce(t, y, x);
		curve25519_contract(table[i], t);
		curve25519_add_reduce(t, y, x);
		curve25519_contract(table[i] + 32, t);
		curve25519_mul(t, x, y);
		if (i < 8)
			curve25519_add_reduce(t, t, t);
		else
			curve25519_mul(t, t, ge25519_ec2d);
		curve25519_contract(table[i] + 64, t);
	}
}

/* The niels form of digit b's multiple in row pos of a fixed-base table (identity for 0),
 * as donna's ge25519_scalarmult_base_choose_niels gives it, in variable time: verifying
 * handles public data only, so the entry is read directly instead of scanning all eight
 * in constant time (over a quarter of an addition's cost, 128 times per signature). */
static void
choose_niels_vartime(ge25519_niels *t, const uint8_t table[256][96], uint32_t pos, signed char b) {
	const uint8_t *e;
	bignum25519 t2d;

	if (b == 0) {
		memset(t, 0, sizeof(*t));
		t->ysubx[0] = 1;
		t->xaddy[0] = 1;
		return;
	}
	e = table[pos * 8 + (uint32_t)(b < 0 ? -b : b) - 1];
	if (b > 0) {
		curve25519_expand(t->ysubx, e);
		curve25519_expand(t->xaddy, e + 32);
		curve25519_expand(t->t2d, e + 64);
	} else { /* -(x, y) = (-x, y): y-x and y+x swap, the t term changes sign */
		curve25519_expand(t->ysubx, e + 32);
		curve25519_expand(t->xaddy, e);
		curve25519_expand(t2d, e + 64);
		curve25519_neg(t->t2d, t2d);
	}
}

/* r += digit b's multiple from row pos (row 0 holds 2xy, the others 2dxy); 0 adds nothing */
static void
add_digit_vartime(ge25519 *r, const uint8_t table[256][96], uint32_t pos, signed char b) {
	ge25519_niels t;

	if (b == 0)
		return;
	choose_niels_vartime(&t, table, pos, b);
	if (pos == 0)
		curve25519_mul(t.t2d, t.t2d, ge25519_ecd);
	ge25519_nielsadd2(r, &t);
}

#define PREFETCH_AHEAD 6
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* r = a*P + b*Q for fixed-base tables of P and Q: donna's ge25519_scalarmult_base_niels
 * for both scalars at once, so the four doublings between the odd and the even digits
 * and the final addition are done once, not twice. P's table is a key's, one of many and
 * rarely still in cache, and the additions form one long dependency chain: each entry of
 * P's that a digit needs is requested PREFETCH_AHEAD digits before its turn. Read only
 * when its turn came, one after the other, they made this slower than donna's
 * constant-time scan of whole rows (which the hardware prefetches). */
static void
double_scalarmult_tables_vartime(ge25519 *r, const uint8_t tp[256][96], const bignum256modm a,
                                 const uint8_t tq[256][96], const bignum256modm b) {
	signed char da[64], db[64];
	const uint8_t *ahead[64 + PREFETCH_AHEAD] = {0};
	ge25519_niels t;
	uint32_t i, n;

	contract256_window4_modm(da, a);
	contract256_window4_modm(db, b);
	/* P's entries in the order they are added: odd digits, then even ones */
	for (n = 0; n < 64; n++) {
		i = n < 32 ? 2 * n + 1 : 2 * (n - 32);
		if (da[i] != 0)
			ahead[n] = tp[(i / 2) * 8 + (uint32_t)(da[i] < 0 ? -da[i] : da[i]) - 1];
	}
	for (n = 0; n < PREFETCH_AHEAD; n++) {
		if (ahead[n] != NULL) {
			PREFETCH(ahead[n]);
			PREFETCH(ahead[n] + 95);
		}
	}
#define ADD_P(n_, i_)                                                   \
	do {                                                                \
		if (ahead[(n_) + PREFETCH_AHEAD] != NULL) {                     \
			PREFETCH(ahead[(n_) + PREFETCH_AHEAD]);                     \
			PREFETCH(ahead[(n_) + PREFETCH_AHEAD] + 95);                \
		}                                                               \
		add_digit_vartime(r, tp, (i_) / 2, da[i_]);                     \
	} while (0)

	/* odd digits; the first sets r from row 0 of Q's table (2xy) as donna does */
	choose_niels_vartime(&t, tq, 0, db[1]);
	curve25519_sub_reduce(r->x, t.xaddy, t.ysubx);
	curve25519_add_reduce(r->y, t.xaddy, t.ysubx);
	memset(r->z, 0, sizeof(bignum25519));
	curve25519_copy(r->t, t.t2d);
	r->z[0] = 2;
	for (n = 0; n < 32; n++) {
		i = 2 * n + 1;
		ADD_P(n, i);
		if (i > 1)
			add_digit_vartime(r, tq, i / 2, db[i]);
	}
	/* times 16, then the even digits */
	ge25519_double_partial(r, r);
	ge25519_double_partial(r, r);
	ge25519_double_partial(r, r);
	ge25519_double(r, r);
	for (n = 32; n < 64; n++) {
		i = 2 * (n - 32);
		ADD_P(n, i);
		add_digit_vartime(r, tq, i / 2, db[i]);
	}
#undef ADD_P
}

static int
donna_equation_table(const uint8_t *table, const unsigned char *rs, const unsigned char *h) {
	uint8_t ALIGN(16) copy[256][96];
	const uint8_t (*tab)[96] = (const uint8_t (*)[96])table;
	ge25519 ALIGN(16) R;
	bignum256modm k, S;
	unsigned char check[32];

	if (((uintptr_t)table & 15) != 0) { /* the table lookup reads 16-byte aligned words */
		memcpy(copy, table, TABLE_BYTES);
		tab = (const uint8_t (*)[96])copy;
	}
	expand256_modm(k, h, 64);
	expand256_modm(S, rs + 32, 32);
	/* the table holds -A: R = S*B - k*A */
	double_scalarmult_tables_vartime(&R, tab, k, ge25519_niels_base_multiples, S);
	ge25519_pack(check, &R);
	return memcmp(check, rs, 32) == 0;
}

/* The three arguments as buffers of the given lengths; -1 with an exception set if not. */
static int
get_buffers(PyObject *const *args, Py_ssize_t nargs, Py_buffer *bufs, const Py_ssize_t *lens,
            const char *usage) {
	Py_ssize_t i, j;

	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, usage);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		if (PyObject_GetBuffer(args[i], &bufs[i], PyBUF_SIMPLE) < 0) {
			for (j = 0; j < i; j++)
				PyBuffer_Release(&bufs[j]);
			return -1;
		}
		if (bufs[i].len != lens[i]) {
			for (j = 0; j <= i; j++)
				PyBuffer_Release(&bufs[j]);
			PyErr_SetString(PyExc_ValueError, usage);
			return -1;
		}
	}
	return 0;
}

static void
release_buffers(Py_buffer *bufs) {
	PyBuffer_Release(&bufs[0]);
	PyBuffer_Release(&bufs[1]);
	PyBuffer_Release(&bufs[2]);
}

static PyObject *
table(PyObject *self, PyObject *arg) {
	Py_buffer pk;
	ge25519 ALIGN(16) A;
	table_scratch *scratch;
	PyObject *out;
	int ok;

	(void)self;
	if (PyObject_GetBuffer(arg, &pk, PyBUF_SIMPLE) < 0)
		return NULL;
	if (pk.len != 32) {
		PyBuffer_Release(&pk);
		PyErr_SetString(PyExc_ValueError, "table() needs a 32-byte public key");
		return NULL;
	}
	ok = ge25519_unpack_negative_vartime(&A, pk.buf);
	PyBuffer_Release(&pk);
	if (!ok)
		Py_RETURN_NONE;
	scratch = PyMem_RawMalloc(sizeof(table_scratch));
	if (scratch == NULL)
		return PyErr_NoMemory();
	out = PyBytes_FromStringAndSize(NULL, TABLE_BYTES);
	if (out == NULL) {
		PyMem_RawFree(scratch);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	build_table((uint8_t (*)[96])PyBytes_AS_STRING(out), &A, scratch);
	Py_END_ALLOW_THREADS
	PyMem_RawFree(scratch);
	return out;
}

static PyObject *
equation_table(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
	static const Py_ssize_t lens[3] = {TABLE_BYTES, 64, 64};
	Py_buffer b[3];
	int ok;

	(void)self;
	if (get_buffers(args, nargs, b, lens, "equation_table() takes a table, 64 and 64 bytes") < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ok = donna_equation_table(b[0].buf, b[1].buf, b[2].buf);
	Py_END_ALLOW_THREADS
	release_buffers(b);
	return PyBool_FromLong(ok);
}

static PyObject *
equation(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
	static const Py_ssize_t lens[3] = {32, 64, 64};
	Py_buffer b[3];
	int ok;

	(void)self;
	if (get_buffers(args, nargs, b, lens, "equation() needs 32, 64 and 64 bytes") < 0)
		return NULL;
	/* about 60 us of arithmetic: let other threads run meanwhile */
	Py_BEGIN_ALLOW_THREADS
	ok = donna_equation(b[0].buf, b[1].buf, b[2].buf);
	Py_END_ALLOW_THREADS
	release_buffers(b);
	return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
	{"equation", (PyCFunction)(void (*)(void))equation, METH_FASTCALL,
	 "equation(public_key, signature, digest) -> bool: encode(S*B - digest*A) == R."},
	{"table", (PyCFunction)table, METH_O,
	 "table(public_key) -> bytes | None: the multiples equation_table() uses."},
	{"equation_table", (PyCFunction)(void (*)(void))equation_table, METH_FASTCALL,
	 "equation_table(table, signature, digest) -> bool: as equation(), from a key's table."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "node.crypto._donna",
	"The Ed25519 verification equation, hash left to the caller (ed25519-donna).", -1,
	methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__donna(void) {
	return PyModule_Create(&module);
}
