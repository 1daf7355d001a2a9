import PGUICore
import PGUIPlatform

/// Closed measurement groups on their way out: signed by the identity layer (JWS ES256 with the next
/// sequence number), then appended to the journal and committed, before anything is published. The
/// BAL link reads them back from the journal, so a group exists on flash before it can be sent.
public final class GroupPipeline {
    public let identity: IdentityStore?
    public let journal: FileJournal
    private var signer = GroupSigner()
    public private(set) var signed: UInt64 = 0
    public private(set) var journalled: UInt64 = 0
    public private(set) var dropped: UInt64 = 0
    /// Called after a group is durably in the journal (the BAL link publishes it at once if it can).
    public var onCommitted: ((UInt64, [UInt8]) -> Void)? = nil
    private var warnedUnsigned = false
    /// false once a commit failed (health check: the journal must be writable).
    public private(set) var journalWritable = true

    public init(identity: IdentityStore?, journal: FileJournal) {
        self.identity = identity
        self.journal = journal
    }

    public func handle(_ g: MeasurementGroup) {
        guard let identity else {
            dropped += 1
            if !warnedUnsigned {
                warnedUnsigned = true
                Log.error("groups", "no usable device key: groups are not signed and not forwarded (see the identity error above)")
            }
            return
        }
        let seq: UInt64
        let jws: [UInt8]
        do throws(IdentityError) {
            (seq, jws) = try identity.signNumbered(g, with: &signer)
        } catch {
            dropped += 1
            Log.error("groups", "signing the group \(UTC.format(ms: g.windowStartMs)) failed: \(error.description); group dropped")
            return
        }
        signed += 1
        do throws(JournalError) {
            try journal.append(seq: seq, payload: jws)
            _ = try journal.commit()
            journalled += 1
            journalWritable = true
            Log.debug("groups", "seq \(seq) signed and journalled (\(jws.count) bytes)")
            onCommitted?(seq, jws)
        } catch {
            dropped += 1
            journalWritable = false
            Log.error("groups", "journal refused seq \(seq) (\(jws.count) bytes): \(error.message)")
        }
    }
}
