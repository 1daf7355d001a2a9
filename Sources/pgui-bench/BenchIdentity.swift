import PGUICore
import PGUIPlatform
import PGUIRuntime

extension Bench {
    /// Signed measurement groups (payload encode + SHA-256 + ES256 + JWS assembly) against bare
    /// mbedTLS P-256 signatures of a 32-byte digest: how much the group format costs on top of ECDSA.
    static func benchIdentity() -> Bool {
        do throws(CryptoError) {
            let random = try RandomSource(personalization: "pgui-bench-identity")
            let key = try P256Key.generate(random)
            let signer = try DeviceSigner(key: key, random: random)
            var meter = SimulatedMeter(config: SimulatedMeterConfig())
            var samples: [Measurement] = []
            for i in 0..<10 {
                do throws(MeterError) { samples.append(try meter.read(wallMs: 1_750_000_000_000 + Int64(i) * 1_000, clockSynced: true)) } catch {
                    return false
                }
            }
            let group = MeasurementGroup(meterId: meter.meterId, windowStartMs: 1_750_000_000_000, windowEndMs: 1_750_000_010_000, samples: samples)
            var gs = GroupSigner()
            var seq: UInt64 = 1
            var failed = false
            var bytes = 0
            let subject = rate(ms: 1_000) {
                do throws(IdentityError) {
                    bytes = try gs.sign(group, device: "gw-bench", seq: seq, signer: signer).count
                } catch { failed = true }
                seq += 1
            }
            let digest = sha256(Array("pgui bench".utf8))
            let baseline = rate(ms: 1_000) {
                do throws(CryptoError) { _ = try key.sign(digest: digest, random) } catch { failed = true }
            }
            report("identity", subject: "signed 10-sample groups (\(bytes)-byte JWS)", subject, baseline: "bare P-256 sign", baseline)
            return !failed
        } catch {
            printErr("bench identity: \(error.description)")
            return false
        }
    }
}
