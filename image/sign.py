#!/usr/bin/env python3
"""Update-bundle signing (host side).

  sign.py new-key PRIVATE.pem PUBLIC.pem   make a P-256 key pair (private key mode 0600)
  sign.py sign PRIVATE.pem FILE SIG        write the 64-byte r||s ECDSA-SHA256 signature of FILE

The device checks SIG with `pgui verify-signature` (mbedTLS) against /etc/pgui/update-keys/*.pem.
"""
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


# Order of the P-256 group (SEC 2 v2, §2.4.2).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def new_key(priv_path, pub_path):
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(pub_path, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def sign(priv_path, file_path, sig_path):
    with open(priv_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        sys.exit(f"sign.py: {priv_path} is not a P-256 private key")
    with open(file_path, "rb") as f:
        der = key.sign(f.read(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    # Low-S form (s <= n/2): `pgui verify-signature` refuses the high-S twin of a signature, so a
    # signature has exactly one accepted encoding (docs/image.md, anti-malleability).
    if s > P256_N // 2:
        s = P256_N - s
    with open(sig_path, "wb") as f:
        f.write(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "new-key":
        new_key(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
