import Testing

@testable import PGUICore

@Suite struct ApplianceConfigTests {
    private func load(_ text: String) throws(ConfigError) -> Config {
        try Config.load(Array(("device.id = gw-1\ndata.dir = /data\n" + text).utf8), file: "t.conf")
    }

    @Test func defaultsMeanNoWatchdogAndNoMarker() throws {
        let c = try load("").appliance
        #expect(c.watchdogDevice == "")
        #expect(c.healthFile == "")
        #expect(c.watchdogTimeoutS == 15)
        #expect(c.watchdogMagicClose == false)
        #expect(c.healthSamples == 3)
    }

    @Test func allKeys() throws {
        let c = try load("watchdog.device = /dev/watchdog\nwatchdog.timeout_s = 5\nwatchdog.magic_close = true\nappliance.health_file = /run/pgui-healthy\nappliance.health_samples = 10\n").appliance
        #expect(c.watchdogDevice == "/dev/watchdog")
        #expect(c.watchdogTimeoutS == 5)
        #expect(c.watchdogMagicClose)
        #expect(c.healthFile == "/run/pgui-healthy")
        #expect(c.healthSamples == 10)
    }

    @Test func timeoutLimits() throws {
        #expect(try load("watchdog.timeout_s = 2\n").appliance.watchdogTimeoutS == 2)
        #expect(try load("watchdog.timeout_s = 600\n").appliance.watchdogTimeoutS == 600)
        #expect(throws: ConfigError.self) { try load("watchdog.timeout_s = 1\n") }
        #expect(throws: ConfigError.self) { try load("watchdog.timeout_s = 601\n") }
        #expect(throws: ConfigError.self) { try load("appliance.health_samples = 0\n") }
        #expect(throws: ConfigError.self) { try load("appliance.health_samples = 10001\n") }
    }

    @Test func relativePathsAreRejectedWithTheirLine() {
        do {
            _ = try load("watchdog.device = dev/watchdog\n")
            Issue.record("accepted a relative path")
        } catch {
            #expect(error.line == 3)
            #expect(error.description.contains("watchdog.device"))
        }
        #expect(throws: ConfigError.self) { try load("appliance.health_file = pgui-healthy\n") }
        #expect(throws: ConfigError.self) { try load("watchdog.magic_close = yes\n") }
    }
}
