import CSystem
import PGUICore
import PGUIPlatform

/// The installer's view on the HTTP port (issue 8): `GET /status` (JSON), `GET /status.html` (one
/// small page without scripts) and `GET /metrics` (Prometheus text format 0.0.4). The snapshot is
/// assembled on request from the parts `pgui run` wired together.
public final class InstallerPages {
    public let snapshot: () -> StatusSnapshot
    public let metrics: () -> Metrics
    private var json = JSONWriter(capacity: 2_048)

    public init(snapshot: @escaping () -> StatusSnapshot, metrics: @escaping () -> Metrics) {
        self.snapshot = snapshot
        self.metrics = metrics
    }

    /// The status for `path`, or nil when the path is not an installer page.
    public func serve(_ path: String, _ body: inout [UInt8], _ contentType: inout String) -> Int? {
        switch path {
        case "/status":
            snapshot().encodeJSON(into: &json)
            body.append(contentsOf: json.bytes)
        case "/status.html":
            snapshot().renderHTML(into: &body)
            contentType = "text/html; charset=utf-8"
        case "/metrics":
            metrics().encodePrometheus(into: &body)
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        default:
            return nil
        }
        return 200
    }
}
