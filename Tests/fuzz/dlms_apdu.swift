// libFuzzer entry point: every DLMS APDU decoder the gateway runs on meter input — AARE, GET
// response, data-notification with the push reading collector, A-XDR Data, and the ciphered
// envelope (general-glo-ciphering) with a fake cipher (the harness has no mbedTLS; the cipher's
// result does not change what the parser must survive).

struct FuzzCipher: MeterCipher {
    func open(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, ciphertext: UnsafeBufferPointer<UInt8>,
              tag: UnsafeBufferPointer<UInt8>, plaintext: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        for i in 0..<ciphertext.count { plaintext[i] = ciphertext[i] }
        return tag.first.map { $0 & 1 == 0 } ?? true
    }
    func seal(iv: UnsafeBufferPointer<UInt8>, aad: UnsafeBufferPointer<UInt8>, plaintext: UnsafeBufferPointer<UInt8>,
              ciphertext: UnsafeMutableBufferPointer<UInt8>, tag: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        for i in 0..<plaintext.count { ciphertext[i] = plaintext[i] }
        return true
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let p = UnsafeBufferPointer(start: data, count: size)
    var r = AXDRReader(p)
    _ = try? DLMSAPDU.parseAARE(&r)
    r = AXDRReader(p)
    _ = try? DLMSAPDU.parseGetResponse(&r)
    r = AXDRReader(p)
    _ = try? DLMSData.skip(&r)
    r = AXDRReader(p)
    _ = try? DLMSReadings.scalerUnit(&r)
    var acc = OBISAccumulator(table: .standard)
    r = AXDRReader(p)
    if let body = try? DLMSAPDU.parseDataNotification(&r) {
        r.pos = body
        _ = try? DLMSReadings.collectPush(&r, into: &acc)
    }
    let d = DLMSDecryptor(cipher: FuzzCipher(), authenticationKey: [UInt8](repeating: 7, count: 16))
    if let plain = try? d.open(p, 0..<size, knownTitle: 1) {
        precondition(plain.count <= DLMSLimits.apduBytesMax, "plaintext within the limit")
        _ = d.plaintext.withUnsafeBufferPointer { q in
            var pr = AXDRReader(q, from: plain.lowerBound, to: plain.upperBound)
            if let body = try? DLMSAPDU.parseDataNotification(&pr) {
                pr.pos = body
                _ = try? DLMSReadings.collectPush(&pr, into: &acc)
            }
        }
    }
    return 0
}
