// libFuzzer entry point for the DSMR P1 framer and telegram decoder (Sources/PGUICore/Meter/DSMR.swift).
// Compiled in the same module as the core sources (no import): see docs/meters-serial.md, "Fuzzing".

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    var acc = OBISAccumulator(table: .standard)
    // The raw bytes as a telegram (the decoder must refuse or read them, never trap)…
    _ = try? DSMR.decode(input, into: &acc)
    // …and as a stream through the framer, CRC required and not.
    for crcRequired in [true, false] {
        var framer = DSMRFramer(crcRequired: crcRequired)
        var off = 0
        while off < size {
            let (used, complete) = framer.feed(UnsafeBufferPointer(rebasing: input[off...]))
            off += used
            if complete {
                acc.reset()
                _ = try? framer.withTelegram { (t: UnsafeBufferPointer<UInt8>) throws(DSMR.Problem) in try DSMR.decode(t, into: &acc) }
                _ = acc.measurement(timestampMs: 0, quality: [])
            }
        }
    }
    return 0
}
