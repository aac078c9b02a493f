/*
 * node.crypto._donna: the Ed25519 verification equation with the hash left to the caller.
 *
 * Iroha's legacy keys sign with SHA3-512 where RFC 8032 has SHA-512, so libsodium's
 * verify cannot check them, and its public API has no double-scalar multiplication:
 * the pure path (node/crypto/ed25519_sha3.py) pays a constant-time variable-base
 * multiplication with a subgroup check, a base multiplication and a subtraction, about
 * four times a standard verify. This module does the one variable-time double-scalar
 * multiplication a verify needs, with ed25519-donna's curve arithmetic (public domain,
 * vendored beside this file; see README.md).
 *
 * equation(A, RS, h) -> bool: True iff encode(S*B - h*A) == R, where RS = R || S and h
 * is a 64-byte little-endian integer (taken mod L). The caller has checked what makes the
 * answer libsodium's: S < L, R not the identity, and A a canonical encoding of a point of
 * the prime-order subgroup other than the identity (crypto_core_ed25519_is_valid_point).
 * The comparison is on encodings, so a non-canonical R never matches.
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

static PyObject *
equation(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
	Py_buffer pk, rs, h;
	int ok;

	(void)self;
	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "equation() takes public_key, signature, digest");
		return NULL;
	}
	if (PyObject_GetBuffer(args[0], &pk, PyBUF_SIMPLE) < 0)
		return NULL;
	if (PyObject_GetBuffer(args[1], &rs, PyBUF_SIMPLE) < 0) {
		PyBuffer_Release(&pk);
		return NULL;
	}
	if (PyObject_GetBuffer(args[2], &h, PyBUF_SIMPLE) < 0) {
		PyBuffer_Release(&pk);
		PyBuffer_Release(&rs);
		return NULL;
	}
	if (pk.len != 32 || rs.len != 64 || h.len != 64) {
		PyBuffer_Release(&pk);
		PyBuffer_Release(&rs);
		PyBuffer_Release(&h);
		PyErr_SetString(PyExc_ValueError, "equation() needs 32, 64 and 64 bytes");
		return NULL;
	}
	/* about 60 us of arithmetic: let other threads run meanwhile */
	Py_BEGIN_ALLOW_THREADS
	ok = donna_equation(pk.buf, rs.buf, h.buf);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&pk);
	PyBuffer_Release(&rs);
	PyBuffer_Release(&h);
	return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
	{"equation", (PyCFunction)(void (*)(void))equation, METH_FASTCALL,
	 "equation(public_key, signature, digest) -> bool: encode(S*B - digest*A) == R."},
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
