import CSystem
import PGUICore
import PGUIPlatform

extension Bench {
    /// A DSMR 5 telegram (framer + CRC16 + decode into a Measurement) and an SML frame (framer +
    /// CRC + TLV walk) against one mbedTLS P-256 signature: issue 18 asks for a decode under 2 % of
    /// a signature, i.e. a ratio above 50. The heap in use is compared before and after: decoding a
    /// steady stream must not grow it (buffers are allocated once per source).
    static func benchSerialMeters() -> Bool {
        // DSMR 5: the line set of the published dsmr_parser TELEGRAM_V5 (37 lines), CRC computed here.
        let lines = ["/ISK5\\2M550T-1012", "", "1-3:0.2.8(50)", "0-0:1.0.0(170102192002W)", "0-0:96.1.1(4B384547303034303436333935353037)",
                     "1-0:1.8.1(000004.426*kWh)", "1-0:1.8.2(000002.399*kWh)", "1-0:2.8.1(000002.444*kWh)", "1-0:2.8.2(000000.000*kWh)",
                     "0-0:96.14.0(0002)", "1-0:1.7.0(00.244*kW)", "1-0:2.7.0(00.000*kW)", "0-0:96.7.21(00013)", "0-0:96.7.9(00000)",
                     "1-0:99.97.0(0)(0-0:96.7.19)", "1-0:32.32.0(00000)", "1-0:52.32.0(00000)", "1-0:72.32.0(00000)",
                     "1-0:32.36.0(00000)", "1-0:52.36.0(00000)", "1-0:72.36.0(00000)", "0-0:96.13.0()", "1-0:32.7.0(0230.0*V)",
                     "1-0:52.7.0(0230.0*V)", "1-0:72.7.0(0229.0*V)", "1-0:31.7.0(0.48*A)", "1-0:51.7.0(0.44*A)", "1-0:71.7.0(0.86*A)",
                     "1-0:21.7.0(00.070*kW)", "1-0:41.7.0(00.032*kW)", "1-0:61.7.0(00.142*kW)", "1-0:22.7.0(00.000*kW)",
                     "1-0:42.7.0(00.000*kW)", "1-0:62.7.0(00.000*kW)", "0-1:24.1.0(003)", "0-1:96.1.0(3232323241424344313233343536373839)",
                     "0-1:24.2.1(170102161005W)(00000.107*m3)"]
        var telegram = Array((lines.joined(separator: "\r\n") + "\r\n!").utf8)
        let crc = telegram.withUnsafeBufferPointer { DSMR.crc16($0) }
        let hex = Array("0123456789ABCDEF".utf8)
        telegram += [hex[Int(crc >> 12)], hex[Int(crc >> 8 & 15)], hex[Int(crc >> 4 & 15)], hex[Int(crc & 15)], 13, 10]
        // SML: a Holley DTZ541 frame from smllib's published test data (500 bytes).
        let smlHex = Array("1b1b1b1b0101010176040000016200620072650000010176010107000002dba23c0b0a01484c5902000424a0010163945b0076040000026200620072650000070177010b0a01484c5902000424a00101f10477070100603201010101010104484c590177070100600100ff010101010b0a01484c5902000424a00177070100010800ff65001c81046502dba23d621e52ff6502aea1320177070100020800ff65001c81046502dba23d621e52ff62000177070100100700ff0101621b52005300890177070100200700ff0101622352ff6309280177070100340700ff0101622352ff6309290177070100480700ff0101622352ff63092201770701001f0700ff0101622152fe62290177070100330700ff0101622152fe624e0177070100470700ff0101622152fe622e0177070100510701ff01016208520062f00177070100510702ff01016208520062780177070100510704ff010162085200630110017707010051070fff010162085200630138017707010051071aff01016208520063011101770701000e0700ff0101622c52ff6301f40177070100000200000101010109312e30322e3030370177070100605a02010101010105413031410177070100600500ff0101010165001c810401010163fc1e00760400000362006200726500000201710163e8230000001b1b1b1b1a0222ed".utf8)
        var sml: [UInt8] = []
        var k = 0
        while k + 1 < smlHex.count {
            sml.append((ASCII.hexValue(smlHex[k]) ?? 0) << 4 | (ASCII.hexValue(smlHex[k + 1]) ?? 0))
            k += 2
        }

        var dsmrFramer = DSMRFramer(crcRequired: true)
        var smlFramer = SMLFramer()
        var acc = OBISAccumulator(table: .standard)
        var failed = false
        var power: Int64 = 0
        func decodeDSMR() {
            let done = telegram.withUnsafeBufferPointer { dsmrFramer.feed($0).complete }
            guard done else { failed = true; return }
            acc.reset()
            do {
                try dsmrFramer.withTelegram { (t: UnsafeBufferPointer<UInt8>) throws(DSMR.Problem) in try DSMR.decode(t, into: &acc) }
            } catch { failed = true }
            power &+= acc.measurement(timestampMs: 0, quality: []).activePowerW ?? 0
        }
        func decodeSML() {
            let done = sml.withUnsafeBufferPointer { smlFramer.feed($0).complete }
            guard done else { failed = true; return }
            acc.reset()
            do {
                _ = try smlFramer.withPayload { (p: UnsafeBufferPointer<UInt8>) throws(SML.Problem) in try SML.decode(p, into: &acc) }
            } catch { failed = true }
            power &+= acc.measurement(timestampMs: 0, quality: []).activePowerW ?? 0
        }
        for _ in 0..<100 { decodeDSMR(); decodeSML() }  // warm up
        let heapBefore = Int64(pgui_heap_in_use_bytes())
        let dsmrRate = rate(ms: 1_000) { decodeDSMR() }
        let smlRate = rate(ms: 1_000) { decodeSML() }
        let heapAfter = Int64(pgui_heap_in_use_bytes())
        let signRate: Int64
        do throws(CryptoError) {
            let random = try RandomSource(personalization: "pgui-bench-serial-meters")
            let key = try P256Key.generate(random)
            let digest = sha256(Array("pgui bench".utf8))
            signRate = rate(ms: 1_000) {
                do throws(CryptoError) { _ = try key.sign(digest: digest, random) } catch { failed = true }
            }
        } catch {
            printErr("bench serial-meters: \(error.description)")
            return false
        }
        report("serial-meters", subject: "DSMR 5 telegrams decoded (\(telegram.count) B)", dsmrRate, baseline: "P-256 signatures", signRate)
        report("serial-meters", subject: "SML frames decoded (\(sml.count) B)", smlRate, baseline: "P-256 signatures", signRate)
        printOut("bench serial-meters: heap in use after the decode runs \(heapAfter) B vs before \(heapBefore) B")
        // Issue 18: a decode costs under 2 % of a signature.
        let ok = dsmrRate > 50 * signRate && smlRate > 50 * signRate
        // A missed target is reported, not a failed run (as bench dlms): `make bench` must still print
        // every other figure; the target stays open in issue 18.
        if !ok { printErr("bench serial-meters: MISSED target: a decode costs more than 2 % of a P-256 signature") }
        if power == 0 { failed = true }
        return !failed
    }
}
