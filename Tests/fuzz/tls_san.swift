// libFuzzer target: the subjectAltName walk over a (hostile) peer certificate in DER, then the
// SAN-only host rule on what it found.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let s = SubjectAltNames.parse(certificateDER: bytes) {
        _ = TLSHostName.matches(host: "bal.example.org", dnsNames: s.dnsNames, ipAddresses: s.ipAddresses)
        _ = TLSHostName.matches(host: "::1", dnsNames: s.dnsNames, ipAddresses: s.ipAddresses)
    }
    if size < 64 { _ = TLSHostName.parseIPv6(String(decoding: bytes, as: UTF8.self)) }
    return 0
}
