import CSystem
import PGUICore

/// The journal's folder on the data partition: `journal.ring` (superblock + slots, preallocated with
/// zeros) and `journal.hint` (rewritten atomically). Nothing else may live there, and nothing is
/// ever deleted except by `reset` (the operator's explicit `pgui journal reset`).
public enum JournalFiles {
    public static let ringName = "journal.ring"
    public static let hintName = "journal.hint"
    /// Our own temporaries: a ring being created, a hint being replaced (Files.writeAtomically).
    static let ownNames = [ringName, hintName, ringName + ".tmp", hintName + ".tmp"]

    public static func ringPath(_ dir: String) -> String { dir + "/" + ringName }
    public static func hintPath(_ dir: String) -> String { dir + "/" + hintName }

    /// The names in `dir` (without "." and "..").
    static func list(_ dir: String) throws(JournalError) -> [String] {
        guard let d = opendir(dir) else { throw JournalError("cannot open journal folder: \(SystemError("opendir", dir).description)") }
        defer { closedir(d) }
        var names: [String] = []
        while true {
            guard let p = pgui_readdir_name(d) else {
                let e = pgui_errno()
                // A folder that cannot be listed cannot be checked for foreign files: refuse it.
                if e != 0 { throw JournalError("cannot list journal folder: \(SystemError("readdir", dir, code: e).description)") }
                return names
            }
            let name = String(cString: p)
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Refuses a folder that holds anything but journal files (a wrong path must not become a journal).
    static func checkFolder(_ dir: String) throws(JournalError) {
        for name in try list(dir) where !ownNames.contains(name) {
            throw JournalError("journal folder \(dir) holds '\(printable(Array(name.utf8)[...]))', which is not a journal file: refusing to use the folder (nothing was changed or deleted); move that file away or point the journal elsewhere")
        }
    }

    /// Opens the ring in `dir`; creates the folder and a zero-filled ring of `create` geometry when
    /// there is none. Read-only opens take no lock and never write.
    public static func open(_ dir: String, create: JournalGeometry?, readOnly: Bool = false) throws(JournalError) -> FileJournalStorage {
        if !Files.isDirectory(dir) {
            guard create != nil, !readOnly else { throw JournalError("no journal folder at \(dir)") }
            guard mkdir(dir, 0o700) == 0 else { throw JournalError("cannot create the journal folder: \(SystemError("mkdir", dir).description)") }
            try sync(dir: dir)
        }
        try checkFolder(dir)
        let ring = ringPath(dir)
        var vanished: [UInt8]? = nil
        if !Files.exists(ring) {
            if Files.exists(hintPath(dir)) {
                vanished = try? Files.read(hintPath(dir), bytesMax: 4_096)
                Log.error("journal", "\(ring) is missing but \(hintName) is there: the ring was deleted or lost\(create != nil && !readOnly ? "; creating an empty ring and counting the records the hint describes as lost" : "")")
            }
            guard let g = create, !readOnly else {
                throw JournalError("no journal in \(dir) (\(ringName) is missing\(vanished != nil ? " although its hint is there: the ring was deleted or lost" : ""))")
            }
            try createRing(dir, g)
        }
        // O_NOFOLLOW: a ring replaced by a link would make the journal write wherever it points.
        let fd = pgui_open(ring, (readOnly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC, 0)
        guard fd >= 0 else { throw JournalError("cannot open the journal: \(SystemError("open", ring).description)") }
        _ = pgui_fadvise_random(fd)
        if !readOnly && pgui_flock_exclusive(fd) != 0 {
            let e = pgui_errno()
            close(fd)
            throw JournalError("journal \(ring) is in use by another pgui process (\(errnoText(e))): refusing to write to it")
        }
        let storage = FileJournalStorage(fd: fd, name: ring, hintPath: hintPath(dir), readOnly: readOnly)
        storage.vanishedRingHint = vanished
        return storage
    }

    /// Writes the ring as a temporary file full of zeros (real blocks, so later fdatasyncs carry no
    /// extent conversions and the disk can never fill later), formats it and renames it into place.
    /// The zeros go out one 4 KiB page at a time: measured on Linux 6.18/ext4, a ring filled with
    /// 64 KiB writes sits in 64 KiB page-cache folios and every 2 KiB record then wrote 64 KiB.
    static func createRing(_ dir: String, _ g: JournalGeometry) throws(JournalError) {
        if let p = g.problem { throw JournalError("cannot create a journal: \(p)") }
        let free = pgui_free_bytes(dir)
        if free >= 0 && free < g.fileBytes {
            throw JournalError("the partition holding \(dir) has \(free) bytes free but the journal needs \(g.fileBytes) (\(g.summary), from journal.retention_hours, group.window_s and journal.record_bytes_max): refusing to start; free space or lower the retention")
        }
        let tmp = dir + "/" + ringName + ".tmp"
        let fd: Int32
        do throws(SystemError) { fd = try Files.createExclusive(tmp, mode: 0o600, readWrite: true) } catch {
            throw JournalError("cannot create the journal: \(error.description)")
        }
        let zeros = [UInt8](repeating: 0, count: 4_096)
        var off: Int64 = 0
        var failure: SystemError? = nil
        while off < g.fileBytes && failure == nil {
            let n = Int(min(Int64(zeros.count), g.fileBytes - off))
            let w = zeros.withUnsafeBytes { pgui_pwrite(fd, $0.baseAddress!, UInt(n), off) }
            if w < 0 {
                if pgui_errno() == EINTR { continue }
                failure = SystemError("write", tmp)
            } else {
                off += Int64(w)
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = SystemError("fsync", tmp) }
        let storage = FileJournalStorage(fd: fd, name: tmp, hintPath: hintPath(dir), readOnly: false)
        if failure == nil {
            do throws(JournalError) {
                try Journal<FileJournalStorage, SystemClock>.format(storage, geometry: g)
            } catch {
                unlink(tmp)
                throw error
            }
        }
        if let f = failure {
            unlink(tmp)
            throw JournalError("cannot preallocate the journal (\(g.fileBytes) bytes): \(f.description); the partial file was removed, refusing to start")
        }
        guard rename(tmp, ringPath(dir)) == 0 else {
            let e = SystemError("rename", tmp)
            unlink(tmp)
            throw JournalError("cannot create the journal: \(e.description)")
        }
        try sync(dir: dir)
    }

    static func sync(dir: String) throws(JournalError) {
        do throws(SystemError) {
            try Files.syncDirectory(of: dir + "/" + ringName)
        } catch {
            throw JournalError("cannot make the journal folder durable: \(error.description)")
        }
    }

    /// Deletes the journal's own files (never anything else). Returns the names removed.
    public static func reset(_ dir: String) throws(JournalError) -> [String] {
        guard Files.isDirectory(dir) else { throw JournalError("no journal folder at \(dir)") }
        var removed: [String] = []
        for name in ownNames where Files.exists(dir + "/" + name) {
            guard unlink(dir + "/" + name) == 0 else {
                throw JournalError("cannot remove \(name): \(SystemError("unlink", dir + "/" + name).description)")
            }
            removed.append(name)
        }
        try sync(dir: dir)
        return removed
    }
}

/// The ring file through pread/pwrite/fdatasync; the hint through Files.writeAtomically.
public final class FileJournalStorage: JournalStorage {
    let fd: Int32
    public let name: String
    let hintPath: String
    let readOnly: Bool
    /// The hint found beside a missing ring (read before the new ring's empty hint replaced it).
    public internal(set) var vanishedRingHint: [UInt8]? = nil
    /// Bytes handed to the kernel for the ring and the hint (write amplification figures).
    public private(set) var bytesWritten: Int64 = 0

    init(fd: Int32, name: String, hintPath: String, readOnly: Bool) {
        self.fd = fd
        self.name = name
        self.hintPath = hintPath
        self.readOnly = readOnly
    }

    deinit { close(fd) }

    public func sequentialScan(_ active: Bool) {
        _ = active ? pgui_fadvise_sequential(fd) : pgui_fadvise_scan_done(fd)
    }

    /// Drops the ring's pages from the page cache (benchmarks of cold recovery).
    public func dropPageCache() { _ = pgui_drop_cache(fd) }

    public func read(at offset: Int64, into buffer: inout [UInt8]) throws(JournalError) -> Int {
        var got = 0
        var err: Int32 = 0
        buffer.withUnsafeMutableBytes { b in
            while got < b.count {
                let n = pgui_pread(fd, b.baseAddress! + got, UInt(b.count - got), offset + Int64(got))
                if n < 0 {
                    if pgui_errno() == EINTR { continue }
                    err = pgui_errno()
                    return
                }
                if n == 0 { return }
                got += n
            }
        }
        if err != 0 { throw JournalError("read \(name) at offset \(offset): \(errnoText(err))") }
        return got
    }

    public func write(at offset: Int64, _ bytes: [UInt8], count: Int) throws(JournalError) {
        precondition(!readOnly, "write to a journal opened read-only")
        var done = 0
        var err: Int32 = 0
        bytes.withUnsafeBytes { b in
            while done < count {
                let n = pgui_pwrite(fd, b.baseAddress! + done, UInt(count - done), offset + Int64(done))
                if n < 0 {
                    if pgui_errno() == EINTR { continue }
                    err = pgui_errno()
                    return
                }
                done += n
            }
        }
        bytesWritten += Int64(done)
        if err != 0 { throw JournalError("write \(count) bytes to \(name) at offset \(offset): \(errnoText(err)); the record is not journalled") }
    }

    public func byteCount() throws(JournalError) -> Int64 {
        let size = pgui_file_size(fd)
        guard size >= 0 else { throw JournalError("cannot stat \(name): \(errnoText(pgui_errno()))") }
        return size
    }

    /// Writes zeros page by page from the current end (the same 4 KiB writes as `createRing`), then fsync.
    public func extend(to bytes: Int64) throws(JournalError) {
        precondition(!readOnly, "extend of a journal opened read-only")
        var off = try byteCount()
        let zeros = [UInt8](repeating: 0, count: 4_096)
        while off < bytes {
            let n = Int(min(Int64(zeros.count), bytes - off))
            let w = zeros.withUnsafeBytes { pgui_pwrite(fd, $0.baseAddress!, UInt(n), off) }
            if w < 0 {
                if pgui_errno() == EINTR { continue }
                throw JournalError("cannot write the missing part of \(name) back (at \(off) of \(bytes) bytes): \(errnoText(pgui_errno())); refusing to run on a ring that is not preallocated")
            }
            off += Int64(w)
        }
        guard fsync(fd) == 0 else { throw JournalError("fsync \(name) after re-extending it: \(errnoText(pgui_errno()))") }
    }

    public func sync() throws(JournalError) {
        guard fdatasync(fd) == 0 else {
            throw JournalError("fdatasync \(name): \(errnoText(pgui_errno())); the last records are not known to be durable")
        }
    }

    public func readHint() throws(JournalError) -> [UInt8]? {
        guard Files.exists(hintPath) else { return nil }
        do throws(SystemError) {
            return try Files.read(hintPath, bytesMax: 4_096)
        } catch {
            throw JournalError("cannot read the hint: \(error.description)")
        }
    }

    public func writeHint(_ bytes: [UInt8]) throws(JournalError) {
        precondition(!readOnly, "hint write to a journal opened read-only")
        do throws(SystemError) {
            try Files.writeAtomically(hintPath, bytes)
        } catch {
            throw JournalError("cannot write the hint: \(error.description); recovery will scan instead")
        }
        bytesWritten += Int64(bytes.count)
    }
}

/// The journal as the firmware uses it: files on disk, the system clock, findings to `Log`.
public typealias FileJournal = Journal<FileJournalStorage, SystemClock>

extension Journal where S == FileJournalStorage, C == SystemClock {
    /// Opens (creating if needed, when `create` is given) the journal in `dir` and recovers it.
    public static func open(dir: String, create: JournalGeometry?, expected: JournalGeometry?, policy: JournalPolicy = JournalPolicy(),
                            readOnly: Bool = false) throws(JournalError) -> FileJournal {
        let storage = try JournalFiles.open(dir, create: create, readOnly: readOnly)
        return try FileJournal.open(storage, clock: SystemClock(), expected: expected, policy: policy, readOnly: readOnly) { level, msg in
            Log.write(level, "journal", msg)
        }
    }
}
