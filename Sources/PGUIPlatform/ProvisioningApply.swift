import CSystem
import PGUICore

/// Applies a provisioning bundle from a folder (the USB stick's `pgui/`): read, validate in full,
/// check the operator's signature once provisioned, install with the configuration file as the single
/// commit point, and write a result and a receipt back to the stick.
public enum ProvisioningApply {
    public static let resultName = "pgui-result.txt"
    public static let receiptName = "pgui-receipt.json"

    public struct Outcome {
        public var applied: Bool
        public var errors: [String]
        public var configDigestHex: String = ""
        public var deviceId: String = ""
        /// The device's public identity for the receipt (applied bundles only).
        public var identity: ProvisioningReceipt.Identity? = nil
        /// Why the identity is missing from an applied receipt (the configuration stays applied).
        public var identityError: String = ""
    }

    /// Reads every regular file of `dir` except our own result files, bounded in count and size.
    public static func readBundle(_ dir: String) throws(ProvisioningError) -> [ProvisioningFile] {
        guard let d = opendir(dir) else {
            throw ProvisioningError(file: "", message: "cannot open \(dir): \(errnoText(pgui_errno()))")
        }
        defer { closedir(d) }
        var files: [ProvisioningFile] = []
        var name = [CChar](repeating: 0, count: 256)
        while true {
            let rc = pgui_readdir_file(d, &name, UInt(name.count))
            if rc == 0 { break }
            guard rc > 0 else { throw ProvisioningError(file: "", message: "cannot list \(dir): \(errnoText(pgui_errno()))") }
            let n = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if n == resultName || n == receiptName { continue }
            guard files.count < Provisioning.filesMax else {
                throw ProvisioningError(file: "", message: "more than \(Provisioning.filesMax) files in \(dir)")
            }
            do throws(SystemError) {
                files.append(ProvisioningFile(name: n, bytes: try Files.read(dir + "/" + n, bytesMax: Provisioning.fileBytesMax)))
            } catch {
                throw ProvisioningError(file: n, message: error.description)
            }
        }
        return files
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The whole flow. Never throws: every problem ends in `Outcome.errors` and on the stick.
    public static func run(stickDir: String, dataDir: String, nowMs: Int64) -> Outcome {
        var outcome = Outcome(applied: false, errors: [])
        do throws(ProvisioningError) {
            let files = try readBundle(stickDir)
            let plan = try Provisioning.plan(files: files, dataDir: dataDir) { hex(sha256($0).prefix(8)) }
            outcome.deviceId = plan.config.device.deviceId
            outcome.configDigestHex = hex(sha256(plan.configText)[...])
            try checkAuthority(files: files, plan: plan, dataDir: dataDir)
            try checkPEMs(files: files, plan: plan)
            let state = try checkReplay(files: files, plan: plan, dataDir: dataDir)
            try install(plan, dataDir: dataDir, state: state)
            outcome.applied = true
            do throws(IdentityError) {
                outcome.identity = try receiptIdentity(dataDir: dataDir, config: plan.config, nowMs: nowMs)
            } catch {
                outcome.identityError = error.description + "; the configuration is applied, the receipt has no key or CSR"
                Log.warn("provision", outcome.identityError)
            }
        } catch {
            outcome.errors.append(error.description)
        }
        writeBack(outcome, stickDir: stickDir, nowMs: nowMs)
        return outcome
    }

    /// First provisioning must install the operator's key; later ones must be signed by it.
    static func checkAuthority(files: [ProvisioningFile], plan: ProvisioningPlan, dataDir: String) throws(ProvisioningError) {
        let keyPath = dataDir + "/" + Provisioning.provisioningKeyName
        if let newKey = plan.provisioningKey {
            do throws(CryptoError) {
                _ = try P256Key.parsePublic(newKey)
            } catch {
                throw ProvisioningError(file: Provisioning.provisioningKeyName, message: "not an EC P-256 public key: \(error.description)")
            }
        }
        guard Files.exists(keyPath) else {
            guard plan.provisioningKey != nil else {
                throw ProvisioningError(file: "", message: "first provisioning must include \(Provisioning.provisioningKeyName) (the operator's key that signs later bundles)")
            }
            return
        }
        guard let sig = files.first(where: { $0.name == Provisioning.signatureName }) else {
            throw ProvisioningError(file: "", message: "device is already provisioned: the bundle needs \(Provisioning.signatureName) signed by the operator's provisioning key")
        }
        let raw = Base64.urlDecode(trimmed(sig.bytes[...]))
        guard let raw, raw.count == 64 else {
            throw ProvisioningError(file: Provisioning.signatureName, message: "expected the base64url of a 64-byte ES256 signature (r||s)")
        }
        let keyBytes: [UInt8]
        do throws(SystemError) {
            keyBytes = try Files.read(keyPath, bytesMax: 4_096)
        } catch {
            throw ProvisioningError(file: "", message: "cannot read the installed provisioning key: \(error.description)")
        }
        let key: P256Key
        do throws(CryptoError) {
            key = try P256Key.parsePublic(keyBytes)
        } catch {
            throw ProvisioningError(file: "", message: "installed provisioning key is unusable: \(error.description)")
        }
        guard key.verify(digest: sha256(Provisioning.digestInput(files)), signature: raw) else {
            throw ProvisioningError(file: Provisioning.signatureName, message: "signature does not verify with the installed provisioning key")
        }
    }

    /// Every PEM the bundle installs parsed by mbedTLS as the type its key needs (the planner has
    /// checked the labels): a garbage CA file or a private key in place of a certificate is refused
    /// before anything is installed (issue 21, item 6).
    static func checkPEMs(files: [ProvisioningFile], plan: ProvisioningPlan) throws(ProvisioningError) {
        for e in plan.entriesNamingFiles {
            guard let kind = ProvisioningGuard.pemKind(forKey: e.key), let f = files.first(where: { $0.name == e.name }) else { continue }
            do throws(CryptoError) {
                switch kind {
                case .certificates: try CertificateCheck.parseCertificates(f.bytes)
                case .privateKey: _ = try P256Key.parsePrivate(f.bytes)
                case .publicKey: _ = try P256Key.parsePublic(f.bytes)
                }
            } catch {
                throw ProvisioningError(file: f.name, message: "not what \(e.key) needs: \(error.description)")
            }
        }
    }

    static func statePath(_ dataDir: String) -> String { dataDir + "/" + ProvisioningGuard.stateName }

    /// Serial and target device against what the device last accepted (issue 21, item 5). Returns
    /// the state to record with this bundle, nil when it carries no `pgui.bundle` (first provisioning).
    static func checkReplay(files: [ProvisioningFile], plan: ProvisioningPlan, dataDir: String) throws(ProvisioningError) -> ProvisioningState? {
        let provisioned = Files.exists(dataDir + "/" + Provisioning.provisioningKeyName)
        var state: ProvisioningState? = nil
        if Files.exists(statePath(dataDir)) {
            let bytes: [UInt8]
            do throws(SystemError) { bytes = try Files.read(statePath(dataDir), bytesMax: ProvisioningState.bytesMax + 1) } catch {
                throw ProvisioningError(file: "", message: "cannot read \(statePath(dataDir)): \(error.description); refusing (the serial of the last bundle is unknown)")
            }
            state = try ProvisioningState.parse(bytes, file: statePath(dataDir))
        }
        let installed = state?.device ?? installedDeviceId(dataDir)
        let digest = hex(sha256(Provisioning.digestInput(files))[...])
        try ProvisioningGuard.checkReplay(meta: plan.meta, state: state, provisioned: provisioned, installedDevice: installed,
                                          bundleDevice: plan.config.device.deviceId, bundleSHA256: digest)
        return plan.meta.map { ProvisioningState(serial: $0.serial, device: $0.device, bundleSHA256: digest) }
    }

    /// device.id of the installed configuration, nil when there is none or it does not parse.
    static func installedDeviceId(_ dataDir: String) -> String? {
        guard let bytes = try? Files.read(dataDir + "/pgui.conf", bytesMax: Provisioning.fileBytesMax),
              let entries = try? ConfigFile.parse(bytes, file: "pgui.conf") else { return nil }
        return entries.last(where: { $0.key == "device.id" })?.value
    }

    static func install(_ plan: ProvisioningPlan, dataDir: String, state: ProvisioningState?) throws(ProvisioningError) {
        let folder = dataDir + "/" + Provisioning.installFolder
        do throws(SystemError) {
            if !Files.isDirectory(folder) {
                guard pgui_mkdir(folder, 0o700) == 0 else { throw SystemError("mkdir", folder) }
            }
            for f in plan.files { try Files.writeAtomically(folder + "/" + f.name, f.bytes, mode: 0o600) }
            // Recorded before the commit point: a crash in between leaves a state that only this very
            // bundle (same digest) satisfies again, so re-plugging the stick completes it and no older
            // bundle can slip in.
            if let st = state { try Files.writeAtomically(statePath(dataDir), st.encode(), mode: 0o600) }
            // The commit point: before this rename the old configuration (and its files) is intact.
            try Files.writeAtomically(dataDir + "/pgui.conf", plan.configText, mode: 0o600)
            if let key = plan.provisioningKey {
                try Files.writeAtomically(dataDir + "/" + Provisioning.provisioningKeyName, key, mode: 0o600)
            }
        } catch {
            throw ProvisioningError(file: "", message: "installing failed, previous configuration kept: \(error.description)")
        }
        removeUnreferenced(folder, keep: plan.files.map { $0.name })
    }

    static func removeUnreferenced(_ folder: String, keep: [String]) {
        guard let d = opendir(folder) else { return }
        defer { closedir(d) }
        var name = [CChar](repeating: 0, count: 256)
        var stale: [String] = []
        while pgui_readdir_file(d, &name, UInt(name.count)) == 1 {
            let n = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if !keep.contains(n) { stale.append(n) }
        }
        for n in stale { unlink(folder + "/" + n) }
    }

    /// Result and receipt (`ProvisioningReceipt`: public material only) on the stick; a read-only or
    /// removed stick is logged, not fatal.
    static func writeBack(_ o: Outcome, stickDir: String, nowMs: Int64) {
        var result = o.applied ? "ok: configuration applied\n" : "error: nothing was applied\n"
        for e in o.errors { result += e + "\n" }
        if let i = o.identity { result += "device key kid \(i.kid); public key and CSR in \(receiptName)\n" }
        if !o.identityError.isEmpty { result += "warning: " + o.identityError + "\n" }
        var receipt = ProvisioningReceipt()
        receipt.device = o.deviceId
        receipt.applied = o.applied
        receipt.timeMs = nowMs
        receipt.configSHA256 = o.configDigestHex
        receipt.identity = o.identity
        receipt.identityError = o.identityError
        receipt.errors = o.errors
        do throws(SystemError) {
            try Files.writeAtomically(stickDir + "/" + resultName, Array(result.utf8), mode: 0o644)
            try Files.writeAtomically(stickDir + "/" + receiptName, receipt.encode(), mode: 0o644)
        } catch {
            Log.warn("provision", "cannot write the result to the stick: \(error.description)")
        }
    }
}
