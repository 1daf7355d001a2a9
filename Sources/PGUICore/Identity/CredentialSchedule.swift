/// When the running device asks the BAL for new client credentials, how often it asks again, and
/// when it gives up (docs/identity.md, "Credential rotation over the live link"). Pure logic: the
/// caller passes wall time (for the period) and monotonic time (for retries) and performs the steps.
public struct CredentialScheduleLimits: Equatable {
    /// Rotation period in ms; 0 = only when asked (`pgui identity rotate-credentials`).
    public var periodMs: Int64 = 0
    /// An unanswered request is sent again after this long.
    public var resendAfterMs: Int64 = 60_000
    /// Requests sent per rotation at most (the first one included); then it gives up until the next period.
    public var sendsMax: Int = 5
    /// Connection attempts with new credentials before falling back to the previous ones.
    public var trialConnectsMax: Int = 2
    public init() {}
}

public struct CredentialSchedule {
    public enum Phase: Equatable {
        case idle
        /// A request is out; `sends` so far, the last at `lastSentMs` (monotonic).
        case waiting(request: String, sends: Int, lastSentMs: Int64)
        /// Checked credentials are being tried on the link; `failures` connection attempts failed so far.
        case trial(failures: Int)
    }

    public enum Step: Equatable {
        case none
        /// Make a new request (new id) and send it.
        case start
        /// Send the pending request again (same id, same CSR).
        case resend(request: String)
        /// No answer after `sendsMax` sends: log, forget the request.
        case giveUp(request: String)
    }

    public let limits: CredentialScheduleLimits
    public private(set) var phase: Phase = .idle
    /// Wall time of the last rotation (or of the first start with this feature): the period counts from it.
    public private(set) var rotatedMs: Int64
    /// After a give-up or a refused trial, no automatic attempt before this monotonic time.
    public private(set) var quietUntilMs: Int64? = nil

    public init(limits: CredentialScheduleLimits, rotatedMs: Int64) {
        self.limits = limits
        self.rotatedMs = rotatedMs
    }

    /// Whether the period has elapsed. An implausible clock never makes it due (no rotation storm
    /// on every boot before NTP), like key rotation.
    public func periodDue(wallMs: Int64) -> Bool {
        limits.periodMs > 0 && wallMs >= plausibleWallMsMin && rotatedMs > 0 && wallMs - rotatedMs >= limits.periodMs
    }

    /// What to do now. `requested` = an operator asked (`rotate-credentials`); it overrides the quiet time.
    public mutating func poll(wallMs: Int64, monoMs: Int64, linkUp: Bool, requested: Bool) -> Step {
        switch phase {
        case .idle:
            guard linkUp else { return .none }
            if requested { return .start }
            if let q = quietUntilMs, monoMs < q { return .none }
            return periodDue(wallMs: wallMs) ? .start : .none
        case .waiting(let request, let sends, let last):
            guard monoMs - last >= limits.resendAfterMs else { return .none }
            if sends >= limits.sendsMax {
                phase = .idle
                quietUntilMs = monoMs + quietMs
                return .giveUp(request: request)
            }
            return linkUp ? .resend(request: request) : .none
        case .trial:
            return .none
        }
    }

    /// Back off for a period (or an hour when rotation is manual only) after a failure.
    var quietMs: Int64 { limits.periodMs > 0 ? limits.periodMs : 3_600_000 }

    public mutating func sent(request: String, monoMs: Int64) {
        if case .waiting(let r, let sends, _) = phase, r == request {
            phase = .waiting(request: request, sends: sends + 1, lastSentMs: monoMs)
        } else {
            phase = .waiting(request: request, sends: 1, lastSentMs: monoMs)
        }
    }

    /// The id of the request an answer must match, if one is out.
    public var pendingRequest: String? {
        if case .waiting(let r, _, _) = phase { return r }
        return nil
    }

    /// A valid answer was stored as pending credentials: the link now tries them.
    public mutating func answered() { phase = .trial(failures: 0) }

    /// Pending credentials found at start (a crash after the answer, before the reconnect).
    public mutating func resumeTrial() { phase = .trial(failures: 0) }

    /// The link connected with the new credentials.
    public mutating func trialSucceeded(wallMs: Int64) {
        phase = .idle
        rotatedMs = wallMs
        quietUntilMs = nil
    }

    /// A connection attempt with the new credentials failed: true = fall back to the previous ones now.
    public mutating func trialFailed(monoMs: Int64) -> Bool {
        guard case .trial(let f) = phase else { return false }
        if f + 1 >= limits.trialConnectsMax {
            phase = .idle
            quietUntilMs = monoMs + quietMs
            return true
        }
        phase = .trial(failures: f + 1)
        return false
    }

    /// The period starts now (first start without a recorded rotation).
    public mutating func startPeriod(wallMs: Int64) { rotatedMs = wallMs }
}
