import CSystem
import PGUICore
import PGUIPlatform

/// The parts of `/metrics` that come from the EMS servers and the process itself.
public enum MetricsWiring {
    /// Resident memory and heap in use (the EMS servers' counters come from `EMSServices.fill`).
    public static func fill(_ m: inout Metrics) {
        m.rssKiB = Int64(pgui_rss_kib())
        m.heapInUseBytes = Int64(pgui_heap_in_use_bytes())
    }
}
