import Testing

@testable import PGUICore

/// Issue 21 items 5 and 6: replayed or foreign bundles, paths outside the data partition, PEM types.
@Suite struct ProvisioningGuardTests {
    func file(_ name: String, _ text: String) -> ProvisioningFile { ProvisioningFile(name: name, bytes: Array(text.utf8)) }
    func tag(_ b: [UInt8]) -> String { "t\(b.count)" }
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    let key = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

    func plan(_ conf: String, _ extra: [ProvisioningFile] = []) throws(ProvisioningError) -> ProvisioningPlan {
        try Provisioning.plan(files: [file("pgui.conf", "device.id = gw-7\ndevice.mode = demo\n" + conf)] + extra, dataDir: "/data", tag: tag)
    }

    func refused(_ conf: String, _ extra: [ProvisioningFile] = []) -> ProvisioningError? {
        do throws(ProvisioningError) { _ = try plan(conf, extra); return nil } catch { return error }
    }

    // MARK: item 6, confinement

    @Test(arguments: [
        "dso.schedule_file = /etc/shadow\n",
        "dso.schedule_file = /data/pgui.conf\n",
        "dso.schedule_file = /data/identity\n",
        "dso.schedule_file = /data/../etc/shadow\n",
        "dso.schedule_file = /data/.hidden\n",
        "watchdog.device = /dev/sda\n",
        "watchdog.device = /dev/watchdog/../sda\n",
        "appliance.health_file = /data/pgui.conf\n",
        "appliance.health_file = /run/../data/pgui.conf\n",
        "appliance.health_file = /run/\n",
        "meter.kind = modbus-rtu\nmeter.serial.device = /dev/sda1x/../../etc\n",
        "bal.ca_file = /etc/ssl/ca.pem\n",
    ])
    func pathsOutsideTheirPlaceAreRefused(_ conf: String) {
        let e = refused(conf)
        #expect(e != nil, "accepted: \(conf)")
        #expect(e?.file == "pgui.conf")
    }

    @Test func confinedPathsAreAccepted() throws {
        _ = try plan("dso.schedule_file = /data/schedule.json\nwatchdog.device = /dev/watchdog\nappliance.health_file = /run/pgui-healthy\n")
        _ = try plan("watchdog.device = /dev/watchdog1\n")
        #expect(ProvisioningGuard.confinementProblem(key: "meter.serial.device", value: "/dev/ttyUSB0", dataDir: "/data") == nil)
        #expect(ProvisioningGuard.confinementProblem(key: "watchdog.device", value: "", dataDir: "/data") == nil)
    }

    // MARK: item 6, PEM types

    @Test func pemOfTheWrongTypeIsRefused() {
        let conf = "bal.enabled = true\nbal.uris = ssl://bal.example:8883\nbal.ca_file = ca.pem\n"
        #expect(refused(conf, [file("ca.pem", "garbage")])?.file == "ca.pem")
        #expect(refused(conf, [file("ca.pem", key)])?.message.contains("PRIVATE KEY") == true)
        #expect(refused(conf, [file("ca.pem", cert + key)])?.file == "ca.pem")
        #expect(refused(conf, [file("ca.pem", "-----BEGIN CERTIFICATE-----\nMI!B\n-----END CERTIFICATE-----\n")])?.file == "ca.pem")
        #expect(refused(conf, [file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n")])?.file == "ca.pem")
        #expect(refused(conf, [file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n")])?.file == "ca.pem")
        #expect(refused(conf, [file("ca.pem", cert + cert)]) == nil)
        let mtls = conf + "bal.cert_file = c.pem\nbal.key_file = k.pem\n"
        #expect(refused(mtls, [file("ca.pem", cert), file("c.pem", cert), file("k.pem", cert)])?.file == "k.pem")
        #expect(refused(mtls, [file("ca.pem", cert), file("c.pem", key), file("k.pem", key)])?.file == "c.pem")
        #expect(refused(mtls, [file("ca.pem", cert), file("c.pem", cert), file("k.pem", key)]) == nil)
        #expect(refused("", [file("provisioning.pub.pem", cert)])?.file == "provisioning.pub.pem")
    }

    @Test func pemBlocksLimitsAndGarbage() {
        #expect(ProvisioningGuard.pemProblem([], kind: .certificates) != nil)
        #expect(ProvisioningGuard.pemProblem(Array("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".utf8), kind: .certificates) != nil)
        let many = String(repeating: cert, count: ProvisioningGuard.blocksMax)
        #expect(ProvisioningGuard.pemProblem(Array(many.utf8), kind: .certificates) == nil)
        #expect(ProvisioningGuard.pemProblem(Array((many + cert).utf8), kind: .certificates) != nil)
        #expect(ProvisioningGuard.pemProblem(Array(cert.replacingCR().utf8), kind: .certificates) == nil)
        for cut in 0..<cert.utf8.count {
            let b = Array(Array(cert.utf8)[0..<cut])
            if cut < cert.utf8.count - 1 { #expect(ProvisioningGuard.pemProblem(b, kind: .certificates) != nil, "cut \(cut)") }
        }
    }

    // MARK: item 5, serial and target device

    @Test func metaParsing() throws {
        #expect(try ProvisioningGuard.parseMeta(Array("serial = 7\ndevice = gw-7\n".utf8)) == BundleMeta(serial: 7, device: "gw-7"))
        for bad in ["device = gw\n", "serial = 1\n", "serial = 0\ndevice = gw\n", "serial = -1\ndevice = gw\n",
                    "serial = 9007199254740993\ndevice = gw\n", "serial = 1\nserial = 2\ndevice = gw\n", "serial = 1\ndevice = gw\nx = 1\n",
                    "serial = 1\ndevice =\n", "garbage"] {
            #expect(throws: ProvisioningError.self, "\(bad)") { _ = try ProvisioningGuard.parseMeta(Array(bad.utf8)) }
        }
        let p = try plan("", [file("pgui.bundle", "serial = 3\ndevice = gw-7\n")])
        #expect(p.meta == BundleMeta(serial: 3, device: "gw-7"))
    }

    func check(_ meta: BundleMeta?, state: ProvisioningState?, provisioned: Bool = true, installed: String? = "gw-7",
               bundleDevice: String = "gw-7", digest: String = "d2") -> String? {
        do throws(ProvisioningError) {
            try ProvisioningGuard.checkReplay(meta: meta, state: state, provisioned: provisioned, installedDevice: installed,
                                              bundleDevice: bundleDevice, bundleSHA256: digest)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func replayRollbackAndRenameAreRefused() {
        let applied = ProvisioningState(serial: 5, device: "gw-7", bundleSHA256: "d1")
        #expect(check(BundleMeta(serial: 6, device: "gw-7"), state: applied) == nil)
        #expect(check(BundleMeta(serial: 4, device: "gw-7"), state: applied)?.contains("not newer") == true)
        #expect(check(BundleMeta(serial: 5, device: "gw-7"), state: applied)?.contains("not newer") == true)
        #expect(check(BundleMeta(serial: 5, device: "gw-7"), state: applied, digest: "d1") == nil)  // the same bundle again
        #expect(check(BundleMeta(serial: 9, device: "gw-8"), state: applied, bundleDevice: "gw-8")?.contains("never renames") == true)
        #expect(check(BundleMeta(serial: 9, device: "gw-7"), state: applied, bundleDevice: "gw-8")?.contains("differs") == true)
        #expect(check(nil, state: applied)?.contains("pgui.bundle") == true)
        #expect(check(nil, state: nil, provisioned: false, installed: nil) == nil)  // first provisioning
        #expect(check(BundleMeta(serial: 1, device: "gw-7"), state: nil, installed: "gw-6")?.contains("never renames") == true)
    }

    @Test func stateRoundTripAndGarbage() throws {
        let s = ProvisioningState(serial: 12, device: "gw-7", bundleSHA256: "ab")
        #expect(try ProvisioningState.parse(s.encode(), file: "f") == s)
        for bad in ["", "{}", "{\"v\":2,\"serial\":1,\"device\":\"a\",\"bundle_sha256\":\"x\"}", "{\"v\":1,\"serial\":-1,\"device\":\"a\",\"bundle_sha256\":\"x\"}"] {
            #expect(throws: ProvisioningError.self) { _ = try ProvisioningState.parse(Array(bad.utf8), file: "f") }
        }
        #expect(throws: ProvisioningError.self) { _ = try ProvisioningState.parse([UInt8](repeating: 32, count: ProvisioningState.bytesMax + 1), file: "f") }
    }
}

extension String {
    /// The same text with CRLF line ends.
    func replacingCR() -> String {
        var out: [UInt8] = []
        for b in utf8 { if b == 10 { out.append(13) }; out.append(b) }
        return String(decoding: out, as: UTF8.self)
    }
}
