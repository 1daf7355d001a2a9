/// The `key = value` format shared by `pgui run --config` and the USB provisioning file
/// (docs/config.md). Parsing is strict and total: every problem comes back with its line number,
/// and nothing is applied unless the whole file is valid.

public struct ConfigError: Error, Equatable {
    public let file: String
    /// 1-based line number, or 0 when the error concerns the file as a whole.
    public let line: Int
    public let message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the format compilers use, so editors can jump to it.
    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

public struct ConfigEntry: Equatable {
    public let key: String
    public let value: String
    public let line: Int
}

public enum ConfigFile {
    public static let fileBytesMax = 65_536
    public static let lineBytesMax = 4_096
    public static let keyBytesMax = 64

    /// Splits the file into entries. Blank lines and lines starting with `#` are skipped; a value may
    /// be wrapped in double quotes to keep leading/trailing spaces or a `#`. Duplicate keys are errors.
    public static func parse(_ bytes: [UInt8], file: String) throws(ConfigError) -> [ConfigEntry] {
        guard bytes.count <= fileBytesMax else {
            throw ConfigError(file: file, line: 0, message: "file is \(bytes.count) bytes; the limit is \(fileBytesMax)")
        }
        var entries: [ConfigEntry] = []
        var lineNo = 0
        var start = 0
        while start < bytes.count {
            lineNo += 1
            var end = start
            while end < bytes.count && bytes[end] != ASCII.lf { end += 1 }
            var line = bytes[start..<end]
            start = end + 1
            if line.last == ASCII.cr { line = line.dropLast() }
            if lineNo == 1 && line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }  // UTF-8 BOM
            guard line.count <= lineBytesMax else {
                throw ConfigError(file: file, line: lineNo, message: "line is \(line.count) bytes; the limit is \(lineBytesMax)")
            }
            for b in line where (b < 32 && b != ASCII.tab) || b == 127 {
                throw ConfigError(file: file, line: lineNo, message: "control character \\x\(String(b, radix: 16)) in line")
            }
            let t = trimmed(line)
            if t.isEmpty || t.first == ASCII.hash { continue }
            guard let eq = t.firstIndex(of: ASCII.equals) else {
                throw ConfigError(file: file, line: lineNo, message: "expected 'key = value', found '\(printable(t))'")
            }
            let key = trimmed(t[t.startIndex..<eq])
            var value = trimmed(t[(eq + 1)..<t.endIndex])
            guard !key.isEmpty else {
                throw ConfigError(file: file, line: lineNo, message: "missing key before '='")
            }
            guard key.count <= keyBytesMax, key.allSatisfy(isKeyByte) else {
                throw ConfigError(file: file, line: lineNo, message: "invalid key '\(printable(key))' (use a-z, 0-9, '_', '-', '.')")
            }
            if value.first == ASCII.quote {
                guard value.count >= 2, value.last == ASCII.quote else {
                    throw ConfigError(file: file, line: lineNo, message: "unterminated quoted value")
                }
                value = value.dropFirst().dropLast()
                if value.contains(ASCII.quote) {
                    throw ConfigError(file: file, line: lineNo, message: "a quoted value may not contain '\"'")
                }
            }
            // Reject invalid UTF-8 instead of silently replacing it.
            let keyString = string(key)
            let valueString = string(value)
            if valueString.utf8.count != value.count {
                throw ConfigError(file: file, line: lineNo, message: "value is not valid UTF-8")
            }
            if let previous = entries.first(where: { $0.key == keyString }) {
                throw ConfigError(file: file, line: lineNo, message: "duplicate key '\(keyString)' (first set on line \(previous.line))")
            }
            entries.append(ConfigEntry(key: keyString, value: valueString, line: lineNo))
        }
        return entries
    }

    /// Writes entries back in the same format; `parse(render(e))` gives `e` again (line numbers aside).
    /// A value is quoted only when it has leading or trailing blanks (it cannot hold a quote then:
    /// `parse` refuses quotes inside quoted values).
    public static func render(_ entries: [ConfigEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            let v = Array(e.value.utf8)
            let quote = !v.isEmpty && (ASCII.isSpace(v.first!) || ASCII.isSpace(v.last!))
            out.append(contentsOf: e.key.utf8)
            out.append(contentsOf: " = ".utf8)
            if quote { out.append(ASCII.quote) }
            out.append(contentsOf: v)
            if quote { out.append(ASCII.quote) }
            out.append(ASCII.lf)
        }
        return out
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        ASCII.isLowerAlpha(b) || ASCII.isDigit(b) || b == 95 || b == ASCII.minus || b == ASCII.dot
    }
}
