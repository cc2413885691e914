/* aglink_seal: the sealed link's primitives against RFC 8439, RFC 5869
 * and RFC 4231 vectors and against OpenSSL, the session's refusals
 * (tampering, replay, reordering, the other direction), the handshake
 * parameters, and a measurement of sealing's cost (printed, not
 * asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "sockerless/aglink_seal.h"
#include "sockerless/lite.h"

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define CID   "c0ffee"

static size_t
unhex(const char *h, unsigned char *out)
{
	size_t n = strlen(h) / 2;

	assert_int_equal(lite_unhex(h, out, n), 0);
	return n;
}

static const char sunscreen[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only "
    "one tip for the future, sunscreen would be it.";

/* RFC 8439 2.4.2. */
static void
t_chacha20_vector(void **state)
{
	unsigned char key[32], nonce[12], buf[sizeof(sunscreen) - 1],
	    want[sizeof(buf)];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	unhex("000000000000004a00000000", nonce);
	unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
	      "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
	      "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
	      "5af90bbf74a35be6b40b8eedf2785e42874d",
	    want);
	memcpy(buf, sunscreen, sizeof(buf));
	aglink_chacha20(key, 1, nonce, buf, sizeof(buf));
	assert_memory_equal(buf, want, sizeof(buf));
}

/* RFC 8439 2.5.2. */
static void
t_poly1305_vector(void **state)
{
	unsigned char key[32], tag[16], want[16];
	static const char msg[] = "Cryptographic Forum Research Group";

	(void)state;
	unhex(
	    "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
	    key);
	unhex("a8061dc1305136c6c22b8baf0c0127a9", want);
	aglink_poly1305(key, (const unsigned char *)msg, sizeof(msg) - 1, tag);
	assert_memory_equal(tag, want, 16);
}

/* RFC 8439 2.8.2. */
static void
t_aead_vector(void **state)
{
	unsigned char key[32], nonce[12], aad[12], buf[sizeof(sunscreen) - 1],
	    want[sizeof(buf)], tag[16], wtag[16];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)(0x80 + i);
	unhex("070000004041424344454647", nonce);
	unhex("50515253c0c1c2c3c4c5c6c7", aad);
	unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	      "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	      "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	      "3ff4def08e4b7a9de576d26586cec64b6116",
	    want);
	unhex("1ae10b594f09e26a7e902ecbd0600691", wtag);
	memcpy(buf, sunscreen, sizeof(buf));
	aglink_aead_seal(key, nonce, aad, sizeof(aad), buf, sizeof(buf), tag);
	assert_memory_equal(buf, want, sizeof(buf));
	assert_memory_equal(tag, wtag, 16);
	assert_int_equal(aglink_aead_open(key, nonce, aad, sizeof(aad), buf,
			     sizeof(buf), tag),
	    0);
	assert_memory_equal(buf, sunscreen, sizeof(buf));
	/* A flipped AAD bit: refused, the buffer left as it was. */
	aglink_aead_seal(key, nonce, aad, sizeof(aad), buf, sizeof(buf), tag);
	aad[0] ^= 1;
	assert_int_equal(aglink_aead_open(key, nonce, aad, sizeof(aad), buf,
			     sizeof(buf), tag),
	    -1);
	assert_memory_equal(buf, want, sizeof(buf));
}

/* Random keys, nonces and lengths (0 to 2 KiB, every padding case)
 * against OpenSSL's EVP_chacha20_poly1305. */
static void
t_aead_openssl(void **state)
{
	unsigned char key[32], nonce[12], aad[40], pt[2100], a[2100], b[2100],
	    tag[16], otag[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, alen, ol;

	(void)state;
	assert_non_null(c);
	for (int i = 0; i < 400; i++) {
		assert_int_equal(RAND_bytes(key, 32), 1);
		assert_int_equal(RAND_bytes(nonce, 12), 1);
		assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
		assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
		n = i < 200 ? i : (int)(pt[0] | pt[1] << 8) % 2100;
		alen = i % 41;
		memcpy(a, pt, (size_t)n);
		aglink_aead_seal(
		    key, nonce, aad, (size_t)alen, a, (size_t)n, tag);
		assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(),
				     NULL, key, nonce),
		    1);
		assert_int_equal(EVP_EncryptUpdate(c, NULL, &ol, aad, alen), 1);
		assert_int_equal(EVP_EncryptUpdate(c, b, &ol, pt, n), 1);
		assert_int_equal(EVP_EncryptFinal_ex(c, b + ol, &ol), 1);
		assert_int_equal(
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, otag), 1);
		assert_memory_equal(a, b, (size_t)n);
		assert_memory_equal(tag, otag, 16);
		assert_int_equal(aglink_aead_open(key, nonce, aad, (size_t)alen,
				     a, (size_t)n, tag),
		    0);
		assert_memory_equal(a, pt, (size_t)n);
	}
	EVP_CIPHER_CTX_free(c);
}

/* RFC 4231 test cases 1, 2, 3, 6, 7, and random ones against OpenSSL. */
static void
t_hmac(void **state)
{
	static const struct {
		const char *key, *data, *mac;
		size_t klen;
	} v[] = {
		{ "\x0b", "Hi There",
		    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32"
		    "cff7",
		    20 },
		{ "Jefe", "what do ya want for nothing?",
		    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec"
		    "3843",
		    4 },
		{ "\xaa",
		    "Test Using Larger Than Block-Size Key - Hash Key First",
		    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee3"
		    "7f54",
		    131 },
		{ "\xaa",
		    "This is a test using a larger than block-size key and a "
		    "larger than block-size data. The key needs to be hashed "
		    "before being used by the HMAC algorithm.",
		    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a"
		    "35e2",
		    131 },
	};
	unsigned char key[200], data[300], out[32], want[32];
	const void *parts[2];
	size_t lens[2];
	unsigned int ol;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i].klen == 4)
			memcpy(key, v[i].key, 4);
		else
			memset(key, v[i].key[0], v[i].klen);
		parts[0] = v[i].data;
		lens[0] = strlen(v[i].data);
		aglink_hmac_sha256(key, v[i].klen, parts, lens, 1, out);
		unhex(v[i].mac, want);
		assert_memory_equal(out, want, 32);
	}
	/* Test case 3: 0xaa * 20 over 0xdd * 50, in two parts. */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	parts[0] = data, lens[0] = 17;
	parts[1] = data + 17, lens[1] = 33;
	aglink_hmac_sha256(key, 20, parts, lens, 2, out);
	unhex(
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	    want);
	assert_memory_equal(out, want, 32);
	for (size_t n = 0; n < sizeof(data); n += 7) {
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		assert_int_equal(RAND_bytes(data, sizeof(data)), 1);
		parts[0] = data, lens[0] = n / 3;
		parts[1] = data + n / 3, lens[1] = n - n / 3;
		aglink_hmac_sha256(key, n % 200, parts, lens, 2, out);
		HMAC(EVP_sha256(), key, (int)(n % 200), data, n, want, &ol);
		assert_memory_equal(out, want, 32);
	}
}

/* RFC 5869 test cases 1 to 3. */
static void
t_hkdf(void **state)
{
	static const struct {
		const char *ikm, *salt, *info, *prk, *okm;
	} v[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		    "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
		    "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2"
		    "b3e5",
		    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4"
		    "c5bf34007208d5b887185865" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
		  "1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b"
		  "3c3d3e3f404142434445464748494a4b4c4d4e4f",
		    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d"
		    "7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b"
		    "9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccd"
		    "cecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaeb"
		    "ecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		    "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15f"
		    "c244",
		    "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19af"
		    "a97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9"
		    "aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87" },
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
		    "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293c"
		    "cb04",
		    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c73"
		    "8d2d9d201395faa4b61a96c8" },
	};
	unsigned char ikm[100], salt[100], info[100], prk[32], wprk[32],
	    okm[100], wokm[100];
	size_t il, sl, nl, ol;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		il = unhex(v[i].ikm, ikm);
		sl = unhex(v[i].salt, salt);
		nl = unhex(v[i].info, info);
		unhex(v[i].prk, wprk);
		ol = unhex(v[i].okm, wokm);
		aglink_hkdf_extract(salt, sl, ikm, il, prk);
		assert_memory_equal(prk, wprk, 32);
		assert_int_equal(aglink_hkdf_expand(prk, info, nl, okm, ol), 0);
		assert_memory_equal(okm, wokm, ol);
	}
	assert_int_equal(
	    aglink_hkdf_expand(prk, info, 0, okm, 255 * 32 + 1), -1);
}

static void
pair(struct aglink_seal *agent, struct aglink_seal *backend)
{
	unsigned char na[32], nb[32];

	assert_int_equal(RAND_bytes(na, 32), 1);
	assert_int_equal(RAND_bytes(nb, 32), 1);
	assert_int_equal(
	    aglink_seal_init(agent, AGLINK_SEAL_AGENT, TOKEN, na, nb), 0);
	assert_int_equal(
	    aglink_seal_init(backend, AGLINK_SEAL_BACKEND, TOKEN, na, nb), 0);
}

/* Messages both ways; each refusal (a flipped byte in the ciphertext or
 * the tag, a replay, a reordering, a drop, a reflection back to its
 * sender, a truncation) leaves the receiver where it was. */
static void
t_session(void **state)
{
	struct aglink_seal a, b;
	unsigned char m1[40], m2[40], m3[40], save[40];

	(void)state;
	pair(&a, &b);
	memcpy(m1, "hello from the agent........", 28);
	assert_int_equal(aglink_seal_seal(&a, m1, 24, m1 + 24), 0);
	memcpy(save, m1, 40);
	m1[3] ^= 0x40; /* ciphertext */
	assert_int_equal(aglink_seal_open(&b, m1, 40), -1);
	memcpy(m1, save, 40);
	m1[24 + 15] ^= 1; /* tag */
	assert_int_equal(aglink_seal_open(&b, m1, 40), -1);
	memcpy(m1, save, 40);
	assert_int_equal(aglink_seal_open(&b, m1, 15), -1); /* too short */
	assert_int_equal(aglink_seal_open(&a, m1, 40), -1); /* reflected */
	memcpy(m1, save, 40);
	assert_int_equal(aglink_seal_open(&b, m1, 40), 0);
	assert_memory_equal(m1, "hello from the agent", 20);
	memcpy(m1, save, 40);
	assert_int_equal(aglink_seal_open(&b, m1, 40), -1); /* replayed */
	/* Reordered: the second message before the first. */
	memset(m2, 2, sizeof(m2));
	memset(m3, 3, sizeof(m3));
	assert_int_equal(aglink_seal_seal(&a, m2, 24, m2 + 24), 0);
	assert_int_equal(aglink_seal_seal(&a, m3, 24, m3 + 24), 0);
	memcpy(save, m3, 40);
	assert_int_equal(aglink_seal_open(&b, m3, 40), -1);
	assert_int_equal(aglink_seal_open(&b, m2, 40), 0);
	memcpy(m3, save, 40);
	assert_int_equal(aglink_seal_open(&b, m3, 40), 0);
	/* The other direction, an empty message; a third message dropped. */
	assert_int_equal(aglink_seal_seal(&b, m1, 0, m1), 0);
	assert_int_equal(aglink_seal_open(&a, m1, 16), 0);
	assert_int_equal(aglink_seal_seal(&b, m1, 8, m1 + 8), 0);
	assert_int_equal(aglink_seal_seal(&b, m2, 8, m2 + 8), 0);
	assert_int_equal(aglink_seal_open(&a, m2, 24), -1);
	/* Another session of the same token (a new backend nonce: a
	 * replayed handshake) opens nothing of this one. */
	{
		struct aglink_seal a2, b2;

		pair(&a2, &b2);
		assert_int_equal(aglink_seal_open(&b2, save, 40), -1);
	}
	/* The counter would wrap: the sender refuses. */
	a.ctr_tx = UINT64_MAX;
	assert_int_equal(aglink_seal_seal(&a, m1, 8, m1 + 8), -1);
	aglink_seal_wipe(&a);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(((unsigned char *)&a)[i], 0);
}

/* The handshake's MACs and header parameters. */
static void
t_handshake(void **state)
{
	unsigned char na[32], nb[32], m1[32], m2[32], n2[32], m3[32];
	char params[AGLINK_SEAL_PARAMS_LEN], tok2[] = TOKEN;

	(void)state;
	memset(na, 1, 32);
	memset(nb, 2, 32);
	assert_int_equal(aglink_seal_hello_mac(TOKEN, CID, na, m1), 0);
	assert_int_equal(aglink_seal_accept_mac(TOKEN, CID, na, nb, m2), 0);
	assert_memory_not_equal(m1, m2, 32);
	tok2[0] = '1';
	assert_int_equal(aglink_seal_hello_mac(tok2, CID, na, m3), 0);
	assert_memory_not_equal(m1, m3, 32);
	assert_int_equal(aglink_seal_hello_mac(TOKEN, "c0ffef", na, m3), 0);
	assert_memory_not_equal(m1, m3, 32);
	assert_int_equal(aglink_seal_hello_mac("abc", CID, na, m3), -1);
	assert_int_equal(aglink_seal_hello_mac(TOKEN "0", CID, na, m3), -1);
	aglink_seal_params_format(params, na, m1);
	assert_int_equal(strlen(params), AGLINK_SEAL_PARAMS_LEN - 1);
	assert_int_equal(aglink_seal_params_parse(params, n2, m3), 0);
	assert_memory_equal(n2, na, 32);
	assert_memory_equal(m3, m1, 32);
	assert_int_equal(
	    aglink_seal_params_parse("mac=" TOKEN ",nonce=" TOKEN, n2, m3), 0);
	assert_int_equal(aglink_seal_params_parse("nonce=" TOKEN, n2, m3), -1);
	assert_int_equal(
	    aglink_seal_params_parse("nonce=" TOKEN "0, mac=" TOKEN, n2, m3),
	    -1);
	assert_int_equal(
	    aglink_seal_params_parse("nonce=abc, mac=" TOKEN, n2, m3), -1);
	assert_int_equal(aglink_seal_params_parse("", n2, m3), -1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One message sealed by OpenSSL (for comparison). */
static void
openssl_seal(unsigned char *buf, size_t n)
{
	static const unsigned char key[32], nonce[12];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ol;

	assert_non_null(c);
	assert_int_equal(
	    EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce),
	    1);
	assert_int_equal(EVP_EncryptUpdate(c, buf, &ol, buf, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, buf + ol, &ol), 1);
	assert_int_equal(
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, buf + n), 1);
	EVP_CIPHER_CTX_free(c);
}

/* What sealing costs: 64 KiB messages (the link's DATA chunk) sealed and
 * opened, against a plain copy. Printed for the record; never asserted. */
static void
t_cost(void **state)
{
	struct aglink_seal a, b;
	size_t n = 64 * 1024, total = 64u << 20;
	unsigned char *buf = malloc(n + 16), *dst = malloc(n + 16);
	double t0, seal_s, open_s, copy_s;

	(void)state;
	assert_non_null(buf);
	assert_non_null(dst);
	pair(&a, &b);
	memset(buf, 7, n);
	t0 = now_s();
	for (size_t done = 0; done < total; done += n)
		memcpy(dst, buf, n);
	copy_s = now_s() - t0;
	t0 = now_s();
	for (size_t done = 0; done < total; done += n)
		aglink_seal_seal(&a, buf, n, buf + n);
	seal_s = now_s() - t0;
	pair(&a, &b);
	t0 = now_s();
	for (size_t done = 0; done < total; done += n) {
		aglink_seal_seal(&a, buf, n, buf + n);
		assert_int_equal(aglink_seal_open(&b, buf, n + 16), 0);
	}
	open_s = now_s() - t0 - seal_s;
	t0 = now_s();
	for (size_t done = 0; done < total; done += n)
		openssl_seal(buf, n);
	printf("# sealing cost: copy %.0f MB/s, seal %.0f MB/s, open %.0f "
	       "MB/s, OpenSSL's seal %.0f MB/s (64 KiB messages)\n",
	    (double)total / 1e6 / copy_s, (double)total / 1e6 / seal_s,
	    (double)total / 1e6 / (open_s > 0 ? open_s : seal_s),
	    (double)total / 1e6 / (now_s() - t0));
	free(buf);
	free(dst);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_chacha20_vector),
		cmocka_unit_test(t_poly1305_vector),
		cmocka_unit_test(t_aead_vector),
		cmocka_unit_test(t_aead_openssl),
		cmocka_unit_test(t_hmac),
		cmocka_unit_test(t_hkdf),
		cmocka_unit_test(t_session),
		cmocka_unit_test(t_handshake),
		cmocka_unit_test(t_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
