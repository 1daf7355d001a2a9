"""TLS peers for issue 16 (Tests/integration/test_06c_tls.py): a depth-2 PKI (root -> intermediate
-> server) with RSA or ECDSA server keys, made with `cryptography`, and a TLS server stack that is
not mosquitto's OpenSSL: tlslite-ng (pure Python TLS 1.2) terminating TLS in front of a plaintext
mosquitto listener on loopback.

    pki = ChainPKI(tmp, "rsa")            # pki.root_file (the device's CA file), pki.chain_file, pki.key_file
    with TlsliteRelay(pki, upstream_port) as relay:   # relay.port speaks TLS 1.2 via tlslite-ng
"""
import datetime
import ipaddress
import socket
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey
from tlslite.constants import ECPointFormat


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class ChainPKI:
    """root CA -> intermediate CA -> server certificate for 127.0.0.1/localhost; `kind` is the
    server key's algorithm ("rsa": RSA-2048, "ecdsa": P-256). CAs are P-256."""

    def __init__(self, tmp, kind):
        self.dir = tmp / f"pki-{kind}"
        self.dir.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = self._cert(_name("PGUI test root"), _name("PGUI test root"), root_key.public_key(), root_key, valid,
                          ca=True, path_length=1)
        mid_key = ec.generate_private_key(ec.SECP256R1())
        mid = self._cert(_name("PGUI test intermediate"), root.subject, mid_key.public_key(), root_key, valid,
                         ca=True, path_length=0)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
            else ec.generate_private_key(ec.SECP256R1())
        leaf = self._cert(_name("localhost"), mid.subject, key.public_key(), mid_key, valid, ca=False,
                          sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
        self.root_file = self.dir / "root.crt"
        self.root_file.write_bytes(pem(root))
        self.chain_file = self.dir / "server-chain.crt"  # leaf first, then the intermediate (RFC 5246 §7.4.2)
        self.chain_file.write_bytes(pem(leaf) + pem(mid))
        self.key_file = self.dir / "server.key"
        self.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        self.key_file.chmod(0o600)

    @staticmethod
    def _cert(subject, issuer, public_key, signing_key, valid, ca, path_length=None, sans=None):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
             .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
             .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(signing_key, hashes.SHA256())


class TlsliteRelay:
    """Accepts TLS 1.2 on a free loopback port with tlslite-ng and relays the plaintext to
    127.0.0.1:upstream_port (a plaintext mosquitto listener). `handshakes` counts completed
    handshakes, `cipher` is the last suite negotiated."""

    def __init__(self, pki, upstream_port):
        self.upstream_port = upstream_port
        self.chain = X509CertChain()
        self.chain.parsePemList(pki.chain_file.read_text())
        self.key = parsePEMKey(pki.key_file.read_text(), private=True)
        self.settings = HandshakeSettings()
        self.settings.minVersion = (3, 3)
        self.settings.maxVersion = (3, 3)
        # tlslite-ng lists the compressed point format first; mbedTLS 2.28's client then sends its
        # ECDHE share compressed although its ClientHello offered only "uncompressed", and tlslite-ng
        # refuses it (illegal_parameter, "Invalid ECC point"). RFC 8422 §5.1.2 deprecates compressed
        # points; OpenSSL servers list only uncompressed. Measured here, see docs/bal-protocol.md.
        self.settings.ec_point_formats = [ECPointFormat.uncompressed]
        self.port = _free_port()
        self.handshakes = 0
        self.cipher = None
        self.errors = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        up = None
        try:
            raw.settimeout(10)
            conn = TLSConnection(raw)
            conn.handshakeServer(certChain=self.chain, privateKey=self.key, settings=self.settings)
            raw.settimeout(None)
            self.handshakes += 1
            self.cipher = conn.getCipherName()
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            up.settimeout(None)
            threading.Thread(target=self._pump_up, args=(conn, up), daemon=True).start()
            while True:  # broker -> device
                data = up.recv(16384)
                if not data:
                    break
                conn.write(data)
        except Exception as e:  # noqa: BLE001 - recorded for the test's message
            self.errors.append(repr(e))
        finally:
            for s in (up, raw):
                try:
                    s and s.close()
                except OSError:
                    pass

    @staticmethod
    def _pump_up(conn, up):
        try:
            while True:  # device -> broker
                data = conn.read(max=16384, min=1)
                if not data:
                    break
                up.sendall(data)
        except Exception:  # noqa: BLE001 - the other direction reports
            pass
        finally:
            try:
                up.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closing = True
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
