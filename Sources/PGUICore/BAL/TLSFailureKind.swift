/// Why a TLS handshake with a broker was refused, as counted in `/metrics`
/// (`pgui_<link>_tls_refusals_total{reason=…}`) and shown in `/status` (`<link>.tls_refused`).
/// Decided by PGUI's TLS layer (Sources/CTLSCompat) from mbedTLS's certificate verification flags
/// or the alert the broker sent (RFC 5246 §7.2); docs/bal-protocol.md lists what each means.
public enum TLSFailureKind: Int {
    /// The broker's chain does not lead to a CA in `<link>.ca_file` (or it sent no certificate).
    case unknownCA = 0
    case expired
    case notYetValid
    /// The host PGUI connected to is not in the certificate's subjectAltName (the CN is never used).
    case wrongHost
    /// Any other verification failure (key usage, signature, revoked, …).
    case badCertificate
    /// The broker ended the handshake with a fatal alert (e.g. it requires a client certificate).
    case brokerAlert
    /// The broker does not speak TLS 1.2 (older versions only), or chose nothing PGUI offers.
    case protocolVersion
    /// What came back is not TLS (e.g. a plaintext MQTT listener on the configured port).
    case notTLS
    /// The broker closed the connection during the handshake.
    case closed
    /// The device's own CA file, client certificate or key could not be used.
    case localCredentials
    case other

    public static let count = 11

    /// The label used in `/metrics` and `/status` and in the TLS layer's note.
    public var label: String {
        switch self {
        case .unknownCA: return "unknown_ca"
        case .expired: return "expired"
        case .notYetValid: return "not_yet_valid"
        case .wrongHost: return "wrong_host"
        case .badCertificate: return "bad_certificate"
        case .brokerAlert: return "broker_alert"
        case .protocolVersion: return "protocol_version"
        case .notTLS: return "not_tls"
        case .closed: return "closed"
        case .localCredentials: return "local_credentials"
        case .other: return "other"
        }
    }

    /// The kind for a label from the TLS layer's note; unknown labels are `.other`.
    public init(label: ArraySlice<UInt8>) {
        for raw in 0..<TLSFailureKind.count {
            let k = TLSFailureKind(rawValue: raw)!
            if label.elementsEqual(k.label.utf8) {
                self = k
                return
            }
        }
        self = .other
    }
}
