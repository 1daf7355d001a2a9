import Testing

@testable import PGUICore

@Suite struct ProvisioningTests {
    func file(_ name: String, _ text: String) -> ProvisioningFile { ProvisioningFile(name: name, bytes: Array(text.utf8)) }
    func tag(_ b: [UInt8]) -> String { "t\(b.count)" }

    func planError(_ files: [ProvisioningFile]) -> ProvisioningError? {
        do throws(ProvisioningError) {
            _ = try Provisioning.plan(files: files, dataDir: "/data", tag: tag)
            return nil
        } catch {
            return error
        }
    }

    @Test func validBundleIsRewrittenForTheDevice() throws {
        let plan = try Provisioning.plan(files: [file("pgui.conf", "# site 7\ndevice.id = gw-7\ndevice.mode = demo\nlog.level = debug\n"), file("provisioning.pub.pem", "PEM")], dataDir: "/data", tag: tag)
        #expect(plan.config.device.deviceId == "gw-7")
        #expect(plan.config.device.dataDir == "/data")
        #expect(String(decoding: plan.configText, as: UTF8.self) == "# installed by pgui provisioning\ndevice.id = gw-7\ndevice.mode = demo\nlog.level = debug\ndata.dir = /data\n")
        #expect(plan.provisioningKey == Array("PEM".utf8))
    }

    @Test func errorsNameFileAndLine() {
        #expect(planError([file("pgui.conf", "device.id = gw\nbogus = 1\n")]) == ProvisioningError(file: "pgui.conf", line: 2, message: "unknown key 'bogus'"))
        #expect(planError([file("pgui.conf", "device.id = gw\ndata.dir = /elsewhere\n")])?.line == 2)
        #expect(planError([])?.message == "no pgui.conf in the bundle")
        #expect(planError([file("pgui.conf", "device.id = gw\ndevice.mode = demo\n"), file("evil.sh", "x")])?.file == "evil.sh")
        #expect(planError([file("pgui.conf", "device.id = gw\ndevice.mode = demo\n"), file("unused.pem", "x")])?.message == "file is not referenced by pgui.conf")
        let big = ProvisioningFile(name: "pgui.conf", bytes: [UInt8](repeating: 32, count: Provisioning.fileBytesMax + 1))
        #expect(planError([big])?.message.contains("limit is 65536") == true)
    }

    @Test func allowedNames() {
        #expect(Provisioning.isAllowedName("ca.pem"))
        #expect(Provisioning.isAllowedName("bal-client_2.pem"))
        #expect(!Provisioning.isAllowedName("../ca.pem"))
        #expect(!Provisioning.isAllowedName(".pem"))
        #expect(!Provisioning.isAllowedName("CA.PEM"))
        #expect(!Provisioning.isAllowedName("ca.pem.exe"))
    }

    @Test func digestCoversEveryFileButTheSignatureInNameOrder() {
        let a = Provisioning.digestInput([file("pgui.conf", "x"), file("a.pem", "yy"), file("pgui.sig", "s")])
        let b = Provisioning.digestInput([file("a.pem", "yy"), file("pgui.conf", "x")])
        #expect(a == b)
        #expect(String(decoding: a, as: UTF8.self) == "pgui-provisioning-v1\na.pem\u{0}2\u{0}yypgui.conf\u{0}1\u{0}x")
        #expect(Provisioning.digestInput([file("pgui.conf", "x"), file("a.pem", "yz")]) != a)
    }

    @Test func renderRoundTrips() throws {
        let e = [ConfigEntry(key: "a", value: " padded ", line: 1), ConfigEntry(key: "b", value: "x\"y", line: 2), ConfigEntry(key: "c", value: "", line: 3)]
        #expect(try ConfigFile.parse(ConfigFile.render(e), file: "r") == e)
    }
}
