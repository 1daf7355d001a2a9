// libFuzzer target: messages the BAL sends the device — receipts and credential responses. The first
// byte picks the decoder so one corpus covers both.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 0 {
        _ = try? BALInbound.parseReceipt(bytes, device: "gw-0042")
    } else {
        _ = try? CredentialResponse.parse(bytes, device: "gw-0042", request: "r1")
    }
    return 0
}
