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
}
