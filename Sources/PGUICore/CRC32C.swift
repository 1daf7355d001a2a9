/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI (RFC 3720 §B.4),
/// ext4 metadata and the journal's records. Table-driven, one byte per step: the journal checks at
/// most a few kilobytes per record, so a 1 KiB table is the right trade against slicing-by-8.
public enum CRC32C {
    static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        return t
    }()

    /// Running state: start with `initial`, feed bytes with `update`, read the result with `finish`.
    public static let initial: UInt32 = 0xFFFF_FFFF

    public static func update(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = state
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c
    }

    public static func finish(_ state: UInt32) -> UInt32 { state ^ 0xFFFF_FFFF }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { finish(update(initial, $0)) }
    }
}
