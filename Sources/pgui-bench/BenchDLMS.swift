import CSystem
import PGUICore
import PGUIPlatform

extension Bench {
    /// A ciphered DLMS push (general-glo-ciphering, AES-128-GCM on mbedTLS, 7 registers with
    /// scaler_unit as Tests/peers/dlms_meter.py pushes them) opened, decoded and accumulated into a
    /// `Measurement`, against one bare P-256 signature (issue 17: the push must cost under 5 % of a
    /// signature, i.e. ratio ≥ 20). Also checks that the heap in use does not grow over the frames
    /// (the acquisition thread allocates nothing per frame in steady state).
    static func benchDLMS() -> Bool {
        do throws(CryptoError) {
            let ek: [UInt8] = Array(0...15), ak: [UInt8] = Array(0xD0...0xDF)
            let cipher = try AESGCM(key: ek)
            var body: [UInt8] = [0x0F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 21]
            for (c, scaler, unit) in [(UInt8(1), Int8(1), UInt8(30)), (2, 0, 30), (1, 0, 27), (2, 0, 27), (32, -1, 35), (31, -2, 33), (14, -2, 44)] {
                let d: UInt8 = unit == 30 ? 8 : 7
                body += [0x09, 0x06, 1, 0, c, d, 0, 255, 0x06, 0x00, 0x12, 0xD6, 0x87, 0x02, 0x02, 0x0F, UInt8(bitPattern: scaler), 0x16, unit]
            }
            var frames: [[UInt8]] = []
            for i in 0..<64 {
                frames.append(DLMSCipherWriter.generalGlo(cipher, authenticationKey: ak, systemTitle: 0x4B46_4D10_2030_4050, counter: UInt32(i + 1), apdu: body))
            }
            let decryptor = DLMSDecryptor(cipher: cipher, authenticationKey: ak)
            var acc = OBISAccumulator(table: .standard)
            var failed = false
            var counter: UInt32 = 0
            var frame: [UInt8] = frames[0]
            func one() {
                // Re-stamp the counter so every frame is fresh (a replay would be refused).
                counter += 1
                frame = frames[Int(counter) % frames.count]
                if Int(counter) >= frames.count { decryptor.forgetCounters() ; counter = 0 }
                do throws(DLMSCipherError) {
                    let plain = try frame.withUnsafeBufferPointer { (p) throws(DLMSCipherError) -> Range<Int> in try decryptor.open(p, 0..<frame.count, knownTitle: nil) }
                    acc.reset()
                    let n = decryptor.plaintext.withUnsafeBufferPointer { (p) -> Int in
                        var r = AXDRReader(p, from: plain.lowerBound, to: plain.upperBound)
                        do throws(DLMSDecodeError) {
                            r.pos = try DLMSAPDU.parseDataNotification(&r)
                            return try DLMSReadings.collectPush(&r, into: &acc)
                        } catch { return -1 }
                    }
                    if n != 7 || acc.measurement(timestampMs: 0, quality: []).energyImportWh == nil { failed = true }
                } catch {
                    failed = true
                }
            }
            for _ in 0..<200 { one() }  // warm up: every buffer at its final size
            let heapBefore = pgui_heap_in_use_bytes()
            let subject = rate(ms: 1_000) { one() }
            let heapAfter = pgui_heap_in_use_bytes()
            let random = try RandomSource(personalization: "pgui-bench-dlms")
            let key = try P256Key.generate(random)
            let digest = sha256(Array("pgui bench".utf8))
            let baseline = rate(ms: 1_000) {
                do throws(CryptoError) { _ = try key.sign(digest: digest, random) } catch { failed = true }
            }
            report("dlms", subject: "ciphered \(frames[0].count)-byte pushes opened and decoded", subject, baseline: "bare P-256 sign", baseline)
            let growth = heapBefore >= 0 && heapAfter >= 0 ? heapAfter - heapBefore : 0
            printOut("bench dlms: heap in use \(heapBefore) -> \(heapAfter) bytes over the timed pushes (growth \(growth))")
            // The target is reported, not enforced: qemu-user skews C against Swift code differently per arch.
            if subject < baseline * 20 { printErr("bench dlms: a push costs more than 5 % of a signature (target: ratio >= 20)") }
            return !failed && growth <= 0
        } catch {
            printErr("bench dlms: \(error.description)")
            return false
        }
    }
}
