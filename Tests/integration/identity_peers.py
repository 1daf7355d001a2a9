"""Independent verification of PGUI's identity artefacts: joserfc for JOSE, `cryptography` for raw
ECDSA and X.509 (none of PGUI's own code). Also a throwaway CA that answers CSRs."""
import base64
import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import ECKey


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def parse_show(text):
    """`pgui identity show` output → dict with kid, jwk (dict) and pem."""
    lines = text.splitlines()
    out = {}
    for line in lines:
        if ": " in line and not line.startswith("-----"):
            k, v = line.split(": ", 1)
            out[k] = v
    out["jwk"] = json.loads(out["jwk"])
    start = text.index("-----BEGIN PUBLIC KEY-----")
    out["pem"] = text[start:text.index("-----END PUBLIC KEY-----") + 24] + "\n"
    return out


def ec_key(jwk):
    return ECKey.import_key(jwk)


def thumbprint(jwk):
    return ec_key(jwk).thumbprint()


def verify_group(token, jwk, kid):
    """Verifies a compact JWS with joserfc against `jwk` when the header names `kid`; returns payload."""
    obj = jws.deserialize_compact(token, ec_key(jwk), algorithms=["ES256"])
    assert obj.protected["kid"] == kid, obj.protected
    assert obj.protected["alg"] == "ES256"
    return json.loads(obj.payload)


def raw_verify(jwk, signing_input: bytes, sig: bytes):
    """ES256 with `cryptography`: r‖s → DER, SHA-256, P-256. Raises InvalidSignature."""
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))


def verify_announcement(text, old_jwk, old_kid):
    """JWS JSON (general) signed by old and new key: both signatures checked with joserfc and with
    `cryptography`; returns the payload (with the new JWK)."""
    doc = json.loads(text)
    payload = json.loads(b64d(doc["payload"]))
    new_jwk = payload["jwk"]
    assert payload["old_kid"] == old_kid
    assert payload["new_kid"] == thumbprint(new_jwk)
    keys = {old_kid: ec_key(old_jwk), payload["new_kid"]: ec_key(new_jwk)}
    jws.deserialize_json(doc, lambda obj: keys[obj.headers()["kid"]], algorithms=["ES256"])
    kids = set()
    for s in doc["signatures"]:
        header = json.loads(b64d(s["protected"]))
        jwk = old_jwk if header["kid"] == old_kid else new_jwk
        raw_verify(jwk, (s["protected"] + "." + doc["payload"]).encode(), b64d(s["signature"]))
        kids.add(header["kid"])
    assert kids == {old_kid, payload["new_kid"]}
    return payload


class ScratchCA:
    def __init__(self, name="PGUI test BAL CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, csr_pem, cn=None, public_key=None, days=(-1, 30)):
        csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
        assert csr.is_signature_valid
        name = cn or csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(public_key or csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now + datetime.timedelta(days=days[0]))
                .not_valid_after(now + datetime.timedelta(days=days[1]))
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)
