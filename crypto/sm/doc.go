// Package sm provides the Chinese national algorithms SM2, SM3 and SM4 behind
// small functions that are hard to misuse.
//
// It is the only place in cxt that imports github.com/emmansun/gmsm. Every
// choice that a third party must reproduce is fixed here: SM2 signatures hash
// with SM3 over Z(A) computed with the default user ID "1234567812345678" and
// are DER encoded, so that stock OpenSSL 3 verifies them with
// "openssl dgst -sm3 -sigopt distid:1234567812345678 -verify pub.pem
// -signature sig.der data"; SM4 is used in
// GCM mode only, with 12-byte nonces and 16-byte tags — except in an
// Envelope sealed to an outside party's SM2 key, which OpenSSL's enc must
// open and so is SM4-CBC with HMAC-SM3 (encrypt-then-MAC).
package sm
