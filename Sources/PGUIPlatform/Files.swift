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

    /// Creates a new file for writing that cannot be a link: a leftover at `path` (our own temporary
    /// name) is removed first, then the file is created with O_EXCL|O_NOFOLLOW, so a symlink planted
    /// there is never followed (issue 21: `pgui provision` wrote its result through one).
    public static func createExclusive(_ path: String, mode: UInt32, readWrite: Bool = false) throws(SystemError) -> Int32 {
        if unlink(path) != 0 && pgui_errno() != ENOENT { throw SystemError("unlink", path) }
        let fd = pgui_open(path, (readWrite ? O_RDWR : O_WRONLY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("create", path) }
        return fd
    }

    /// Replaces `path` with `bytes` so that after a crash it holds either the old or the new content.
    /// On a full partition the start-up reserve (`DiskReserve`) is given up once and the write retried.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o600) throws(SystemError) {
        do throws(SystemError) {
            try writeAtomicallyOnce(path, bytes, mode: mode)
        } catch {
            guard error.code == ENOSPC || error.code == EDQUOT, DiskReserve.release(because: path) else { throw error }
            try writeAtomicallyOnce(path, bytes, mode: mode)
        }
    }

    static func writeAtomicallyOnce(_ path: String, _ bytes: [UInt8], mode: UInt32) throws(SystemError) {
        let tmp = path + ".tmp"
        let fd = try createExclusive(tmp, mode: mode)
        var ok = true
        var off = 0
        var code: Int32 = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                code = pgui_errno()
                ok = false
                break
            }
            off += n
        }
        if ok && fsync(fd) != 0 { ok = false; code = pgui_errno() }
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

/// Space held back on the data partition so that a full disk stays survivable (issue 21, item 2):
/// the journal ring is preallocated, but the sequence state, the hint and the set-point file are
/// replaced atomically, and each replacement needs a free block for its temporary file before the
/// old one is freed. `pgui run` writes this file at start-up; the first write that fails with ENOSPC
/// deletes it and retries, so signing goes on and the loss of headroom is reported (`/metrics`
/// `pgui_data_partition_full`, `/status`) instead of groups being dropped.
public enum DiskReserve {
    public static let fileName = "reserve.bin"
    /// 64 KiB = 16 blocks of 4 KiB: a replacement nets no blocks once it is renamed (the old copy is
    /// freed), so a handful of blocks carries the state, hint and set-point files indefinitely.
    public static let bytes = 64 * 1_024
    nonisolated(unsafe) static var path: String? = nil
    /// true once the reserve was needed (or could not be made at start-up: the partition is full).
    nonisolated(unsafe) public private(set) static var released = false

    /// Creates (or keeps) the reserve in `dataDir`. A failure is reported, never fatal.
    public static func arm(dataDir: String) -> String? {
        let p = dataDir + "/" + fileName
        path = p
        if pgui_is_regular(p) == 1 {
            let fd = pgui_open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0)
            if fd >= 0 {
                let size = pgui_file_size(fd)
                close(fd)
                if size == Int64(bytes) { released = false; return nil }
            }
        }
        let tmp = p + ".tmp"
        let fd: Int32
        do throws(SystemError) { fd = try Files.createExclusive(tmp, mode: 0o600) } catch {
            released = true
            return "cannot create the disk reserve: \(error.description)"
        }
        let zeros = [UInt8](repeating: 0, count: 4_096)
        var off = 0
        var err: Int32 = 0
        while off < bytes {
            let n = zeros.withUnsafeBytes { pgui_pwrite(fd, $0.baseAddress!, UInt(zeros.count), Int64(off)) }
            if n < 0 {
                if pgui_errno() == EINTR { continue }
                err = pgui_errno()
                break
            }
            off += n
        }
        if err == 0 && fsync(fd) != 0 { err = pgui_errno() }
        close(fd)
        if err == 0 && rename(tmp, p) != 0 { err = pgui_errno() }
        guard err == 0 else {
            unlink(tmp)
            released = true
            return "cannot write the \(bytes)-byte disk reserve \(p): \(errnoText(err)); the data partition is full"
        }
        released = false
        return nil
    }

    /// Gives the reserve up for a write to `because` that found the disk full; false when there is
    /// none left (the caller then fails as it would have).
    static func release(because: String) -> Bool {
        guard let p = path, !released else { return false }
        released = true
        guard unlink(p) == 0 else { return false }
        Log.error("storage", "data partition full while writing \(because): released the \(bytes)-byte reserve and retried; free space on the data partition")
        return true
    }
}
