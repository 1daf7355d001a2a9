import PGUICore

/// Builds the serial OBIS meter sources (DSMR P1, SML, IEC 62056-21) from the configuration: the
/// UART from `meter.serial.*` with the family's defaults already applied, the OBIS table, the wall
/// and monotonic clocks of the system.
public enum SerialMeters {
    public static func dsmr(_ m: MeterConfig) -> PushMeter<SerialPort, DSMRDecoder, SystemClock> {
        PushMeter(link: SerialPort(m.obis.serial), decoder: DSMRDecoder(crcRequired: m.serial.dsmrCRCRequired),
                  table: m.obis.table, clock: SystemClock(), meterId: m.meterId)
    }

    public static func sml(_ m: MeterConfig) -> PushMeter<SerialPort, SMLDecoder, SystemClock> {
        PushMeter(link: SerialPort(m.obis.serial), decoder: SMLDecoder(), table: m.obis.table, clock: SystemClock(), meterId: m.meterId)
    }

    public static func iec(_ m: MeterConfig) -> IECReadoutMeter<SerialPort> {
        IECReadoutMeter(link: SerialPort(m.obis.serial), address: m.serial.iecAddress, baudMax: m.serial.iecBaudMax,
                        table: m.obis.table, meterId: m.meterId)
    }

    /// Encrypted P1 (Luxembourg): the keys are read from their 0600 files once, here; a missing,
    /// unreadable or world-readable key file stops the start with the file named (never the key).
    public static func encryptedDSMR(_ m: MeterConfig) throws(SystemError) -> PushMeter<SerialPort, DSMREncryptedDecoder<AESGCM>, SystemClock> {
        let key: [UInt8]
        var auth = DSMREncrypted.publishedAuthenticationKey
        do {
            key = try MeterKeyFile.load(m.obis.encryptionKeyFile)
            if !m.obis.authenticationKeyFile.isEmpty { auth = try MeterKeyFile.load(m.obis.authenticationKeyFile) }
        } catch {
            throw SystemError("load", error.description, code: 22)  // EINVAL
        }
        let cipher: AESGCM
        do { cipher = try AESGCM(key: key) } catch { throw SystemError("AES-GCM key", "meter.cipher.encryption_key_file", code: 22) }
        return PushMeter(link: SerialPort(m.obis.serial), decoder: DSMREncryptedDecoder(cipher: cipher, authenticationKey: auth),
                         table: m.obis.table, clock: SystemClock(), meterId: m.meterId)
    }
}
