// mbedTLS 2.28 (Debian 12): ECDSA P-256 keys, signatures, SHA-256, PEM, X.509 requests.
#ifndef PGUI_CMBEDTLS_SHIM_H
#define PGUI_CMBEDTLS_SHIM_H
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <mbedtls/bignum.h>
#endif
