// libFuzzer entry point for the IEC 62056-21 identification, readout framer and data-set decoder
// (Sources/PGUICore/Meter/IEC62056_21.swift). Same module as the core sources (no import).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    _ = IEC62056_21.identification(input)
    var acc = OBISAccumulator(table: .standard)
    _ = try? IEC62056_21.decode(readout: input, into: &acc)
    var framer = IECReadoutFramer()
    var off = 0
    while off < size {
        let (used, complete) = framer.feed(UnsafeBufferPointer(rebasing: input[off...]))
        off += used
        if complete {
            acc.reset()
            _ = try? framer.withReadout { (p: UnsafeBufferPointer<UInt8>) throws(IEC62056_21.Problem) in
                try IEC62056_21.decode(readout: p, into: &acc)
            }
            framer.reset()
        }
    }
    return 0
}
