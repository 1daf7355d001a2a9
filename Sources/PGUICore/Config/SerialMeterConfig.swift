/// Settings only the serial OBIS meters read (`meter.dsmr.*`, `meter.iec.*`), and the per-kind
/// defaults of the serial line and period for `dsmr-p1`, `sml` and `iec62056-21`
/// (docs/meters-serial.md). `meter.serial.*` keys the file sets always win over these defaults.
public struct SerialMeterConfig: Equatable {
    /// `meter.dsmr.version`: 5 and 4 push at 115200 8N1 with a CRC16; 3 and 2.2 at 9600 7E1
    /// without one (DSMR 5.0.2 §6.2, DSMR 4.2.2 §6.2, DSMR 3.0 §5.1, DSMR 2.2 §5.1).
    public var dsmrVersion = "5"
    /// Whether a telegram must end in a CRC (DSMR 4/5 always send one).
    public var dsmrCRCRequired = true
    /// Encrypted P1 (Luxembourg "Smarty", Sagemcom T210-D): on when `meter.cipher.encryption_key_file`
    /// is set for `dsmr-p1`.
    public var dsmrEncrypted = false
    /// `meter.iec.baud_max`: the fastest speed PGUI accepts in the baud-rate switch (mode C); the
    /// meter proposes its own in the identification and the lower of the two is used.
    public var iecBaudMax = 9_600
    /// `meter.iec.address`: the device address sent in the request `/?address!` (empty = any meter
    /// on the optical head; IEC 62056-21 §6.3.1 allows up to 32 characters).
    public var iecAddress = ""
    /// `meter.iec.min_period_ms`: the shortest interval between two readouts the meter supports.
    /// A readout starts at 300 baud and takes 1–3 s on common meters; many refuse a new request
    /// while one is running. `meter.period_ms` below it is an error, and its default when not set.
    public var iecMinPeriodMs: Int64 = 10_000

    /// Kinds this file configures.

    public static let schema: [ConfigKeySpec] = [
        ConfigKeySpec("meter.dsmr.version", .choice(["5", "4", "3", "2.2"]), default: "5"),
        ConfigKeySpec("meter.iec.baud_max", .choice(["300", "600", "1200", "2400", "4800", "9600", "19200"]), default: "9600"),
        ConfigKeySpec("meter.iec.address", .text(bytesMax: 32), default: ""),
        ConfigKeySpec("meter.iec.min_period_ms", .integer(min: 1_000, max: 60_000), default: "10000"),
    ]

    public init() {}

    /// Reads the family keys and applies the kind's serial and period defaults to what the file left unset.
    public init(_ v: ConfigValues, kind: MeterKind, obis: inout OBISMeterConfig, periodMs: inout Int64) throws(ConfigError) {
        dsmrVersion = v.string("meter.dsmr.version")
        iecBaudMax = Int(v.int("meter.iec.baud_max"))
        iecAddress = v.string("meter.iec.address")
        iecMinPeriodMs = v.int("meter.iec.min_period_ms")
        for key in ["meter.dsmr.version"] where v.isSet(key) && kind != .dsmrP1 {
            throw v.error(key, "\(key) is for meter.kind = dsmr-p1, not \(kind.rawValue)")
        }
        for key in ["meter.iec.baud_max", "meter.iec.address", "meter.iec.min_period_ms"] where v.isSet(key) && kind != .iec62056_21 {
            throw v.error(key, "\(key) is for meter.kind = iec62056-21, not \(kind.rawValue)")
        }
        for b in iecAddress.utf8 where !(b > 32 && b < 127 && b != 33 && b != 47 && b != 63) {
            throw v.error("meter.iec.address", "a device address is printable ASCII without '/', '?', '!' or spaces (IEC 62056-21 §6.3.1)")
        }
        guard kind.isSerialOBIS else { return }

        let periodSet = v.isSet("meter.period_ms")
        var d = SerialSettings(device: obis.serial.device, baud: 9_600, dataBits: 8, parity: .none, stopBits: 1)
        switch kind {
        case .dsmrP1:
            let old = dsmrVersion == "3" || dsmrVersion == "2.2"
            dsmrCRCRequired = !old
            d = old ? SerialSettings(device: d.device, baud: 9_600, dataBits: 7, parity: .even, stopBits: 1) : SerialSettings(device: d.device, baud: 115_200)
            // DSMR 2.2 to 4 push every 10 s, DSMR 5 every second: one sample per telegram.
            if !periodSet { periodMs = dsmrVersion == "5" ? 1_000 : 10_000 }
            dsmrEncrypted = v.isSet("meter.cipher.encryption_key_file")
            if v.isSet("meter.cipher.authentication_key_file") && !dsmrEncrypted {
                throw v.error("meter.cipher.authentication_key_file", "an authentication key needs meter.cipher.encryption_key_file too (encrypted P1)")
            }
        case .sml:
            // SML info interfaces (FNN "Lastenheft EDL" / BSI TR-03109-1 optical port): 9600 8N1.
            if !periodSet { periodMs = 1_000 }
            for key in ["meter.cipher.encryption_key_file", "meter.cipher.authentication_key_file"] where v.isSet(key) {
                throw v.error(key, "SML info interfaces are not encrypted; meter keys are for dlms and dsmr-p1")
            }
        default:  // iec62056-21: the request is always 300 7E1 (IEC 62056-21 §6.3.14)
            d = SerialSettings(device: d.device, baud: 300, dataBits: 7, parity: .even, stopBits: 1)
            if !periodSet {
                periodMs = max(periodMs, iecMinPeriodMs)
            } else if periodMs < iecMinPeriodMs {
                throw v.error("meter.period_ms", "\(periodMs) ms is shorter than meter.iec.min_period_ms = \(iecMinPeriodMs) ms (a readout at 300 baud takes seconds)")
            }
            for key in ["meter.cipher.encryption_key_file", "meter.cipher.authentication_key_file"] where v.isSet(key) {
                throw v.error(key, "IEC 62056-21 readouts are not encrypted; meter keys are for dlms and dsmr-p1")
            }
        }
        if !obis.serialKeysSet.contains("baud") { obis.serial.baud = d.baud }
        if !obis.serialKeysSet.contains("data_bits") { obis.serial.dataBits = d.dataBits }
        if !obis.serialKeysSet.contains("parity") { obis.serial.parity = d.parity }
        if !obis.serialKeysSet.contains("stop_bits") { obis.serial.stopBits = d.stopBits }
        guard obis.serial.device.utf8.first == 47 else {
            throw v.error(v.isSet("meter.serial.device") ? "meter.serial.device" : "meter.kind", "\(kind.rawValue) needs meter.serial.device, an absolute path (e.g. /dev/ttyUSB0)")
        }
    }
}
