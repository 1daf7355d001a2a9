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
        rc = mbedtls_x509write_csr_pem(&csr, &buf, buf.count, mbedtls_ctr_drbg_random, random.drbg)
        guard rc == 0 else { throw CryptoError("x509write_csr_pem", code: rc) }
        let n = buf.firstIndex(of: 0) ?? buf.count
        return String(decoding: buf[..<n], as: UTF8.self)
    }
}

public enum CertificateCheck {
    public static let pemBytesMax = 16_384

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
