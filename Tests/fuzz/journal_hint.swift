// libFuzzer target: a hostile journal.hint (JournalHint.decode), then a whole recovery of a small
// ring of 20 intact records with that hint: whatever the hint says, recovery must not trap, must
// return every un-acknowledged record it can prove, and must accept the next append (issue 21, item 4).
final class FuzzRing {
    static let geometry = JournalGeometry(slotCount: JournalGeometry.slotCountMin, slotBytes: 512)
    nonisolated(unsafe) static var pristine: MemoryJournalStorage? = nil

    static func make() -> MemoryJournalStorage {
        let s = MemoryJournalStorage(bytes: Int(geometry.fileBytes))
        try! Journal<MemoryJournalStorage, ManualClock>.format(s, geometry: geometry)
        let j = try! Journal.open(s, clock: ManualClock(wallMs: 0), expected: geometry)
        for q in UInt64(1)...20 {
            try! j.append(seq: q, payload: [UInt8(q)])
            _ = try! j.commit()
        }
        try! j.close()
        return s
    }
}

@_cdecl("LLVMFuzzerTestOneInput") public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let decoded = JournalHint.decode(bytes)
    let s = FuzzRing.make()
    // Mostly well-formed hints reach recovery: re-encode what decodes, else use the raw bytes.
    if case .success(var h) = decoded {
        h.geometry = FuzzRing.geometry
        s.hint = h.encode()
    } else {
        s.hint = bytes
    }
    guard let j = try? Journal.open(s, clock: ManualClock(wallMs: 0), expected: FuzzRing.geometry) else { return 0 }
    precondition(j.stats.lastSeq == 20, "forged hint moved the last seq")
    var seen: [UInt64] = []
    var pos = j.stats.tail
    while pos < j.stats.head, let (r, next) = try? j.read(from: pos, max: 8) {
        seen += r.map { $0.seq }
        pos = next
    }
    precondition(seen.last == 20 || seen.isEmpty && j.stats.ackedSeq == 20, "forged hint hid records")
    try! j.append(seq: 21, payload: [21])
    _ = try! j.commit()
    return 0
}
