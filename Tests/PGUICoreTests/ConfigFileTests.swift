import Testing

@testable import PGUICore

private func parse(_ text: String) throws(ConfigError) -> [ConfigEntry] {
    try ConfigFile.parse(Array(text.utf8), file: "t.conf")
}

private func parseError(_ text: String) -> ConfigError? {
    do throws(ConfigError) {
        _ = try parse(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct ConfigFileTests {
    @Test func emptyFileHasNoEntries() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("\n\n   \n# only a comment\n").isEmpty)
    }

    @Test func entriesKeepTheirLineNumbers() throws {
        let e = try parse("# header\na = 1\n\n  b.c-d_e =   two words  \r\nq = \"  padded # not a comment \"\n")
        #expect(e == [
            ConfigEntry(key: "a", value: "1", line: 2),
            ConfigEntry(key: "b.c-d_e", value: "two words", line: 4),
            ConfigEntry(key: "q", value: "  padded # not a comment ", line: 5),
        ])
    }

    @Test func lastLineWithoutNewlineAndBOM() throws {
        #expect(try parse("\u{FEFF}a = 1") == [ConfigEntry(key: "a", value: "1", line: 1)])
    }

    @Test func emptyValueIsAllowed() throws {
        #expect(try parse("a =") == [ConfigEntry(key: "a", value: "", line: 1)])
    }

    @Test func errorsNameTheLine() {
        #expect(parseError("a = 1\nnot a pair\n") == ConfigError(file: "t.conf", line: 2, message: "expected 'key = value', found 'not a pair'"))
        #expect(parseError("= 3")?.message == "missing key before '='")
        #expect(parseError("A = 3")?.line == 1)
        #expect(parseError("a = 1\nb = 2\na = 3")?.message == "duplicate key 'a' (first set on line 1)")
        #expect(parseError("a = \"open")?.message == "unterminated quoted value")
        #expect(parseError("a = \"x\"y\"")?.message == "a quoted value may not contain '\"'")
        #expect(parseError("a = b\u{1}c")?.line == 1)
    }

    @Test func invalidUTF8IsRejected() {
        var bytes = Array("a = ".utf8)
        bytes.append(0xC3)
        do throws(ConfigError) {
            _ = try ConfigFile.parse(bytes, file: "t.conf")
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.message == "value is not valid UTF-8")
        }
    }

    @Test func limitsAtAndOverTheBound() throws {
        let key = String(repeating: "k", count: ConfigFile.keyBytesMax)
        #expect(try parse("\(key) = 1").count == 1)
        #expect(parseError("\(key)k = 1") != nil)
        let longValue = String(repeating: "v", count: ConfigFile.lineBytesMax - 4)
        #expect(try parse("a = \(longValue)").count == 1)
        #expect(parseError("a = \(longValue)v")?.message.contains("limit is 4096") == true)
        let big = [UInt8](repeating: ASCII.lf, count: ConfigFile.fileBytesMax + 1)
        do throws(ConfigError) {
            _ = try ConfigFile.parse(big, file: "t.conf")
            Issue.record("accepted an oversized file")
        } catch {
            #expect(error.line == 0)
        }
    }

    @Test func descriptionIsFileLineMessage() {
        #expect(ConfigError(file: "f", line: 3, message: "m").description == "f:3: m")
        #expect(ConfigError(file: "f", line: 0, message: "m").description == "f: m")
    }
}

@Suite struct ConfigSchemaTests {
    let minimal = "device.id = gw-01\ndata.dir = /var/lib/pgui\n"

    func load(_ text: String) throws(ConfigError) -> Config {
        try Config.load(Array(text.utf8), file: "c.conf")
    }

    func loadError(_ text: String) -> ConfigError? {
        do throws(ConfigError) {
            _ = try load(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsFillTheRest() throws {
        let c = try load(minimal)
        #expect(c.device.deviceId == "gw-01")
        #expect(c.device.dataDir == "/var/lib/pgui")
        #expect(c.device.logLevel == .info)
        #expect(c.meter.periodMs == 1_000)
        #expect(c.meter.simulated == SimulatedMeterConfig())
    }

    @Test func everyDefaultPassesItsOwnCheck() {
        for spec in Config.schema {
            if let d = spec.defaultValue {
                #expect(Config.check(d, against: spec.kind) == nil, "default of \(spec.key)")
            }
        }
    }

    @Test func unknownKeyIsAnErrorWithItsLine() {
        let e = loadError(minimal + "meter.peroid_ms = 500\n")
        #expect(e == ConfigError(file: "c.conf", line: 3, message: "unknown key 'meter.peroid_ms'"))
    }

    @Test func missingRequiredKey() {
        #expect(loadError("device.id = x\n")?.message == "required key 'data.dir' is missing")
    }

    @Test func valuesAreChecked() {
        #expect(loadError(minimal + "meter.period_ms = 99")?.message == "meter.period_ms: 99 is out of range 100...60000")
        #expect(loadError(minimal + "meter.period_ms = 100") == nil)
        #expect(loadError(minimal + "meter.period_ms = 60000") == nil)
        #expect(loadError(minimal + "meter.period_ms = 60001") != nil)
        #expect(loadError(minimal + "meter.period_ms = 1e3")?.message == "meter.period_ms: '1e3' is not an integer")
        #expect(loadError(minimal + "log.level = loud")?.message == "log.level: 'loud' is not one of: error, warn, info, debug")
        #expect(loadError("device.id = GW\ndata.dir = /x")?.message.contains("may only hold") == true)
        #expect(loadError("device.id = gw\ndata.dir = relative/dir")?.message == "data.dir: 'relative/dir' is not an absolute path")
    }

    @Test func patternKeysMatchOnlyBelowTheirPrefix() {
        #expect(Config.matches("meter.map.*", "meter.map.p_total"))
        #expect(!Config.matches("meter.map.*", "meter.map."))
        #expect(!Config.matches("meter.map.*", "meter.mapx"))
        #expect(Config.matches("a.b", "a.b"))
        #expect(!Config.matches("a.b", "a.bc"))
    }

    @Test func checkKinds() {
        #expect(Config.check("true", against: .boolean) == nil)
        #expect(Config.check("yes", against: .boolean) != nil)
        #expect(Config.check("abc", against: .text(bytesMax: 3)) == nil)
        #expect(Config.check("abcd", against: .text(bytesMax: 3)) != nil)
        #expect(Config.check("", against: .identifier(bytesMax: 3)) != nil)
    }
}

@Suite struct MeterOBISConfigTests {
    func load(_ text: String) throws(ConfigError) -> Config {
        try Config.load(Array(("device.id = gw\ndata.dir = /data\n" + text).utf8), file: "c.conf")
    }

    @Test func obisOverridesNeedAnOBISMeter() {
        #expect(throws: ConfigError.self) { _ = try load("meter.obis.active_power = 1-0:16.7.0\n") }
        #expect(throws: ConfigError.self) { _ = try load("meter.cipher.encryption_key_file = /data/ek\n") }
    }

    @Test func serialFrameKeys() throws {
        let c = try load("meter.serial.data_bits = 7\n")
        #expect(c.meter.obis.serial.dataBits == 7)
        #expect(c.meter.obis.serialKeysSet == ["data_bits"])
        #expect(throws: ConfigError.self) {
            _ = try load("meter.kind = modbus-rtu\nmeter.serial.device = /dev/ttyS0\nmeter.serial.data_bits = 7\n")
        }
        #expect(throws: ConfigError.self) {
            _ = try load("meter.kind = modbus-rtu\nmeter.serial.device = /dev/ttyS0\nmeter.serial.baud = 300\n")
        }
    }
}
