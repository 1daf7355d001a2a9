// The OpenSSL API subset Paho C 1.3.12 (Debian's static libpaho-mqtt3as.a) calls, on mbedTLS 2.28.
// `nm -u libpaho-mqtt3as.a` lists exactly these SSL_*, X509_*, ERR_*, BIO_*, CRYPTO_* and OPENSSL_*
// symbols; docs/building.md explains the route and toolchains/setup.sh links this file instead of
// libssl and libcrypto. Only the behaviour Paho relies on is provided (Paho's src/SSLSocket.c,
// src/MQTTAsyncUtils.c, src/Base64.c at v1.3.12), and PGUI's rules are enforced here whatever
// Paho asks for:
//   - TLS 1.2 only (RFC 5246); ECDHE with ECDSA or RSA certificates, AEAD ciphers only;
//   - the server certificate is always verified against the CA file (SSL_VERIFY_NONE is not
//     honoured, there is no default trust store), and the host is matched against the SAN only
//     (dNSName or iPAddress; never the subject CN; RFC 6125 §6.4.4 allows the CN fallback, PGUI's
//     docs/bal-protocol.md does not);
//   - no session resumption (SSL_get1_session answers NULL), no PSK, no ALPN;
//   - Base64 BIOs are not provided (Paho uses them for WebSocket keys only; PGUI accepts only
//     ssl:// and mqtts:// URIs, see MQTTOptions.problem()).
// Why a handshake failed is written as one line "pgui-tls:<kind> <host> <detail>" into a
// thread-local error slot; Paho's SSLSocket_error passes it to the client's ssl_error_cb through
// ERR_print_errors_cb, and MQTTClient.swift turns it into a TLS failure kind.
#include "pgui_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

// ---- OpenSSL ABI constants Paho was compiled with (OpenSSL 3.0 headers, Debian 12) -----------------
#define SSL_ERROR_NONE 0
#define SSL_ERROR_SSL 1
#define SSL_ERROR_WANT_READ 2
#define SSL_ERROR_WANT_WRITE 3
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6
#define SSL_CTRL_MODE 33
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define SSL_FILETYPE_PEM 1
#define SSL_VERIFY_PEER 1
#define X509_V_OK 0
#define X509_V_ERR_CERT_NOT_YET_VALID 9
#define X509_V_ERR_CERT_HAS_EXPIRED 10
#define X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY 20
#define X509_V_ERR_APPLICATION_VERIFICATION 50
#define X509_V_ERR_HOSTNAME_MISMATCH 62

typedef struct pgui_ssl_ctx SSL_CTX;
typedef struct pgui_ssl SSL;
typedef struct pgui_x509 X509;
typedef int pem_password_cb(char *buf, int size, int rwflag, void *userdata);

// ---- Limits ---------------------------------------------------------------------------------------
// A host name is at most 253 characters (RFC 1035 §2.3.4); 255 leaves room for an IPv6 literal too.
#define HOST_BYTES_MAX 256
// A key password from Paho's callback: PEM pass phrases longer than this are refused.
#define KEY_PASSWORD_BYTES_MAX 256

// ---- Offered protocol ------------------------------------------------------------------------------
// ECDHE only (forward secrecy), AEAD only (RFC 7525 §4.2); ECDSA first because PGUI's own PKI is P-256.
// ChaCha20-Poly1305 (RFC 7905) is offered after AES-GCM for brokers that prefer it on CPUs without
// AES instructions; it adds no code (mbedTLS's cipher table links it anyway).
// Key-exchange groups, fastest first: mbedTLS's default list starts with P-521, and a server that
// follows the client's order (mosquitto's OpenSSL does by default) would pick it, about ten times the
// CPU of X25519 or P-256 per handshake. A broker certificate's EC key must be on one of these too.
static const mbedtls_ecp_group_id offered_groups[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static const int offered_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

// ---- Entropy and the shared DRBG ---------------------------------------------------------------------
int pgui_entropy_getrandom(void *unused, unsigned char *out, size_t len) {
    (void)unused;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
        }
        got += (size_t)n;
    }
    return 0;
}

static int (*shared_rng)(void *, unsigned char *, size_t) = NULL;
static void *shared_rng_ctx = NULL;

void pgui_tls_use_random(int (*f_rng)(void *, unsigned char *, size_t), void *p_rng) {
    shared_rng_ctx = p_rng;
    shared_rng = f_rng;
}

// ---- The error slot (OpenSSL's per-thread error queue, one entry deep) ------------------------------
#define ERR_CODE_BASE 0x1000000UL
static __thread char err_text[PGUI_TLS_NOTE_BYTES];
static __thread unsigned long err_code;

static void err_set(unsigned long code, const char *kind, const char *host, const char *detail) {
    // Host names and addresses contain no spaces (SSL_ctrl refuses them), so two spaces delimit it.
    snprintf(err_text, sizeof err_text, "pgui-tls:%s %s %s", kind, host && host[0] ? host : "-", detail ? detail : "");
    // Paho compares ERR_get_error() with SSL_ERROR_WANT_READ/WANT_WRITE (2, 3) when it has no SSL
    // object (SSLSocket_error): keep every code clear of the SSL_ERROR_* range.
    err_code = ERR_CODE_BASE | (code & 0xffffff);
}

void ERR_clear_error(void) {
    err_code = 0;
    err_text[0] = 0;
}

// Unlike OpenSSL this does not discard the text: Paho calls ERR_get_error and then
// ERR_print_errors_cb for the same failure (SSLSocket_error with ssl == NULL), and the reason
// must still reach the client's callback.
unsigned long ERR_get_error(void) { return err_code; }

void ERR_print_errors_cb(int (*cb)(const char *str, size_t len, void *u), void *u) {
    if (err_code != 0 && cb != NULL) cb(err_text, strlen(err_text), u);
    ERR_clear_error();
}

// ---- Notes (the Swift side's view of the error slot) ---------------------------------------------------
struct pgui_tls_notes *pgui_tls_notes_create(void) {
    struct pgui_tls_notes *n = calloc(1, sizeof *n);
    if (n && pthread_mutex_init(&n->lock, NULL) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

void pgui_tls_notes_destroy(struct pgui_tls_notes *n) {
    if (!n) return;
    pthread_mutex_destroy(&n->lock);
    free(n);
}

int pgui_tls_notes_record(const char *str, size_t len, void *notes) {
    struct pgui_tls_notes *n = notes;
    if (n == NULL || str == NULL || len < 9 || strncmp(str, "pgui-tls:", 9) != 0) return 0;
    pthread_mutex_lock(&n->lock);
    size_t k = len < PGUI_TLS_NOTE_BYTES - 1 ? len : PGUI_TLS_NOTE_BYTES - 1;
    memcpy(n->text, str, k);
    n->text[k] = 0;
    n->generation++;
    pthread_mutex_unlock(&n->lock);
    return 1;
}

unsigned long pgui_tls_notes_generation(struct pgui_tls_notes *n) {
    pthread_mutex_lock(&n->lock);
    unsigned long g = n->generation;
    pthread_mutex_unlock(&n->lock);
    return g;
}

int pgui_tls_notes_take(struct pgui_tls_notes *n, unsigned long since, char *buf, int cap) {
    int len = 0;
    pthread_mutex_lock(&n->lock);
    if (n->generation != since && cap > 0) {
        strncpy(buf, n->text, (size_t)cap - 1);
        buf[cap - 1] = 0;
        len = (int)strlen(buf);
    }
    pthread_mutex_unlock(&n->lock);
    return len;
}

// ---- SAN-only host and address checks ---------------------------------------------------------------
static int ascii_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int labels_equal(const char *a, size_t alen, const char *b, size_t blen) {
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i])) return 0;
    return 1;
}

// RFC 6125 §6.4.3: a wildcard only as the whole left-most label, matching exactly one label, and
// never in a name with fewer than three labels ("*.com" does not match "example.com").
static int dns_name_matches(const unsigned char *pat, size_t plen, const char *host, size_t hlen) {
    if (plen == 0 || hlen == 0) return 0;
    if (hlen > 0 && host[hlen - 1] == '.') hlen--;  // absolute form
    if (plen > 0 && pat[plen - 1] == '.') plen--;
    if (plen >= 2 && pat[0] == '*' && pat[1] == '.') {
        const char *pdot = memchr(pat + 2, '.', plen - 2);
        if (pdot == NULL) return 0;
        const char *hdot = memchr(host, '.', hlen);
        if (hdot == NULL || hdot == host) return 0;
        size_t rest = hlen - (size_t)(hdot - host);
        return labels_equal((const char *)pat + 1, plen - 1, hdot, rest);
    }
    for (size_t i = 0; i < plen; i++)
        if (pat[i] == '*') return 0;  // partial wildcards ("b*z.example.com") are not honoured
    return labels_equal((const char *)pat, plen, host, hlen);
}

// 1 when `host` is an IPv4/IPv6 literal (written into addr, *alen = 4 or 16).
static int parse_ip(const char *host, unsigned char addr[16], size_t *alen) {
    char tmp[HOST_BYTES_MAX];
    size_t n = strlen(host);
    if (n >= sizeof tmp) return 0;
    memcpy(tmp, host, n + 1);
    if (n >= 2 && tmp[0] == '[' && tmp[n - 1] == ']') {  // URI form of an IPv6 literal
        memmove(tmp, tmp + 1, n - 2);
        tmp[n - 2] = 0;
    }
    if (inet_pton(AF_INET, tmp, addr) == 1) { *alen = 4; return 1; }
    if (inet_pton(AF_INET6, tmp, addr) == 1) { *alen = 16; return 1; }
    return 0;
}

// GeneralName tags (RFC 5280 §4.2.1.6), context-specific: dNSName [2], iPAddress [7].
#define SAN_DNS 2
#define SAN_IP 7

static int san_matches(const mbedtls_x509_crt *crt, const char *host) {
    if (host == NULL || host[0] == 0) return 0;
    unsigned char ip[16];
    size_t iplen = 0;
    int is_ip = parse_ip(host, ip, &iplen);
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s != NULL; s = s->next) {
        if (s->buf.p == NULL) continue;
        int tag = s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        if (is_ip) {
            if (tag == SAN_IP && s->buf.len == iplen && memcmp(s->buf.p, ip, iplen) == 0) return 1;
        } else if (tag == SAN_DNS && dns_name_matches(s->buf.p, s->buf.len, host, strlen(host))) {
            return 1;
        }
    }
    return 0;
}

int pgui_tls_cert_matches_host(const unsigned char *der, size_t len, const char *host) {
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse_der(&crt, der, len) == 0 ? san_matches(&crt, host) : -1;
    mbedtls_x509_crt_free(&crt);
    return rc;
}

// ---- Objects ---------------------------------------------------------------------------------------
struct pgui_ssl_ctx {
    int refs;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    int have_ca;
    mbedtls_x509_crt own_chain;
    int have_chain;
    mbedtls_pk_context own_key;
    int have_key;  // chain and key configured (SSL_CTX_use_PrivateKey_file succeeded)
    pem_password_cb *passwd_cb;
    void *passwd_userdata;
    void *ex_data;  // Paho's one ex_data slot (its PSK options)
    char failure[PGUI_TLS_NOTE_BYTES];  // why loading the CA or client credentials failed
};

struct pgui_ssl {
    SSL_CTX *ctx;
    mbedtls_ssl_context tls;
    pthread_mutex_t lock;  // Paho reads on one thread while another writes
    int fd;
    int last_error;  // what SSL_get_error answers
    int written;  // bytes of the current SSL_write already sent (OpenSSL retry semantics)
    char host[HOST_BYTES_MAX];
};

struct pgui_x509 {
    const mbedtls_x509_crt *crt;  // owned by the SSL's session, which outlives it in Paho
};

// ---- Library set-up ----------------------------------------------------------------------------------
int OPENSSL_init_ssl(uint64_t opts, const void *settings) { (void)opts; (void)settings; return 1; }
int OPENSSL_init_crypto(uint64_t opts, const void *settings) { (void)opts; (void)settings; return 1; }
int CRYPTO_get_ex_new_index(int class_index, long argl, void *argp, void *new_func, void *dup_func, void *free_func) {
    (void)class_index; (void)argl; (void)argp; (void)new_func; (void)dup_func; (void)free_func;
    return 0;  // one slot is all Paho asks for
}
void CRYPTO_free(void *p, const char *file, int line) { (void)file; (void)line; free(p); }

// The method object is only a token: there is one client method, TLS 1.2.
static const int client_method_token = 1;
const void *TLS_client_method(void) { return &client_method_token; }

// ---- Contexts --------------------------------------------------------------------------------------------
static void ctx_fail(SSL_CTX *ctx, const char *what, const char *file, int rc) {
    char msg[96];
    mbedtls_strerror(rc, msg, sizeof msg);
    snprintf(ctx->failure, sizeof ctx->failure, "%s %s: %s (-0x%04x)", what, file ? file : "", msg, (unsigned)-rc);
    err_set((unsigned long)-rc, "local_credentials", "", ctx->failure);
}

// Depth 0 (the broker's own certificate): the host is checked against the SAN here, replacing
// mbedTLS's check (which falls back to the CN), so a mismatch fails the handshake like any other
// verification error, with the alert mbedTLS sends for it (bad_certificate).
static int verify_leaf(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
    SSL *s = p;
    if (depth != 0) return 0;
    *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if (!san_matches(crt, s->host)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

SSL_CTX *SSL_CTX_new(const void *method) {
    (void)method;
    ERR_clear_error();
    if (shared_rng == NULL) {
        err_set(1, "internal", "", "no random source registered (RandomSource.shared not created)");
        return NULL;
    }
    SSL_CTX *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        err_set(1, "internal", "", "out of memory for a TLS context");
        return NULL;
    }
    ctx->refs = 1;
    mbedtls_ssl_config_init(&ctx->conf);
    mbedtls_x509_crt_init(&ctx->ca);
    mbedtls_x509_crt_init(&ctx->own_chain);
    mbedtls_pk_init(&ctx->own_key);
    int rc = mbedtls_ssl_config_defaults(&ctx->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        ctx_fail(ctx, "ssl_config_defaults", "", rc);
        mbedtls_ssl_config_free(&ctx->conf);
        free(ctx);
        return NULL;
    }
    mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&ctx->conf, offered_suites);
    mbedtls_ssl_conf_curves(&ctx->conf, offered_groups);
    mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_rng(&ctx->conf, shared_rng, shared_rng_ctx);
    mbedtls_ssl_conf_session_tickets(&ctx->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    mbedtls_ssl_conf_renegotiation(&ctx->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    return ctx;
}

static void ctx_release(SSL_CTX *ctx) {
    if (!ctx || --ctx->refs > 0) return;
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_x509_crt_free(&ctx->ca);
    mbedtls_x509_crt_free(&ctx->own_chain);
    mbedtls_pk_free(&ctx->own_key);
    free(ctx);
}

void SSL_CTX_free(SSL_CTX *ctx) { ctx_release(ctx); }

long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg) {
    (void)ctx; (void)parg;
    if (cmd == SSL_CTRL_MODE) return larg;  // write semantics are OpenSSL's defaults plus moving buffers (SSL_write)
    return 0;
}

void SSL_CTX_set_security_level(SSL_CTX *ctx, int level) { (void)ctx; (void)level; }  // the suite list is fixed above

int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *file, const char *path) {
    (void)path;  // a CA directory is not supported: PGUI configures one CA bundle file
    if (file == NULL) {
        err_set(1, "local_credentials", "", "no CA file given");
        return 0;
    }
    int rc = mbedtls_x509_crt_parse_file(&ctx->ca, file);
    if (rc != 0) {  // > 0: some certificates in the bundle did not parse; refuse rather than trust part of it
        if (rc > 0) rc = MBEDTLS_ERR_X509_INVALID_FORMAT;
        ctx_fail(ctx, "CA file", file, rc);
        return 0;
    }
    ctx->have_ca = 1;
    mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->ca, NULL);
    return 1;
}

int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx) {
    (void)ctx;
    err_set(1, "local_credentials", "", "no CA file configured and no system trust store on the device");
    return 0;
}

int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file) {
    int rc = mbedtls_x509_crt_parse_file(&ctx->own_chain, file);
    if (rc != 0) {
        if (rc > 0) rc = MBEDTLS_ERR_X509_INVALID_FORMAT;
        ctx_fail(ctx, "client certificate file", file, rc);
        return 0;
    }
    ctx->have_chain = 1;
    return 1;
}

void SSL_CTX_set_default_passwd_cb(SSL_CTX *ctx, pem_password_cb *cb) { ctx->passwd_cb = cb; }
void SSL_CTX_set_default_passwd_cb_userdata(SSL_CTX *ctx, void *u) { ctx->passwd_userdata = u; }

int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type) {
    if (type != SSL_FILETYPE_PEM) {
        err_set(1, "local_credentials", "", "client key: only PEM files are supported");
        return 0;
    }
    char pw[KEY_PASSWORD_BYTES_MAX];
    const char *password = NULL;
    if (ctx->passwd_cb != NULL) {
        int n = ctx->passwd_cb(pw, (int)sizeof pw, 0, ctx->passwd_userdata);
        if (n > 0 && n < (int)sizeof pw) {
            pw[n] = 0;
            password = pw;
        }
    }
    int rc = mbedtls_pk_parse_keyfile(&ctx->own_key, file, password);
    mbedtls_platform_zeroize(pw, sizeof pw);
    if (rc != 0) {
        ctx_fail(ctx, "client key file", file, rc);
        return 0;
    }
    if (!ctx->have_chain) {
        err_set(1, "local_credentials", "", "client key given without its certificate");
        return 0;
    }
    rc = mbedtls_pk_check_pair(&ctx->own_chain.pk, &ctx->own_key);
    if (rc != 0) {
        ctx_fail(ctx, "client key does not match the certificate; key file", file, rc);
        return 0;
    }
    rc = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->own_chain, &ctx->own_key);
    if (rc != 0) {
        ctx_fail(ctx, "ssl_conf_own_cert", file, rc);
        return 0;
    }
    ctx->have_key = 1;
    return 1;
}

int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *list) {
    (void)ctx; (void)list;
    err_set(1, "local_credentials", "", "cipher lists are fixed by PGUI's TLS layer");
    return 0;
}

int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int len) {
    (void)ctx; (void)protos; (void)len;
    return 1;  // OpenSSL: 0 is success; ALPN is not offered, so report failure
}

int SSL_CTX_set_ex_data(SSL_CTX *ctx, int idx, void *data) { (void)idx; ctx->ex_data = data; return 1; }
void *SSL_CTX_get_ex_data(const SSL_CTX *ctx, int idx) { (void)idx; return ctx->ex_data; }
void SSL_CTX_set_psk_client_callback(SSL_CTX *ctx, void *cb) { (void)ctx; (void)cb; }  // PSK is not offered
void SSL_CTX_set_info_callback(SSL_CTX *ctx, void *cb) { (void)ctx; (void)cb; }  // trace only
void SSL_CTX_set_msg_callback(SSL_CTX *ctx, void *cb) { (void)ctx; (void)cb; }  // trace only

// Verification is required whatever the mode: PGUI never talks to an unverified broker.
void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, void *cb) { (void)ctx; (void)mode; (void)cb; }

// ---- Connections --------------------------------------------------------------------------------------------
static int net_send(void *p, const unsigned char *buf, size_t len) {
    SSL *s = p;
    ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);  // a closed peer is an error, not SIGPIPE
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
    if (errno == EPIPE || errno == ECONNRESET) return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int net_recv(void *p, unsigned char *buf, size_t len) {
    SSL *s = p;
    ssize_t n = recv(s->fd, buf, len, 0);
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
    if (errno == ECONNRESET || errno == EPIPE) return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

SSL *SSL_new(SSL_CTX *ctx) {
    if (ctx == NULL) return NULL;
    SSL *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    mbedtls_ssl_init(&s->tls);
    int rc = mbedtls_ssl_setup(&s->tls, &ctx->conf);
    if (rc != 0) {
        ctx_fail(ctx, "ssl_setup", "", rc);
        mbedtls_ssl_free(&s->tls);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    mbedtls_ssl_set_verify(&s->tls, verify_leaf, s);
    ctx->refs++;
    s->ctx = ctx;
    return s;
}

void SSL_free(SSL *s) {
    if (!s) return;
    mbedtls_ssl_free(&s->tls);
    pthread_mutex_destroy(&s->lock);
    ctx_release(s->ctx);
    free(s);
}

SSL_CTX *SSL_get_SSL_CTX(const SSL *s) { return s->ctx; }

int SSL_set_fd(SSL *s, int fd) {
    s->fd = fd;
    mbedtls_ssl_set_bio(&s->tls, s, net_send, net_recv, NULL);
    return 1;
}

long SSL_ctrl(SSL *s, int cmd, long larg, void *parg) {
    (void)larg;
    if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME) return 0;
    const char *name = parg;
    if (name == NULL || strlen(name) >= sizeof s->host || strchr(name, ' ') != NULL) {
        err_set(1, "internal", "", "broker host name too long or with a space");
        return 0;
    }
    strcpy(s->host, name);
    unsigned char ip[16];
    size_t iplen;
    // SNI carries DNS names only (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted").
    // The host is checked against the SAN in verify_leaf either way.
    if (!parse_ip(name, ip, &iplen)) {
        int rc = mbedtls_ssl_set_hostname(&s->tls, name);
        if (rc != 0) {
            err_set((unsigned long)-rc, "internal", name, "host name not accepted for SNI");
            return 0;
        }
    }
    return 1;
}

static const char *alert_name(int desc) {
    switch (desc & 0xff) {
    case 0: return "close notify";
    case 10: return "unexpected message";
    case 20: return "bad record mac";
    case 40: return "handshake failure";
    case 42: return "bad certificate";
    case 43: return "unsupported certificate";
    case 44: return "certificate revoked";
    case 45: return "certificate expired";
    case 46: return "certificate unknown";
    case 47: return "illegal parameter";
    case 48: return "unknown CA";
    case 49: return "access denied";
    case 50: return "decode error";
    case 51: return "decrypt error";
    case 70: return "protocol version";
    case 71: return "insufficient security";
    case 80: return "internal error";
    case 90: return "user canceled";
    case 100: return "no renegotiation";
    case 109: return "missing extension";
    case 110: return "unsupported extension";
    case 112: return "unrecognized name";
    case 116: return "certificate required";
    case 120: return "no application protocol";
    default: return "unknown";
    }
}

// Turns a failed handshake into the error slot: what kind of failure, from mbedTLS's verify flags
// (RFC 5280 path validation) or the alert the broker sent (RFC 5246 §7.2).
static void note_handshake_failure(SSL *s, int rc) {
    char detail[128];
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        uint32_t f = mbedtls_ssl_get_verify_result(&s->tls);
        if (f & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_MISSING)) {
            err_set((unsigned long)-rc, "unknown_ca", s->host, "unknown CA");
        } else if (f & MBEDTLS_X509_BADCERT_EXPIRED) {
            err_set((unsigned long)-rc, "expired", s->host, "certificate expired");
        } else if (f & MBEDTLS_X509_BADCERT_FUTURE) {
            err_set((unsigned long)-rc, "not_yet_valid", s->host, "certificate not yet valid");
        } else if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
            err_set((unsigned long)-rc, "wrong_host", s->host, "host not in the certificate's SAN");
        } else {
            char info[96];
            int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", f);
            if (n > 0 && info[n - 1] == '\n') info[n - 1] = 0;
            snprintf(detail, sizeof detail, "bad certificate: %s (flags 0x%x)", n > 0 ? info : "", (unsigned)f);
            err_set((unsigned long)-rc, "bad_certificate", s->host, detail);
        }
        return;
    }
    // The broker asked for a client certificate (CertificateRequest) and the device has none: the
    // broker then aborts, with an alert or (racing the device's Finished) a reset, so whichever the
    // device sees, the reason is the same.
    int wanted_cert = s->tls.client_auth && !s->ctx->have_key;
    if (wanted_cert && (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE || rc == MBEDTLS_ERR_SSL_CONN_EOF || rc == MBEDTLS_ERR_NET_CONN_RESET)) {
        int desc = rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && s->tls.in_msg != NULL ? s->tls.in_msg[1] : -1;
        snprintf(detail, sizeof detail, "%s; it requires a client certificate and none is configured",
                 desc >= 0 ? alert_name(desc) : "connection closed");
        err_set((unsigned long)-rc, "broker_alert", s->host, detail);
        return;
    }
    switch (rc) {
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
        int desc = s->tls.in_msg != NULL ? s->tls.in_msg[1] : -1;
        // An alert instead of a ServerHello: the broker accepted none of the versions and suites in
        // the ClientHello (an OpenSSL server limited to TLS 1.0/1.1 answers handshake_failure, since
        // AEAD suites need TLS 1.2; RFC 5246 §7.4.1.3, RFC 8996).
        if (s->tls.state == MBEDTLS_SSL_SERVER_HELLO && (desc == 40 || desc == 70 || desc == 71)) {
            snprintf(detail, sizeof detail, "the broker accepts neither TLS 1.2 nor any offered suite (%s alert)", alert_name(desc));
            err_set((unsigned long)-rc, "protocol_version", s->host, detail);
            return;
        }
        if (desc == 70) {
            err_set((unsigned long)-rc, "protocol_version", s->host, "the broker refused TLS 1.2 (protocol version alert)");
        } else {
            snprintf(detail, sizeof detail, "%s", alert_name(desc));
            err_set((unsigned long)-rc, "broker_alert", s->host, detail);
        }
        return;
    }
    case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
        err_set((unsigned long)-rc, "protocol_version", s->host, "the broker offers no TLS 1.2");
        return;
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
        err_set((unsigned long)-rc, "protocol_version", s->host, "the broker chose no offered TLS 1.2 suite");
        return;
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
    case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
        err_set((unsigned long)-rc, "not_tls", s->host, "the broker's answer is not TLS");
        return;
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_NET_CONN_RESET:
        err_set((unsigned long)-rc, "closed", s->host, "the broker closed the connection during the handshake");
        return;
    default: {
        char msg[96];
        mbedtls_strerror(rc, msg, sizeof msg);
        snprintf(detail, sizeof detail, "%s (-0x%04x)", msg, (unsigned)-rc);
        err_set((unsigned long)-rc, "handshake", s->host, detail);
    }
    }
}

int SSL_connect(SSL *s) {
    pthread_mutex_lock(&s->lock);
    int rc = mbedtls_ssl_handshake(&s->tls);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) {
        s->last_error = SSL_ERROR_NONE;
        return 1;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) { s->last_error = SSL_ERROR_WANT_READ; return -1; }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) { s->last_error = SSL_ERROR_WANT_WRITE; return -1; }
    s->last_error = SSL_ERROR_SSL;
    note_handshake_failure(s, rc);
    return -1;
}

int SSL_read(SSL *s, void *buf, int num) {
    if (num <= 0) return 0;
    pthread_mutex_lock(&s->lock);
    int rc = mbedtls_ssl_read(&s->tls, buf, (size_t)num);
    pthread_mutex_unlock(&s->lock);
    if (rc > 0) { s->last_error = SSL_ERROR_NONE; return rc; }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) { s->last_error = SSL_ERROR_WANT_READ; return -1; }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) { s->last_error = SSL_ERROR_WANT_WRITE; return -1; }
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF) {
        s->last_error = SSL_ERROR_ZERO_RETURN;
        return 0;  // Paho: the other end closed the connection
    }
    s->last_error = SSL_ERROR_SSL;
    return -1;
}

// OpenSSL's default write semantics: all of `num` or an error; after WANT_WRITE the caller calls
// again with the same data (Paho's SSLSocket_continueWrite) and the rest is sent.
int SSL_write(SSL *s, const void *buf, int num) {
    if (num <= 0) return 0;
    pthread_mutex_lock(&s->lock);
    while (s->written < num) {
        int rc = mbedtls_ssl_write(&s->tls, (const unsigned char *)buf + s->written, (size_t)(num - s->written));
        if (rc > 0) {
            s->written += rc;
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) { s->last_error = SSL_ERROR_WANT_WRITE; return -1; }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ) { s->last_error = SSL_ERROR_WANT_READ; return -1; }
        s->written = 0;
        s->last_error = SSL_ERROR_SSL;
        return -1;
    }
    s->written = 0;
    pthread_mutex_unlock(&s->lock);
    s->last_error = SSL_ERROR_NONE;
    return num;
}

int SSL_pending(const SSL *s) { return (int)mbedtls_ssl_get_bytes_avail(&s->tls); }

int SSL_get_error(const SSL *s, int ret) {
    if (ret > 0) return SSL_ERROR_NONE;
    return s->last_error != SSL_ERROR_NONE ? s->last_error : SSL_ERROR_SYSCALL;
}

int SSL_shutdown(SSL *s) {
    pthread_mutex_lock(&s->lock);
    (void)mbedtls_ssl_close_notify(&s->tls);  // best effort on a non-blocking socket
    pthread_mutex_unlock(&s->lock);
    return 1;
}

// No resumption: every connect is a full handshake, so a rotated client certificate is always the one presented.
void *SSL_get1_session(SSL *s) { (void)s; return NULL; }
int SSL_set_session(SSL *s, void *session) { (void)s; (void)session; return 0; }
void SSL_SESSION_free(void *session) { (void)session; }

X509 *SSL_get1_peer_certificate(const SSL *s) {
    const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&s->tls);
    if (crt == NULL) return NULL;
    X509 *x = malloc(sizeof *x);
    if (x) x->crt = crt;
    return x;
}

void X509_free(X509 *x) { free(x); }

long SSL_get_verify_result(const SSL *s) {
    uint32_t f = mbedtls_ssl_get_verify_result(&s->tls);
    if (f == 0) return X509_V_OK;
    if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    if (f & MBEDTLS_X509_BADCERT_EXPIRED) return X509_V_ERR_CERT_HAS_EXPIRED;
    if (f & MBEDTLS_X509_BADCERT_FUTURE) return X509_V_ERR_CERT_NOT_YET_VALID;
    if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH) return X509_V_ERR_HOSTNAME_MISMATCH;
    return X509_V_ERR_APPLICATION_VERIFICATION;
}

// Paho checks the host again after the handshake; both are SAN-only, whatever the flags say.
int X509_check_host(X509 *x, const char *name, size_t namelen, unsigned int flags, char **peername) {
    (void)flags;
    if (peername) *peername = NULL;
    if (x == NULL || name == NULL) return -2;
    char host[HOST_BYTES_MAX];
    if (namelen == 0) namelen = strlen(name);
    if (namelen >= sizeof host) return -2;
    memcpy(host, name, namelen);
    host[namelen] = 0;
    unsigned char ip[16];
    size_t iplen;
    if (parse_ip(host, ip, &iplen)) return 0;  // an address is checked by X509_check_ip_asc
    int ok = san_matches(x->crt, host);
    if (ok && peername) {
        *peername = malloc(namelen + 1);
        if (*peername) memcpy(*peername, host, namelen + 1);
    }
    return ok;
}

int X509_check_ip_asc(X509 *x, const char *address, unsigned int flags) {
    (void)flags;
    if (x == NULL || address == NULL) return -2;
    unsigned char ip[16];
    size_t iplen;
    if (!parse_ip(address, ip, &iplen)) return -2;
    return san_matches(x->crt, address);
}

// ---- Informational calls (Paho's trace) --------------------------------------------------------------------
const char *SSL_alert_desc_string_long(int value) { return alert_name(value); }
const char *SSL_alert_type_string_long(int value) { return ((value >> 8) == 2) ? "fatal" : "warning"; }
const char *SSL_state_string_long(const SSL *s) { return s->tls.state == MBEDTLS_SSL_HANDSHAKE_OVER ? "SSL negotiation finished" : "handshake"; }
const char *SSL_get_cipher_list(const SSL *s, int n) {
    (void)s;
    if (n < 0 || n >= (int)(sizeof offered_suites / sizeof offered_suites[0]) - 1) return NULL;
    return mbedtls_ssl_get_ciphersuite_name(offered_suites[n]);
}
const void *SSL_get_current_cipher(const SSL *s) { return s; }
const char *SSL_CIPHER_get_name(const void *c) {
    if (c == NULL) return "(NONE)";
    return mbedtls_ssl_get_ciphersuite(&((const SSL *)c)->tls);
}

// ---- BIO: not provided (WebSocket keys only; PGUI has no ws:// or wss:// transport) --------------------------
void *BIO_f_base64(void) { return NULL; }
void *BIO_s_mem(void) { return NULL; }
void *BIO_new(const void *type) { (void)type; return NULL; }
void *BIO_push(void *b, void *next) { (void)next; return b; }
void BIO_set_flags(void *b, int flags) { (void)b; (void)flags; }
int BIO_write(void *b, const void *data, int len) { (void)b; (void)data; (void)len; return -1; }
int BIO_read(void *b, void *data, int len) { (void)b; (void)data; (void)len; return -1; }
long BIO_ctrl(void *b, int cmd, long larg, void *parg) { (void)b; (void)cmd; (void)larg; (void)parg; return 0; }
void BIO_free_all(void *b) { (void)b; }

// ---- Version, random bytes and SHA-1 (Paho's version info and its WebSocket code) --------------------------------
const char *OpenSSL_version(int type) { (void)type; return "PGUI TLS layer on mbedTLS " MBEDTLS_VERSION_STRING; }

// From the daemon's one DRBG; 0 (failure, as in OpenSSL) when none is registered yet.
int RAND_bytes(unsigned char *buf, int num) {
    if (num < 0 || shared_rng == NULL) return 0;
    return shared_rng(shared_rng_ctx, buf, (size_t)num) == 0 ? 1 : 0;
}

// Paho allocates OpenSSL's SHA_CTX (96 bytes on every ABI: 5+2 32-bit words, a 64-byte block, a
// count); mbedTLS's SHA-1 context (92 bytes) is kept inside it.
_Static_assert(sizeof(mbedtls_sha1_context) <= 96, "mbedtls_sha1_context must fit OpenSSL's SHA_CTX");
int SHA1_Init(void *c) {
    mbedtls_sha1_init(c);
    return mbedtls_sha1_starts_ret(c) == 0;
}
int SHA1_Update(void *c, const void *data, size_t len) { return mbedtls_sha1_update_ret(c, data, len) == 0; }
int SHA1_Final(unsigned char *md, void *c) {
    int ok = mbedtls_sha1_finish_ret(c, md) == 0;
    mbedtls_sha1_free(c);
    return ok;
}
