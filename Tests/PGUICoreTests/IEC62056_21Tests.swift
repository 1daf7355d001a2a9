import Testing

@testable import PGUICore

func bccFramed(_ block: String) -> [UInt8] {
    var out: [UInt8] = [0x02] + Array(block.utf8) + [0x03]
    var bcc: UInt8 = 0
    for b in out.dropFirst() { bcc ^= b }
    out.append(bcc)
    return out
}

func iecDecode(_ readout: [UInt8], table: OBISTable = .standard) throws(IEC62056_21.Problem) -> (Measurement, Int, Int) {
    var acc = OBISAccumulator(table: table)
    let n = try readout.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(IEC62056_21.Problem) in
        try IEC62056_21.decode(readout: p, into: &acc)
    }
    return (acc.measurement(timestampMs: 0, quality: []), n, acc.unknown)
}

/// A meter answering one mode C exchange: identification after the request, the readout after the ACK.
struct ScriptedIECLink: ByteLink {
    var identification: [UInt8]
    var readout: [UInt8]
    var pending: [[UInt8]] = []
    var written: [[UInt8]] = []
    var speeds: [Int] = []

    mutating func read(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int64) throws(MeterError) -> Int {
        guard !pending.isEmpty else { return 0 }
        var c = pending.removeFirst()
        let n = min(c.count, buffer.count)
        for i in 0..<n { buffer[i] = c[i] }
        if n < c.count {
            c.removeFirst(n)
            pending.insert(c, at: 0)
        }
        return n
    }

    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) throws(MeterError) {
        written.append(Array(bytes))
        if bytes.first == 47 { pending.append(identification) }
        if bytes.first == 0x06 { pending.append(Array(readout[..<5])); pending.append(Array(readout[5...])) }
    }

    mutating func setSpeed(baud: Int) throws(MeterError) { speeds.append(baud) }
    mutating func close() {}
}

@Suite struct IEC62056_21Tests {
    /// Source: the iec62056-21 package's test suite (github.com/pwitab/iec62056-21,
    /// tests/test_data.py, BSD-3): a readout message with two data sets on one line and its BCC '"',
    /// and an answer message "\x023:171.0(0)\x03\x12".
    @Test func publishedBCCExamples() throws {
        let readout = Array("\u{2}3:14(314*kWh)4:15(415*kWh)\r\n!\r\n\u{3}\"".utf8)
        let (_, sets, unknown) = try iecDecode(readout)
        #expect(sets == 2 && unknown == 2)  // "3:14" is not an OBIS code PGUI maps
        _ = try iecDecode(Array("\u{2}3:171.0(0)\u{3}\u{12}".utf8))
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(Array("\u{2}3:14(314*kWh)4:15(415*kWh)\r\n!\r\n\u{3}x".utf8)) }
    }

    @Test func typicalReadout() throws {
        let block = "F.F(00000000)\r\nC.1.0(12345678)\r\n0.0.0(12345678)\r\n1.8.0(0012345.678*kWh)\r\n1.8.1(0010000.000*kWh)\r\n"
            + "2.8.0(0000123.4*kWh)\r\n1.7.0(01.234*kW)2.7.0(00.000*kW)\r\n32.7.0(230.1*V)\r\n52.7.0(229.9*V)\r\n"
            + "72.7.0(231.0*V)\r\n31.7.0(1.50*A)\r\n14.7.0(50.01*Hz)\r\n1.6.0(02.500*kW)(2411301215)\r\n1.8.0*12(0011000.000*kWh)\r\n!\r\n"
        let (m, _, _) = try iecDecode(bccFramed(block))
        #expect(m.energyImportWh == 12_345_678)  // the total wins over the tariff; *12 is history
        #expect(m.energyExportWh == 123_400)
        #expect(m.activePowerW == 1_234)
        #expect(m.l1.voltageMv == 230_100 && m.l2.voltageMv == 229_900 && m.l3.voltageMv == 231_000)
        #expect(m.l1.currentMa == 1_500)
        #expect(m.frequencyMhz == 50_010)
    }

    @Test func emptyTruncatedAndGarbage() {
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode([]) }
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode([0x02, 0x03]) }
        let whole = bccFramed("1.8.0(0012345.678*kWh)\r\n!\r\n")
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(Array(whole.dropLast(2))) }
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(bccFramed("1.8.0(0012345.678*kWh\r\n!\r\n")) }
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(bccFramed("1.8.0(12x*kWh)\r\n!\r\n")) }
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(bccFramed("1.7.0(1*kWh)\r\n!\r\n")) }
    }

    @Test func valueDigitLimit() throws {
        let limit = String(repeating: "1", count: OBISTextLine.valueDigitsMax)
        let (m, _, _) = try iecDecode(bccFramed("1.8.0(\(limit)*Wh)\r\n!\r\n"))
        #expect(m.energyImportWh == 111_111_111_111_111_111)
        #expect(throws: IEC62056_21.Problem.self) { _ = try iecDecode(bccFramed("1.8.0(\(limit)1*Wh)\r\n!\r\n")) }
    }

    @Test func identification() {
        func id(_ s: String) -> IEC62056_21.Identification? { Array(s.utf8).withUnsafeBufferPointer { IEC62056_21.identification($0) } }
        #expect(id("/LGZ5ZMD3104407.B32")?.baudChar == 53)
        #expect(id("/Els6\\2EK280")?.manufacturer == "Els")
        #expect(id("/ISk5MT174-0001") != nil)
        #expect(id("/LG") == nil && id("LGZ5ZMD") == nil && id("/LGZ9ZMD") == nil)
        #expect(id("/" + String(repeating: "A", count: IEC62056_21.identificationBytesMax)) == nil)
    }

    @Test func modeCExchange() throws {
        let readout = bccFramed("1.8.0(0000042.000*kWh)\r\n16.7.0(-0.250*kW)\r\n!\r\n")
        let link = ScriptedIECLink(identification: Array("/PGU5SIM\r\n".utf8), readout: readout)
        var meter = IECReadoutMeter(link: link, address: "", baudMax: 4_800, table: .standard, meterId: "m")
        let m = try meter.read(wallMs: 5, clockSynced: true)
        #expect(m.energyImportWh == 42_000 && m.activePowerW == -250)
        #expect(meter.discoveredLayout == "IEC 62056-21 mode C, meter /PGU5SIM, readout at 4800 baud")
        // A second readout starts at 300 baud again.
        _ = try meter.read(wallMs: 6, clockSynced: true)
    }

    @Test func silentMeterIsATimeout() {
        var meter = IECReadoutMeter(link: MemoryLink([]), address: "123", baudMax: 9_600, table: .standard, meterId: "m")
        #expect(throws: MeterError.timeout) { _ = try meter.read(wallMs: 0, clockSynced: true) }
    }
}
