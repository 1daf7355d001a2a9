import Testing

@testable import PGUICore

@Suite struct SerialMeterConfigTests {
    func load(_ text: String) throws(ConfigError) -> Config {
        try Config.load(Array(("device.id = gw\ndata.dir = /data\n" + text).utf8), file: "c.conf")
    }

    @Test func familyDefaults() throws {
        let d5 = try load("meter.kind = dsmr-p1\nmeter.serial.device = /dev/ttyUSB0\n").meter
        #expect(d5.obis.serial == SerialSettings(device: "/dev/ttyUSB0", baud: 115_200, dataBits: 8, parity: .none, stopBits: 1))
        #expect(d5.periodMs == 1_000 && d5.serial.dsmrCRCRequired && !d5.serial.dsmrEncrypted)
        let d22 = try load("meter.kind = dsmr-p1\nmeter.dsmr.version = 2.2\nmeter.serial.device = /dev/ttyUSB0\n").meter
        #expect(d22.obis.serial.baud == 9_600 && d22.obis.serial.dataBits == 7 && d22.obis.serial.parity == .even)
        #expect(d22.periodMs == 10_000 && !d22.serial.dsmrCRCRequired)
        let sml = try load("meter.kind = sml\nmeter.serial.device = /dev/ttyUSB0\n").meter
        #expect(sml.obis.serial.baud == 9_600 && sml.obis.serial.parity == .none && sml.obis.serial.dataBits == 8)
        let iec = try load("meter.kind = iec62056-21\nmeter.serial.device = /dev/ttyUSB0\n").meter
        #expect(iec.obis.serial.baud == 300 && iec.obis.serial.dataBits == 7 && iec.obis.serial.parity == .even)
        #expect(iec.periodMs == 10_000 && iec.serial.iecBaudMax == 9_600)
        // Keys the file sets win over the family default.
        let set = try load("meter.kind = dsmr-p1\nmeter.serial.device = /dev/ttyUSB0\nmeter.serial.baud = 9600\nmeter.period_ms = 2000\n").meter
        #expect(set.obis.serial.baud == 9_600 && set.obis.serial.dataBits == 8 && set.periodMs == 2_000)
        let enc = try load("meter.kind = dsmr-p1\nmeter.serial.device = /dev/ttyUSB0\nmeter.cipher.encryption_key_file = /data/p1.key\n").meter
        #expect(enc.serial.dsmrEncrypted)
    }

    @Test func misplacedOrMissingKeysAreErrors() {
        for text in ["meter.kind = dsmr-p1\n",  // no device
                     "meter.kind = sml\nmeter.serial.device = ttyUSB0\n",  // not absolute
                     "meter.kind = sml\nmeter.serial.device = /dev/ttyUSB0\nmeter.dsmr.version = 4\n",
                     "meter.kind = dsmr-p1\nmeter.serial.device = /dev/ttyUSB0\nmeter.iec.address = 12\n",
                     "meter.kind = iec62056-21\nmeter.serial.device = /dev/ttyUSB0\nmeter.period_ms = 5000\n",
                     "meter.kind = iec62056-21\nmeter.serial.device = /dev/ttyUSB0\nmeter.iec.address = a/b\n",
                     "meter.kind = sml\nmeter.serial.device = /dev/ttyUSB0\nmeter.cipher.encryption_key_file = /data/k\n",
                     "meter.kind = dsmr-p1\nmeter.serial.device = /dev/ttyUSB0\nmeter.cipher.authentication_key_file = /data/k\n"] {
            #expect(throws: ConfigError.self, "\(text)") { _ = try load(text) }
        }
    }
}
