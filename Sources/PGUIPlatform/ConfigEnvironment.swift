import CSystem
import PGUICore

/// The device as configuration checks see it (`Config.checkEnvironment`): files and addresses.
public struct SystemConfigEnvironment: ConfigEnvironment {
    public init() {}
    public func isDirectory(_ path: String) -> Bool { Files.isDirectory(path) }
    public func isFile(_ path: String) -> Bool { pgui_is_regular(path) == 1 }
    public func isLocalAddress(_ ipv4: String) -> Bool { ipv4 == "0.0.0.0" || pgui_is_local_ipv4(ipv4) == 1 }
}
