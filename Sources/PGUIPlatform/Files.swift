import CSystem

/// File helpers with the durability rules PGUI relies on: reads are bounded, writes that replace a
/// file are atomic (temp file, fsync, rename, fsync of the directory).
public enum Files {
    /// Reads a whole regular file of at most `bytesMax` bytes.
    public static func read(_ path: String, bytesMax: Int) throws(SystemError) -> [UInt8] {
        let fd = pgui_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("open", path) }
        defer { close(fd) }
        let size = pgui_file_size(fd)
        guard size >= 0 else { throw SystemError("stat", path) }
        guard size <= Int64(bytesMax) else { throw SystemError("read", path, code: EFBIG) }
        var out = [UInt8](repeating: 0, count: Int(size))
        var off = 0
        while off < out.count {
            let n = out.withUnsafeMutableBytes { CSystem.read(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                throw SystemError("read", path)
            }
            if n == 0 { break }  // the file shrank while we read it
            off += n
        }
        if off < out.count { out.removeLast(out.count - off) }
        return out
    }

    /// Replaces `path` with `bytes` so that after a crash it holds either the old or the new content.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o600) throws(SystemError) {
        let tmp = path + ".tmp"
        let fd = pgui_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("create", tmp) }
        var ok = true
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                ok = false
                break
            }
            off += n
        }
        let code = pgui_errno()
        if ok && fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok else {
            unlink(tmp)
            throw SystemError("write", tmp, code: code)
        }
        guard rename(tmp, path) == 0 else {
            let e = pgui_errno()
            unlink(tmp)
            throw SystemError("rename", "\(tmp) to \(path)", code: e)
        }
        try syncDirectory(of: path)
    }

    /// fsync of the folder holding `path`, so a rename or create survives a power cut.
    public static func syncDirectory(of path: String) throws(SystemError) {
        let dir = directory(of: path)
        let fd = pgui_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("open", dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemError("fsync", dir) }
    }

    public static func directory(of path: String) -> String {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: 47) else { return "." }
        return slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
    }

    public static func isDirectory(_ path: String) -> Bool { pgui_is_dir(path) == 1 }
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
