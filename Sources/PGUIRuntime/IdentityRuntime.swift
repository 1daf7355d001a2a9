import CSystem
import PGUICore
import PGUIPlatform

/// The identity at `pgui run` start: created on a device's first start only, loaded otherwise. A
/// broken key store is logged and the gateway keeps running without signing (set-points still flow);
/// it never replaces the key by itself.
public enum IdentityRuntime {
    public static func start(_ config: Config, nowMs: Int64) -> IdentityStore? {
        let dataDir = config.device.dataDir
        let device = config.device.deviceId
        do throws(IdentityError) {
            let random: RandomSource
            do throws(CryptoError) { random = try RandomSource(personalization: "pgui-identity") } catch {
                throw IdentityError(error.description)
            }
            let store: IdentityStore
            if Files.exists(IdentityStore.directory(dataDir: dataDir)) {
                store = try IdentityStore.open(dataDir: dataDir, device: device, seqBlock: config.identity.seqBlock, random: random)
                for r in store.repairs { Log.warn("identity", r) }
            } else {
                store = try IdentityStore.create(dataDir: dataDir, device: device, seqBlock: config.identity.seqBlock, nowMs: nowMs, random: random)
                Log.info("identity", "first start: created the device key")
            }
            Log.info("identity", "kid \(store.current.kid), next sequence block from \(store.state.seqNext)")
            if store.pending == nil && store.rotationDue(nowMs: nowMs, periodDays: config.identity.keyRotationDays, dayMs: config.identity.rotationDayMs) {
                _ = try store.prepareRotation(nowMs: nowMs)
            }
            if let p = store.pending { Log.info("identity", "key rotation to \(p.kid) pending until the BAL accepts the announcement") }
            return store
        } catch {
            Log.error("identity", "\(error.description); measurements will not be signed")
            return nil
        }
    }
}
