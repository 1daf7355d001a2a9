import CMbedTLS
import CEmbeddedRuntime
import CModbus
import CPaho
import CSystem
import PGUICore

/// `pgui self-test`: proves on the target that every linked library and the file system work.
/// Each check prints one line; the exit status is 0 only if all pass.
public enum SelfTest {
    public static func run(tempDir: String) -> Bool {
        var failures = 0
        func report(_ name: String, _ problem: String?) {
            if let problem {
                failures += 1
                printOut("FAIL \(name): \(problem)")
            } else {
                printOut("ok   \(name)")
            }
        }
        report("crypto: P-256 keygen, ES256 sign/verify (mbedTLS)", cryptoProblem())
        report("modbus: libmodbus context", modbusProblem())
        report("mqtt: Paho MQTTAsync client", mqttProblem())
        report("files: write, fsync, rename, read back in \(tempDir)", fileProblem(tempDir))
        report("runtime: bridge-object retain keeps String tag bits", runtimeProblem(deviceId: "gw-test", configured: ""))
        report("time: UTC formatting", UTC.format(ms: 1_700_000_000_123) == "2023-11-14T22:13:20.123Z" ? nil : "wrong date")
        printOut(failures == 0 ? "self-test passed" : "self-test FAILED (\(failures) checks)")
        return failures == 0
    }

    static func cryptoProblem() -> String? {
        do throws(CryptoError) {
            let random = try RandomSource(personalization: "pgui-self-test")
            let key = try P256Key.generate(random)
            let digest = sha256(Array("pgui self-test".utf8))
            let sig = try key.sign(digest: digest, random)
            guard key.verify(digest: digest, signature: sig) else { return "a fresh signature does not verify" }
            var tampered = digest
            tampered[0] ^= 1
            guard !key.verify(digest: tampered, signature: sig) else { return "a tampered digest verifies" }
            let pem = try key.privatePEM()
            let again = try P256Key.parsePrivate(pem)
            guard again.verify(digest: digest, signature: sig) else { return "PEM round trip changed the key" }
            // SHA-256("abc") from FIPS 180-2: catches a broken hash on an unusual target.
            let abc = sha256(Array("abc".utf8))
            guard abc[0] == 0xba, abc[1] == 0x78, abc[31] == 0xad else { return "SHA-256 test vector mismatch" }
            return nil
        } catch {
            return error.description
        }
    }

    /// The aarch64 MQTT-client crash: the toolchain's Embedded runtime returned the String's
    /// object with its tag bits masked from swift_bridgeObjectRetain (Sources/CEmbeddedRuntime).
    /// Checks the runtime entry point directly, then the Swift pattern that crashed (a small
    /// String chosen by a conditional, copied into a struct, read as UTF-8).
    static func runtimeProblem(deviceId: String, configured: String) -> String? {
        guard pgui_runtime_bridge_retain_ok() != 0 else {
            return "swift_bridgeObjectRetain strips tag bits (Embedded runtime override not linked)"
        }
        struct Holder { var a: [String] = []; var id = "" }
        var h = Holder()
        h.a = [configured]
        h.id = configured.isEmpty ? deviceId : configured
        var n = 0
        for _ in h.id.utf8 { n += 1 }
        return n == deviceId.utf8.count ? nil : "a copied small String reads \(n) bytes, not \(deviceId.utf8.count)"
    }

    static func modbusProblem() -> String? {
        guard let ctx = modbus_new_tcp("127.0.0.1", 8502) else { return "modbus_new_tcp returned NULL" }
        modbus_free(ctx)
        guard let map = modbus_mapping_new_start_address(0, 0, 0, 0, 1000, 1200, 0, 0) else {
            return "modbus_mapping_new_start_address returned NULL"
        }
        defer { modbus_mapping_free(map) }
        return map.pointee.nb_registers == 1200 ? nil : "register mapping has the wrong size"
    }

    static func mqttProblem() -> String? {
        var client: MQTTAsync? = nil
        let rc = MQTTAsync_create(&client, "ssl://127.0.0.1:8883", "pgui-self-test", MQTTCLIENT_PERSISTENCE_NONE, nil)
        guard rc == MQTTASYNC_SUCCESS, client != nil else { return "MQTTAsync_create returned \(rc)" }
        MQTTAsync_destroy(&client)
        return nil
    }

    static func fileProblem(_ dir: String) -> String? {
        let path = dir + "/pgui-self-test.\(getpid())"
        let content = Array("pgui self-test \(pgui_monotonic_ms())\n".utf8)
        do throws(SystemError) {
            try Files.writeAtomically(path, content)
            defer { unlink(path) }
            let back = try Files.read(path, bytesMax: 4096)
            guard back == content else { return "read back \(back.count) bytes, different from what was written" }
            guard pgui_file_mode(path) == 0o600 else { return "mode is not 0600" }
            return nil
        } catch {
            return error.description
        }
    }
}
