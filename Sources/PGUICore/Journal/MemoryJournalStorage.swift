/// An in-memory `JournalStorage` that models a disk with a volatile write cache: writes are visible
/// at once but become durable only at `sync()`. `crash(seed:)` simulates a power cut: each pending
/// write independently survives whole, survives torn (a prefix, cut at a random byte), or vanishes.
/// Used by unit tests and as the baseline-free storage of in-memory benchmarks.
public final class MemoryJournalStorage: JournalStorage {
    public private(set) var current: [UInt8]
    private var durable: [UInt8]
    private var pending: [(offset: Int, bytes: [UInt8])] = []
    public var hint: [UInt8]? = nil
    public private(set) var bytesWritten: Int64 = 0
    public private(set) var syncs = 0
    public let name: String

    public init(bytes: Int, name: String = "memory journal") {
        current = [UInt8](repeating: 0, count: bytes)
        durable = current
        self.name = name
    }

    public func read(at offset: Int64, into buffer: inout [UInt8]) throws(JournalError) -> Int {
        let o = Int(offset)
        guard o >= 0 else { throw JournalError("\(name): read at \(offset)") }
        let n = max(0, min(buffer.count, current.count - o))  // like pread: 0 bytes past the end
        // One slice copy, not a byte loop: a 48 h drain reads every record more than once, and the
        // per-byte loop made that test take seconds in debug builds.
        if n > 0 { buffer.replaceSubrange(0..<n, with: current[o..<(o + n)]) }
        return n
    }

    public func write(at offset: Int64, _ bytes: [UInt8], count: Int) throws(JournalError) {
        let o = Int(offset)
        guard o >= 0, o + count <= min(current.count, writableBytes ?? Int.max) else { throw JournalError("\(name): write of \(count) bytes at \(offset) beyond the end (disk full)") }
        current.replaceSubrange(o..<(o + count), with: bytes[0..<count])
        pending.append((o, Array(bytes[0..<count])))
        bytesWritten += Int64(count)
    }

    public func sync() throws(JournalError) {
        for w in pending { durable.replaceSubrange(w.offset..<(w.offset + w.bytes.count), with: w.bytes) }
        pending.removeAll()
        syncs += 1
    }

    public func byteCount() throws(JournalError) -> Int64 { Int64(current.count) }

    public func extend(to bytes: Int64) throws(JournalError) {
        let add = Int(bytes) - current.count
        guard add > 0 else { return }
        current += [UInt8](repeating: 0, count: add)
        durable += [UInt8](repeating: 0, count: add)
    }

    /// Cuts the ring to `bytes` (a truncated file).
    public func truncate(to bytes: Int) {
        current.removeLast(max(0, current.count - bytes))
        durable.removeLast(max(0, durable.count - bytes))
    }

    /// Writes that end beyond this many bytes fail like on a failing medium (nil: no limit).
    public var writableBytes: Int? = nil

    /// Set when the test models a ring that vanished while its hint stayed.
    public var vanishedRingHint: [UInt8]? = nil

    public func readHint() throws(JournalError) -> [UInt8]? { hint }
    public func writeHint(_ bytes: [UInt8]) throws(JournalError) {
        hint = bytes
        bytesWritten += Int64(bytes.count)
    }

    /// A power cut: unsynced writes each survive, tear or vanish (deterministic per `seed`).
    public func crash(seed: UInt64) {
        var s = seed | 1
        func next() -> UInt64 {
            s ^= s << 13
            s ^= s >> 7
            s ^= s << 17
            return s
        }
        for w in pending {
            switch next() % 3 {
            case 0: break
            case 1: for i in 0..<w.bytes.count { durable[w.offset + i] = w.bytes[i] }
            default:
                let cut = Int(next() % UInt64(max(w.bytes.count, 1)))
                for i in 0..<cut { durable[w.offset + i] = w.bytes[i] }
            }
        }
        pending.removeAll()
        current = durable
    }

    /// Flips one bit of durable and visible content (media corruption).
    public func flip(at offset: Int) {
        current[offset] ^= 0x10
        durable[offset] ^= 0x10
    }
}
