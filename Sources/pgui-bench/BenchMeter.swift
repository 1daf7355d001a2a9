import PGUICore
import PGUIPlatform
import PGUIRuntime

/// A register image in memory: what the meter decoders cost without any transport.
struct MemoryRegisters: RegisterReader {
    var holding: [UInt16]
    mutating func read(_ function: RegisterFunction, address: Int, count: Int, into buffer: inout [UInt16]) throws(MeterError) {
        guard address + count <= holding.count else { throw .exception(code: 2) }
        for i in 0..<count { buffer[i] = holding[address + i] }
    }
    mutating func disconnect() {}
}

extension Bench {
    /// SunSpec model 203 decoding and the register-map decoder, each against copying the same
    /// registers out of the image (the least any decoder must do), plus grouping per sample.
    static func benchMeter() -> Bool {
        var image = [UInt16](repeating: 0, count: 40_300)
        image[40_000] = 0x5375; image[40_001] = 0x6E53
        image[40_002] = 1; image[40_003] = 66
        image[40_070] = 203; image[40_071] = 105
        for i in 0..<105 { image[40_072 + i] = UInt16(1_000 + i) }
        image[40_072 + 4] = UInt16(bitPattern: -2); image[40_072 + 13] = UInt16(bitPattern: -1)
        image[40_072 + 15] = UInt16(bitPattern: -2); image[40_072 + 52] = 1
        for o in [20, 25, 30, 102] { image[40_072 + o] = 0 }
        image[40_072 + 35] = UInt16(bitPattern: -1)
        image[40_177] = 0xFFFF
        var sunspec = SunSpecMeter(reader: MemoryRegisters(holding: image), base: nil, meterId: "bench")
        var t: Int64 = 1_700_000_000_000
        var ok = true
        var sink: Int64 = 0
        do throws(MeterError) {
            sink &+= try sunspec.read(wallMs: t, clockSynced: true).activePowerW ?? 0
        } catch {
            printOut("bench meter: SunSpec discovery failed: \(error.description)")
            return false
        }
        var copy = [UInt16](repeating: 0, count: registersPerReadMax)
        let subject = rate {
            t += 1_000
            do throws(MeterError) { sink &+= try sunspec.read(wallMs: t, clockSynced: true).activePowerW ?? 0 } catch { ok = false }
        }
        let baseline = rate {
            for i in 0..<105 { copy[i] = image[40_072 + i] }
            sink &+= Int64(copy[16])
        }
        report("meter-sunspec", subject: "SunSpec 203 sample decode", subject, baseline: "copy of its 105 registers", baseline)

        var map: [RegisterMapEntry] = []
        let lines = ["active_power = 0 holding float32 big 1 W", "reactive_power = 2 holding int32 little 1 var",
                     "energy_import = 4 holding uint32 big 1 kWh", "l1_voltage = 6 holding uint16 big 0.1 V"]
        for (i, l) in lines.enumerated() {
            let parts = l.split(separator: " ", maxSplits: 2)
            if case .success(let e) = RegisterMap.parseEntry(name: String(parts[0]), value: String(parts[2]), line: i + 1) { map.append(e) }
        }
        var mapMeter = RegisterMapMeter(reader: MemoryRegisters(holding: image), entries: map, meterId: "bench")
        let mapRate = rate {
            t += 1_000
            do throws(MeterError) { sink &+= try mapMeter.read(wallMs: t, clockSynced: true).activePowerW ?? 0 } catch { ok = false }
        }
        let mapBaseline = rate {
            for i in 0..<7 { copy[i] = image[i] }
            sink &+= Int64(copy[1])
        }
        report("meter-map", subject: "register map (4 quantities) decode", mapRate, baseline: "copy of its 7 registers", mapBaseline)

        var grouper = Grouper(meterId: "bench", windowMs: 10_000, periodMs: 1_000)
        var sample = Measurement(timestampMs: t, quality: [])
        sample.activePowerW = 1
        var groups = 0
        let groupRate = rate {
            t += 1_000
            sample.timestampMs = t
            if grouper.add(sample) != nil { groups += 1 }
        }
        report("meter-group", subject: "grouping one sample", groupRate, baseline: "SunSpec decode", subject)
        if sink == 42 { printOut("") }  // keeps the work observable to the optimiser
        return ok && groups > 0
    }
}
