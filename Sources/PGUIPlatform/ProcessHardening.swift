import CSystem

/// Start-up hardening of the pgui process (issue 21, item 10): a core dump would hold the BAL
/// password and the device key in clear, so every pgui process turns dumps off before it reads a
/// key or a configuration, whatever the image's `core_pattern` and `ulimit -c` say.
public enum ProcessHardening {
    /// Sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0 (which also keeps other processes of the same
    /// user from ptrace-attaching or reading /proc/PID/mem). nil when done, else what failed.
    public static func disableCoreDumps() -> String? {
        let e = pgui_disable_core_dumps()
        return e == 0 ? nil : "cannot turn core dumps off: \(errnoText(e)); a crash could leave keys in a core file"
    }

    /// Whether this process may currently produce a core dump (self-test and tests).
    public static var coreDumpsPossible: Bool { pgui_is_dumpable() != 0 || pgui_core_limit() != 0 }
}
