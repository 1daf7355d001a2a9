import CMbedTLS
import PGUICore

/// mTLS credential pieces: a CSR for a client key (CN = device id) and the checks a returned
/// certificate must pass before PGUI will use it.
extension P256Key {
    public func csrPEM(commonName: String, _ random: RandomSource) throws(CryptoError) -> String {
        var csr = mbedtls_x509write_csr()
        mbedtls_x509write_csr_init(&csr)
        defer { mbedtls_x509write_csr_free(&csr) }
        mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256)
        mbedtls_x509write_csr_set_key(&csr, pk)
        var rc = mbedtls_x509write_csr_set_subject_name(&csr, "CN=" + commonName)
        guard rc == 0 else { throw CryptoError("x509write_csr_set_subject_name CN=\(commonName)", code: rc) }
        var buf = [UInt8](repeating: 0, count: 2_048)
        rc = mbedtls_x509write_csr_der(&csr, &buf, buf.count, mbedtls_ctr_drbg_random, random.drbg)
        guard rc > 0 else { throw CryptoError("x509write_csr_der", code: rc) }
        let der = Array(buf[(buf.count - Int(rc))...])  // mbedTLS writes DER at the end of the buffer
        guard let fixed = CSRDER.withoutNullSignatureParameters(der) else {
            throw CryptoError("CSR re-encoding (unexpected DER from mbedTLS)", code: MBEDTLS_ERR_X509_INVALID_FORMAT)
        }
        let b64 = Array(Base64.stdEncode(fixed).utf8)
        var pem = "-----BEGIN CERTIFICATE REQUEST-----\n"
        var i = 0
        while i < b64.count {
            pem += String(decoding: b64[i..<min(i + 64, b64.count)], as: UTF8.self) + "\n"
            i += 64
        }
        return pem + "-----END CERTIFICATE REQUEST-----\n"
    }
}

/// mbedTLS 2.28 writes the CSR's outer ecdsa-with-SHA256 AlgorithmIdentifier with NULL parameters,
/// which RFC 5758 §3.2 forbids and strict parsers (e.g. Python `cryptography`) reject. That field is
/// outside the signed CertificationRequestInfo, so it is rewritten without invalidating the signature.
enum CSRDER {
    static let ecdsaSHA256: [UInt8] = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]

    /// (header bytes, content bytes) of the TLV at `i`, or nil if malformed.
    static func tlv(_ b: [UInt8], _ i: Int) -> (Int, Int)? {
        guard i + 2 <= b.count else { return nil }
        let l = b[i + 1]
        if l < 0x80 { return i + 2 + Int(l) <= b.count ? (2, Int(l)) : nil }
        let n = Int(l & 0x7f)
        guard n >= 1, n <= 2, i + 2 + n <= b.count else { return nil }
        var len = 0
        for k in 0..<n { len = len << 8 | Int(b[i + 2 + k]) }
        return i + 2 + n + len <= b.count ? (2 + n, len) : nil
    }

    static func header(_ tag: UInt8, _ len: Int) -> [UInt8] {
        if len < 0x80 { return [tag, UInt8(len)] }
        if len < 0x100 { return [tag, 0x81, UInt8(len)] }
        return [tag, 0x82, UInt8(len >> 8), UInt8(len & 0xff)]
    }

    static func withoutNullSignatureParameters(_ der: [UInt8]) -> [UInt8]? {
        guard der.first == 0x30, let (oh, ol) = tlv(der, 0), oh + ol == der.count else { return nil }
        let criStart = oh
        guard let (ch, cl) = tlv(der, criStart) else { return nil }
        let algStart = criStart + ch + cl
        guard let (ah, al) = tlv(der, algStart) else { return nil }
        let sigStart = algStart + ah + al
        let alg = Array(der[algStart..<sigStart])
        let withNull: [UInt8] = [0x30, 0x0c] + ecdsaSHA256[2...] + [0x05, 0x00]
        guard alg == withNull || alg == ecdsaSHA256 else { return nil }
        let body = Array(der[criStart..<algStart]) + ecdsaSHA256 + Array(der[sigStart...])
        return header(0x30, body.count) + body
    }
}

public enum CertificateCheck {
    public static let pemBytesMax = 16_384

    /// Throws unless `pem` is one or more X.509 certificates mbedTLS parses (a CA file, a client
    /// certificate); garbage, a key or a CSR is refused.
    public static func parseCertificates(_ pem: [UInt8]) throws(CryptoError) {
        var crt = mbedtls_x509_crt()
        mbedtls_x509_crt_init(&crt)
        defer { mbedtls_x509_crt_free(&crt) }
        var input = pem
        input.append(0)
        let rc = mbedtls_x509_crt_parse(&crt, input, input.count)
        // > 0: that many blocks failed to parse (mbedTLS parses what it can of a chain); all must.
        guard rc == 0 else { throw CryptoError("x509_crt_parse", code: rc > 0 ? MBEDTLS_ERR_X509_INVALID_FORMAT : rc) }
    }

    /// Throws unless `certPEM` chains to `caPEM`, is within its validity dates now, names
    /// `commonName`, and certifies the public half of `key`.
    public static func check(certPEM: [UInt8], caPEM: [UInt8], key: P256Key, commonName: String) throws(CryptoError) {
        guard certPEM.count <= pemBytesMax, caPEM.count <= pemBytesMax else {
            throw CryptoError("certificate check (PEM larger than \(pemBytesMax) bytes)", code: MBEDTLS_ERR_X509_INVALID_FORMAT)
        }
        var crt = mbedtls_x509_crt()
        var ca = mbedtls_x509_crt()
        mbedtls_x509_crt_init(&crt)
        mbedtls_x509_crt_init(&ca)
        defer {
            mbedtls_x509_crt_free(&crt)
            mbedtls_x509_crt_free(&ca)
        }
        var input = certPEM
        input.append(0)
        var rc = mbedtls_x509_crt_parse(&crt, input, input.count)
        guard rc == 0 else { throw CryptoError("parse of the returned certificate", code: rc) }
        input = caPEM
        input.append(0)
        rc = mbedtls_x509_crt_parse(&ca, input, input.count)
        guard rc == 0 else { throw CryptoError("parse of the provisioned CA certificate", code: rc) }
        var flags: UInt32 = 0
        rc = mbedtls_x509_crt_verify(&crt, &ca, nil, commonName, &flags, nil, nil)
        guard rc == 0 else {
            var info = [CChar](repeating: 0, count: 512)
            _ = mbedtls_x509_crt_verify_info(&info, info.count, "", flags)
            let text = info.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            var oneLine: [UInt8] = []
            for b in text.utf8 { oneLine.append(b == 10 ? 59 : b) }
            throw CryptoError("certificate verification (CN \(commonName)): \(String(decoding: oneLine, as: UTF8.self))", code: rc)
        }
        rc = mbedtls_pk_check_pair(&crt.pk, key.pk)
        guard rc == 0 else { throw CryptoError("certificate does not match the pending client key", code: rc) }
    }
}
