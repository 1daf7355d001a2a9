import PGUICore

/// Turns the TLS note Paho's trace left behind (CPaho shim: `pgui_tls_note_*`) into the reason a
/// connect failed, in words an installer can act on. Paho itself only says "socket error".
public enum TLSFailure {
    /// `link` names the config section (`bal`, `dso`). nil when the note says nothing about the handshake.
    public static func reason(note: [UInt8], link: String) -> String? {
        let writeAlert = Array("SSL alert write:fatal:".utf8)
        let readAlert = Array("SSL alert read:fatal:".utf8)
        let hostCheck = Array("X509_check_host for hostname ".utf8)
        if note.starts(with: writeAlert) {
            let what = printable(note[writeAlert.count...])
            return "TLS: the broker's certificate was refused (\(what)); check \(link).ca_file, the broker's certificate and the device clock"
        }
        if note.starts(with: readAlert) {
            let what = printable(note[readAlert.count...])
            return "TLS: the broker ended the handshake (\(what)); it refused this device's TLS parameters or client certificate"
        }
        if note.starts(with: hostCheck) {
            var rest = note[hostCheck.count...]
            if let sp = rest.firstIndex(of: 0x20) { rest = rest[rest.startIndex..<sp] }
            return "TLS: the broker's certificate does not name the host \(printable(rest)) it was reached at (host-name check failed)"
        }
        return nil
    }
}
