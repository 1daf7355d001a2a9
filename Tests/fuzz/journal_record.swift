// libFuzzer target: one journal slot as read from the ring (JournalRecordHeader.decode + verify) at
// the smallest and the default slot size.
@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let b = UnsafeRawBufferPointer(start: data, count: size)
    for payloadMax in [480, 4_064] {
        if let h = JournalRecordHeader.decode(b, payloadBytesMax: payloadMax) {
            _ = h.verify(b)
            precondition(h.length <= payloadMax && h.pos <= JournalGeometry.counterMax && h.seq <= JournalGeometry.counterMax)
        }
    }
    _ = JournalSuperblock.decode(Array(b))
    return 0
}
