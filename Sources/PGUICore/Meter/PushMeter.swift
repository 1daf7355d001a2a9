/// A framer + decoder of a meter that pushes telegrams on its own (DSMR P1, SML); `PushMeter`
/// reads the link through it.
public protocol PushDecoder {
    /// For logs and errors: "DSMR P1", "SML".
    var family: String { get }
    /// How long to wait for the first telegram before the push period is known: the slowest push
    /// period the family allows, plus margin.
    var firstTelegramTimeoutMs: Int64 { get }
    /// Consumes bytes up to the end of the next complete, checked telegram.
    mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool)
    /// Decodes the telegram just completed into `acc` (already reset).
    mutating func decode(into acc: inout OBISAccumulator) throws(MeterError)
    /// Forgets a partial telegram and any per-connection state.
    mutating func reset()
    /// What the last telegram said about the meter (header, server id), for the connect log line.
    var identification: String? { get }
}

/// Receive buffer allocated once for the life of the source.
final class ReceiveBuffer {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    var start = 0, end = 0
    init(capacity: Int) {
        bytes = .allocate(capacity: capacity)
        bytes.initialize(repeating: 0)
    }
    deinit { bytes.deallocate() }
}

/// The push period of a meter, learned from the intervals between telegrams: the median of the last
/// three, so one late read (a telegram that waited in the UART buffer) does not move it.
public struct PushPeriodEstimator {
    /// Shortest push period believed (DSMR 5 and SML push every 1 s at most; a burst of buffered
    /// telegrams read back to back is not a period).
    public static let periodMinMs: Int64 = 500
    private var intervals: (Int64, Int64, Int64) = (0, 0, 0)
    private var seen = 0
    private var lastMs: Int64? = nil

    public init() {}

    public mutating func telegram(atMonotonicMs t: Int64) {
        if let last = lastMs, t - last >= Self.periodMinMs {
            intervals = (intervals.1, intervals.2, t - last)
            seen += 1
        }
        lastMs = t
    }

    public mutating func reset() { self = PushPeriodEstimator() }

    /// nil until three intervals were seen.
    public var periodMs: Int64? {
        guard seen >= 3 else { return nil }
        let (a, b, c) = intervals
        return max(min(a, b), min(max(a, b), c))
    }
}

/// A meter that pushes telegrams (DSMR P1, SML) on a `ByteLink`. Each `read` returns the newest
/// telegram that arrived since the previous one, waiting for it when none is there yet: at most
/// 1.5 push periods once the period is known (three telegrams), the family's slowest period before
/// that. A telegram that does not come — or comes damaged and is dropped by its CRC check — is a
/// `timeout` gap. Nothing is allocated per telegram.
public struct PushMeter<L: ByteLink, D: PushDecoder, C: Clock>: MeterSource {
    public let meterId: String
    private var link: L
    private var decoder: D
    private let clock: C
    private var acc: OBISAccumulator
    private let rx = ReceiveBuffer(capacity: PushMeter.readChunkBytes)
    public private(set) var period = PushPeriodEstimator()
    public private(set) var telegrams: UInt64 = 0
    private var ident: String? = nil

    /// Bytes taken from the link per read call: a DSMR 5 telegram at 115200 baud is ~1 kB per second.
    static var readChunkBytes: Int { 1_024 }

    public init(link: L, decoder: D, table: OBISTable, clock: C, meterId: String) {
        self.link = link
        self.decoder = decoder
        self.clock = clock
        self.meterId = meterId
        acc = OBISAccumulator(table: table)
    }

    public var timeoutMs: Int64 {
        guard let p = period.periodMs else { return decoder.firstTelegramTimeoutMs }
        return p + p / 2
    }

    public var discoveredLayout: String? {
        let p = period.periodMs.map { ", push period \($0) ms" } ?? ""
        return "\(decoder.family) \(ident ?? "telegram")\(p)"
    }

    /// Feeds buffered bytes; true when a telegram completed and was decoded into `acc`.
    private mutating func consume() throws(MeterError) -> Bool {
        var decoded = false
        while rx.start < rx.end {
            let (used, complete) = decoder.feed(UnsafeBufferPointer(rebasing: rx.bytes[rx.start..<rx.end]))
            rx.start += used
            if complete {
                acc.reset()
                try decoder.decode(into: &acc)
                telegrams += 1
                period.telegram(atMonotonicMs: clock.monotonicMs())
                if ident == nil { ident = decoder.identification }
                decoded = true
            }
        }
        return decoded
    }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        let deadline = clock.monotonicMs() + timeoutMs
        var have = try consume()
        while true {
            // Once a telegram is in hand, only drain what is already queued (a newer one wins).
            let wait = have ? 0 : deadline - clock.monotonicMs()
            if !have && wait <= 0 { throw .timeout }
            rx.start = 0
            rx.end = 0
            let n = try link.read(into: rx.bytes, timeoutMs: wait)
            if n == 0 {
                if have { break }
                continue
            }
            rx.end = n
            if try consume() { have = true }
        }
        return acc.measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
    }

    public mutating func reset() {
        link.close()
        decoder.reset()
        period.reset()
        rx.start = 0
        rx.end = 0
        ident = nil
    }
}

/// DSMR P1 in plain text.
public struct DSMRDecoder: PushDecoder {
    public var framer: DSMRFramer
    public var identification: String? = nil
    private var wantIdent = true

    public init(crcRequired: Bool) { framer = DSMRFramer(crcRequired: crcRequired) }

    public var family: String { "DSMR P1" }
    /// DSMR 2.2–4 push every 10 s (DSMR 4.2.2 §6.4), plus margin.
    public var firstTelegramTimeoutMs: Int64 { 11_000 }

    public mutating func feed(_ input: UnsafeBufferPointer<UInt8>) -> (used: Int, complete: Bool) { framer.feed(input) }

    public mutating func decode(into acc: inout OBISAccumulator) throws(MeterError) {
        do {
            try framer.withTelegram { (t: UnsafeBufferPointer<UInt8>) throws(DSMR.Problem) in
                try DSMR.decode(t, into: &acc)
            }
        } catch {
            throw .invalidResponse(error.description)
        }
        if wantIdent {
            wantIdent = false
            identification = framer.withTelegram { (t: UnsafeBufferPointer<UInt8>) in DSMR.header(t) }
        }
    }

    public mutating func reset() {
        framer.reset()
        wantIdent = true
    }
}

extension DSMR {
    /// The header line without '/', cut at 48 bytes (logged once per connection).
    public static func header(_ telegram: UnsafeBufferPointer<UInt8>) -> String {
        var end = 1
        while end < telegram.count && end < 49 && telegram[end] != ASCII.cr && telegram[end] != ASCII.lf { end += 1 }
        return "/" + printable(Array(telegram[1..<end])[...], max: 48)
    }
}
