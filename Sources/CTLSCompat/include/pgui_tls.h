// PGUI's TLS layer: the part of the OpenSSL API that Debian's static libpaho-mqtt3as.a calls,
// implemented on mbedTLS 2.28 (tls_compat.c). This header is what Swift sees: the shared random
// source, the getrandom entropy function, and the per-client note where a handshake failure lands.
// The OpenSSL-named functions are deliberately not declared here: only Paho calls them.
#ifndef PGUI_TLS_H
#define PGUI_TLS_H
#include <stddef.h>
#include <pthread.h>

/// Entropy for mbedtls_ctr_drbg_seed: the kernel's CSPRNG through getrandom(2), which blocks only
/// until the pool is initialised at boot (man 2 getrandom). Returns 0 or MBEDTLS_ERR_ENTROPY_SOURCE_FAILED.
int pgui_entropy_getrandom(void *unused, unsigned char *out, size_t len);

/// The process's one CTR-DRBG (Sources/PGUIPlatform/Crypto.swift, RandomSource.shared): every TLS
/// context created after this call draws from it. Thread-safe because Debian builds mbedTLS with
/// MBEDTLS_THREADING_C (the DRBG locks its own mutex).
void pgui_tls_use_random(int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

/// Why the last handshake of one client failed. Paho hands it over through ERR_print_errors_cb with
/// the client's ssl_error_context (MQTTAsync_SSLOptions v3+), on Paho's thread; the event loop reads
/// it under the mutex. The text has the form "pgui-tls:<kind> <host> <detail>" (host "-" when none) (tls_compat.c).
#define PGUI_TLS_NOTE_BYTES 200
struct pgui_tls_notes {
    pthread_mutex_t lock;
    char text[PGUI_TLS_NOTE_BYTES];
    unsigned long generation;
};
struct pgui_tls_notes *pgui_tls_notes_create(void);
void pgui_tls_notes_destroy(struct pgui_tls_notes *n);
/// The ssl_error_cb given to Paho: keeps the last "pgui-tls:" line (others are ignored).
int pgui_tls_notes_record(const char *str, size_t len, void *notes);
/// The generation now (call when an attempt starts).
unsigned long pgui_tls_notes_generation(struct pgui_tls_notes *n);
/// Copies the last note into buf (NUL-terminated) when it is newer than `since`; returns its length or 0.
int pgui_tls_notes_take(struct pgui_tls_notes *n, unsigned long since, char *buf, int cap);

/// SAN-only name checks, exported for the unit tests (the handshake uses them on the leaf).
/// `der`/`len`: one X.509 certificate (DER). Return 1 when a SAN dNSName (RFC 6125 §6.4, a
/// left-most "*" label matching exactly one label) / iPAddress matches, 0 when none does, -1
/// when the certificate does not parse. The subject CN is never consulted.
int pgui_tls_cert_matches_host(const unsigned char *der, size_t len, const char *host);
#endif
