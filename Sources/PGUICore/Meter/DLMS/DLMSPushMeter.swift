/// A DLMS/COSEM meter that pushes data-notifications (`meter.kind = dlms-push`) on its customer
/// port (HDLC UI frames on a serial line) or over TCP (wrapper frames), plain or
/// general-glo-ciphered. `read` returns the newest push received since the previous read, waiting
/// up to one period for it: a missing push is a `timeout` gap, a frame failing authentication or
/// replaying its invocation counter an `invalid` gap (counted), never a value.
public struct DLMSPushMeter<L: ByteLink, K: Clock, C: MeterCipher>: MeterSource {
    public let meterId: String
    public var transport: DLMSTransport<L, K>
    /// nil: the meter pushes in clear; ciphered pushes are then refused.
    public var decryptor: DLMSDecryptor<C>?
    public let periodMs: Int64
    private var acc: OBISAccumulator
    /// Frames refused for failed authentication or a replayed counter, since start.
    public private(set) var authenticationFailures: UInt64 = 0
    /// Pushes taken, and frames that decoded to nothing usable.
    public private(set) var pushes: UInt64 = 0
    public private(set) var unusable: UInt64 = 0
    /// Monotonic time of the last push and the interval measured between the last two.
    private var lastPushMs: Int64? = nil
    public private(set) var detectedPeriodMs: Int64? = nil

    /// A read returns this long before the next period boundary so it never overruns it.
    public static var boundaryMarginMs: Int64 { 20 }

    public init(transport: DLMSTransport<L, K>, decryptor: DLMSDecryptor<C>?, table: OBISTable, periodMs: Int64, meterId: String) {
        self.transport = transport
        self.decryptor = decryptor
        self.periodMs = periodMs
        self.meterId = meterId
        acc = OBISAccumulator(table: table)
    }

    public var discoveredLayout: String? {
        var s = "DLMS push via \(transport.framing.text), \(decryptor == nil ? "clear" : "AES-128-GCM")"
        if let p = detectedPeriodMs { s += ", pushes every \(p) ms" }
        return s
    }

    /// Keeps the link (a push meter talks when it wants): only a partial frame is dropped.
    public mutating func reset() {}

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        let quality: QualityFlags = clockSynced ? [] : [.clockUnsynced]
        let deadline = transport.clock.monotonicMs() + max(0, periodMs - Self.boundaryMarginMs)
        var newest: Measurement? = nil
        var refusal: MeterError? = nil
        // Drain what arrived since the last read (no waiting), then wait for one push if none did.
        while true {
            let wait = newest == nil ? deadline - transport.clock.monotonicMs() : 0
            guard try transport.receivePush(timeoutMs: max(wait, 0)) else { break }
            do throws(MeterError) {
                newest = try decode(wallMs: wallMs, quality: quality)
                refusal = nil
            } catch {
                refusal = error
            }
            if newest == nil && transport.clock.monotonicMs() >= deadline { break }
        }
        if let m = newest { return m }
        if let e = refusal { throw e }
        throw .timeout
    }

    /// The measurement in the APDU just received.
    private mutating func decode(wallMs: Int64, quality: QualityFlags) throws(MeterError) -> Measurement {
        let now = transport.clock.monotonicMs()
        var range = 0..<transport.apduCount
        let first = transport.apdu[0]
        var clear = true
        if first == DLMSAPDUTag.generalGloCiphering {
            guard decryptor != nil else {
                unusable += 1
                throw .refused("ciphered push (general-glo-ciphering) but no meter.cipher.encryption_key_file configured")
            }
            do throws(DLMSCipherError) {
                range = try transport.apdu.withUnsafeBufferPointer { (p) throws(DLMSCipherError) -> Range<Int> in
                    try decryptor!.open(p, 0..<transport.apduCount, knownTitle: nil)
                }
            } catch {
                switch error {
                case .authentication, .replay: authenticationFailures += 1
                default: unusable += 1
                }
                throw .refused(error.description)
            }
            clear = false
        } else if decryptor != nil {
            // A key is configured: a clear push could be forged on the customer port.
            unusable += 1
            throw .refused("push in clear (APDU tag 0x\(dlmsHex(first))) while meter keys are configured")
        }
        acc.reset()
        let found: Int
        do throws(DLMSDecodeError) {
            if clear {
                found = try transport.apdu.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> Int in try Self.collect(p, range, &acc) }
            } else {
                found = try decryptor!.plaintext.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> Int in try Self.collect(p, range, &acc) }
            }
        } catch {
            unusable += 1
            throw .refused("push: \(error.message)")
        }
        guard found > 0 else {
            unusable += 1
            throw .refused("push without any OBIS code and value (positional push lists need meter.dlms.registers)")
        }
        if let last = lastPushMs { detectedPeriodMs = now - last }
        lastPushMs = now
        pushes += 1
        return acc.measurement(timestampMs: wallMs, quality: quality)
    }

    static func collect(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ acc: inout OBISAccumulator) throws(DLMSDecodeError) -> Int {
        var r = AXDRReader(p, from: range.lowerBound, to: range.upperBound)
        r.pos = try DLMSAPDU.parseDataNotification(&r)
        return try DLMSReadings.collectPush(&r, into: &acc)
    }
}
