import CSystem
import PGUICore

/// The device identity on the data partition, `<data.dir>/identity/` (mode 0700):
///
/// | file | content |
/// | --- | --- |
/// | `key.pem` | current private key (0600), the only key that signs groups |
/// | `state.json` | `seq_next` (persisted end of the sequence reservation), `key_created_ms` |
/// | `key-next.pem` | pending rotation: new private key (0600) |
/// | `announcement.json` | pending rotation: JWS JSON signed by current and pending key |
///
/// Every write is atomic (temp file, fsync, rename, fsync of the folder), so after a crash each file
/// holds its old or its new content. Rotation steps, in order, and what a crash after each leaves:
/// 1. write `key-next.pem` → open() sees a pending key without announcement and rebuilds it;
/// 2. write `announcement.json` → the link (re)publishes it; `key.pem` still signs;
/// 3. accepted: rename `key-next.pem` over `key.pem` → open() sees a stale announcement whose new kid
///    is the current key and deletes it; 4. state.json key_created_ms, 5. unlink `announcement.json`.
/// At every point exactly one usable `key.pem` exists, and the published announcement links the
/// old kid to the new one.
public final class IdentityStore {
    public let dir: String
    public let device: String
    let random: RandomSource
    public private(set) var current: DeviceSigner
    public private(set) var pending: DeviceSigner?
    public private(set) var announcement: [UInt8]?
    public private(set) var state: IdentityState
    var seq: SequenceAllocator
    /// Problems open() repaired (stale files, permissions); for the caller to log.
    public private(set) var repairs: [String] = []

    public static let keyBytesMax = 4_096
    public static let stateBytesMax = 1_024
    public static let announcementBytesMax = 4_096

    var keyPath: String { dir + "/key.pem" }
    var nextKeyPath: String { dir + "/key-next.pem" }
    var announcementPath: String { dir + "/announcement.json" }
    var statePath: String { dir + "/state.json" }

    public static func directory(dataDir: String) -> String { dataDir + "/identity" }

    init(dir: String, device: String, random: RandomSource, current: DeviceSigner, state: IdentityState, seqBlock: UInt64) {
        self.dir = dir
        self.device = device
        self.random = random
        self.current = current
        self.state = state
        seq = SequenceAllocator(persistedEnd: state.seqNext, block: seqBlock)
    }

    /// First start of a device: generates the key. Refuses if any identity exists, so a provisioned
    /// identity is never replaced silently. The folder is filled as `identity.new` and renamed into
    /// place, so a crash during the first start leaves no half identity that would block the next one.
    public static func create(dataDir: String, device: String, seqBlock: Int64, nowMs: Int64, random: RandomSource) throws(IdentityError) -> IdentityStore {
        let dir = directory(dataDir: dataDir)
        guard !Files.exists(dir) else {
            throw IdentityError("\(dir) already exists: an identity is never replaced; remove it by hand only to decommission the device")
        }
        let staging = dir + ".new"
        if Files.isDirectory(staging) {  // an earlier first start crashed: nothing in it was ever used
            for name in ["key.pem", "key.pem.tmp", "state.json", "state.json.tmp"] { unlink(staging + "/" + name) }
            rmdir(staging)
        }
        guard mkdir(staging, 0o700) == 0 else { throw IdentityError(SystemError("mkdir", staging).description) }
        let signer = try generate(random)
        let state = IdentityState(seqNext: 1, keyCreatedMs: nowMs)
        let store = IdentityStore(dir: dir, device: device, random: random, current: signer, state: state, seqBlock: UInt64(seqBlock))
        try store.write(staging + "/state.json", state.encoded)
        try store.write(staging + "/key.pem", try pem(signer))
        guard rename(staging, dir) == 0 else { throw IdentityError(SystemError("rename", "\(staging) to \(dir)").description) }
        try store.syncDir(dataDir)
        return store
    }

    public static func open(dataDir: String, device: String, seqBlock: Int64, random: RandomSource) throws(IdentityError) -> IdentityStore {
        let dir = directory(dataDir: dataDir)
        guard Files.isDirectory(dir) else {
            throw IdentityError("no identity in \(dir): run 'pgui identity init' once on a new device")
        }
        var repairs: [String] = []
        for name in ["key.pem", "key-next.pem", "announcement.json", "state.json"] where Files.exists(dir + "/" + name + ".tmp") {
            unlink(dir + "/" + name + ".tmp")
            repairs.append("removed \(dir)/\(name).tmp left by an interrupted write")
        }
        let keyPath = dir + "/key.pem"
        let current = try loadKey(keyPath, random, &repairs)
        let statePath = dir + "/state.json"
        let stateBytes: [UInt8]
        do throws(SystemError) { stateBytes = try Files.read(statePath, bytesMax: stateBytesMax) } catch {
            throw IdentityError("\(error.description): without the sequence state numbers could repeat; refusing to sign")
        }
        let state = try IdentityState.parse(stateBytes, file: statePath)
        let store = IdentityStore(dir: dir, device: device, random: random, current: current, state: state, seqBlock: UInt64(seqBlock))
        store.repairs = repairs
        try store.recoverRotation()
        return store
    }

    /// Brings a rotation interrupted at any step back to a consistent state (see the type's comment).
    func recoverRotation() throws(IdentityError) {
        if Files.exists(nextKeyPath) {
            do throws(IdentityError) {
                pending = try Self.loadKey(nextKeyPath, random, &repairs)
            } catch {
                // Never accepted by anyone, so nothing depends on it: set it aside, keep signing with key.pem.
                rename(nextKeyPath, nextKeyPath + ".corrupt")
                unlink(announcementPath)
                repairs.append("\(error.description); moved aside to key-next.pem.corrupt, rotation cancelled")
                try syncDir(dir)
                return
            }
        }
        let stored: [UInt8]? = Files.exists(announcementPath) ? (try? Files.read(announcementPath, bytesMax: Self.announcementBytesMax)) : nil
        guard let next = pending else {
            if Files.exists(announcementPath) {
                unlink(announcementPath)
                try syncDir(dir)
                repairs.append("removed announcement.json of a finished rotation")
            }
            return
        }
        if let stored, (try? KeyAnnouncement.verify(stored, oldKey: current.publicJWK, oldKid: current.kid, sha256: sha256, MbedVerifier()))?.newKid == next.kid {
            announcement = stored
            return
        }
        let a = try KeyAnnouncement.build(device: device, old: current, new: next, createdMs: state.keyCreatedMs)
        try write(announcementPath, a)
        announcement = a
        repairs.append("rebuilt announcement.json for the pending key \(next.kid)")
    }

    /// The next group sequence number; persists a new block end first when the block is used up.
    public func nextSequence() throws(IdentityError) -> UInt64 {
        if let end = seq.reservationNeeded {
            var s = state
            s.seqNext = end
            try write(statePath, s.encoded)
            state = s
            seq.reserved(end)
        }
        guard let n = seq.take() else { throw IdentityError("sequence numbers exhausted; nothing signed") }
        return n
    }

    /// Moves the persisted sequence state past `floor` (the highest seq the journal has seen) before
    /// anything is signed, so numbers never go back below what the journal holds. Returns the old and
    /// new `seq_next` when it had to move, nil when the state was already ahead.
    @discardableResult
    public func reconcile(journalFloor floor: UInt64?) throws(IdentityError) -> (from: UInt64, to: UInt64)? {
        guard seq.next == state.seqNext, let end = SequenceAllocator.reconciledEnd(persistedEnd: state.seqNext, floor: floor) else { return nil }
        var s = state
        s.seqNext = end
        do throws(IdentityError) { try write(statePath, s.encoded) } catch {
            throw IdentityError("cannot move the sequence past the journal's seq \(floor ?? 0): \(error.description); refusing to sign numbers the journal would refuse")
        }
        let from = state.seqNext
        state = s
        seq = SequenceAllocator(persistedEnd: end, block: seq.block)
        return (from, end)
    }

    /// Signs one group with the current key and the next sequence number.
    public func sign(_ group: MeasurementGroup, with signer: inout GroupSigner) throws(IdentityError) -> [UInt8] {
        try signNumbered(group, with: &signer).jws
    }

    /// Like `sign`, also returning the sequence number the group was given (the journal's key).
    public func signNumbered(_ group: MeasurementGroup, with signer: inout GroupSigner) throws(IdentityError) -> (seq: UInt64, jws: [UInt8]) {
        let n = try nextSequence()
        return (n, try signer.sign(group, device: device, seq: n, signer: current))
    }

    /// Step 1–2 of a rotation: a pending key and its announcement (reused if one is already pending, so
    /// the BAL never sees two different successors announced for one key).
    public func prepareRotation(nowMs: Int64) throws(IdentityError) -> [UInt8] {
        if let announcement, pending != nil { return announcement }
        let next = try Self.generate(random)
        try write(nextKeyPath, try Self.pem(next))
        pending = next
        let a = try KeyAnnouncement.build(device: device, old: current, new: next, createdMs: nowMs)
        try write(announcementPath, a)
        announcement = a
        return a
    }

    /// Step 3–5: the broker accepted the announcement for `newKid`; the pending key becomes current and
    /// the old private key is gone (its file replaced by the rename).
    public func announcementAccepted(newKid: String, nowMs: Int64) throws(IdentityError) {
        guard let next = pending else { throw IdentityError("no rotation is pending; acceptance of \(newKid) ignored") }
        guard next.kid == newKid else { throw IdentityError("accepted kid \(newKid) is not the pending key \(next.kid); ignored") }
        guard rename(nextKeyPath, keyPath) == 0 else {
            throw IdentityError(SystemError("rename", "\(nextKeyPath) to \(keyPath)").description + "; the old key stays current")
        }
        try syncDir(dir)
        current = next
        pending = nil
        var s = state
        s.keyCreatedMs = nowMs
        try write(statePath, s.encoded)
        state = s
        unlink(announcementPath)
        announcement = nil
        try syncDir(dir)
    }

    public func rotationDue(nowMs: Int64, periodDays: Int64, dayMs: Int64 = 86_400_000) -> Bool {
        KeyRotationPolicy.isDue(createdMs: state.keyCreatedMs, nowMs: nowMs, periodDays: periodDays, dayMs: dayMs)
    }

    static func generate(_ random: RandomSource) throws(IdentityError) -> DeviceSigner {
        do throws(CryptoError) {
            return try DeviceSigner(key: try P256Key.generate(random), random: random)
        } catch {
            throw IdentityError("key generation: \(error.description)")
        }
    }

    static func pem(_ s: DeviceSigner) throws(IdentityError) -> [UInt8] {
        do throws(CryptoError) { return try s.key.privatePEM() } catch { throw IdentityError("key export: \(error.description)") }
    }

    static func loadKey(_ path: String, _ random: RandomSource, _ repairs: inout [String]) throws(IdentityError) -> DeviceSigner {
        var bytes: [UInt8]
        do throws(SystemError) { bytes = try Files.read(path, bytesMax: keyBytesMax) } catch {
            throw IdentityError("\(error.description): no usable device key; refusing to sign (the key is never regenerated silently)")
        }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        let mode = pgui_file_mode(path)
        if mode >= 0 && mode & 0o077 != 0 {
            chmod(path, 0o600)
            repairs.append("\(path) had mode \(String(mode, radix: 8)); set to 600")
        }
        do throws(CryptoError) {
            return try DeviceSigner(key: try P256Key.parsePrivate(bytes), random: random)
        } catch {
            throw IdentityError("\(path) is not a usable P-256 private key (\(error.description)); refusing to sign")
        }
    }

    func write(_ path: String, _ bytes: [UInt8]) throws(IdentityError) {
        do throws(SystemError) { try Files.writeAtomically(path, bytes, mode: 0o600) } catch {
            throw IdentityError("\(error.description); previous content kept")
        }
    }

    func syncDir(_ d: String) throws(IdentityError) {
        do throws(SystemError) { try Files.syncDirectory(of: d + "/x") } catch { throw IdentityError(error.description) }
    }
}
