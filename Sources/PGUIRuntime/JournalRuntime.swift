import PGUICore
import PGUIPlatform

/// The journal inside `pgui run`: opened (created and preallocated on first start) before anything
/// else runs, so a partition that cannot hold 48 hours stops the gateway at start-up, not later.
public enum JournalRuntime {
    public static func folder(_ config: Config) -> String { config.device.dataDir + "/journal" }

    public static func open(_ config: Config) -> FileJournal? {
        let dir = folder(config)
        let g = config.journal.geometry
        do throws(JournalError) {
            let j = try FileJournal.open(dir: dir, create: g, expected: g, policy: config.journal.policy)
            let s = j.stats
            Log.info("journal", "\(dir): \(s.records) records up to seq \(s.lastSeq ?? 0), \(s.lostCount) lost so far; recovered by \(s.recovery); ring of \(g.summary)")
            return j
        } catch {
            Log.error("journal", "\(error.message)")
            return nil
        }
    }

    public static func close(_ j: FileJournal) {
        do throws(JournalError) {
            try j.close()
        } catch {
            Log.error("journal", "on stop: \(error.message)")
        }
    }
}
