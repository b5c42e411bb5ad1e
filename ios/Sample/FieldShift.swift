// A short sample of Carnet from Swift: a mediator's shift.
//
// In an app the key comes from CarnetKeychain.loadOrCreateKey() (Keychain,
// this device only), the directory is in Application Support excluded from
// backups, and the sync runs in a BGProcessingTask (see docs/mobile.md).
// scripts/test-swift compiles and runs this sample on Linux, offline.
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

enum FieldShift {
    static func run(directory: URL, key: inout Data, server: String? = nil, code: String? = nil) throws -> [String] {
        var log: [String] = []
        // Every call blocks on disk: an app makes them off the main thread.
        let store = try Carnet.open(directory: directory, key: &key) // zeroes `key`

        // Once: enroll with the supervisor's code; the enrollment (token included)
        // and the team's configuration are saved inside the encrypted store.
        if let server, let code, try store.enrollment() == nil {
            let enrollment = try store.enroll(serverUrl: server, code: code, deviceName: "iPhone de démonstration")
            try store.setAuthor(author: "mediateur-demo")
            log.append("enrolled as a \(enrollment.role == .supervisor ? "supervisor" : "mediator") device")
        }

        // Pickers come from the team's configuration.
        let config = try store.config()
        let sector = config.sectors[0]
        log.append("team: \(config.name), sector \(sector.label)")

        // Record: never waits for the network; durable when the call returns.
        let note = try store.createNote(note: NewNote(
            sector: sector.code, text: "Déambulation : calme, deux jeunes rencontrés", axes: ["jeunesse"], residentsMet: 2))
        let report = try store.createReport(report: NewReport(
            sector: sector.code, category: "lighting", place: "Allée des Tilleuls", text: "Lampadaire éteint"))
        try store.changeStatus(id: report, change: StatusChange(status: .forwarded, to: "ville-eclairage"))
        log.append("recorded note \(note) and report \(report)")

        // Invalid input names the field to fix, never the value.
        do {
            try store.setField(id: note, field: "residents_met", value: "beaucoup")
        } catch let CarnetError.InvalidInput(field, _) {
            log.append("field to fix: \(field)")
        }

        // End of shift: sync off the main thread, cancellable (a BGTask's
        // expirationHandler calls cancel.cancel()).
        if let enrollment = try store.enrollment() {
            let cancel = SyncCancel()
            let summary = try store.syncBlocking(serverUrl: enrollment.server, token: enrollment.token, cancel: cancel) { state in
                print("sync \(state.phase): \(state.pushed) sent, \(state.pulled) received")
            }
            log.append("synced: \(summary.pushed) pushed, \(summary.pulled) pulled, \(summary.conflicts.count) records in conflict")
        }

        // What supervisors watch: open dégradations and their age.
        for open in try store.openReports() {
            log.append("open report \(open.report.id): \(open.ageDays) days\(open.overdue ? " (overdue)" : "")")
        }
        return log
    }
}
