// libFuzzer target: an update bundle's manifest (UpdateManifest.parse) and the anti-rollback rule,
// plus the low-S check on the first 64 bytes as a signature.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if case .success(let m) = UpdateManifest.parse(bytes) {
        precondition(m.serial <= UpdateManifest.serialMax)
        _ = m.rollbackProblem(installedSerial: 1_795_800_000)
        _ = m.rollbackProblem(installedSerial: UInt64.max)
    }
    if size >= 64 { _ = ECDSALowS.isLowS(Array(bytes[0..<64])) }
    return 0
}
