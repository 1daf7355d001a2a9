// libFuzzer entry point for the SML transport framer and TLV decoder (Sources/PGUICore/Meter/SML.swift).
// Compiled in the same module as the core sources (no import): see docs/meters-serial.md, "Fuzzing".

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    var acc = OBISAccumulator(table: .standard)
    // The bytes as an unescaped payload (the TLV walk), then as a stream through the framer.
    _ = try? SML.decode(input, into: &acc, wantServerId: true)
    var framer = SMLFramer()
    var off = 0
    while off < size {
        let (used, complete) = framer.feed(UnsafeBufferPointer(rebasing: input[off...]))
        off += used
        if complete {
            acc.reset()
            _ = try? framer.withPayload { (p: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in try SML.decode(p, into: &acc) }
            _ = acc.measurement(timestampMs: 0, quality: [])
        }
    }
    return 0
}
