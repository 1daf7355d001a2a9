import Testing

@testable import PGUIPlatform

/// The reasons a refused TLS connect is reported with (Paho's trace lines → words).
@Suite struct TLSFailureTests {
    func reason(_ s: String) -> String? { TLSFailure.reason(note: Array(s.utf8), link: "bal") }

    @Test func expiredCertificate() {
        let r = reason("SSL alert write:fatal:certificate expired")
        #expect(r == "TLS: the broker's certificate was refused (certificate expired); check bal.ca_file, the broker's certificate and the device clock")
    }

    @Test func unknownCA() {
        #expect(reason("SSL alert write:fatal:unknown ca")?.contains("(unknown ca)") == true)
    }

    @Test func brokerAborts() {
        #expect(reason("SSL alert read:fatal:certificate required")?.contains("the broker ended the handshake (certificate required)") == true)
    }

    @Test func hostNameMismatch() {
        #expect(reason("X509_check_host for hostname 127.0.0.1 failed, rc 0")
                == "TLS: the broker's certificate does not name the host 127.0.0.1 it was reached at (host-name check failed)")
        // Truncated after the host: still the host.
        #expect(reason("X509_check_host for hostname broker.example")?.contains("host broker.example it") == true)
    }

    @Test func emptyTruncatedAndUnrelatedNotes() {
        #expect(reason("") == nil)
        #expect(reason("SSL alert write:warning:close notify") == nil)
        #expect(reason("SSL alert write:fata") == nil)
        #expect(reason("SSL alert write:fatal:")?.contains("refused ()") == true)
    }

    @Test func hostileBytesArePrintable() {
        let r = TLSFailure.reason(note: Array("SSL alert write:fatal:".utf8) + [0x1b, 0x5b, 0x32, 0x4a, 0xff], link: "dso") ?? ""
        #expect(!r.utf8.contains(0x1b) && !r.utf8.contains(0xff))
        #expect(r.contains("dso.ca_file"))
    }
}
