/// The firmware version, reported by `pgui --version`, in the BAL birth message and on the status page.
public let pguiVersion = "0.1.0"
