/// A DLMS/COSEM meter the gateway asks (`meter.kind = dlms-hdlc` or `dlms-tcp`): on connecting it
/// associates, reads the scaler_unit of every configured register once, then GETs each value at
/// every period. Registers the meter does not have are dropped at discovery (logged), not polled.
public struct DLMSPolledMeter<L: ByteLink, K: Clock>: MeterSource {
    public let meterId: String
    public var session: DLMSSession<L, K>
    /// The logical names asked for, in order (`meter.dlms.registers`, default: the table's codes).
    public let registers: [OBISCode]
    /// Found at discovery: code, scaler, unit text.
    private var found: [(code: OBISCode, scaler: Int, unit: String)] = []
    private var discovered = false
    private var skipped = 0
    private var acc: OBISAccumulator

    /// COSEM interface class 3, "Register" (IEC 62056-6-2 §4.3.2): attribute 2 value, 3 scaler_unit.
    public static var registerClass: UInt16 { 3 }

    public init(session: DLMSSession<L, K>, registers: [OBISCode], table: OBISTable, meterId: String) {
        precondition(registers.count <= DLMSLimits.registersMax, "register list bounded by the config parser")
        self.session = session
        self.registers = registers
        self.meterId = meterId
        acc = OBISAccumulator(table: table)
        found.reserveCapacity(registers.count)
    }

    public var discoveredLayout: String? {
        guard discovered else { return nil }
        var s = "DLMS \(session.transport.framing.text), \(found.count) registers"
        if skipped > 0 { s += " (\(skipped) configured registers absent)" }
        if let a = session.aare { s += ", server max PDU \(a.serverMaxPDU)" }
        return s
    }

    public mutating func reset() {
        session.release()
        discovered = false
    }

    public mutating func read(wallMs: Int64, clockSynced: Bool) throws(MeterError) -> Measurement {
        if !session.associated {
            try session.associate()
            discovered = false
        }
        if !discovered { try discover() }
        acc.reset()
        for reg in found {
            switch try session.get(classId: Self.registerClass, obis: reg.code, attribute: 2) {
            case .accessError(let code):
                throw .refused("GET \(reg.code.text) value: \(DLMSAPDU.accessResultText(code))")
            case .data:
                let value: Int64
                do throws(DLMSDecodeError) {
                    value = try session.withData { (r) throws(DLMSDecodeError) -> Int64 in try DLMSReadings.integer(&r) }
                } catch {
                    throw .invalidResponse("\(reg.code.text) value: \(error.message)")
                }
                do throws(OBISAccumulator.Problem) {
                    try acc.add(OBISReading(code: reg.code, mantissa: value, exponent: reg.scaler, unit: reg.unit))
                } catch {
                    throw .refused(error.description)
                }
            }
        }
        return acc.measurement(timestampMs: wallMs, quality: clockSynced ? [] : [.clockUnsynced])
    }

    private mutating func discover() throws(MeterError) {
        found.removeAll(keepingCapacity: true)
        skipped = 0
        for code in registers {
            switch try session.get(classId: Self.registerClass, obis: code, attribute: 3) {
            case .accessError:
                skipped += 1
            case .data:
                let su: (Int, Int64)
                do throws(DLMSDecodeError) {
                    su = try session.withData { (r) throws(DLMSDecodeError) -> (Int, Int64) in try DLMSReadings.scalerUnit(&r) }
                } catch {
                    throw .invalidResponse("\(code.text) scaler_unit: \(error.message)")
                }
                guard let unit = DLMSUnit.text(su.1) else { skipped += 1; continue }
                found.append((code, su.0, unit))
            }
        }
        guard !found.isEmpty else {
            throw .unsupported("none of the \(registers.count) configured registers exists on the meter (meter.dlms.registers)")
        }
        discovered = true
    }
}
