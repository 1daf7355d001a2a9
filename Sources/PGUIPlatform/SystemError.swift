import CSystem

/// A failed system call: what was attempted, on what, and errno's text.
public struct SystemError: Error, Equatable {
    public let operation: String
    public let subject: String
    public let code: Int32

    public init(_ operation: String, _ subject: String, code: Int32 = pgui_errno()) {
        self.operation = operation
        self.subject = subject
        self.code = code
    }

    public var description: String {
        "\(operation) \(subject): \(errnoText(code))"
    }
}

public func errnoText(_ code: Int32) -> String {
    guard let p = strerror(code) else { return "errno \(code)" }
    return String(cString: p) + " (errno \(code))"
}
