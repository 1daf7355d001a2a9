import PGUICore

/// The identity half of the provisioning receipt: the device key's public parts and a CSR for the BAL
/// client certificate, through the identity layer (`IdentityStore`, `ClientCredentials.prepareCSR`).
extension ProvisioningApply {
    /// Creates the identity on a device that has none yet (the same first start `pgui run` would do),
    /// else reads it. A `pgui run` may be running beside us (a stick plugged into a working gateway),
    /// so an existing identity is only read, never repaired: the running process owns its temp files
    /// and rotation state. The CSR reuses the pending client key `bal-client-next.key` if one exists.
    public static func receiptIdentity(dataDir: String, config: Config, nowMs: Int64) throws(IdentityError) -> ProvisioningReceipt.Identity {
        let random: RandomSource
        do throws(CryptoError) { random = try RandomSource(personalization: "pgui-provision") } catch {
            throw IdentityError("random source: \(error.description)")
        }
        let device = config.device.deviceId
        let store: IdentityStore
        if Files.exists(IdentityStore.directory(dataDir: dataDir)) {
            store = try IdentityStore.readOnly(dataDir: dataDir, device: device, seqBlock: config.identity.seqBlock, random: random)
        } else {
            store = try IdentityStore.create(dataDir: dataDir, device: device, seqBlock: config.identity.seqBlock, nowMs: nowMs, random: random)
            Log.info("provision", "created the device key \(store.current.kid)")
        }
        let csr = try ClientCredentials.prepareCSR(store, random)
        let pem: String
        do throws(CryptoError) { pem = try store.current.key.publicPEM() } catch {
            throw IdentityError("public key export: \(error.description)")
        }
        return ProvisioningReceipt.Identity(kid: store.current.kid, jwk: store.current.publicJWK, publicKeyPEM: pem, csrPEM: csr)
    }
}

extension IdentityStore {
    /// The store as it is on disk, without `open`'s repairs (temp-file clean-up, rotation recovery):
    /// for a second process that only needs the current key.
    static func readOnly(dataDir: String, device: String, seqBlock: Int64, random: RandomSource) throws(IdentityError) -> IdentityStore {
        let dir = directory(dataDir: dataDir)
        guard Files.isDirectory(dir) else { throw IdentityError("\(dir) is not a directory; no identity to report") }
        var repairs: [String] = []
        let current = try loadKey(dir + "/key.pem", random, &repairs)
        let statePath = dir + "/state.json"
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try Files.read(statePath, bytesMax: stateBytesMax) } catch {
            throw IdentityError(error.description)
        }
        let state = try IdentityState.parse(bytes, file: statePath)
        return IdentityStore(dir: dir, device: device, random: random, current: current, state: state, seqBlock: UInt64(max(seqBlock, 1)))
    }
}
