import CSystem

/// The board's hardware watchdog (/dev/watchdog; i6300esb on qemu virt). Opening arms it; every
/// `pet()` restarts its countdown; if PGUI hangs or dies, the countdown runs out and the board resets.
/// Closing without the magic 'V' leaves it armed (the kernel logs "watchdog did not stop!"), so a
/// crash is never mistaken for a deliberate stop.
public final class Watchdog {
    public let device: String
    public private(set) var timeoutS: Int32
    private var fd: Int32

    /// Opens and arms `device` and asks for `timeoutS`. The driver may round the timeout; the value
    /// it granted is in `timeoutS`. A device that does not take the ioctl (e.g. a regular file used as
    /// a stand-in in tests) keeps its own timeout: that is logged, not fatal.
    public init(device: String, timeoutS: Int32) throws(SystemError) {
        self.device = device
        self.timeoutS = timeoutS
        fd = pgui_open(device, O_WRONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("open watchdog", device) }
        var granted = timeoutS
        if pgui_watchdog_set_timeout(fd, &granted) == 0 {
            self.timeoutS = granted
        } else {
            let e = pgui_errno()
            // ENOSYS: qemu-user does not pass watchdog ioctls through (integration tests of the ARM builds).
            guard e == ENOTTY || e == EOPNOTSUPP || e == EINVAL || e == ENOSYS else {
                let error = SystemError("WDIOC_SETTIMEOUT \(timeoutS) s on", device, code: e)
                CSystem.close(fd)
                throw error
            }
            Log.warn("watchdog", "\(device) does not take a timeout (\(errnoText(e))); it keeps its own")
        }
    }

    deinit {
        if fd >= 0 { CSystem.close(fd) }
    }

    /// Restarts the countdown. Returns false if the write failed (the board will reset on time).
    @discardableResult
    public func pet() -> Bool {
        guard fd >= 0 else { return false }
        var b: UInt8 = 0x2E  // "." — any byte but 'V' only pets
        return write(fd, &b, 1) == 1
    }

    /// Closes the device. With `magic`, writes 'V' first so the driver disarms the watchdog.
    public func close(magic: Bool) {
        guard fd >= 0 else { return }
        if magic {
            var v: UInt8 = 0x56  // "V"
            _ = write(fd, &v, 1)
        }
        CSystem.close(fd)
        fd = -1
    }
}
