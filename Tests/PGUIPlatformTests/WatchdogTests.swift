import CSystem
import PGUICore
import Testing

@testable import PGUIPlatform

private func scratchDir() -> String {
    var template = Array("/tmp/pgui-wdt-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

/// A regular file stands in for /dev/watchdog: it takes writes but not the timeout ioctl.
@Suite struct WatchdogTests {
    @Test func petsWriteAndPlainCloseLeavesItArmed() throws {
        let path = scratchDir() + "/watchdog"
        try Files.writeAtomically(path, [])
        let w = try Watchdog(device: path, timeoutS: 7)
        #expect(w.timeoutS == 7)  // not granted by a driver: the asked value stays
        #expect(w.pet())
        #expect(w.pet())
        w.close(magic: false)
        #expect(try Files.read(path, bytesMax: 16) == Array("..".utf8))
        #expect(!w.pet())  // closed: petting reports failure instead of pretending
    }

    @Test func magicCloseWritesV() throws {
        let path = scratchDir() + "/watchdog"
        try Files.writeAtomically(path, [])
        let w = try Watchdog(device: path, timeoutS: 2)
        w.pet()
        w.close(magic: true)
        w.close(magic: true)  // twice is harmless
        #expect(try Files.read(path, bytesMax: 16) == Array(".V".utf8))
    }

    @Test func missingDeviceIsAClearError() {
        let path = scratchDir() + "/no-such-watchdog"
        do {
            _ = try Watchdog(device: path, timeoutS: 5)
            Issue.record("opened a missing device")
        } catch {
            #expect(error.description.contains(path))
        }
    }
}
