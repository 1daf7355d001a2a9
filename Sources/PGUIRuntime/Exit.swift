/// Exit codes (sysexits-style): 0 ok, 1 runtime failure, 2 usage or configuration error. Shared by
/// `pgui` and `pgui-bench`, so scripts read both the same way.
public enum Exit {
    public static let ok: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 2
}
