import CSystem
import PGUICore
import PGUIPlatform

/// The parts of `/metrics` that come from the EMS servers and the process itself.
public enum MetricsWiring {
    /// The EMS servers' request, error and refusal counters (the servers are the ones `EMSWiring`
    /// keeps for the process lifetime), resident memory and heap in use.
    public static func fill(_ m: inout Metrics, servers: [AnyObject]) {
        for o in servers {
            if let s = o as? ModbusEMSServer {
                m.modbusRequests = s.requests
                m.modbusErrors = s.exceptions + s.dropped
                m.modbusRefused = s.server.refused
                m.modbusEvicted = s.server.evicted
            } else if let s = o as? HTTPEMSServer {
                m.httpRequests = s.requests
                m.httpErrors = s.errors
                m.httpRefused = s.server.refused
                m.httpEvicted = s.server.evicted
            }
        }
        m.rssKiB = Int64(pgui_rss_kib())
        m.heapInUseBytes = Int64(pgui_heap_in_use_bytes())
    }
}
