import PGUICore

/// One refused handshake, from the note PGUI's TLS layer (Sources/CTLSCompat) hands to the client's
/// ssl_error_cb: `pgui-tls:<kind> <host> <detail>` (host "-" when none). Paho itself only says "socket error".
public struct TLSFailure {
    public let kind: TLSFailureKind
    /// The host the device connected to (as configured), printable.
    public let host: String
    /// The TLS layer's words (an alert name, verification flags, a file and mbedTLS's error text).
    public let detail: String

    /// Longest note kept (CTLSCompat PGUI_TLS_NOTE_BYTES); longer input is cut there.
    public static let noteBytesMax = 200

    /// nil when the bytes are not a TLS layer note.
    public static func parse(note: ArraySlice<UInt8>) -> TLSFailure? {
        let prefix = Array("pgui-tls:".utf8)
        var rest = note.prefix(noteBytesMax)
        guard rest.starts(with: prefix) else { return nil }
        rest = rest.dropFirst(prefix.count)
        guard let s1 = rest.firstIndex(of: 0x20) else { return nil }
        let kind = TLSFailureKind(label: rest[rest.startIndex..<s1])
        rest = rest[(s1 + 1)...]
        guard let s2 = rest.firstIndex(of: 0x20) else { return nil }
        let h = rest[rest.startIndex..<s2]
        let host = h.elementsEqual("-".utf8) ? "" : printable(h, max: 64)
        return TLSFailure(kind: kind, host: host, detail: printable(rest[(s2 + 1)...], max: 160))
    }

    /// The sentence for the log: what failed and what to check.
    public func explanation(link: String) -> String {
        switch kind {
        case .unknownCA:
            return "TLS: the broker's certificate was refused (unknown CA); check \(link).ca_file and the broker's chain"
        case .expired:
            return "TLS: the broker's certificate was refused (certificate expired); check \(link).ca_file, the broker's certificate and the device clock"
        case .notYetValid:
            return "TLS: the broker's certificate was refused (certificate not yet valid); check the device clock and the broker's certificate"
        case .wrongHost:
            return "TLS: the broker's certificate does not name the host \(host) it was reached at (host-name check failed; the SAN must list it)"
        case .badCertificate:
            return "TLS: the broker's certificate was refused (\(detail)); check the broker's certificate"
        case .brokerAlert:
            return "TLS: the broker ended the handshake (\(detail)); it refused this device's TLS parameters or client certificate"
        case .protocolVersion:
            return "TLS: \(detail); PGUI speaks TLS 1.2 with ECDHE and AEAD suites only"
        case .notTLS:
            return "TLS: \(detail) (a plaintext listener on the TLS port?)"
        case .closed:
            return "TLS: \(detail) (a plaintext listener on the TLS port, or the broker refused this device)"
        case .localCredentials:
            return "TLS: this device's own TLS files cannot be used: \(detail)"
        case .other:
            return "TLS: handshake failed: \(detail)"
        }
    }
}
